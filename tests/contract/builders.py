"""Records the store contracts write: checks with decisions, capture records, tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from faceverdict.domain.check import CaptureInfo, Check, Decision
from faceverdict.domain.detection import DetectorResult, Heatmap
from faceverdict.domain.policy import Action, ClientSignals
from faceverdict.domain.review import Priority, ReviewTask, TaskKind, TaskReason, Tier
from faceverdict.ports.captures import CaptureRecord
from faceverdict.wiring.stores import Stores

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_check(
    check_id: str = "chk_1",
    key: str | None = None,
    final: bool = True,
    *,
    flow: str = "onboarding",
    subject: str = "p" * 64,
    created_at: datetime = NOW,
) -> Check:
    """A received check with one inline decision (final or not) and its pending events."""
    check = Check.receive(
        check_id=check_id,
        subject_pseudonym=subject,
        flow=flow,
        capture=CaptureInfo(
            sha256="a" * 64, media_type="image/jpeg", width=640, height=480, byte_size=1234
        ),
        signals=ClientSignals(liveness_score=0.9),
        now=created_at,
        idempotency_key=key,
        request_fingerprint="f" * 64,
    )
    results = [
        DetectorResult(
            detector="provenance",
            version="1.0",
            fake_probability=0.97,
            reasons=("C2PA_GENERATIVE_SOURCE",),
            elapsed_ms=1.5,
            details={"generator": "x", "valid": True, "n": 2.0},
            heatmap=Heatmap(width=2, height=1, values=(0.1, 0.9), box=(0, 0, 10, 10)),
        )
    ]
    check.decide(
        Decision(
            decision_id=f"dec_{check_id}",
            check_id=check_id,
            authenticity_score=12.5,
            abstention=None,
            band="suspect",
            action=Action.REVIEW if not final else Action.ACCEPT,
            reasons=("BAND_SUSPECT",),
            policy_version="p1",
            model_versions={"provenance": "1.0"},
            composite_risk=0.4,
            final=final,
            decided_at=created_at,
        ),
        results,
    )
    return check


def superseding(check: Check, decision_id: str, minutes: int = 5) -> Decision:
    """A final assurance decision that supersedes the check's current one."""
    current = check.current_decision
    assert current is not None
    return Decision(
        decision_id=decision_id,
        check_id=check.check_id,
        authenticity_score=5.0,
        abstention=None,
        band="fake",
        action=Action.REJECT,
        reasons=("ASSURANCE",),
        policy_version="p1",
        model_versions={},
        composite_risk=None,
        final=True,
        decided_at=current.decided_at + timedelta(minutes=minutes),
        supersedes=current.decision_id,
        stage="assurance",
    )


def capture_of(check: Check, stored_at: datetime | None = None) -> CaptureRecord:
    """The capture record of ``check``."""
    return CaptureRecord(
        check_id=check.check_id,
        subject_pseudonym=check.subject_pseudonym,
        flow=check.flow,
        blob_key=f"captures/{check.check_id}",
        key_id="sk_1",
        sha256=check.capture.sha256,
        media_type=check.capture.media_type,
        stored_at=stored_at or check.created_at,
    )


def store_check(stores: Stores, check: Check, *, capture: bool = False) -> Check:
    """Add ``check`` (and its capture record) in one transaction; its events are dropped."""
    check.pull_events()
    with stores.uow.begin() as tx:
        tx.checks.add(check)
        if capture:
            tx.captures.add(capture_of(check))
    return check


def make_task(
    task_id: str,
    check_id: str = "chk_1",
    *,
    tier: Tier = Tier.JUNIOR,
    priority: Priority = Priority.NORMAL,
    created_at: datetime = NOW,
    due_in: timedelta = timedelta(hours=24),
    flow: str = "onboarding",
    kind: TaskKind = TaskKind.PRIMARY,
    reasons: tuple[TaskReason, ...] = (TaskReason.POLICY_ACTION,),
    excluded: frozenset[str] = frozenset(),
    parent_task_id: str | None = None,
) -> ReviewTask:
    """An open review task."""
    return ReviewTask(
        task_id=task_id,
        check_id=check_id,
        flow=flow,
        kind=kind,
        reasons=reasons,
        tier=tier,
        priority=priority,
        created_at=created_at,
        due_at=created_at + due_in,
        decides=True,
        risk=0.5,
        parent_task_id=parent_task_id,
        excluded=excluded,
    )
