"""The check: one request to judge a capture, as a small state machine with decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from faceverdict.domain.detection import Abstention, DetectorResult
from faceverdict.domain.events import (
    AssuranceAbandoned,
    AssuranceConfirmed,
    AssuranceStarted,
    CheckDecided,
    CheckReceived,
    DomainEvent,
    ReviewOpened,
    ReviewRequested,
)
from faceverdict.domain.policy import Action, ClientSignals


class CheckState(StrEnum):
    """Lifecycle of a check: received -> decided -> [assuring] -> [in_review] -> final."""

    RECEIVED = "received"
    DECIDED = "decided"
    ASSURING = "assuring"
    IN_REVIEW = "in_review"
    FINAL = "final"


# Where a decision came from. Only a person's verdict (``review``) settles a check for good.
INLINE_STAGE = "inline"
ASSURANCE_STAGE = "assurance"
RESCAN_STAGE = "rescan"
REVIEW_STAGE = "review"

_ALLOWED: dict[CheckState, frozenset[CheckState]] = {
    CheckState.RECEIVED: frozenset({CheckState.DECIDED, CheckState.FINAL}),
    CheckState.DECIDED: frozenset(
        {CheckState.DECIDED, CheckState.ASSURING, CheckState.IN_REVIEW, CheckState.FINAL}
    ),
    CheckState.ASSURING: frozenset({CheckState.DECIDED, CheckState.IN_REVIEW, CheckState.FINAL}),
    CheckState.IN_REVIEW: frozenset({CheckState.FINAL}),
    # A final check moves only as the guards of ``decide`` and ``open_review`` allow: a
    # re-scan reopens an automated decision, a person reconsiders a person's verdict.
    CheckState.FINAL: frozenset({CheckState.DECIDED, CheckState.IN_REVIEW, CheckState.FINAL}),
}


class InvalidTransition(Exception):
    """A check was asked to move to a state it cannot reach from where it is."""


class HumanVerdictStands(InvalidTransition):
    """An automated stage tried to supersede a person's verdict: only a person may."""


class RelaxationForbidden(InvalidTransition):
    """An automated stage tried to relax a decision (e.g. step_up -> accept) that the policy
    forbids it to relax (``may_relax = false``)."""


@dataclass(frozen=True)
class CaptureInfo:
    """What validation learned about the uploaded bytes (never the bytes themselves)."""

    sha256: str
    media_type: str
    width: int
    height: int
    byte_size: int


@dataclass(frozen=True)
class Decision:
    """Score, band, action and reasons, with the exact versions that produced them."""

    decision_id: str
    check_id: str
    authenticity_score: float | None
    abstention: Abstention | None
    band: str
    action: Action
    reasons: tuple[str, ...]
    policy_version: str
    model_versions: dict[str, str]
    composite_risk: float | None
    final: bool
    decided_at: datetime
    supersedes: str | None = None
    stage: str = INLINE_STAGE

    @property
    def by_person(self) -> bool:
        """Whether a person's verdict made this decision."""
        return self.stage == REVIEW_STAGE


