"""Helpers for review tests: stored checks, review wired on memory (or SQL) stores."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from PIL import Image

from faceverdict.adapters.sql_database import Database
from faceverdict.domain.check import CaptureInfo, Check, Decision
from faceverdict.domain.detection import DetectorResult, Heatmap
from faceverdict.domain.events import CheckDecided, DomainEvent, ReviewRequested
from faceverdict.domain.policy import Action, ClientSignals
from faceverdict.domain.review import FlowReviewRules, Priority, ReviewPolicy, ReviewTask, Role
from faceverdict.ports.captures import BlobStore
from faceverdict.ports.checks import CheckRepository
from faceverdict.ports.review import ReviewerAccount
from faceverdict.services.messagebus import MessageBus
from faceverdict.services.recorder import CheckRecorder
from faceverdict.services.review.cases import blob_capture_reader
from faceverdict.services.review.imaging import Box
from faceverdict.testing.app import fast_hasher
from faceverdict.testing.captures import MemoryBlobStore, local_key_store
from faceverdict.testing.clock import ManualClock
from faceverdict.testing.stores import memory_stores
from faceverdict.wiring.review import Review, ReviewSettings, build_review
from faceverdict.wiring.stores import Stores, sql_stores
from tests.support.synthetic_faces import synthetic_face

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


def face_jpeg(seed: int = 0, size: tuple[int, int] = (480, 600)) -> bytes:
    """A synthetic portrait as JPEG bytes."""
    out = io.BytesIO()
    synthetic_face(size=size, seed=seed).save(out, format="JPEG", quality=90)
    return out.getvalue()


def review_policy(double: float = 0.0, audit: float = 0.0) -> ReviewPolicy:
    """Rules with a 24 h onboarding SLA and a 15 min payment SLA."""
    base = FlowReviewRules(double_review_fraction=double, audit_fraction=audit)
    payment = FlowReviewRules(
        priority=Priority.HIGH,
        sla=timedelta(minutes=15),
        double_review_fraction=double,
        audit_fraction=audit,
    )
    return ReviewPolicy(version="test-policy", defaults=base, flows={"payment": payment})


def make_check(
    check_id: str,
    *,
    flow: str = "onboarding",
    action: Action = Action.REVIEW,
    final: bool = False,
    risk: float | None = 0.5,
    score: float | None = 40.0,
    results: list[DetectorResult] | None = None,
    now: datetime = T0,
    subject: str = "s" * 64,
    size: tuple[int, int] = (480, 600),
) -> Check:
    """A decided check as the inline path would store it."""
    check = Check.receive(
        check_id=check_id,
        subject_pseudonym=subject,
        flow=flow,
        capture=CaptureInfo(
            sha256="a" * 64, media_type="image/jpeg", width=size[0], height=size[1], byte_size=1
        ),
        signals=ClientSignals(liveness_score=0.25, device_risk=0.4),
        now=now,
    )
    check.decide(
        Decision(
            decision_id=f"dec_{check_id}",
            check_id=check_id,
            authenticity_score=score,
            abstention=None,
            band="suspect",
            action=action,
            reasons=("BAND_SUSPECT", "LIVENESS_LOW"),
            policy_version="p1",
            model_versions={"provenance": "1.0"},
            composite_risk=risk,
            final=final,
            decided_at=now,
        ),
        results
        if results is not None
        else [
            DetectorResult(
                detector="provenance",
                version="1.0",
                fake_probability=0.7,
                reasons=("METADATA_GENERATOR_TRACE",),
            ),
            DetectorResult(
                detector="blending",
                version="0.3",
                fake_probability=0.62,
                reasons=("BLENDING_BOUNDARY",),
                heatmap=Heatmap(
                    width=4,
                    height=4,
                    values=tuple(i / 15 for i in range(16)),
                    box=(120, 150, 360, 450),
                ),
            ),
        ],
    )
    check.pull_events()
    return check


@dataclass
class ReviewWorld:
    """Review wired over one set of stores and a blob store, with a manual clock.

    Decisions go through the real recorder and message bus; the bus runs review's intake
    handlers only (no assurance, no webhooks).
    """

    review: Review
    checks: CheckRepository
    stores: Stores
    blobs: BlobStore
    clock: ManualClock
    bus: MessageBus
    published: list[DomainEvent] = field(default_factory=list)

    def close(self) -> None:
        """Release the stores (the connection pool of SQL ones; nothing for memory)."""
        self.stores.close()

    def add_check(self, check: Check, image: bytes | None = None) -> Check:
        """Store a check (and its capture) the way the check service does."""
        self.checks.add(check)
        self.blobs.put(f"captures/{check.check_id}", image if image is not None else face_jpeg())
        return check

    def decided(self, check: Check) -> ReviewTask | None:
        """Run review's handler of the check's newest decision (as the bus would)."""
        return self.review.intake.on_decided(decided_event(check))

    def account(self, username: str, role: Role = Role.REVIEWER) -> ReviewerAccount:
        """A new reviewer account."""
        return self.review.accounts.create(username, PASSWORD, role, username.title())


def decided_event(check: Check) -> CheckDecided:
    """The ``CheckDecided`` event of the check's newest decision."""
    d = check.current_decision
    assert d is not None
    return CheckDecided(
        check_id=check.check_id,
        occurred_at=d.decided_at,
        decision_id=d.decision_id,
        action=d.action.value,
        authenticity_score=d.authenticity_score,
        policy_version=d.policy_version,
        supersedes=d.supersedes,
        stage=d.stage,
        final=d.final,
        state=check.state.value,
    )


