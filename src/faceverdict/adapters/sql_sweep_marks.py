"""How far each catch-up sweep has got, one row per sweep, in the service's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, DateTime, Engine, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from faceverdict.adapters.sql_schema import metadata
from faceverdict.adapters.sql_support import unavailable_on_outage

sweep_marks = Table(
    "sweep_marks",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("mark", DateTime(timezone=True), nullable=False),
)


class SqlSweepMarks:
    """Named time marks (``webhooks``, ``review``): the sweeps resume from them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_schema(self) -> None:
        """Create the table if it does not exist (an existing database keeps its marks)."""
        with self._tx():
            metadata.create_all(self._engine, tables=[sweep_marks], checkfirst=True)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with unavailable_on_outage(), self._engine.begin() as conn:
            yield conn

    def get(self, name: str) -> datetime | None:
        """The mark called ``name``, or None if that sweep never ran."""
        with self._tx() as conn:
            mark: datetime | None = conn.execute(
                select(sweep_marks.c.mark).where(sweep_marks.c.name == name)
            ).scalar()
        if mark is None:
            return None
        return mark.replace(tzinfo=UTC) if mark.tzinfo is None else mark.astimezone(UTC)

    def set(self, name: str, mark: datetime) -> None:
        """Move the mark called ``name`` (several sweepers: the last one wins)."""
        change = update(sweep_marks).where(sweep_marks.c.name == name).values(mark=mark)
        with self._tx() as conn:
            if conn.execute(change).rowcount:
                return
        try:
            with self._tx() as conn:
                conn.execute(insert(sweep_marks), {"name": name, "mark": mark})
        except IntegrityError:  # another sweeper inserted it first
            with self._tx() as conn:
                conn.execute(change)