@dataclass
class Check:
    """A check and everything decided about it so far."""

    check_id: str
    subject_pseudonym: str
    flow: str
    capture: CaptureInfo
    signals: ClientSignals
    created_at: datetime
    state: CheckState = CheckState.RECEIVED
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    detector_results: list[DetectorResult] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def receive(
        cls,
        *,
        check_id: str,
        subject_pseudonym: str,
        flow: str,
        capture: CaptureInfo,
        signals: ClientSignals,
        now: datetime,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
    ) -> Check:
        """A new check in state ``received``, with its CheckReceived event."""
        check = cls(
            check_id=check_id,
            subject_pseudonym=subject_pseudonym,
            flow=flow,
            capture=capture,
            signals=signals,
            created_at=now,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
        )
        check.events.append(
            CheckReceived(
                check_id=check_id, occurred_at=now, flow=flow, capture_sha256=capture.sha256
            )
        )
        return check

    @property
    def current_decision(self) -> Decision | None:
        """The latest decision, which supersedes all earlier ones."""
        return self.decisions[-1] if self.decisions else None

    @property
    def settled_by_person(self) -> bool:
        """Whether a person's verdict is the check's current decision."""
        current = self.current_decision
        return current is not None and current.by_person

    def _move(self, target: CheckState) -> None:
        if target not in _ALLOWED[self.state]:
            raise InvalidTransition(
                f"check {self.check_id}: {self.state} -> {target} is not allowed"
            )
        self.state = target

    def can_supersede(self, stage: str, action: Action, *, may_relax: bool = True) -> bool:
        """Whether a decision of ``stage`` with ``action`` may supersede the current one."""
        try:
            self._guard(stage, action, may_relax)
        except InvalidTransition:
            return False
        return True

    def _guard(self, stage: str, action: Action, may_relax: bool) -> None:
        previous = self.current_decision
        if previous is None:
            return
        by_person = stage == REVIEW_STAGE
        if previous.by_person and not by_person:
            raise HumanVerdictStands(
                f"check {self.check_id}: a person decided it; {stage} may not overrule that"
            )
        if not by_person and not may_relax and action.severity < previous.action.severity:
            raise RelaxationForbidden(
                f"check {self.check_id}: {stage} may not relax {previous.action} to {action}"
            )
        if self.state is CheckState.FINAL and not (
            (by_person and previous.by_person) or stage == RESCAN_STAGE
        ):
            raise InvalidTransition(f"check {self.check_id} is final")
        if self.state is CheckState.IN_REVIEW and not by_person:
            raise InvalidTransition(f"check {self.check_id} waits for a person")

    def decide(
        self, decision: Decision, results: list[DetectorResult], *, may_relax: bool = True
    ) -> None:
        """Record a decision (and the detector results behind it) and move the state on.

        A later decision names the one it supersedes and must pass the lifecycle's guards:
        a person's verdict is overruled only by a person; an automated stage relaxes an
        action only when ``may_relax``; a final check gains a decision only from a re-scan
        (over an automated one) or a person (over a person's); a check in review only from
        a person.
        """
        if decision.check_id != self.check_id:
            raise ValueError("decision belongs to another check")
        previous = self.current_decision
        if previous is not None and decision.supersedes != previous.decision_id:
            raise ValueError("a later decision must name the one it supersedes")
        self._guard(decision.stage, decision.action, may_relax)
        self._move(CheckState.FINAL if decision.final else CheckState.DECIDED)
        self.detector_results = list(results)
        self.decisions.append(decision)
        self.events.append(
            CheckDecided(
                check_id=self.check_id,
                occurred_at=decision.decided_at,
                decision_id=decision.decision_id,
                action=decision.action.value,
                authenticity_score=decision.authenticity_score,
                policy_version=decision.policy_version,
                supersedes=decision.supersedes,
                stage=decision.stage,
                final=decision.final,
                state=self.state.value,
            )
        )

    def _current_id(self) -> str:
        current = self.current_decision
        if current is None:
            raise InvalidTransition(f"check {self.check_id} has no decision yet")
        return current.decision_id

    def begin_assurance(self, now: datetime, reasons: tuple[str, ...] = ()) -> None:
        """``decided -> assuring``: a heavier analysis may supersede the decision."""
        if self.state is not CheckState.DECIDED:
            raise InvalidTransition(f"check {self.check_id}: only a decided check is assured")
        self._move(CheckState.ASSURING)
        self.events.append(AssuranceStarted(self.check_id, now, self._current_id(), reasons))

    def confirm_assurance(
        self,
        now: datetime,
        *,
        score: float | None,
        model_versions: dict[str, str],
        assured_action: Action | None = None,
    ) -> None:
        """``assuring -> final``: assurance keeps the decision. ``assured_action`` names the
        action it would have taken, had the policy let it relax the decision."""
        if self.state is not CheckState.ASSURING:
            raise InvalidTransition(f"check {self.check_id} is not being assured")
        current = self.current_decision
        assert current is not None  # a check is assured only once decided
        self._move(CheckState.FINAL)
        kept = assured_action is not None and assured_action is not current.action
        self.events.append(
            AssuranceConfirmed(
                check_id=self.check_id,
                occurred_at=now,
                decision_id=current.decision_id,
                action=current.action.value,
                authenticity_score=score,
                model_versions=dict(model_versions),
                assured_action=assured_action.value if kept and assured_action else None,
                kept_because="may_relax is false" if kept else None,
            )
        )

    def abandon_assurance(self, now: datetime, reason: str) -> None:
        """``assuring -> decided``: assurance cannot run; the decision stands, not final."""
        if self.state is not CheckState.ASSURING:
            raise InvalidTransition(f"check {self.check_id} is not being assured")
        self._move(CheckState.DECIDED)
        self.events.append(AssuranceAbandoned(self.check_id, now, self._current_id(), reason))

    def open_review(self, now: datetime, task_id: str) -> None:
        """``decided | assuring -> in_review``: a review task that settles the check exists.

        A final check is opened again only over a person's verdict (a senior reconsidering
        it); an automated final decision is settled and only audited.
        """
        if self.state is CheckState.IN_REVIEW:
            raise InvalidTransition(f"check {self.check_id} is already in review")
        if self.state is CheckState.FINAL and not self.settled_by_person:
            raise InvalidTransition(f"check {self.check_id} is final")
        self._move(CheckState.IN_REVIEW)
        self.events.append(ReviewOpened(self.check_id, now, self._current_id(), task_id))

    def request_review(self, now: datetime, reason: str, proposed: Action | None = None) -> None:
        """Ask for a person without deciding (no state change), e.g. a re-scan that disagrees
        with a verdict it may not overrule."""
        self.events.append(
            ReviewRequested(
                self.check_id,
                now,
                self._current_id(),
                reason,
                proposed.value if proposed is not None else None,
            )
        )

    def pull_events(self) -> list[DomainEvent]:
        """The events raised since the last call, handed over once."""
        events, self.events = self.events, []
        return events