def review_world(
    stores: Stores | None = None,
    *,
    clock: ManualClock | None = None,
    policy: ReviewPolicy | None = None,
    face_box: Box | None = (150, 150, 330, 420),
) -> ReviewWorld:
    """Wire review over ``stores`` (default: memory stores stamped by ``clock``), with blobs
    in memory; faces are 'found' at ``face_box``. The clock starts at ``T0``."""
    clock = clock or ManualClock(T0)
    stores = stores or memory_stores(clock)
    blobs = MemoryBlobStore()
    bus = MessageBus(stores.events, clock)
    published: list[DomainEvent] = []
    review = build_review(
        ReviewSettings(secret=b"test-secret"),
        tasks=stores.review_tasks,
        audit=stores.review_audit,
        reviewers=stores.reviewers,
        checks=stores.checks,
        recorder=CheckRecorder(uow=stores.uow, bus=bus),
        clock=clock,
        policy=policy or review_policy(),
        read_capture=blob_capture_reader(blobs),
        hasher=fast_hasher(),
        locate_face=lambda _image: face_box,
        publish=published.extend,
    )
    bus.register(
        {
            CheckDecided: [("review.queue", review.intake.on_decided)],
            ReviewRequested: [("review.queue", review.intake.on_requested)],
        }
    )
    return ReviewWorld(
        review=review,
        checks=stores.checks,
        stores=stores,
        blobs=blobs,
        clock=clock,
        bus=bus,
        published=published,
    )


def sql_review_stores(url: str) -> Stores:
    """SQL stores on a database at ``url`` brought to the current schema (for the tests
    that drive the SQL adapters or the whole HTTP path: ``review_world(sql_review_stores(url))``).
    """
    database = Database(url)
    database.upgrade()
    return sql_stores(database, local_key_store())


def blank_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """A plain PNG (no face)."""
    out = io.BytesIO()
    Image.new("RGB", size, (120, 140, 160)).save(out, format="PNG")
    return out.getvalue()


WorldFactory = Callable[..., ReviewWorld]


def queued(world: ReviewWorld, check: Check) -> str:
    """Add ``check`` to ``world`` and queue its review task; the task id."""
    world.add_check(check)
    task = world.decided(check)
    assert task is not None
    return task.task_id
