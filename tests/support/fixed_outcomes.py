"""Which captures the stand-in assurance detector changes (no detector registered here)."""

from __future__ import annotations

import hashlib


def assurance_changes(data: bytes) -> bool:
    """Whether ``fixed_assurance`` turns this capture's step_up into an accept."""
    return hashlib.sha256(data).digest()[0] % 2 == 0
