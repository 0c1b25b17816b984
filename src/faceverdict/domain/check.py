"""The check: one request to judge a capture, as a small state machine with decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from faceverdict.domain.detection import Abstention, DetectorResult
from faceverdict.domain.events import CheckDecided, CheckReceived, DomainEvent
from faceverdict.domain.policy import Action, ClientSignals


class CheckState(StrEnum):
    """Lifecycle of a check: received -> decided -> [assuring] -> [in_review] -> final."""

    RECEIVED = "received"
    DECIDED = "decided"
    ASSURING = "assuring"
    IN_REVIEW = "in_review"
    FINAL = "final"


_ALLOWED: dict[CheckState, frozenset[CheckState]] = {
    CheckState.RECEIVED: frozenset({CheckState.DECIDED, CheckState.FINAL}),
    CheckState.DECIDED: frozenset({CheckState.ASSURING, CheckState.IN_REVIEW, CheckState.FINAL}),
    CheckState.ASSURING: frozenset({CheckState.IN_REVIEW, CheckState.FINAL, CheckState.DECIDED}),
    CheckState.IN_REVIEW: frozenset({CheckState.FINAL}),
    CheckState.FINAL: frozenset(),
}


class InvalidTransition(Exception):
    """A check was asked to move to a state it cannot reach from where it is."""


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
    stage: str = "inline"


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

    def _move(self, target: CheckState) -> None:
        if target not in _ALLOWED[self.state]:
            raise InvalidTransition(
                f"check {self.check_id}: {self.state} -> {target} is not allowed"
            )
        self.state = target

    def decide(self, decision: Decision, results: list[DetectorResult]) -> None:
        """Record a decision (and the detector results behind it) and move the state on."""
        if decision.check_id != self.check_id:
            raise ValueError("decision belongs to another check")
        previous = self.current_decision
        if previous is not None and decision.supersedes != previous.decision_id:
            raise ValueError("a later decision must name the one it supersedes")
        self._move(CheckState.FINAL if decision.final else CheckState.DECIDED)
        self._record(decision, results)

    def revise(self, decision: Decision, results: list[DetectorResult]) -> None:
        """Record a re-scan's decision, which may supersede even a final one.

        A newer model can overturn what an older one concluded; the check stays final (the
        only way a final check gains a decision), and the new decision must be final too.
        """
        if not decision.final:
            raise ValueError("a re-scan decision is final")
        if self.state is not CheckState.FINAL:
            self.decide(decision, results)
            return
        previous = self.current_decision
        if decision.check_id != self.check_id or previous is None:
            raise ValueError("a re-scan revises a decided check of its own")
        if decision.supersedes != previous.decision_id:
            raise ValueError("a later decision must name the one it supersedes")
        self._record(decision, results)

    def _record(self, decision: Decision, results: list[DetectorResult]) -> None:
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
            )
        )

    def begin_assurance(self) -> None:
        """Move a decided check to ``assuring`` (a heavier analysis may supersede its decision)."""
        self._move(CheckState.ASSURING)

    def pull_events(self) -> list[DomainEvent]:
        """The events raised since the last call, handed over once."""
        events, self.events = self.events, []
        return events
