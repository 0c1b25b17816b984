"""Shared fixtures: dataset location, PostgreSQL availability."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FACES_DEV = Path(os.environ.get("FACEVERDICT_FACES_DEV", REPO.parent / "shared/datasets/faces-dev"))
POSTGRES_URL = os.environ.get(
    "FACEVERDICT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def faces_dev() -> Path:
    """The shared faces-dev dataset; tests that need it skip cleanly where it is absent."""
    if not (FACES_DEV / "MANIFEST.csv").is_file():
        pytest.skip(f"faces-dev dataset not found at {FACES_DEV}")
    return FACES_DEV


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh, private schema (dropped afterwards)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    schema = f"fv_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    except sqlalchemy.exc.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}")
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
