"""API keys, and a database outage answered with 503 + Retry-After, never silently."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from faceverdict.config import load_settings
from faceverdict.domain.check import Check, CheckState
from faceverdict.entrypoints.api.app import create_app
from faceverdict.errors import Unavailable
from faceverdict.ports.uow import Transaction
from faceverdict.wiring.bootstrap import bootstrap
from faceverdict.wiring.stores import build_key_store, open_database, sql_stores
from tests.e2e.test_api_checks import assert_problem, submit
from tests.support.images import jpeg_bytes

KEY = "k" * 32


class DownRepository:
    """A repository whose database is unreachable."""

    def add(self, check: Check) -> None:
        raise Unavailable("database unavailable: connection refused")

    def save_decision(self, check: Check) -> None:
        raise Unavailable("database unavailable: connection refused")

    def transition(self, check_id: str, source: CheckState, target: CheckState) -> bool:
        raise Unavailable("database unavailable: connection refused")

    def stale(self, state: CheckState, updated_before: datetime, limit: int = 500) -> list[str]:
        raise Unavailable("database unavailable: connection refused")

    def get(self, check_id: str) -> Check | None:
        raise Unavailable("database unavailable: connection refused")

    def get_by_idempotency_key(self, key: str) -> Check | None:
        raise Unavailable("database unavailable: connection refused")

    def ping(self) -> None:
        raise Unavailable("database unavailable: connection refused")


class DownUnitOfWork:
    """Write transactions fail: the database went away after the service started."""

    def begin(self) -> AbstractContextManager[Transaction]:
        raise Unavailable("database unavailable: connection refused")

    def purge_deleted(self) -> bool:
        raise Unavailable("database unavailable: connection refused")


def test_api_keys_are_required_when_configured(tmp_path: Path) -> None:
    app = bootstrap(load_settings(data_dir=tmp_path, api_keys=[KEY]))
    with TestClient(create_app(app), raise_server_exceptions=False) as client:
        response = assert_problem(client.get("/v1/checks/chk_x"), 401, "unauthorized")
        assert response["detail"]
        wrong = client.get("/v1/checks/chk_x", headers={"Authorization": "Bearer nope"})
        assert_problem(wrong, 401, "unauthorized")
        right = client.get("/v1/checks/chk_x", headers={"Authorization": f"Bearer {KEY}"})
        assert_problem(right, 404, "not-found")
        assert client.get("/healthz").status_code == 200


def test_database_outage_is_a_503_with_retry_after(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    key_store = build_key_store(settings)
    stores = sql_stores(open_database(settings), key_store)
    down = replace(stores, checks=DownRepository(), uow=DownUnitOfWork())
    app = bootstrap(settings, stores=down, key_store=key_store, record_config=False)
    with TestClient(create_app(app), raise_server_exceptions=False) as client:
        response = submit(client, jpeg_bytes(320, 240), key="k-1")
        assert_problem(response, 503, "unavailable")
        assert response.headers["retry-after"].isdigit()
        # Without a key the failure comes at insert time, after the blob was written.
        assert_problem(submit(client, jpeg_bytes(320, 240, seed=5)), 503, "unavailable")
        assert_problem(client.get("/readyz"), 503, "unavailable")
    blobs = tmp_path / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))
