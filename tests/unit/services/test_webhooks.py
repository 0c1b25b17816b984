"""Webhooks on memory stores with a manual clock and a recording transport: signatures (checked
with the Standard Webhooks library), SSRF refusals, one delivery per decision and endpoint,
retries with backoff, dead letters and replay, secret rotation, the sweeps.

The real HTTP path (receiver on 127.0.0.1, httpx errors), the API and CLI over SQLite, and
sealed secrets at rest are in ``tests/integration/test_webhooks.py``.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from svix.webhooks import Webhook, WebhookVerificationError

from faceverdict.entrypoints.api.app import create_app
from faceverdict.entrypoints.worker import JobWorker
from faceverdict.errors import InvalidRequest, NotFound, UnsafeWebhookTarget
from faceverdict.ports.jobs import JobQueue
from faceverdict.ports.webhooks import DeliveryStatus
from faceverdict.services.webhooks import (
    CHECK_DECIDED,
    DECISION_SUPERSEDED,
    WEBHOOK_JOB,
    check_target,
    new_secret,
    signed_headers,
    webhook_id,
)
from faceverdict.testing.app import memory_application
from faceverdict.testing.clock import ManualClock
from faceverdict.testing.jobs import ImmediateJobQueue
from faceverdict.testing.webhooks import RecordingTransport, StaticResolver
from faceverdict.wiring.bootstrap import Application
from tests.support.jobs import LosingJobQueue
from tests.support.review import decided_event
from tests.support.review_app import face, submit
from tests.support.webhooks import verified

HOOK = "https://hooks.example/in"


def application(
    tmp_path: Path,
    clock: ManualClock,
    transport: RecordingTransport,
    *,
    resolver: StaticResolver | None = None,
    jobs: JobQueue | None = None,
    run_jobs: bool = True,
    **settings: Any,
) -> Application:
    """The service on memory stores; its captures are accepted (final) inline, so every
    check raises one ``check.decided`` and nothing else runs in the background."""
    return memory_application(
        tmp_path,
        clock=clock,
        transport=transport,
        resolver=resolver,
        jobs=jobs or ImmediateJobQueue(clock),
        run_jobs=run_jobs,
        **settings,
    )


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` object of a webhook body."""
    data = body["data"]
    assert isinstance(data, dict)
    return data


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


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


UNSAFE_RESOLVER = StaticResolver(
    {"internal.example": ["10.0.0.7"], "public.example": ["93.184.215.14"]}, default=None
)


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
    with pytest.raises(UnsafeWebhookTarget):
        check_target(url, UNSAFE_RESOLVER, allow_private=False)
    check_target("https://public.example/hooks", UNSAFE_RESOLVER, allow_private=False)


def test_development_allows_private_http_targets_but_never_credentials_or_other_schemes() -> None:
    check_target("http://127.0.0.1:8080/hooks", UNSAFE_RESOLVER, allow_private=True)
    check_target("https://internal.example/hooks", UNSAFE_RESOLVER, allow_private=True)
    for url in ("https://user:pw@127.0.0.1/hooks", "ftp://127.0.0.1/hooks", "https:///hooks"):
        with pytest.raises(UnsafeWebhookTarget):
            check_target(url, UNSAFE_RESOLVER, allow_private=True)
    with pytest.raises(UnsafeWebhookTarget):  # must still resolve
        check_target("https://nowhere.example/hooks", UNSAFE_RESOLVER, allow_private=True)


def test_registration_refuses_unsafe_targets_unknown_event_types_and_weak_secrets(
    tmp_path: Path, clock: ManualClock, transport: RecordingTransport
) -> None:
    webhooks = application(tmp_path, clock, transport, resolver=UNSAFE_RESOLVER).webhooks
    with pytest.raises(UnsafeWebhookTarget):
        webhooks.register("https://internal.example/hooks", [CHECK_DECIDED])
    with pytest.raises(InvalidRequest):
        webhooks.register("https://public.example/hooks", ["nope"])
    with pytest.raises(InvalidRequest):
        webhooks.register("https://public.example/hooks", [])
    with pytest.raises(InvalidRequest, match="whsec_"):
        webhooks.register("https://public.example/hooks", [CHECK_DECIDED], secret="whsec_c2hvcnQ=")
    given = new_secret()
    endpoint = webhooks.register("https://public.example/hooks", [CHECK_DECIDED], secret=given)
    assert endpoint.secrets[0].value == given
    assert webhooks.store.endpoints() == [endpoint]


