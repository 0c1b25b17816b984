"""Loads and validates a policy file (TOML) into the domain's ``Policy``.

A bad file is refused with one clear message naming the file and the offending field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from faceverdict.assurance_policy import parse_assurance_policy
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
from faceverdict.policy_document import read_policy_document, read_policy_text
from faceverdict.review_policy import parse_review_policy


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
    review: dict[str, Any] | None = None  # validated by faceverdict.review_policy
    assurance: dict[str, Any] | None = None  # validated by faceverdict.assurance_policy


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
    )


def parse_policy(data: dict[str, Any], source: str = "<policy>") -> Policy:
    """Validate a decoded policy document and build the domain ``Policy``."""
    try:
        parsed = _PolicyFile.model_validate(data)
        flows = {name: _merge(parsed.defaults, flow) for name, flow in parsed.flows.items()}
        default_retention = _retention(parsed.defaults)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigurationError(f"policy {source}: {where}: {first['msg']}") from None
    except ValueError as exc:
        raise ConfigurationError(f"policy {source}: {exc}") from None
    parse_review_policy(data, source)  # a bad review section is refused at start, too
    parse_assurance_policy(data, source)  # and so is a bad assurance section
    return Policy(version=parsed.version, flows=flows, default_retention=default_retention)


def load_policy(path: Path | None = None) -> Policy:
    """Load the policy at ``path``, or the bundled default policy when ``path`` is None."""
    data, source = read_policy_document(path)
    return parse_policy(data, source)


def policy_digest(path: Path | None = None) -> str:
    """SHA-256 (hex) of the policy file's text: shows an edit made without a version bump."""
    text, _source = read_policy_text(path)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
