"""Loads the ``review`` sections of a policy file into the domain's ``ReviewPolicy``.

``[defaults.review]`` holds the rules every flow shares; ``[flows.<name>.review]`` overrides
single keys for one flow (``verdict_actions`` key by key). A bad section is refused with one
clear message naming the file and the field, like the rest of the policy file.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from faceverdict.domain.policy import Action
from faceverdict.domain.review import (
    DEFAULT_VERDICT_ACTIONS,
    FlowReviewRules,
    Priority,
    ReviewPolicy,
    TaskReason,
    VerdictLabel,
)
from faceverdict.policy.document import section_error, sub_table

_DEFAULTS = FlowReviewRules()


class _Review(BaseModel):
    """One ``review`` table; every key optional so that a flow overrides only what it names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_actions: list[Action] | None = None
    priority: Priority | None = None
    sla_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 90)
    senior_min_risk: float | None = Field(default=None, ge=0, le=1)
    senior_reasons: list[TaskReason] | None = None
    conflict_spread: float | None = Field(default=None, gt=0, le=1)
    conflict_reference: str | None = Field(default=None, max_length=64)  # "": any pair
    audit_fraction: float | None = Field(default=None, ge=0, le=1)
    audit_priority: Priority | None = None
    audit_sla_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 90)
    double_review_fraction: float | None = Field(default=None, ge=0, le=1)
    verdict_actions: dict[VerdictLabel, Action] | None = None


def _pick(flow: _Review, defaults: _Review, name: str) -> Any:
    value = getattr(flow, name)
    return value if value is not None else getattr(defaults, name)


def _rules(defaults: _Review, flow: _Review) -> FlowReviewRules:
    def pick(name: str, fallback: Any) -> Any:
        value = _pick(flow, defaults, name)
        return fallback if value is None else value

    actions = dict(DEFAULT_VERDICT_ACTIONS)
    actions.update(defaults.verdict_actions or {})
    actions.update(flow.verdict_actions or {})
    sla = pick("sla_minutes", None)
    audit_sla = pick("audit_sla_minutes", None)
    return FlowReviewRules(
        task_actions=frozenset(pick("task_actions", _DEFAULTS.task_actions)),
        priority=pick("priority", _DEFAULTS.priority),
        sla=_DEFAULTS.sla if sla is None else timedelta(minutes=sla),
        senior_min_risk=pick("senior_min_risk", _DEFAULTS.senior_min_risk),
        senior_reasons=frozenset(pick("senior_reasons", _DEFAULTS.senior_reasons)),
        conflict_spread=pick("conflict_spread", _DEFAULTS.conflict_spread),
        conflict_reference=pick("conflict_reference", _DEFAULTS.conflict_reference) or None,
        audit_fraction=pick("audit_fraction", _DEFAULTS.audit_fraction),
        audit_priority=pick("audit_priority", _DEFAULTS.audit_priority),
        audit_sla=_DEFAULTS.audit_sla if audit_sla is None else timedelta(minutes=audit_sla),
        double_review_fraction=pick("double_review_fraction", _DEFAULTS.double_review_fraction),
        verdict_actions=actions,
    )


def parse_review_policy(data: dict[str, Any], source: str = "<policy>") -> ReviewPolicy:
    """Build the ``ReviewPolicy`` from a decoded policy document (its ``review`` tables)."""
    where = "defaults.review"
    try:
        version = str(data.get("version") or "")
        defaults = _Review.model_validate(sub_table(data.get("defaults"), "review"))
        flows: dict[str, FlowReviewRules] = {}
        for name, flow in (data.get("flows") or {}).items():
            where = f"flows.{name}.review"
            flows[name] = _rules(defaults, _Review.model_validate(sub_table(flow, "review")))
        where = "defaults.review"
        return ReviewPolicy(version=version, defaults=_rules(defaults, _Review()), flows=flows)
    except (ValidationError, ValueError) as exc:
        raise section_error(source, where, exc) from None
