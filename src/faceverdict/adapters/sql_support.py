"""Small helpers every SQL adapter shares: UTC timestamps and outage errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy.exc import InterfaceError, OperationalError

from faceverdict.errors import Unavailable


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite keeps no offset: written as UTC, read naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """``utc(value)``, passing None through."""
    return None if value is None else utc(value)


@contextmanager
def unavailable_on_outage() -> Iterator[None]:
    """Turn a lost or refused database connection into the service's ``Unavailable``."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise Unavailable(f"database unavailable: {exc.orig!s}") from exc
