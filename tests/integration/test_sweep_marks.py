"""Catch-up sweep marks on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from faceverdict.adapters.sql_check_repository import make_engine
from faceverdict.adapters.sql_sweep_marks import SqlSweepMarks


@pytest.fixture(params=["sqlite", "postgresql"])
def marks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlSweepMarks]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'marks.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    sweep_marks = SqlSweepMarks(engine)
    sweep_marks.create_schema()
    yield sweep_marks
    engine.dispose()


def test_marks_start_empty_keep_the_last_value_and_stay_apart(marks: SqlSweepMarks) -> None:
    assert marks.get("webhooks") is None
    first = datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC)
    marks.set("webhooks", first)
    assert marks.get("webhooks") == first
    assert marks.get("review") is None
    marks.set("webhooks", first + timedelta(minutes=5))
    marks.set("review", first)
    assert marks.get("webhooks") == first + timedelta(minutes=5)
    assert marks.get("review") == first
    marks.create_schema()  # idempotent: an upgraded database keeps its marks
    assert marks.get("webhooks") == first + timedelta(minutes=5)
