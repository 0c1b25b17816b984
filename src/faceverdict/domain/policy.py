"""Policy: versioned rules that turn a score, an abstention and client signals into an action.

The policy is data (loaded from a TOML file by ``faceverdict.policy.flows``); this module
holds only its shape and the pure function that applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from faceverdict.domain.detection import Abstention


class Action(StrEnum):
    """What the calling pipeline should do next, in increasing severity."""

    ACCEPT = "accept"
    STEP_UP = "step_up"
    REVIEW = "review"
    REJECT = "reject"

    @property
    def severity(self) -> int:
        """Rank used to combine actions: the most severe one wins."""
        return _SEVERITY[self]


_SEVERITY = {Action.ACCEPT: 0, Action.STEP_UP: 1, Action.REVIEW: 2, Action.REJECT: 3}


def most_severe(actions: list[Action]) -> Action:
    """The most severe of ``actions``; ACCEPT when there are none."""
    return max(actions, key=lambda a: a.severity, default=Action.ACCEPT)


class Signal(StrEnum):
    """Client-supplied signals, each in [0, 1]."""

    LIVENESS = "liveness_score"  # 1 = surely live
    DEVICE_RISK = "device_risk"  # 1 = surely risky
    DOCUMENT_MATCH = "document_match_score"  # 1 = surely the document holder


@dataclass(frozen=True)
class ClientSignals:
    """Signals the client sends with a check; any may be absent."""

    liveness_score: float | None = None
    device_risk: float | None = None
    document_match_score: float | None = None

    def __post_init__(self) -> None:
        for name in ("liveness_score", "device_risk", "document_match_score"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")

    def get(self, signal: Signal) -> float | None:
        """The value of ``signal``, or None when the client did not send it."""
        value: float | None = getattr(self, signal.value)
        return value

    def as_dict(self) -> dict[str, float]:
        """The signals that were sent, by name."""
        return {s.value: v for s in Signal if (v := self.get(s)) is not None}


@dataclass(frozen=True)
class Band:
    """A score band: scores >= ``min_score`` (and below the next band up) get ``action``."""

    name: str
    min_score: float
    action: Action


class Comparison(StrEnum):
    """How a signal rule compares a signal with its threshold."""

    BELOW = "below"
    AT_LEAST = "at_least"


@dataclass(frozen=True)
class SignalRule:
    """If ``signal`` compares to ``threshold`` as ``comparison`` says, require ``action``."""

    signal: Signal
    comparison: Comparison
    threshold: float
    action: Action
    reason: str

    def fires(self, signals: ClientSignals) -> bool:
        """Whether this rule applies to ``signals`` (an absent signal never fires)."""
        value = signals.get(self.signal)
        if value is None:
            return False
        if self.comparison is Comparison.BELOW:
            return value < self.threshold
        return value >= self.threshold


@dataclass(frozen=True)
class Escalation:
    """Composite risk at or above ``min_risk`` requires at least ``action``."""

    min_risk: float
    action: Action


@dataclass(frozen=True)
class CompositeRisk:
    """Weighted aggregate of risk components, each in [0, 1]; weights are renormalised
    over the components that are present."""

    weights: Mapping[str, float]
    escalations: tuple[Escalation, ...] = ()

    def risk(self, authenticity_score: float | None, signals: ClientSignals) -> float | None:
        """The composite risk in [0, 1], or None when no weighted component is present."""
        components: dict[str, float] = {}
        if authenticity_score is not None:
            components["authenticity"] = 1.0 - authenticity_score / 100.0
        if (v := signals.liveness_score) is not None:
            components["liveness"] = 1.0 - v
        if (v := signals.device_risk) is not None:
            components["device"] = v
        if (v := signals.document_match_score) is not None:
            components["document"] = 1.0 - v
        total = sum(self.weights.get(k, 0.0) for k in components)
        if total <= 0.0:
            return None
        return sum(self.weights.get(k, 0.0) * v for k, v in components.items()) / total

    def escalation(self, risk: float | None) -> Escalation | None:
        """The most severe escalation that ``risk`` reaches, if any."""
        if risk is None:
            return None
        reached = [e for e in self.escalations if risk >= e.min_risk]
        return max(reached, key=lambda e: e.action.severity, default=None)


COMPOSITE_COMPONENTS = frozenset({"authenticity", "liveness", "device", "document"})


@dataclass(frozen=True)
class Retention:
    """How long a flow keeps raw captures and evidence, in days from the check's creation."""

    capture_days: int = 30
    evidence_days: int = 1825

    def __post_init__(self) -> None:
        if self.capture_days < 0 or self.evidence_days < 0:
            raise ValueError("retention periods must be >= 0 days")
        if self.evidence_days < self.capture_days:
            raise ValueError("evidence must be kept at least as long as the capture")