def test_a_name_that_turns_private_after_registration_is_not_called(
    tmp_path: Path, clock: ManualClock, transport: RecordingTransport
) -> None:
    resolver = StaticResolver({"hooks.example": ["93.184.215.14"]}, default=None)
    app = application(tmp_path, clock, transport, resolver=resolver)
    endpoint = app.webhooks.register("https://hooks.example/in", [CHECK_DECIDED])
    resolver.hosts["hooks.example"] = ["127.0.0.1"]  # DNS rebinding
    check = submit(app, face(4), "onboarding")  # its delivery is attempted at once
    assert transport.sent == []
    [delivery] = [
        d
        for d in app.webhooks.store.deliveries(DeliveryStatus.PENDING)
        if d.endpoint_id == endpoint.endpoint_id
        and data_of(dict(d.payload))["check_id"] == check.check_id
    ]
    assert delivery.attempts == 1
    assert "non-public" in (delivery.last_error or "")
    assert app.webhooks.deliver(delivery.delivery_id) is not None  # and again by hand
    assert transport.sent == []


def test_a_decision_is_delivered_signed_once_to_each_endpoint_subscribed_before_it(
    tmp_path: Path, clock: ManualClock, transport: RecordingTransport
) -> None:
    app = application(tmp_path, clock, transport)
    webhooks = app.webhooks
    decided = webhooks.register(HOOK, [CHECK_DECIDED, DECISION_SUPERSEDED])
    webhooks.register("https://other.example/in", [DECISION_SUPERSEDED])  # not this type
    check = submit(app, face(5), "onboarding")
    clock.advance(seconds=1)
    webhooks.register("https://late.example/in", [CHECK_DECIDED])  # after the decision
    [request] = transport.sent
    assert request.url == HOOK
    body = verified(decided.secrets[0].value, request)
    assert body["type"] == CHECK_DECIDED
    assert data_of(body)["check_id"] == check.check_id
    decision = check.current_decision
    assert decision is not None
    assert data_of(body)["decision_id"] == decision.decision_id
    assert request.headers["webhook-id"] == webhook_id(decision, CHECK_DECIDED, decided)
    assert int(request.headers["webhook-timestamp"]) == int(clock.now().timestamp()) - 1
    # The same decision again (a replayed handler) creates no second delivery, and the
    # endpoint registered since gets none either.
    assert webhooks.on_decided(decided_event(app.checks.get(check.check_id))) == []
    assert len(transport.sent) == 1
    [delivered] = webhooks.store.deliveries(DeliveryStatus.DELIVERED)
    assert (delivered.delivery_id, delivered.attempts) == (request.headers["webhook-id"], 1)


def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered_then_replayed(
    tmp_path: Path, clock: ManualClock
) -> None:
    transport = RecordingTransport(status=500)
    jobs = ImmediateJobQueue(clock)
    app = application(
        tmp_path,
        clock,
        transport,
        jobs=jobs,
        webhook_backoff_base_seconds=2.0,
        webhook_backoff_max_seconds=16.0,
        webhook_retry_window_seconds=120.0,
    )
    webhooks = app.webhooks
    endpoint = webhooks.register(HOOK, [CHECK_DECIDED])
    submit(app, face(6), "onboarding")  # the first attempt runs at once and fails
    [pending] = webhooks.store.deliveries(DeliveryStatus.PENDING)
    created = pending.created_at
    while (current := webhooks.store.get_delivery(pending.delivery_id)) is not None and (
        current.status is DeliveryStatus.PENDING
    ):
        assert current.last_error == "HTTP 500"
        assert current.next_attempt_at is not None
        delay = (current.next_attempt_at - clock.now()).total_seconds()
        ceiling = min(16.0, 2.0 * 2 ** (current.attempts - 1))  # exponential, capped
        assert 0.5 * ceiling <= delay <= ceiling  # full jitter in [0.5, 1.0)
        assert jobs.run_due() == 0  # nothing is due before its time
        clock.set(current.next_attempt_at)
        assert jobs.run_due() == 1
    dead = webhooks.store.get_delivery(pending.delivery_id)
    assert dead is not None
    assert dead.status is DeliveryStatus.DEAD
    assert dead.attempts >= 5
    assert dead.last_error == "HTTP 500"
    assert (clock.now() - created).total_seconds() <= 120.0  # given up inside its window
    assert jobs.scheduled() == 0  # no attempt left over
    assert len(transport.sent) == dead.attempts
    assert {r.headers["webhook-id"] for r in transport.sent} == {dead.delivery_id}
    assert webhooks.dead_letters() == [dead]

    # Listed and replayed through the API: same webhook-id, a fresh retry window.
    clock.advance(hours=1)
    transport.respond(204)
    client = TestClient(create_app(app))
    listed = client.get("/v1/webhooks/dead-letters").json()
    assert [d["delivery_id"] for d in listed] == [dead.delivery_id]
    replayed = client.post(f"/v1/webhooks/dead-letters/{dead.delivery_id}/replay")
    assert replayed.status_code == 200, replayed.text
    ok = transport.sent[-1]
    assert ok.headers["webhook-id"] == dead.delivery_id
    verified(endpoint.secrets[0].value, ok)
    assert int(ok.headers["webhook-timestamp"]) == int(clock.now().timestamp())
    assert webhooks.dead_letters() == []
    delivered = webhooks.store.get_delivery(dead.delivery_id)
    assert delivered is not None
    assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 1)
    with pytest.raises(InvalidRequest, match="not dead"):
        webhooks.replay(dead.delivery_id)
    with pytest.raises(NotFound):
        webhooks.replay("msg_unknown")


