"""The case a reviewer looks at: check, detectors, timeline, and the capture (redacted first).

Every read of a raw capture is logged with who and why; seeing the unredacted background
needs the reviewer to hold the task and to have asked for it explicitly (a logged reveal),
which lapses after a few minutes or when they redact again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from faceverdict.detectors.base import DecodedImage
from faceverdict.domain.check import Check, Decision
from faceverdict.domain.review import ReviewTask, TaskStatus
from faceverdict.errors import NotFound
from faceverdict.ports.captures import BlobStore
from faceverdict.ports.review import ReviewerAccount, ReviewerAccounts, StoredEvent, StoredVerdict
from faceverdict.services.review.errors import Forbidden
from faceverdict.services.review.imaging import Box, CaptureRenderer
from faceverdict.services.review.tasks import ReviewService, visible_verdicts

# (check, reader id, purpose) -> the capture's bytes; KeyError or NotFound when it is gone.
CaptureReader = Callable[[Check, str, str], bytes]
PURPOSES = {
    "review_redacted": "review: case page, background redacted",
    "review_original": "review: background revealed by the reviewer",
    "export": "export: labelled example for retraining",
}

REVEALED, REDACTED, READ = "capture_revealed", "capture_redacted", "capture_read"
_VERDICT_DETAIL = frozenset({"label", "attack_type"})


def blob_capture_reader(blobs: BlobStore) -> CaptureReader:
    """Read captures where the check service stores them."""

    def read(check: Check, reader: str, purpose: str) -> bytes:
        del reader, purpose  # logged by the caller, in the review audit trail
        return blobs.get(f"captures/{check.check_id}")

    return read


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a check's history."""

    at: datetime
    title: str
    actor: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class CaseView:
    """Everything the case page shows for one task, as the viewer may see it."""

    task: ReviewTask
    check: Check
    decision: Decision
    verdicts: list[StoredVerdict]
    timeline: list[TimelineEntry]
    names: dict[str, str]
    held: bool
    revealed: bool
    heatmaps: list[str]

    def name(self, reviewer_id: str | None) -> str:
        """A reviewer's display name."""
        if reviewer_id is None:
            return "system"
        return self.names.get(reviewer_id, reviewer_id)


