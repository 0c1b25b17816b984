"""Webhooks over the real path: deliveries through Huey to a receiver on 127.0.0.1 (verified
with the Standard Webhooks library), httpx errors of a receiver that is down or slow, the API
and CLI on SQLite, and signing secrets sealed at rest. The webhook logic (signatures, SSRF
refusals, deliveries, backoff, dead letters, replay, rotation, sweeps) runs on memory stores
in ``tests/unit/services/test_webhooks.py``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from svix.webhooks import Webhook

from faceverdict.config import load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.entrypoints.api.app import create_app
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.ports.webhooks import DeliveryStatus
from faceverdict.services.webhooks import CHECK_DECIDED, DECISION_SUPERSEDED
from faceverdict.wiring.bootstrap import Application, bootstrap
from faceverdict.wiring.ensembles import build_ensemble
from tests.support.assurance import FixedOpinion, wait_for
from tests.support.receiver import Received, closed_port_url, receiver
from tests.support.review import decided_event
from tests.support.review_app import face, submit


def verified(secret: str, request: Received) -> dict[str, object]:
    """The body of a request, after the spec's library verified its signature."""
    Webhook(secret).verify(request.body, request.headers)
    body = json.loads(request.body)
    assert isinstance(body, dict)
    return body


@pytest.fixture
def application(tmp_path: Path) -> Iterator[Application]:
    settings = load_settings(
        inline_detectors=["provenance"],  # the pipeline is under test, not the models
        data_dir=tmp_path / "data",
        allow_private_webhook_targets=True,  # the receiver is on 127.0.0.1
        webhook_backoff_base_seconds=0.05,
        webhook_backoff_max_seconds=0.2,
        webhook_retry_window_seconds=2.5,
        webhook_timeout_seconds=0.5,
        assurance_sweep_every_seconds=0.5,
    )
    inline = build_ensemble(settings)
    inline.detectors.append(FixedOpinion(0.9, name="fixed"))  # gray band: assured
    # Explicit, so that detectors other tests registered in this process play no part.
    heavy = Ensemble(detectors=list(inline.detectors), fusion=inline.fusion, gate=inline.gate)
    application = bootstrap(settings, ensemble=inline, assurance_ensemble=heavy)
    yield application
    application.close()


@pytest.fixture
def worker(application: Application) -> Iterator[JobWorker]:
    runner = JobWorker(application, sweep_every=0.5)
    runner.start()
    yield runner
    runner.stop()


def test_decisions_reach_the_receiver_signed_once_each(
    application: Application, worker: JobWorker
) -> None:
    webhooks = application.webhooks
    assert webhooks is not None
    with receiver() as rx:
        endpoint = webhooks.register(rx.url, [CHECK_DECIDED, DECISION_SUPERSEDED])
        secret = endpoint.secrets[0].value
        check = submit(application, face(5), "onboarding")
        wait_for(lambda: len(rx.accepted()) >= 1)
        [first] = rx.accepted()
        body = verified(secret, first)
        assert body["type"] == CHECK_DECIDED
        assert body["data"]["check_id"] == check.check_id  # type: ignore[index]
        # The same decision again (a replayed hook) creates no second delivery.
        assert webhooks.on_decided(decided_event(application.checks.get(check.check_id))) == []
        time.sleep(0.5)
        assert len(rx.accepted()) == 1


@pytest.mark.parametrize("failure", ["down", "slow"])
def test_a_receiver_that_is_down_or_slow_ends_in_the_dead_letters(
    application: Application, worker: JobWorker, failure: str
) -> None:
    webhooks = application.webhooks
    assert webhooks is not None
    with receiver("slow") as rx:
        url = closed_port_url() if failure == "down" else rx.url
        webhooks.register(url, [CHECK_DECIDED])
        submit(application, face(7), "onboarding")
        wait_for(lambda: len(webhooks.dead_letters()) == 1, timeout=30)
        [dead] = webhooks.dead_letters()
        assert dead.attempts >= 2
        assert dead.last_error is not None
        assert "Connect" in dead.last_error or "Timeout" in dead.last_error


def test_the_endpoints_api_registers_lists_rotates_and_deletes(
    application: Application,
) -> None:
    client = TestClient(create_app(application))
    with receiver() as rx:
        created = client.post(
            "/v1/webhooks", json={"url": rx.url, "event_types": [DECISION_SUPERSEDED]}
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()
        assert endpoint["secrets"][0].startswith("whsec_")
        listed = client.get("/v1/webhooks").json()
        assert [e["endpoint_id"] for e in listed] == [endpoint["endpoint_id"]]
        assert listed[0]["secrets"] is None
        rotated = client.post(f"/v1/webhooks/{endpoint['endpoint_id']}/rotate").json()
        assert len(rotated["secrets"]) == 2
        assert rotated["secrets"][1] == endpoint["secrets"][0]
        bad = client.post("/v1/webhooks", json={"url": rx.url, "event_types": ["nope"]})
        assert bad.status_code == 422
        assert client.delete(f"/v1/webhooks/{endpoint['endpoint_id']}").status_code == 204
        assert client.get("/v1/webhooks").json() == []
        assert client.delete(f"/v1/webhooks/{endpoint['endpoint_id']}").status_code == 404


def test_private_targets_are_refused_through_the_api_outside_development(
    tmp_path: Path,
) -> None:
    application = bootstrap(load_settings(data_dir=tmp_path / "data"))
    try:
        client = TestClient(create_app(application))
        refused = client.post(
            "/v1/webhooks",
            json={"url": "https://127.0.0.1/hooks", "event_types": [CHECK_DECIDED]},
        )
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("/unsafe-webhook-target")
    finally:
        application.close()


def test_the_cli_lists_and_replays_dead_letters(
    application: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from faceverdict.entrypoints.cli import cli

    webhooks = application.webhooks
    assert webhooks is not None
    webhooks.register(closed_port_url(), [CHECK_DECIDED])
    submit(application, face(8), "onboarding")
    [pending] = webhooks.store.deliveries(DeliveryStatus.PENDING)
    while (webhooks.deliver(pending.delivery_id) or pending).status is DeliveryStatus.PENDING:
        time.sleep(0.05)
    monkeypatch.setenv("FACEVERDICT_DATA_DIR", str(application.settings.data_dir))
    listed = CliRunner().invoke(cli, ["webhooks", "dead-letters"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["delivery_id"] == pending.delivery_id
    replayed = CliRunner().invoke(cli, ["webhooks", "replay", "--all"])
    assert replayed.exit_code == 0, replayed.output
    assert webhooks.dead_letters() == []


def test_signing_secrets_are_sealed_at_rest(application: Application) -> None:
    from sqlalchemy import create_engine, text

    webhooks = application.webhooks
    assert webhooks is not None
    with receiver() as rx:
        endpoint = webhooks.register(rx.url, [CHECK_DECIDED])
    secret = endpoint.secrets[0].value
    engine = create_engine(application.settings.resolved_database_url)
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT secrets FROM webhook_endpoints")).scalar_one()
    engine.dispose()
    assert secret not in str(raw)
    assert "sealed:v1:" in str(raw)
    stored = webhooks.store.get_endpoint(endpoint.endpoint_id)
    assert stored is not None
    assert stored.secrets[0].value == secret