def test_a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends(
    tmp_path: Path, clock: ManualClock, transport: RecordingTransport
) -> None:
    app = application(tmp_path, clock, transport, webhook_rotation_overlap_seconds=3600.0)
    webhooks = app.webhooks
    endpoint = webhooks.register(HOOK, [CHECK_DECIDED])
    old = endpoint.secrets[0].value
    rotated = webhooks.rotate(endpoint.endpoint_id)
    new = rotated.secrets[0].value
    assert [s.value for s in rotated.secrets] == [new, old]
    assert rotated.secrets[1].not_after == clock.now() + timedelta(hours=1)
    assert webhooks.endpoint(endpoint.endpoint_id).secrets == rotated.secrets

    submit(app, face(7), "onboarding", subject="during")
    during = transport.sent[-1]
    verified(new, during)
    verified(old, during)  # receivers still on the old secret keep working

    clock.advance(hours=1, seconds=1)
    submit(app, face(8), "onboarding", subject="after")
    after = transport.sent[-1]
    verified(new, after)
    with pytest.raises(AssertionError, match="not signed"):
        verified(old, after)

    again = webhooks.rotate(endpoint.endpoint_id)  # the expired secret is dropped
    assert [s.value for s in again.secrets] == [again.secrets[0].value, new]
    with pytest.raises(NotFound):
        webhooks.rotate("whe_unknown")


def test_a_delivery_to_a_deleted_endpoint_is_dead_lettered_without_a_call(
    tmp_path: Path, clock: ManualClock, transport: RecordingTransport
) -> None:
    jobs = ImmediateJobQueue(clock)
    app = application(tmp_path, clock, transport, jobs=jobs, run_jobs=False)
    endpoint = app.webhooks.register(HOOK, [CHECK_DECIDED])
    submit(app, face(9), "onboarding")
    app.webhooks.delete(endpoint.endpoint_id)
    with pytest.raises(NotFound):
        app.webhooks.delete(endpoint.endpoint_id)
    jobs.start_worker(JobWorker(app).dispatch)
    [dead] = app.webhooks.dead_letters()
    assert dead.last_error == "endpoint deleted"
    assert transport.sent == []


def test_the_sweep_enqueues_again_a_delivery_whose_job_was_lost(
    tmp_path: Path, clock: ManualClock, transport: RecordingTransport
) -> None:
    jobs = LosingJobQueue(clock)
    app = application(tmp_path, clock, transport, jobs=jobs)
    app.webhooks.register(HOOK, [CHECK_DECIDED])
    submit(app, face(10), "onboarding")
    assert [j.kind for j in jobs.lost] == [WEBHOOK_JOB]
    assert app.webhooks.reconcile() == 0  # not overdue yet: the grace is two minutes
    clock.advance(minutes=2, seconds=1)
    jobs.losing = False
    assert app.webhooks.reconcile() == 1
    assert app.webhooks.reconcile() == 0  # due again now, not overdue
    assert len(transport.sent) == 1
    assert app.webhooks.store.deliveries(DeliveryStatus.PENDING) == []


def test_a_decision_whose_handler_never_ran_is_caught_up_once(
    tmp_path: Path, clock: ManualClock, transport: RecordingTransport
) -> None:
    app = application(tmp_path, clock, transport)
    webhooks, bus = app.webhooks, app.bus
    webhooks.register(HOOK, [CHECK_DECIDED])
    dispatch = bus.dispatch
    bus.dispatch = lambda recorded: 0  # type: ignore[method-assign]  # the process stops
    missed = [submit(app, face(20 + n), "onboarding") for n in range(5)]
    bus.dispatch = dispatch  # type: ignore[method-assign]
    assert webhooks.store.deliveries(DeliveryStatus.DELIVERED) == []
    assert bus.catch_up() == 0  # still claimed by the process that recorded them
    clock.advance(seconds=bus.lease.total_seconds() + 1)  # the claim lapses
    assert bus.catch_up(limit=2) == 10  # received + decided of five checks, two a batch
    assert bus.catch_up() == 0  # every handler ran once
    clock.advance(hours=1)
    assert bus.catch_up() == 0
    sent = [data_of(json.loads(r.body))["check_id"] for r in transport.sent]
    assert sorted(sent) == sorted(c.check_id for c in missed)  # once each
