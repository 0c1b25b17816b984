"""The webhook store's catch-up mark on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from faceverdict.adapters.sql_check_repository import make_engine
from faceverdict.adapters.sql_webhook_store import SqlWebhookStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlWebhookStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'webhooks.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    webhook_store = SqlWebhookStore(engine)
    webhook_store.create_schema()
    yield webhook_store
    engine.dispose()


def test_the_catch_up_mark_starts_empty_and_keeps_the_last_value(store: SqlWebhookStore) -> None:
    assert store.catch_up_mark() is None
    first = datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC)
    store.set_catch_up_mark(first)
    assert store.catch_up_mark() == first
    store.set_catch_up_mark(first + timedelta(minutes=5))
    assert store.catch_up_mark() == first + timedelta(minutes=5)
    store.create_schema()  # idempotent: an upgrade of an existing database keeps the mark
    assert store.catch_up_mark() == first + timedelta(minutes=5)
