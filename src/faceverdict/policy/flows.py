"""The decision sections of a policy file: bands, signal rules, abstentions and retention per
flow, merged over ``[defaults]`` into the domain's ``Policy``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from faceverdict.domain.detection import Abstention
from faceverdict.domain.policy import (
    COMPOSITE_COMPONENTS,
    Action,
    Band,
    Comparison,
    CompositeRisk,
    Escalation,
    FlowPolicy,
    Policy,
    Retention,
    Signal,
    SignalRule,
)
from faceverdict.errors import ConfigurationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Band(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    min_score: float = Field(ge=0, le=100)
    action: Action


class _Escalation(_Strict):
    min_risk: float = Field(ge=0, le=1)
    action: Action


class _Composite(_Strict):
    weights: dict[str, float] = Field(default_factory=dict)
    escalations: list[_Escalation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_components(self) -> _Composite:
        unknown = set(self.weights) - COMPOSITE_COMPONENTS
        if unknown:
            raise ValueError(
                f"unknown composite components {sorted(unknown)}; "
                f"known: {sorted(COMPOSITE_COMPONENTS)}"
            )
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("composite weights must be >= 0")
        return self


class _Rule(_Strict):
    signal: Signal
    below: float | None = Field(default=None, ge=0, le=1)
    at_least: float | None = Field(default=None, ge=0, le=1)
    action: Action
    reason: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")

    @model_validator(mode="after")
    def _one_comparison(self) -> _Rule:
        if (self.below is None) == (self.at_least is None):
            raise ValueError("a rule needs exactly one of 'below' or 'at_least'")
        return self


class _Retention(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # Up to 100 years: a typo of a few zeros should not keep data forever.
    capture_days: int | None = Field(default=None, ge=0, le=36500)
    evidence_days: int | None = Field(default=None, ge=0, le=36500)


class _Flow(_Strict):
    bands: list[_Band] | None = None
    final_actions: list[Action] | None = None
    abstentions: dict[Abstention, Action] | None = None
    composite: _Composite | None = None
    rules: list[_Rule] | None = None
    retention: _Retention | None = None
    degraded_action: Action | None = None
    deadline_ms: float | None = Field(default=None, ge=50, le=60_000)
    review: dict[str, Any] | None = None  # validated by faceverdict.policy.review
    assurance: dict[str, Any] | None = None  # validated by faceverdict.policy.assurance


def _retention(defaults: _Flow, flow: _Flow | None = None) -> Retention:
    """Flow values over defaults over the built-in defaults (30 days / 5 years)."""
    built_in = Retention()
    values = {"capture_days": built_in.capture_days, "evidence_days": built_in.evidence_days}
    for source in (defaults.retention, flow.retention if flow is not None else None):
        if source is not None:
            values.update(source.model_dump(exclude_none=True))
    return Retention(**values)


class _PolicyFile(_Strict):
    version: str = Field(min_length=1, max_length=100)
    defaults: _Flow
    flows: dict[str, _Flow] = Field(min_length=1)

    @model_validator(mode="after")
    def _flow_names(self) -> _PolicyFile:
        for name in self.flows:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"flow name {name!r} must be letters, digits, '-' or '_'")
        return self


def _merge(defaults: _Flow, flow: _Flow) -> FlowPolicy:
    bands = flow.bands if flow.bands is not None else defaults.bands
    if not bands:
        raise ValueError("no bands defined")
    abstentions = dict(defaults.abstentions or {})
    abstentions.update(flow.abstentions or {})
    missing = set(Abstention) - set(abstentions)
    if missing:
        raise ValueError(f"no action for abstentions {sorted(a.value for a in missing)}")
    composite = flow.composite or defaults.composite or _Composite()
    rules = flow.rules if flow.rules is not None else (defaults.rules or [])
    finals = flow.final_actions or defaults.final_actions or [Action.ACCEPT, Action.REJECT]
    return FlowPolicy(
        bands=tuple(Band(b.name, b.min_score, b.action) for b in bands),
        abstentions=abstentions,
        rules=tuple(
            SignalRule(
                signal=r.signal,
                comparison=Comparison.BELOW if r.below is not None else Comparison.AT_LEAST,
                threshold=r.below if r.below is not None else float(r.at_least or 0.0),
                action=r.action,
                reason=r.reason,
            )
            for r in rules
        ),
        composite=CompositeRisk(
            weights=dict(composite.weights),
            escalations=tuple(Escalation(e.min_risk, e.action) for e in composite.escalations),
        ),
        final_actions=frozenset(finals),
        retention=_retention(defaults, flow),
        # Absent from policies older than the key: fail closed to a person.
        degraded_action=flow.degraded_action or defaults.degraded_action or Action.REVIEW,
        deadline_ms=flow.deadline_ms if flow.deadline_ms is not None else defaults.deadline_ms,
    )


def parse_policy(data: dict[str, Any], source: str = "<policy>") -> Policy:
    """Validate a decoded policy document and build the domain ``Policy``."""
    where = ""
    try:
        parsed = _PolicyFile.model_validate(data)
        flows = {}
        for name, flow in parsed.flows.items():
            where = f"flows.{name}: "
            flows[name] = _merge(parsed.defaults, flow)
        where = ""
        default_retention = _retention(parsed.defaults)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigurationError(f"policy {source}: {where}: {first['msg']}") from None
    except ValueError as exc:
        raise ConfigurationError(f"policy {source}: {where}{exc}") from None
    return Policy(version=parsed.version, flows=flows, default_retention=default_retention)