class CaseService:
    """Assembles case pages and serves the capture pictures behind them."""

    def __init__(
        self,
        *,
        review: ReviewService,
        reviewers: ReviewerAccounts,
        renderer: CaptureRenderer,
        read_capture: CaptureReader,
        reveal_ttl: timedelta = timedelta(minutes=10),
    ) -> None:
        self.review = review
        self.reviewers = reviewers
        self.renderer = renderer
        self.read_capture = read_capture
        self.reveal_ttl = reveal_ttl

    def case(self, task_id: str, viewer: ReviewerAccount) -> CaseView:
        """The case behind a task, for a viewer who holds it (or a senior, read-only)."""
        task = self.review.task(task_id)
        self._may_view(task, viewer)
        check = self._check(task)
        decision = check.current_decision
        if decision is None:
            raise NotFound(f"check {check.check_id} has no decision")
        now = self.review.clock.now()
        verdicts = visible_verdicts(task, self.review.tasks.verdicts_for_check(check.check_id))
        names = {a.reviewer_id: a.display_name for a in self.reviewers.list_reviewers()}
        return CaseView(
            task=task,
            check=check,
            decision=decision,
            verdicts=verdicts,
            timeline=self._timeline(task, check, names),
            names=names,
            held=task.held_by(viewer.reviewer_id, now),
            revealed=self._revealed(task, viewer, now),
            heatmaps=[r.detector for r in check.detector_results if r.heatmap is not None],
        )

    def reveal(self, task_id: str, viewer: ReviewerAccount, reason: str = "") -> None:
        """Show the unredacted capture to the reviewer holding the task; logged."""
        task = self._held(task_id, viewer)
        self._log(REVEALED, task, viewer, {"reason": reason.strip()[:200] or None})

    def redact(self, task_id: str, viewer: ReviewerAccount) -> None:
        """Hide the background again; logged."""
        task = self.review.task(task_id)
        self._log(REDACTED, task, viewer, {})

    def capture(self, task_id: str, viewer: ReviewerAccount, original: bool) -> bytes:
        """The capture as a JPEG for display: redacted, or original after a logged reveal."""
        task = self.review.task(task_id)
        self._may_view(task, viewer)
        now = self.review.clock.now()
        if original and not (
            task.held_by(viewer.reviewer_id, now) and self._revealed(task, viewer, now)
        ):
            raise Forbidden("reveal the capture first (an explicit, logged action)")
        check = self._check(task)
        purpose = "review_original" if original else "review_redacted"
        self._log(READ, task, viewer, {"purpose": purpose})
        try:
            data = self.read_capture(check, viewer.reviewer_id, purpose)
        except (KeyError, NotFound):
            raise NotFound("the capture is no longer stored (erased or never kept)") from None
        image = self.renderer.decode(data)
        box = None if original else self._face_box(task, image)
        return self.renderer.render(image, box, reveal=original)

    def heatmap(self, task_id: str, viewer: ReviewerAccount, detector: str) -> bytes:
        """A detector's heatmap as a transparent PNG over the displayed capture."""
        task = self.review.task(task_id)
        self._may_view(task, viewer)
        check = self._check(task)
        for result in check.detector_results:
            if result.detector == detector and result.heatmap is not None:
                size = (check.capture.width, check.capture.height)
                return self.renderer.heatmap_overlay(size, result.heatmap)
        raise NotFound(f"detector {detector!r} left no heatmap on this check")

    def _face_box(self, task: ReviewTask, image: DecodedImage) -> Box | None:
        repo = self.review.tasks
        box, searched = repo.face_box(task.task_id)
        if searched:
            return box
        box = self.renderer.face_box(image)
        repo.set_face_box(task.task_id, box)
        return box

    def _check(self, task: ReviewTask) -> Check:
        check = self.review.checks.get(task.check_id)
        if check is None:
            raise NotFound(f"no check with id {task.check_id!r}")
        return check

    def _held(self, task_id: str, viewer: ReviewerAccount) -> ReviewTask:
        task = self.review.task(task_id)
        if not task.held_by(viewer.reviewer_id, self.review.clock.now()):
            raise Forbidden("claim this task first")
        return task

    def _may_view(self, task: ReviewTask, viewer: ReviewerAccount) -> None:
        now = self.review.clock.now()
        if task.held_by(viewer.reviewer_id, now) or task.completed_by == viewer.reviewer_id:
            return
        if viewer.role.sees_reports:
            return
        raise Forbidden("claim this task to open its case")

    def _revealed(self, task: ReviewTask, viewer: ReviewerAccount, now: datetime) -> bool:
        last = None
        for event in self.review.audit.events(
            check_id=task.check_id, kinds=frozenset({REVEALED, REDACTED})
        ):
            if event.task_id == task.task_id and event.actor == viewer.reviewer_id:
                last = event
        return (
            last is not None
            and last.kind == REVEALED
            and now - last.occurred_at < self.reveal_ttl
            and task.status is not TaskStatus.DONE
        )

    def _log(
        self,
        kind: str,
        task: ReviewTask,
        viewer: ReviewerAccount,
        detail: dict[str, str | float | bool | None],
    ) -> None:
        self.review.audit.add_event(
            StoredEvent(
                occurred_at=self.review.clock.now(),
                kind=kind,
                check_id=task.check_id,
                task_id=task.task_id,
                actor=viewer.reviewer_id,
                detail=detail,
            )
        )

    def _timeline(
        self, task: ReviewTask, check: Check, names: dict[str, str]
    ) -> list[TimelineEntry]:
        c = check.capture
        entries = [
            TimelineEntry(
                at=check.created_at,
                title="Capture received",
                detail=f"{check.flow} flow, {c.width}×{c.height} {c.media_type}, "
                f"sha256 {c.sha256[:12]}…",
            )
        ]
        for d in check.decisions:
            score = "abstained" if d.authenticity_score is None else f"{d.authenticity_score:.1f}"
            entries.append(
                TimelineEntry(
                    at=d.decided_at,
                    title=f"{'Final decision' if d.final else 'Decision'} ({d.stage}): "
                    f"{d.action.value}",
                    detail=f"score {score}, band {d.band}, policy {d.policy_version}",
                )
            )
        hide = task.blind and task.status is not TaskStatus.DONE
        for e in self.review.audit.events(check_id=check.check_id):
            if e.kind == READ:
                continue
            detail = {
                k: v
                for k, v in e.detail.items()
                if v is not None and not (hide and k in _VERDICT_DETAIL)
            }
            if hide and e.kind in ("qc_agreed", "qc_disagreed", "case_settled"):
                continue
            entries.append(
                TimelineEntry(
                    at=e.occurred_at,
                    title=_EVENT_TITLES.get(e.kind, e.kind.replace("_", " ")),
                    actor=names.get(e.actor, e.actor) if e.actor else None,
                    detail=", ".join(f"{k.replace('_', ' ')} {v}" for k, v in detail.items()),
                )
            )
        return sorted(entries, key=lambda e: e.at)


_EVENT_TITLES = {
    "task_created": "Review task queued",
    "task_claimed": "Task claimed",
    "task_released": "Task released",
    "verdict_recorded": "Verdict recorded",
    "qc_agreed": "Second review agreed",
    "qc_disagreed": "Second review disagreed: escalated to a senior",
    "case_settled": "Case settled",
    REVEALED: "Background revealed",
    REDACTED: "Background redacted again",
    "decision_not_applied": "Verdict kept as a label only",
}
