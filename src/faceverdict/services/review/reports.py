"""What review produces beyond decisions: backlog and SLA figures, agreement rates, and
reviewed captures exported as a labelled manifest for retraining.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from faceverdict.domain.review import (
    VerdictLabel,
)
from faceverdict.domain.review_qc import (
    AgreementRate,
    agreement_rates,
)
from faceverdict.errors import InvalidRequest, NotFound
from faceverdict.ports.review import BacklogRow, Outcome, ReviewerAccounts, StoredEvent
from faceverdict.services.review.cases import READ, CaptureReader
from faceverdict.services.review.tasks import ReviewService

# The columns of the shared datasets' MANIFEST.csv, in order.
MANIFEST_COLUMNS = ("relpath", "label", "family", "source", "license", "width", "height", "group")
SOURCE = "faceverdict-review"
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/avif": "avif"}


@dataclass(frozen=True)
class Backlog:
    """Unfinished work and SLA misses at one moment."""

    at: datetime
    rows: list[BacklogRow]
    completed_late: dict[str, int]

    @property
    def open(self) -> int:
        """Unclaimed (or lapsed) tasks."""
        return sum(r.open for r in self.rows)

    @property
    def breached(self) -> int:
        """Unfinished tasks past their due time."""
        return sum(r.breached for r in self.rows)


@dataclass(frozen=True)
class ReviewerAgreement:
    """A reviewer's agreement figures with their name."""

    username: str
    display_name: str
    rate: AgreementRate


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote and what it left out, and why."""

    manifest: Path
    written: int
    skipped_inconclusive: int
    skipped_erased: int


class ReviewReports:
    """Backlog, agreement and export, read from the review store."""

    def __init__(
        self,
        *,
        review: ReviewService,
        reviewers: ReviewerAccounts,
        read_capture: CaptureReader,
        is_erased: Callable[[str], bool] | None = None,
    ) -> None:
        self.review = review
        self.reviewers = reviewers
        self.read_capture = read_capture
        self.is_erased = is_erased or (lambda _pseudonym: False)

    def backlog(self) -> Backlog:
        """Open work and SLA breaches now."""
        audit = self.review.audit
        now = self.review.clock.now()
        return Backlog(at=now, rows=audit.backlog(now), completed_late=audit.completed_late())

    def agreement(self) -> list[ReviewerAgreement]:
        """Per-reviewer agreement with independent second looks."""
        accounts = {a.reviewer_id: a for a in self.reviewers.list_reviewers()}
        rates = agreement_rates(self.review.audit.pairs())
        out = []
        for rate in rates:
            account = accounts.get(rate.reviewer_id)
            out.append(
                ReviewerAgreement(
                    username=account.username if account else rate.reviewer_id,
                    display_name=account.display_name if account else rate.reviewer_id,
                    rate=rate,
                )
            )
        return sorted(out, key=lambda a: a.username)

    def export(
        self, out_dir: Path, actor: str, licence: str, overwrite: bool = False
    ) -> ExportSummary:
        """Write reviewed captures and a MANIFEST.csv in the shared datasets' columns.

        The latest settled verdict of each check is its label (genuine -> real, fake -> fake,
        family = attack type); inconclusive cases and erased subjects are left out, and every
        capture read is logged.
        """
        manifest = out_dir / "MANIFEST.csv"
        if manifest.exists() and not overwrite:
            raise InvalidRequest(f"{manifest} exists; choose an empty folder")
        latest: dict[str, Outcome] = {}
        for outcome in self.review.tasks.outcomes():
            latest[outcome.check_id] = outcome
        (out_dir / "captures").mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, str | int]] = []
        inconclusive = erased = 0
        for outcome in latest.values():
            if outcome.label is VerdictLabel.INCONCLUSIVE:
                inconclusive += 1
                continue
            check = self.review.checks.get(outcome.check_id)
            if check is None or self.is_erased(check.subject_pseudonym):
                erased += 1
                continue
            self._log_read(outcome, actor)
            try:
                data = self.read_capture(check, actor, "export")
            except (KeyError, NotFound):
                erased += 1  # the capture is gone: erased, expired or never kept
                continue
            ext = _EXTENSIONS.get(check.capture.media_type, "bin")
            relpath = f"captures/{check.check_id}.{ext}"
            (out_dir / relpath).write_bytes(data)
            fake = outcome.label is VerdictLabel.FAKE
            rows.append(
                {
                    "relpath": relpath,
                    "label": "fake" if fake else "real",
                    "family": outcome.attack_type.value
                    if fake and outcome.attack_type
                    else "reviewed_genuine",
                    "source": f"{SOURCE}:{check.flow}",
                    "license": licence,
                    "width": check.capture.width,
                    "height": check.capture.height,
                    "group": check.subject_pseudonym[:16],
                }
            )
        with manifest.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self.review.audit.add_event(
            StoredEvent(
                occurred_at=self.review.clock.now(),
                kind="export_written",
                actor=actor,
                detail={
                    "written": len(rows),
                    "skipped_inconclusive": inconclusive,
                    "skipped_erased": erased,
                },
            )
        )
        return ExportSummary(
            manifest=manifest,
            written=len(rows),
            skipped_inconclusive=inconclusive,
            skipped_erased=erased,
        )

    def _log_read(self, outcome: Outcome, actor: str) -> None:
        self.review.audit.add_event(
            StoredEvent(
                occurred_at=self.review.clock.now(),
                kind=READ,
                check_id=outcome.check_id,
                task_id=outcome.task_id,
                actor=actor,
                detail={"purpose": "export"},
            )
        )
