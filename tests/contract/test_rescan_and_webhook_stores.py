"""One contract for the re-scan store and the webhook store: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from faceverdict.ports.rescans import RescanRun
from faceverdict.ports.webhooks import Delivery, DeliveryStatus, Endpoint, Secret
from faceverdict.wiring.stores import Stores
from tests.contract.builders import NOW, capture_of, make_check

# --- re-scans ------------------------------------------------------------------------------


def run(run_id: str = "run_1", flow: str | None = None) -> RescanRun:
    return RescanRun(run_id, "model-2", None, flow, NOW)


def stored_captures(stores: Stores) -> None:
    """Captures at NOW (chk_a, chk_b), NOW+1h (chk_c, payment) and an erased one (chk_d)."""
    layout = [
        ("chk_b", "onboarding", NOW),
        ("chk_a", "onboarding", NOW),
        ("chk_c", "payment", NOW + timedelta(hours=1)),
        ("chk_d", "onboarding", NOW + timedelta(hours=2)),
    ]
    with stores.uow.begin() as tx:
        for check_id, flow, at in layout:
            check = make_check(check_id, flow=flow, created_at=at)
            check.pull_events()
            tx.checks.add(check)
            tx.captures.add(capture_of(check, at))
        tx.privacy.mark_deleted(["chk_d"], NOW, "erasure")


def test_a_run_is_created_once_with_no_progress(stores: Stores) -> None:
    rescans = stores.rescans
    given = RescanRun("run_1", "model-2", NOW, "payment", NOW, (NOW, "x"), 5, 5, 5, True)
    assert rescans.create_run(given)
    assert not rescans.create_run(run())
    assert rescans.get_run("run_1") == RescanRun("run_1", "model-2", NOW, "payment", NOW)
    assert rescans.get_run("missing") is None


def test_candidates_are_stored_captures_in_order(stores: Stores) -> None:
    stored_captures(stores)
    rescans = stores.rescans

    def ids(**query: object) -> list[str]:
        options: dict[str, object] = {"since": None, "flow": None, "after": None, "limit": 100}
        options.update(query)
        return [c for _, c in rescans.candidates(**options)]  # type: ignore[arg-type]

    assert rescans.candidates(since=None, flow=None, after=None, limit=100) == [
        (NOW, "chk_a"),
        (NOW, "chk_b"),
        (NOW + timedelta(hours=1), "chk_c"),
    ]
    assert ids(since=NOW + timedelta(minutes=1)) == ["chk_c"]
    assert ids(flow="onboarding") == ["chk_a", "chk_b"]
    assert ids(after=(NOW, "chk_a")) == ["chk_b", "chk_c"]
    assert ids(limit=1) == ["chk_a"]


def test_items_are_added_once_and_finished_once(stores: Stores) -> None:
    rescans = stores.rescans
    rescans.create_run(run())
    assert rescans.add_items("run_1", ["chk_a", "chk_b"], (NOW, "chk_b"), False) == 2
    assert rescans.add_items("run_1", ["chk_b", "chk_c"], None, True) == 1
    listed = rescans.get_run("run_1")
    assert listed is not None
    assert (listed.enqueued, listed.cursor, listed.listed_all) == (3, (NOW, "chk_b"), True)
    assert sorted(rescans.pending_items("run_1")) == ["chk_a", "chk_b", "chk_c"]
    assert rescans.finish_item("run_1", "chk_a", changed=True)
    assert not rescans.finish_item("run_1", "chk_a", changed=False)
    assert rescans.finish_item("run_1", "chk_b", changed=False)
    assert not rescans.finish_item("run_1", "chk_unknown", changed=True)
    progress = rescans.get_run("run_1")
    assert progress is not None
    assert (progress.done, progress.changed, progress.finished) == (2, 1, False)
    assert rescans.pending_items("run_1") == ["chk_c"]
    rescans.finish_item("run_1", "chk_c", changed=False)
    finished = rescans.get_run("run_1")
    assert finished is not None
    assert finished.finished


def test_stalled_runs_are_taken_once_per_lease(stores: Stores) -> None:
    rescans = stores.rescans
    rescans.create_run(run("run_open"))
    rescans.create_run(run("run_done"))
    rescans.add_items("run_done", [], None, True)
    time.sleep(0.005)
    before = datetime.now(UTC)
    assert [r.run_id for r in rescans.stalled_runs(before)] == ["run_open"]
    assert rescans.stalled_runs(before) == []  # touched: a new lease
    assert rescans.stalled_runs(datetime.now(UTC) - timedelta(hours=1)) == []


# --- webhooks ------------------------------------------------------------------------------


def endpoint(endpoint_id: str, created_at: datetime = NOW) -> Endpoint:
    secret = Secret("whsec_" + "A" * 32, NOW, None)
    return Endpoint(
        endpoint_id, "https://example.com/hook", ("check.decided",), (secret,), created_at
    )


def delivery(delivery_id: str, created_at: datetime = NOW, **changes: object) -> Delivery:
    fields: dict[str, object] = {
        "delivery_id": delivery_id,
        "endpoint_id": "ep_1",
        "event_type": "check.decided",
        "payload": {"check_id": "chk_1", "score": 12.5, "reasons": ["A", "B"]},
        "created_at": created_at,
    }
    fields.update(changes)
    return Delivery(**fields)  # type: ignore[arg-type]


def test_endpoints_round_trip_with_their_secrets(stores: Stores) -> None:
    hooks = stores.webhooks
    hooks.add_endpoint(endpoint("ep_2", NOW + timedelta(minutes=1)))
    hooks.add_endpoint(endpoint("ep_1"))
    assert hooks.get_endpoint("ep_1") == endpoint("ep_1")
    assert [e.endpoint_id for e in hooks.endpoints()] == ["ep_1", "ep_2"]
    rotated = (Secret("whsec_" + "B" * 32, NOW, None), Secret("whsec_" + "A" * 32, NOW, NOW))
    hooks.save_secrets("ep_1", rotated)
    saved = hooks.get_endpoint("ep_1")
    assert saved is not None
    assert saved.secrets == rotated
    assert hooks.delete_endpoint("ep_1")
    assert not hooks.delete_endpoint("ep_1")
    assert hooks.get_endpoint("ep_1") is None


def test_deliveries_are_added_once_and_saved(stores: Stores) -> None:
    hooks = stores.webhooks
    assert hooks.add_delivery(delivery("d_1"))
    assert not hooks.add_delivery(delivery("d_1", attempts=7))
    assert hooks.get_delivery("d_1") == delivery("d_1")
    retry = NOW + timedelta(minutes=1)
    failed = delivery("d_1", attempts=1, next_attempt_at=retry, last_error="HTTP 500")
    hooks.save_delivery(failed)
    assert hooks.get_delivery("d_1") == failed
    assert hooks.get_delivery("missing") is None


def test_deliveries_by_status_and_due_time(stores: Stores) -> None:
    hooks = stores.webhooks
    later = NOW + timedelta(minutes=10)
    hooks.add_delivery(delivery("d_late", NOW + timedelta(seconds=2), next_attempt_at=later))
    hooks.add_delivery(delivery("d_due", NOW + timedelta(seconds=1), next_attempt_at=NOW))
    hooks.add_delivery(delivery("d_new", NOW))
    hooks.add_delivery(
        delivery("d_done", NOW, status=DeliveryStatus.DELIVERED, delivered_at=NOW, attempts=1)
    )

    def ids(status: DeliveryStatus, **query: object) -> list[str]:
        return [d.delivery_id for d in hooks.deliveries(status, **query)]  # type: ignore[arg-type]

    assert ids(DeliveryStatus.PENDING) == ["d_new", "d_due", "d_late"]
    assert ids(DeliveryStatus.PENDING, due_before=NOW + timedelta(minutes=1)) == ["d_due"]
    assert ids(DeliveryStatus.PENDING, limit=1) == ["d_new"]
    assert ids(DeliveryStatus.DELIVERED) == ["d_done"]
    assert ids(DeliveryStatus.DEAD) == []
