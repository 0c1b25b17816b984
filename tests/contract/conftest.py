"""The backends every store contract runs on: memory, SQLite and PostgreSQL.

``stores`` is one ``Stores`` bundle per backend: ``faceverdict.testing.stores.memory_stores``
on the wall clock (the SQL adapters stamp rows with the wall clock too), or ``sql_stores`` on a
fresh database brought to the current schema by ``Database.upgrade``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faceverdict.adapters.sql_database import Database
from faceverdict.adapters.system_clock import SystemClock
from faceverdict.testing.captures import local_key_store
from faceverdict.testing.stores import memory_stores
from faceverdict.wiring.stores import Stores, sql_stores

BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """Every store of one backend, empty."""
    if request.param == "memory":
        yield memory_stores(SystemClock())
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    database.upgrade()
    bundle = sql_stores(database, local_key_store())
    try:
        yield bundle
    finally:
        bundle.close()
