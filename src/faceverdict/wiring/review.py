"""Composition of human review: review settings and stores -> review services.

Called by ``bootstrap`` (the composition root); kept in its own module so that review can be
wired on any stores (SQL, or in memory in tests) without the inline path's detectors.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from faceverdict.adapters.password_hasher import Argon2PasswordHasher
from faceverdict.config import Mode, Settings
from faceverdict.domain.check import Check
from faceverdict.domain.events import DomainEvent
from faceverdict.domain.review import ReviewEvent, ReviewPolicy
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.clock import Clock
from faceverdict.ports.evidence import EntryDraft
from faceverdict.ports.review import PasswordHasher, ReviewAudit, ReviewerAccounts, ReviewTasks
from faceverdict.services.captures import CaptureAccess
from faceverdict.services.evidence_events import REVIEW_VERDICT
from faceverdict.services.evidence_log import EvidenceLog
from faceverdict.services.recorder import CheckRecorder
from faceverdict.services.review.accounts import ReviewAccounts, SessionOptions
from faceverdict.services.review.cases import PURPOSES, CaptureReader, CaseService
from faceverdict.services.review.events import Publish
from faceverdict.services.review.imaging import CaptureRenderer, FaceLocator
from faceverdict.services.review.intake import ReviewIntake
from faceverdict.services.review.reports import ReviewReports
from faceverdict.services.review.tasks import ReviewOptions, ReviewService


@dataclass(frozen=True)
class ReviewSettings:
    """Operational settings of review, taken from the service settings."""

    secret: bytes = b"development-only-review-secret"
    lease: timedelta = timedelta(minutes=15)
    session_lifetime: timedelta = timedelta(hours=8)
    session_idle: timedelta = timedelta(minutes=30)
    secure_cookies: bool = False
    metrics_token: str | None = None


@dataclass(frozen=True)
class Review:
    """The review services an entry point needs, wired."""

    service: ReviewService
    intake: ReviewIntake
    accounts: ReviewAccounts
    cases: CaseService
    reports: ReviewReports
    settings: ReviewSettings


def build_review(
    settings: ReviewSettings,
    *,
    tasks: ReviewTasks,
    audit: ReviewAudit,
    reviewers: ReviewerAccounts,
    checks: CheckRepository,
    recorder: CheckRecorder,
    clock: Clock,
    policy: ReviewPolicy,
    read_capture: CaptureReader,
    hasher: PasswordHasher | None = None,
    locate_face: FaceLocator | None = None,
    publish: Publish | None = None,
) -> Review:
    """Wire review over the given stores; decisions go through ``recorder``."""
    # The QC sample is fixed by a secret: reproducible for an auditor, unguessable to reviewers.
    salt = hmac.new(settings.secret, b"faceverdict review qc", hashlib.sha256).hexdigest()
    service = ReviewService(
        tasks=tasks,
        audit=audit,
        checks=checks,
        recorder=recorder,
        policy=policy,
        clock=clock,
        options=ReviewOptions(lease=settings.lease, qc_salt=salt),
        publish=publish,
    )
    return Review(
        service=service,
        intake=ReviewIntake(
            tasks=tasks,
            checks=checks,
            recorder=recorder,
            policy=policy,
            clock=clock,
            qc_salt=salt,
            publish=publish,
        ),
        accounts=ReviewAccounts(
            accounts=reviewers,
            audit=audit,
            hasher=hasher or Argon2PasswordHasher(),
            clock=clock,
            options=SessionOptions(
                lifetime=settings.session_lifetime, idle_timeout=settings.session_idle
            ),
        ),
        cases=CaseService(
            review=service,
            reviewers=reviewers,
            renderer=CaptureRenderer(locate_face=locate_face),
            read_capture=read_capture,
        ),
        reports=ReviewReports(review=service, reviewers=reviewers, read_capture=read_capture),
        settings=settings,
    )


def review_settings(settings: Settings) -> ReviewSettings:
    """Review's share of the service settings."""
    secure = settings.review_secure_cookies
    return ReviewSettings(
        secret=settings.pseudonym_key.get_secret_value().encode(),
        lease=timedelta(minutes=settings.review_lease_minutes),
        session_lifetime=timedelta(hours=settings.review_session_hours),
        session_idle=timedelta(minutes=settings.review_idle_minutes),
        secure_cookies=settings.mode is Mode.PRODUCTION if secure is None else secure,
        metrics_token=settings.metrics_token.get_secret_value() if settings.metrics_token else None,
    )


def capture_reader(access: CaptureAccess) -> CaptureReader:
    """Read captures through the logged capture access (evidence ``capture.read``)."""

    def read(check: Check, reader: str, purpose: str) -> bytes:
        channel = "export" if purpose == "export" else "ui"
        reason = PURPOSES.get(purpose, purpose)
        return access.read(check.check_id, caller=reader, reason=reason, channel=channel).data

    return read


# Review events copied into the evidence log; claims and releases are operational detail.
_EVIDENCE_KINDS = {
    "verdict_recorded": REVIEW_VERDICT,
    "task_created": "review.task_created",
    "qc_agreed": "review.qc_agreed",
    "qc_disagreed": "review.qc_disagreed",
    "case_settled": "review.case_settled",
    "decision_not_applied": "review.decision_not_applied",
}


def evidence_publisher(evidence: EvidenceLog) -> Publish:
    """Append review events to the evidence log (ids and codes only; never notes or images)."""

    def publish(events: Sequence[DomainEvent]) -> None:
        drafts = [
            EntryDraft(
                kind=_EVIDENCE_KINDS[e.kind],
                check_id=e.check_id,
                occurred_at=e.occurred_at,
                payload={"task_id": e.task_id, "reviewer": e.actor, **dict(e.detail)},
            )
            for e in events
            if isinstance(e, ReviewEvent) and e.kind in _EVIDENCE_KINDS
        ]
        if drafts:
            evidence.append_many(drafts)

    return publish