@dataclass(frozen=True)
class FlowPolicy:
    """The rules of one flow (onboarding, payment, ...)."""

    bands: tuple[Band, ...]
    abstentions: Mapping[Abstention, Action]
    rules: tuple[SignalRule, ...] = ()
    composite: CompositeRisk = field(default_factory=lambda: CompositeRisk(weights={}))
    final_actions: frozenset[Action] = frozenset({Action.ACCEPT, Action.REJECT})
    retention: Retention = field(default_factory=Retention)
    # A check whose detectors did not all answer (or gave no evidence) gets at least this.
    degraded_action: Action = Action.REVIEW
    deadline_ms: float | None = None  # the detectors' deadline (None: the service setting)

    def __post_init__(self) -> None:
        if self.degraded_action is Action.ACCEPT:
            raise ValueError("degraded_action may not be accept: a degraded check fails closed")
        if not self.bands:
            raise ValueError("a flow needs at least one band")
        ordered = tuple(sorted(self.bands, key=lambda b: b.min_score, reverse=True))
        if ordered[-1].min_score > 0:
            raise ValueError("the lowest band must start at 0 so that every score has a band")
        if len({b.min_score for b in ordered}) != len(ordered):
            raise ValueError("two bands start at the same score")
        if len({b.name for b in ordered}) != len(ordered):
            raise ValueError("band names must be unique within a flow")
        object.__setattr__(self, "bands", ordered)

    def band_for(self, score: float) -> Band:
        """The band that ``score`` falls in."""
        for band in self.bands:
            if score >= band.min_score:
                return band
        return self.bands[-1]


@dataclass(frozen=True)
class Policy:
    """A versioned policy: one ``FlowPolicy`` per known flow."""

    version: str
    flows: Mapping[str, FlowPolicy]
    default_retention: Retention = field(default_factory=Retention)

    def flow(self, name: str) -> FlowPolicy:
        """The rules of flow ``name``; KeyError for an unknown flow."""
        return self.flows[name]

    def retention_for(self, flow: str) -> Retention:
        """Retention of ``flow``; the default retention for a flow the policy no longer has."""
        known = self.flows.get(flow)
        return known.retention if known is not None else self.default_retention


@dataclass(frozen=True)
class Outcome:
    """What the policy concluded: band, action, reasons and composite risk."""

    band: str
    action: Action
    reasons: tuple[str, ...]
    composite_risk: float | None
    final: bool


ABSTAINED_BAND = "abstained"
NO_EVIDENCE_BAND = "no_evidence"


def apply_policy(
    flow: FlowPolicy,
    authenticity_score: float | None,
    abstention: Abstention | None,
    signals: ClientSignals,
    degraded: tuple[str, ...] = (),
) -> Outcome:
    """Apply a flow's rules to one scored (or abstained) capture.

    Fail closed: ``degraded`` names detectors that did not answer, and a capture with no
    score and no abstention had no evidence at all; either gets at least the flow's
    ``degraded_action``, which is never ``accept``, and such an outcome is never final.
    """
    reasons: list[str] = []
    actions: list[Action] = []
    if abstention is not None:
        band = ABSTAINED_BAND
        actions.append(flow.abstentions.get(abstention, Action.REVIEW))
        reasons.append(f"ABSTAINED_{abstention.value.upper()}")
        score_for_risk = None
    elif authenticity_score is None:
        band = NO_EVIDENCE_BAND
        actions.append(flow.degraded_action)
        reasons.append("NO_EVIDENCE")
        score_for_risk = None
    else:
        chosen = flow.band_for(authenticity_score)
        band = chosen.name
        actions.append(chosen.action)
        reasons.append(f"BAND_{chosen.name.upper()}")
        score_for_risk = authenticity_score
    for rule in flow.rules:
        if rule.fires(signals):
            actions.append(rule.action)
            reasons.append(rule.reason)
    risk = flow.composite.risk(score_for_risk, signals)
    escalation = flow.composite.escalation(risk)
    if escalation is not None:
        actions.append(escalation.action)
        reasons.append(f"COMPOSITE_RISK_{escalation.action.value.upper()}")
    failed_closed = bool(degraded) or band == NO_EVIDENCE_BAND
    if degraded:
        actions.append(flow.degraded_action)
        reasons.append("DEGRADED")
    action = most_severe(actions)
    if failed_closed and action is Action.ACCEPT:  # defence in depth: refused at load too
        raise AssertionError("a degraded check was about to be accepted")
    return Outcome(
        band=band,
        action=action,
        reasons=tuple(dict.fromkeys(reasons)),
        composite_risk=None if risk is None else round(risk, 4),
        # A degraded check is looked at again (assurance, a person), never settled as is.
        final=action in flow.final_actions and not failed_closed,
    )
