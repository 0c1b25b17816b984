"""Database and broker outages during load, through a TCP proxy that is cut and restored:
requests during a database outage are 503 problem+json with Retry-After; a broker outage
loses no accepted check (the check row is the outbox; the sweep re-enqueues)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient

from faceverdict.config import load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.domain.assurance import AssurancePolicy
from faceverdict.domain.check import CheckState
from faceverdict.entrypoints.api.app import create_app
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.wiring.bootstrap import Application, bootstrap
from faceverdict.wiring.ensembles import build_ensemble
from tests.integration.test_scale_out_adapters import REDIS_URL
from tests.support.assurance import FixedOpinion, wait_for
from tests.support.fixed_outcomes import relaxing_policy_file
from tests.support.review_app import face
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest.fixture
def proxied(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Application, TcpProxy, TcpProxy]]:
    pytest.importorskip("redis")
    pg = urlsplit(postgres_url)
    rd = urlsplit(REDIS_URL)
    db_proxy = TcpProxy(pg.hostname or "127.0.0.1", pg.port or 5432)
    broker_proxy = TcpProxy(rd.hostname or "127.0.0.1", rd.port or 6379)
    settings = load_settings(
        inline_detectors=["provenance"],  # the pipeline is under test, not the models
        data_dir=tmp_path / "data",
        database_url=through(postgres_url, db_proxy),
        job_queue="redis",
        redis_url=through(REDIS_URL, broker_proxy),
        job_queue_name=f"fv-outage-{uuid.uuid4().hex[:8]}",
        assurance_sweep_every_seconds=0.5,
        # FixedOpinion(0.2) relaxes step_up to accept, which the bundled policy forbids
        policy_file=relaxing_policy_file(tmp_path),
    )
    inline = build_ensemble(settings)
    inline.detectors.append(FixedOpinion(0.9, name="fixed"))
    heavy = Ensemble(
        detectors=[*inline.detectors[:-1], FixedOpinion(0.2)],
        fusion=inline.fusion,
        gate=inline.gate,
        limits=inline.limits,
    )
    application = bootstrap(settings, ensemble=inline, assurance_ensemble=heavy)
    yield application, db_proxy, broker_proxy
    db_proxy.restore() if db_proxy._listener is None else None
    broker_proxy.restore() if broker_proxy._listener is None else None
    application.close()
    db_proxy.close()
    broker_proxy.close()


def post(client: TestClient, n: int) -> object:
    return client.post(
        "/v1/checks",
        files={"image": ("selfie.jpg", face(40 + n), "image/jpeg")},
        data={"subject_ref": f"outage-{n}", "flow": "onboarding"},
        headers={"Idempotency-Key": f"outage-{n}"},
    )


def test_a_database_outage_is_503_with_retry_after_and_nothing_accepted_is_lost(
    proxied: tuple[Application, TcpProxy, TcpProxy],
) -> None:
    application, db_proxy, _ = proxied
    client = TestClient(create_app(application), raise_server_exceptions=False)
    before = post(client, 0)
    assert before.status_code == 201  # type: ignore[attr-defined]
    db_proxy.cut()  # the database restarts
    during = post(client, 1)
    assert during.status_code == 503  # type: ignore[attr-defined]
    assert during.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    assert int(during.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert client.get("/readyz").status_code == 503
    db_proxy.restore()
    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30)
    retried = post(client, 1)  # the client retries after Retry-After
    assert retried.status_code == 201  # type: ignore[attr-defined]
    for body in (before.json(), retried.json()):  # type: ignore[attr-defined]
        assert client.get(f"/v1/checks/{body['check_id']}").status_code == 200


def test_a_broker_outage_loses_no_accepted_check(
    proxied: tuple[Application, TcpProxy, TcpProxy],
) -> None:
    application, _, broker_proxy = proxied
    client = TestClient(create_app(application), raise_server_exceptions=False)
    broker_proxy.cut()  # the broker restarts: enqueueing fails
    accepted = [post(client, n) for n in range(2, 5)]
    assert [r.status_code for r in accepted] == [201, 201, 201]  # type: ignore[attr-defined]
    ids = [r.json()["check_id"] for r in accepted]  # type: ignore[attr-defined]
    assert all(application.checks.get(i).state is CheckState.ASSURING for i in ids)
    broker_proxy.restore()
    assurance = application.assurance
    assert assurance is not None
    object.__setattr__(assurance, "policy", _short_lease(assurance.policy))
    worker = JobWorker(application, sweep_every=0.5)
    worker.start()
    try:
        wait_for(
            lambda: all(application.checks.get(i).state is CheckState.FINAL for i in ids),
            timeout=60,
        )
    finally:
        worker.stop()
    for check_id in ids:
        assert [d.stage for d in application.checks.get(check_id).decisions] == [
            "inline",
            "assurance",
        ]


def _short_lease(policy: AssurancePolicy) -> AssurancePolicy:
    from tests.support.assurance import with_lease

    return with_lease(policy, 1.0)


if os.environ.get("FACEVERDICT_SKIP_OUTAGE_TESTS"):  # pragma: no cover - local opt-out
    pytestmark = pytest.mark.skip("outage tests disabled")
