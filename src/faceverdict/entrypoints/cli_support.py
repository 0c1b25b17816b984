"""What the command-line modules share: one-line errors with a non-zero exit."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``faceverdict: error: <message>`` on stderr and exit with ``code``."""
    click.echo(f"faceverdict: error: {message}", err=True)
    sys.exit(code)
