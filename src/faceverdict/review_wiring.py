"""Composition of human review: settings -> review adapters -> review services.

Called by ``bootstrap`` (the composition root); kept in its own module so that review can be
wired and tested without touching the inline path's wiring.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from faceverdict.adapters.password_hasher import Argon2PasswordHasher
from faceverdict.adapters.sql_check_repository import make_engine
from faceverdict.adapters.sql_review_repository import SqlReviewRepository
from faceverdict.adapters.sql_sweep_marks import SqlSweepMarks
from faceverdict.config import Mode, Settings
from faceverdict.domain.check import Check
from faceverdict.domain.events import DomainEvent
from faceverdict.domain.review import ReviewEvent, ReviewPolicy
from faceverdict.ports import (
    BlobStore,
    CheckRepository,
    Clock,
    DecisionFeed,
    EntryDraft,
    SweepMarks,
)
from faceverdict.review_policy import load_review_policy
from faceverdict.review_ports import Outcome, PasswordHasher, ReviewRepository
from faceverdict.services.captures import CaptureAccess
from faceverdict.services.checks import CheckService
from faceverdict.services.evidence_events import REVIEW_VERDICT
from faceverdict.services.evidence_log import EvidenceLog
from faceverdict.services.review import DecisionRecorder, ReviewOptions, ReviewService
from faceverdict.services.review_accounts import ReviewAccounts, SessionOptions
from faceverdict.services.review_case import (
    PURPOSES,
    CaptureReader,
    CaseService,
    blob_capture_reader,
)
from faceverdict.services.review_events import Publish
from faceverdict.services.review_imaging import CaptureRenderer, FaceLocator
from faceverdict.services.review_reports import ReviewReports


@dataclass(frozen=True)
class ReviewSettings:
    """Operational settings of review, taken from the service settings."""

    database_url: str
    policy_file: Path | None = None
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
    accounts: ReviewAccounts
    cases: CaseService
    reports: ReviewReports
    settings: ReviewSettings
    closers: tuple[Callable[[], None], ...] = ()

    def close(self) -> None:
        """Release the connection pool review opened (if it opened one)."""
        for close in self.closers:
            close()


def build_review(
    settings: ReviewSettings,
    *,
    checks: CheckRepository,
    clock: Clock,
    blobs: BlobStore | None = None,
    engine: Engine | None = None,
    repository: ReviewRepository | None = None,
    policy: ReviewPolicy | None = None,
    hasher: PasswordHasher | None = None,
    read_capture: CaptureReader | None = None,
    locate_face: FaceLocator | None = None,
    publish: Publish | None = None,
    record_decision: DecisionRecorder | None = None,
) -> Review:
    """Wire review; any argument given replaces the default adapter."""
    closers: list[Callable[[], None]] = []
    marks: SweepMarks | None = None
    if repository is None:
        if engine is None:
            engine = make_engine(settings.database_url)
            closers.append(engine.dispose)
        sql = SqlReviewRepository(engine)
        sql.create_schema()
        repository = sql
        sql_marks = SqlSweepMarks(engine)
        sql_marks.create_schema()
        marks = sql_marks
    policy = policy or load_review_policy(settings.policy_file)
    # The QC sample is fixed by a secret: reproducible for an auditor, unguessable to reviewers.
    salt = hmac.new(settings.secret, b"faceverdict review qc", hashlib.sha256).hexdigest()
    service = ReviewService(
        repository=repository,
        checks=checks,
        policy=policy,
        clock=clock,
        options=ReviewOptions(lease=settings.lease, qc_salt=salt),
        publish=publish,
        record_decision=record_decision,
        decisions=checks if isinstance(checks, DecisionFeed) else None,
        marks=marks,
    )
    if read_capture is None:
        if blobs is None:
            raise ValueError("review needs a capture reader or the blob store")
        read_capture = blob_capture_reader(blobs)
    reader = read_capture
    return Review(
        service=service,
        accounts=ReviewAccounts(
            repository=repository,
            hasher=hasher or Argon2PasswordHasher(),
            clock=clock,
            options=SessionOptions(
                lifetime=settings.session_lifetime, idle_timeout=settings.session_idle
            ),
        ),
        cases=CaseService(
            review=service,
            renderer=CaptureRenderer(locate_face=locate_face),
            read_capture=reader,
        ),
        reports=ReviewReports(review=service, read_capture=reader),
        settings=settings,
        closers=tuple(closers),
    )


def review_settings(settings: Settings) -> ReviewSettings:
    """Review's share of the service settings."""
    secure = settings.review_secure_cookies
    return ReviewSettings(
        database_url=settings.resolved_database_url,
        policy_file=settings.policy_file,
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


def wire_review(
    settings: Settings,
    *,
    checks: CheckService,
    repository: CheckRepository,
    clock: Clock,
    captures: CaptureAccess,
    evidence: EvidenceLog,
) -> Review:
    """Review over the service's stores: decisions through the check service (with their
    evidence), capture reads through the logged capture access, review events into the
    evidence log; and the check service queues review tasks after each decision."""

    def record(check: Check, outcome: Outcome) -> None:
        del outcome  # the decision carries the verdict's reason codes
        checks.save_decision(check)

    review = build_review(
        review_settings(settings),
        checks=repository,
        clock=clock,
        read_capture=capture_reader(captures),
        publish=evidence_publisher(evidence),
        record_decision=record,
    )
    checks.on_decided = review.service.on_decided
    return review
