"""The review audit trail: the events a task's life writes, and their copy for the evidence log.

Events are stored with the review record they describe (same transaction); the evidence copy
is published after the commit and is best effort (``publish_review_events``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from faceverdict.domain.events import DomainEvent
from faceverdict.domain.review import ReviewEvent, ReviewTask
from faceverdict.ports.review import EventDetail, Outcome, StoredEvent, StoredVerdict

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[DomainEvent]], None]


def task_event(
    now: datetime, kind: str, task: ReviewTask, actor: str | None, detail: EventDetail
) -> StoredEvent:
    """An event about ``task`` at ``now``."""
    return StoredEvent(
        occurred_at=now,
        kind=kind,
        check_id=task.check_id,
        task_id=task.task_id,
        actor=actor,
        detail=detail,
    )


def task_created(now: datetime, task: ReviewTask, origin: dict[str, str]) -> StoredEvent:
    """``task_created`` for a new task; ``origin`` says what it came from (decision or parent)."""
    detail: EventDetail = {
        "reasons": ",".join(r.value for r in task.reasons),
        "tier": task.tier.value,
        "priority": task.priority.value,
        "due_at": task.due_at.isoformat(timespec="seconds"),
        **origin,
    }
    return task_event(now, "task_created", task, None, detail)


def verdict_events(
    now: datetime,
    task: ReviewTask,
    stored: StoredVerdict,
    agreed: bool | None,
    follow_up: ReviewTask | None,
    outcome: Outcome | None,
) -> list[StoredEvent]:
    """What a verdict writes: the verdict, the QC agreement, a follow-up task, a settlement."""
    v = stored.verdict
    events = [
        task_event(
            now,
            "verdict_recorded",
            task,
            stored.reviewer_id,
            {
                "verdict_id": stored.verdict_id,
                "kind": task.kind.value,
                "label": v.label.value,
                "attack_type": v.attack_type.value if v.attack_type else None,
            },
        )
    ]
    if agreed is not None:
        kind = "qc_agreed" if agreed else "qc_disagreed"
        events.append(task_event(now, kind, task, stored.reviewer_id, {}))
    if follow_up is not None:
        events.append(task_created(now, follow_up, {"parent_task_id": task.task_id}))
    if outcome is not None:
        events.append(
            task_event(
                now,
                "case_settled",
                task,
                stored.reviewer_id,
                {
                    "label": outcome.label.value,
                    "attack_type": outcome.attack_type.value if outcome.attack_type else None,
                    "decision_id": outcome.decision_id,
                },
            )
        )
    return events


def publish_review_events(publish: Publish, events: Sequence[StoredEvent]) -> None:
    """Hand the events that belong to a check to the evidence log; failures are logged only."""
    domain: list[DomainEvent] = [
        ReviewEvent(
            check_id=e.check_id,
            occurred_at=e.occurred_at,
            kind=e.kind,
            task_id=e.task_id,
            actor=e.actor,
            detail=dict(e.detail),
        )
        for e in events
        if e.check_id is not None
    ]
    if not domain:
        return
    try:
        publish(domain)
    except Exception:  # the review record is written; the evidence copy is best effort
        log.exception("could not publish %d review events", len(domain))
