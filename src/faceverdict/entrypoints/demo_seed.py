"""Seeds a realistic review queue: synthetic captures through the real check path, of
various ages (some past their SLA), reviewer accounts, and some finished review work
(agreeing and disagreeing double reviews) so that every page has something to show.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from faceverdict.domain.policy import ClientSignals
from faceverdict.domain.review import (
    AttackType,
    ReviewPolicy,
    Role,
    TaskReason,
    TaskStatus,
    Verdict,
    VerdictLabel,
)
from faceverdict.entrypoints.demo import DemoCapture
from faceverdict.ports.review import DuplicateUsername, QueueFilter, ReviewerAccount
from faceverdict.services.checks import SubmitCheck
from faceverdict.services.review.tasks import ReviewService
from faceverdict.wiring.bootstrap import Application
from faceverdict.wiring.review import Review

ACCOUNTS = (
    ("alice", "Alice Martin", Role.REVIEWER),
    ("bob", "Bob Okafor", Role.REVIEWER),
    ("sam", "Sam Lindqvist", Role.SENIOR),
    ("ada", "Ada Moreau", Role.ADMIN),
)


class DemoClock:
    """The real time, or a time the seeding sets while it plays the past."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def now(self) -> datetime:
        """The fixed time while seeding, the real time otherwise."""
        return self.fixed or datetime.now(UTC)


@dataclass(frozen=True)
class DemoSummary:
    """What the demo seeded."""

    checks: int
    tasks: int
    accounts: list[str]
    password: str | None


def _with_double_review(policy: ReviewPolicy, fraction: float) -> ReviewPolicy:
    return ReviewPolicy(
        version=policy.version,
        defaults=replace(policy.defaults, double_review_fraction=fraction),
        flows={n: replace(r, double_review_fraction=fraction) for n, r in policy.flows.items()},
    )


def _accounts(
    review: Review, password: str | None
) -> tuple[dict[str, ReviewerAccount], str | None]:
    chosen = password or secrets.token_urlsafe(12)
    created = False
    accounts: dict[str, ReviewerAccount] = {}
    for username, name, role in ACCOUNTS:
        try:
            accounts[username] = review.accounts.create(username, chosen, role, name)
            created = True
        except DuplicateUsername:
            if password:
                review.accounts.set_password(username, password)
            found = review.accounts.reviewers.reviewer_by_username(username)
            assert found is not None
            accounts[username] = found
    return accounts, chosen if created or password else None


def seed_demo(
    application: Application,
    review: Review,
    captures: list[DemoCapture],
    clock: DemoClock,
    password: str | None = None,
) -> DemoSummary:
    """Submit ``captures`` as checks of the past, queue their reviews and do some of them."""
    accounts, shown = _accounts(review, password)
    now = clock.now()
    run = secrets.token_hex(4)
    seeded: list[str] = []
    for i, capture in enumerate(sorted(captures, key=lambda c: c.age, reverse=True)):
        clock.fixed = now - capture.age
        submitted = application.checks.submit(
            SubmitCheck(
                image=capture.data,
                subject_ref=f"demo-subject-{run}-{i}",
                flow=capture.flow,
                signals=ClientSignals(**capture.signals),
                idempotency_key=f"demo-{run}-{capture.name}",
            )
        )
        check = submitted.check
        seeded.append(check.check_id)
        if capture.kind == "blurry":  # deeper analysis asks a person to look
            check.request_review(clock.now(), TaskReason.ASSURANCE_ESCALATION.value)
            application.checks.recorder.record_events(check)
    clock.fixed = now - timedelta(minutes=3)
    _finished_work(review, accounts)
    clock.fixed = None
    tasks = sum(len(review.service.tasks.tasks_for_check(c)) for c in seeded)
    return DemoSummary(
        checks=len(captures), tasks=tasks, accounts=[a[0] for a in ACCOUNTS], password=shown
    )


def _finished_work(review: Review, accounts: dict[str, ReviewerAccount]) -> None:
    """Two single reviews, one agreeing double review, one disagreement left for a senior."""
    service = review.service
    double = ReviewService(
        tasks=service.tasks,
        audit=service.audit,
        checks=service.checks,
        recorder=service.recorder,
        policy=_with_double_review(service.policy, 1.0),
        clock=service.clock,
        options=service.options,
        publish=service.publish,
    )
    single = ReviewService(
        tasks=service.tasks,
        audit=service.audit,
        checks=service.checks,
        recorder=service.recorder,
        policy=_with_double_review(service.policy, 0.0),
        clock=service.clock,
        options=service.options,
        publish=service.publish,
    )
    alice, bob = accounts["alice"], accounts["bob"]
    waiting = [
        t
        for t in service.queue(alice, QueueFilter(statuses=frozenset({TaskStatus.OPEN})))
        if t.flow == "onboarding"
    ]
    oldest_first = sorted(waiting, key=lambda t: t.created_at)
    plan = [
        (single, alice, Verdict(VerdictLabel.GENUINE), None),
        (single, bob, Verdict(VerdictLabel.FAKE, AttackType.FACE_SWAP), None),
        (double, alice, Verdict(VerdictLabel.GENUINE), Verdict(VerdictLabel.GENUINE)),
        (
            double,
            alice,
            Verdict(VerdictLabel.GENUINE),
            Verdict(VerdictLabel.FAKE, AttackType.PRESENTATION_ATTACK),
        ),
    ]
    for task, (svc, reviewer, first, second) in zip(oldest_first, plan, strict=False):
        svc.claim(task.task_id, reviewer)
        result = svc.submit_verdict(task.task_id, reviewer, first)
        if second is not None and result.follow_up is not None:
            svc.claim(result.follow_up.task_id, bob)
            svc.submit_verdict(result.follow_up.task_id, bob, second)
