"""``faceverdict db ...``: the service database's schema (docs/operations.md).

``db upgrade`` is the one-shot migration job of a scale-out deployment (where replicas run
with ``migrate_on_start = false``); ``db current`` tells whether the database is at the
revision this release needs, for a readiness or deploy check.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from faceverdict.entrypoints.cli_support import fail
from faceverdict.errors import FaceverdictError

if TYPE_CHECKING:
    from faceverdict.adapters.sql_database import Database


@contextmanager
def _database() -> Iterator[Database]:
    """The configured database, its schema left as it is; errors are one line."""
    from faceverdict.config import load_settings
    from faceverdict.wiring.stores import open_database

    try:
        database = open_database(load_settings(), upgrade=False)
    except FaceverdictError as exc:
        fail(exc.detail)
    try:
        yield database
    except FaceverdictError as exc:
        fail(exc.detail)
    finally:
        database.dispose()


@click.group("db")
def db() -> None:
    """The service database's schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the configured database to this release's schema; prints from -> to."""
    with _database() as database:
        result = database.upgrade()
    click.echo(result.describe())


@db.command("current")
def db_current() -> None:
    """Print the database's schema revision; exit 1 if it is not this release's."""
    with _database() as database:
        current = database.current_revision()
        if current != database.head_revision():
            fail(database.behind_message(current), 1)
    click.echo(current)
