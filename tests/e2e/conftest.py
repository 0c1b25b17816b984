"""An API over a real embedded deployment (SQLite + local blobs) in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faceverdict.config import load_settings
from faceverdict.entrypoints.api.app import create_app
from faceverdict.wiring.bootstrap import Application, bootstrap


@pytest.fixture
def application(tmp_path: Path) -> Application:
    return bootstrap(load_settings(data_dir=tmp_path / "data"))


@pytest.fixture
def client(application: Application) -> Iterator[TestClient]:
    with TestClient(create_app(application), raise_server_exceptions=False) as c:
        yield c


def stored_blobs(application: Application) -> list[Path]:
    """Capture files left in the data folder."""
    root = application.settings.data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
