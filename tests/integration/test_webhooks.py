"""Webhooks: Standard Webhooks signatures (verified with the spec's library), SSRF checks,
retries with backoff, dead letters and replay, against a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from svix.webhooks import Webhook, WebhookVerificationError

from faceverdict.bootstrap import Application, bootstrap
from faceverdict.config import load_settings
from faceverdict.detectors.ensemble import Ensemble
from faceverdict.ensembles import build_ensemble
from faceverdict.entrypoints.api.app import create_app
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.errors import UnsafeWebhookTarget
from faceverdict.evidence.entries import JsonValue
from faceverdict.services.webhooks import (
    CHECK_DECIDED,
    DECISION_SUPERSEDED,
    check_target,
    new_secret,
    signed_headers,
)
from faceverdict.webhook_ports import DeliveryStatus
from tests.integration.test_assurance import FixedOpinion
from tests.support.receiver import Received, closed_port_url, receiver
from tests.support.review_app import face, submit


class FakeResolver:
    def __init__(self, addresses: dict[str, list[str]]) -> None:
        self.addresses = addresses

    def resolve(self, host: str, port: int) -> list[str]:
        del port
        try:
            return self.addresses[host]
        except KeyError:
            raise OSError(f"unknown host {host}") from None


def data_of(payload: Mapping[str, JsonValue]) -> Mapping[str, JsonValue]:
    """The ``data`` object of a webhook payload."""
    data = payload["data"]
    assert isinstance(data, dict)
    return data


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


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


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"type":"check.decided"}'
    headers = signed_headers([new, old], "msg_1", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)  # during rotation both secrets verify
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/hooks",
        "https://192.168.1.1/hooks",
        "https://224.0.0.1/hooks",
        "https://0.0.0.0/hooks",
        "https://240.0.0.1/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://internal.example/hooks",  # resolves to a private address
        "http://public.example/hooks",  # plain http
        "https://user:pw@public.example/hooks",
        "ftp://public.example/hooks",
        "https://nowhere.example/hooks",  # does not resolve
    ],
)
def test_unsafe_targets_are_refused(url: str) -> None:
    resolver = FakeResolver(
        {"internal.example": ["10.0.0.7"], "public.example": ["93.184.215.14"]}
        | {h: [h.strip("[]")] for h in ("127.0.0.1", "169.254.169.254", "10.1.2.3")}
        | {h: [h] for h in ("192.168.1.1", "224.0.0.1", "0.0.0.0", "240.0.0.1")}
        | {"::1": ["::1"], "::ffff:127.0.0.1": ["::ffff:127.0.0.1"]}
    )
    with pytest.raises(UnsafeWebhookTarget):
        check_target(url, resolver, allow_private=False)
    check_target("https://public.example/hooks", resolver, allow_private=False)


def test_a_name_that_turns_private_after_registration_is_not_called(
    application: Application,
) -> None:
    webhooks = application.webhooks
    assert webhooks is not None
    resolver = FakeResolver({"hooks.example": ["93.184.215.14"]})
    webhooks.resolver = resolver
    webhooks.options = type(webhooks.options)(allow_private_targets=False)
    endpoint = webhooks.register("https://hooks.example/in", [CHECK_DECIDED])
    resolver.addresses["hooks.example"] = ["127.0.0.1"]  # DNS rebinding
    sent: list[str] = []
    webhooks.transport = type(  # a transport that records instead of sending
        "Recorder", (), {"send": lambda self, url, headers, body: sent.append(url)}
    )()
    check = submit(application, face(4), "onboarding")
    [delivery_id] = [
        d.delivery_id
        for d in webhooks.store.deliveries(DeliveryStatus.PENDING)
        if d.endpoint_id == endpoint.endpoint_id
        and data_of(d.payload)["check_id"] == check.check_id
    ]
    after = webhooks.deliver(delivery_id)
    assert sent == []
    assert after is not None
    assert "non-public" in (after.last_error or "")


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
        assert webhooks.on_decided(application.checks.get(check.check_id)) == []
        time.sleep(0.5)
        assert len(rx.accepted()) == 1


def test_a_failing_receiver_is_retried_then_dead_lettered_then_replayed(
    application: Application, worker: JobWorker
) -> None:
    webhooks = application.webhooks
    assert webhooks is not None
    with receiver("500") as rx:
        endpoint = webhooks.register(rx.url, [CHECK_DECIDED])
        submit(application, face(6), "onboarding")
        wait_for(lambda: len(webhooks.dead_letters()) == 1, timeout=30)
        [dead] = webhooks.dead_letters()
        assert dead.attempts >= 2
        assert dead.last_error == "HTTP 500"
        ids = {r.headers["webhook-id"] for r in rx.requests}
        assert ids == {dead.delivery_id}  # retries keep the webhook-id

        rx.mode = "ok"
        client = TestClient(create_app(application))
        listed = client.get("/v1/webhooks/dead-letters").json()
        assert [d["delivery_id"] for d in listed] == [dead.delivery_id]
        replayed = client.post(f"/v1/webhooks/dead-letters/{dead.delivery_id}/replay")
        assert replayed.status_code == 200, replayed.text
        wait_for(lambda: len(rx.accepted()) == 1)
        [ok] = rx.accepted()
        assert ok.headers["webhook-id"] == dead.delivery_id
        verified(endpoint.secrets[0].value, ok)
        wait_for(lambda: webhooks.dead_letters() == [])


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


def test_a_decision_whose_hook_never_ran_is_caught_up_once(application: Application) -> None:
    from datetime import timedelta

    webhooks = application.webhooks
    assert webhooks is not None
    with receiver() as rx:
        webhooks.register(rx.url, [CHECK_DECIDED])
        hook, application.checks.on_decided = application.checks.on_decided, None
        check = submit(application, face(9), "onboarding")  # the process "stopped" here
        application.checks.on_decided = hook
        assert webhooks.store.deliveries(DeliveryStatus.PENDING) == []
        assert webhooks.catch_up(grace=timedelta(0)) == 1
        assert webhooks.catch_up(grace=timedelta(0)) == 0
        [pending] = webhooks.store.deliveries(DeliveryStatus.PENDING)
        assert data_of(pending.payload)["check_id"] == check.check_id
        assert webhooks.catch_up() == 0  # within the grace period: left to the hook


def test_catch_up_resumes_from_its_mark_after_any_downtime(application: Application) -> None:
    from datetime import timedelta

    webhooks = application.webhooks
    assert webhooks is not None
    with receiver() as rx:
        webhooks.register(rx.url, [CHECK_DECIDED])
        assert webhooks.catch_up(grace=timedelta(0)) == 0  # first sweep: sets the mark
        assert webhooks.marks.get("webhooks") is not None
        hook, application.checks.on_decided = application.checks.on_decided, None
        missed = [submit(application, face(20 + n), "onboarding") for n in range(5)]
        application.checks.on_decided = hook
        # A zero look-back window would have seen none of them: the mark finds all five,
        # two checks a page.
        assert webhooks.catch_up(window=timedelta(0), grace=timedelta(0), limit=2) == 5
        assert webhooks.catch_up(window=timedelta(0), grace=timedelta(0), limit=2) == 0
        pending = webhooks.store.deliveries(DeliveryStatus.PENDING)
        assert {data_of(d.payload)["check_id"] for d in pending} == {c.check_id for c in missed}


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
