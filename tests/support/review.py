"""Helpers for review tests: a settable clock, stored checks, a cheap hasher, wired services."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import Engine

from faceverdict.adapters.local_blob_store import LocalBlobStore
from faceverdict.adapters.password_hasher import Argon2PasswordHasher
from faceverdict.adapters.sql_check_repository import SqlCheckRepository, make_engine
from faceverdict.domain.check import CaptureInfo, Check, Decision
from faceverdict.domain.detection import DetectorResult, Heatmap
from faceverdict.domain.events import DomainEvent
from faceverdict.domain.policy import Action, ClientSignals
from faceverdict.domain.review import FlowReviewRules, Priority, ReviewPolicy, Role
from faceverdict.review_ports import ReviewerAccount
from faceverdict.review_wiring import Review, ReviewSettings, build_review
from faceverdict.services.review_imaging import Box
from tests.support.synthetic_faces import synthetic_face

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


class SettableClock:
    """A clock that tests move by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        """The current test time."""
        return self.current

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.current += timedelta(**delta)


def fast_hasher() -> Argon2PasswordHasher:
    """argon2id with small costs: the same code path, quick enough for tests."""
    return Argon2PasswordHasher(time_cost=1, memory_cost_kib=1024, parallelism=1)


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
    """Review wired over a real SQL store and blob folder, with a settable clock."""

    review: Review
    checks: SqlCheckRepository
    blobs: LocalBlobStore
    clock: SettableClock
    engine: Engine
    published: list[DomainEvent] = field(default_factory=list)

    def close(self) -> None:
        """Close the database connections."""
        self.engine.dispose()

    def add_check(self, check: Check, image: bytes | None = None) -> Check:
        """Store a check (and its capture) the way the check service does."""
        self.checks.add(check)
        self.blobs.put(f"captures/{check.check_id}", image if image is not None else face_jpeg())
        return check

    def account(self, username: str, role: Role = Role.REVIEWER) -> ReviewerAccount:
        """A new reviewer account."""
        return self.review.accounts.create(username, PASSWORD, role, username.title())


def review_world(
    url: str,
    data: Path,
    *,
    policy: ReviewPolicy | None = None,
    face_box: Box | None = (150, 150, 330, 420),
    clock: SettableClock | None = None,
) -> ReviewWorld:
    """Wire review over ``url`` with blobs under ``data``; faces are 'found' at ``face_box``."""
    engine = make_engine(url)
    checks = SqlCheckRepository(engine)
    checks.create_schema()
    blobs = LocalBlobStore(data / "blobs")
    clock = clock or SettableClock()
    published: list[DomainEvent] = []
    review = build_review(
        ReviewSettings(database_url=url, secret=b"test-secret"),
        checks=checks,
        blobs=blobs,
        clock=clock,
        engine=engine,
        policy=policy or review_policy(),
        hasher=fast_hasher(),
        locate_face=lambda _image: face_box,
        publish=published.extend,
    )
    return ReviewWorld(
        review=review,
        checks=checks,
        blobs=blobs,
        clock=clock,
        engine=engine,
        published=published,
    )


def blank_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """A plain PNG (no face)."""
    out = io.BytesIO()
    Image.new("RGB", size, (120, 140, 160)).save(out, format="PNG")
    return out.getvalue()


WorldFactory = Callable[..., ReviewWorld]


def queued(world: ReviewWorld, check: Check) -> str:
    """Add ``check`` to ``world`` and queue its review task; the task id."""
    world.add_check(check)
    task = world.review.service.on_decided(check)
    assert task is not None
    return task.task_id
