"""Loads the ``assurance`` sections of a policy file into the domain's ``AssurancePolicy``.

``[defaults.assurance]`` holds the rules every flow shares (``flows`` names flows whose every
not-final check is assured); ``[flows.<name>.assurance]`` overrides single keys for one flow.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from faceverdict.domain.assurance import AssurancePolicy, AssuranceRules
from faceverdict.domain.policy import Action
from faceverdict.policy.document import section_error, sub_table


class _Assurance(BaseModel):
    """One ``assurance`` table; every key optional so that a flow overrides only what it names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool | None = None
    gray_band: tuple[float, float] | None = None
    actions: list[Action] | None = None
    flows: list[str] | None = None
    all_checks: bool | None = None
    sample_fraction: float | None = Field(default=None, ge=0, le=1)
    lease_seconds: float | None = Field(default=None, ge=1, le=86_400)
    may_relax: bool | None = None

    @model_validator(mode="after")
    def _band_order(self) -> _Assurance:
        if self.gray_band is not None:
            low, high = self.gray_band
            if not 0 <= low <= high <= 100:
                raise ValueError("gray_band must be [min, max] with 0 <= min <= max <= 100")
        return self


def _rules(defaults: _Assurance, flow: _Assurance, name: str | None) -> AssuranceRules:
    def pick(key: str) -> Any:
        value = getattr(flow, key)
        return value if value is not None else getattr(defaults, key)

    base = AssuranceRules()
    band = pick("gray_band") or (base.min_score, base.max_score)
    chosen = defaults.flows or []
    all_checks = flow.all_checks if flow.all_checks is not None else name in chosen
    enabled = pick("enabled")
    return AssuranceRules(
        enabled=bool(enabled) if enabled is not None else False,
        min_score=float(band[0]),
        max_score=float(band[1]),
        actions=frozenset(pick("actions") or ()),
        all_checks=bool(all_checks),
        sample_fraction=float(pick("sample_fraction") or 0.0),
        lease_seconds=float(pick("lease_seconds") or base.lease_seconds),
        may_relax=base.may_relax if pick("may_relax") is None else bool(pick("may_relax")),
    )


def parse_assurance_policy(data: dict[str, Any], source: str = "<policy>") -> AssurancePolicy:
    """Build the ``AssurancePolicy`` from a decoded policy document (its ``assurance`` tables)."""
    where = "defaults.assurance"
    try:
        defaults = _Assurance.model_validate(sub_table(data.get("defaults"), "assurance"))
        flows: dict[str, AssuranceRules] = {}
        flow_tables = data.get("flows") or {}
        unknown = set(defaults.flows or []) - set(flow_tables)
        if unknown:
            raise ValueError(f"'flows' names flows the policy does not define: {sorted(unknown)}")
        for name, flow in flow_tables.items():
            where = f"flows.{name}.assurance"
            table = _Assurance.model_validate(sub_table(flow, "assurance"))
            flows[name] = _rules(defaults, table, name)
        where = "defaults.assurance"
        return AssurancePolicy(defaults=_rules(defaults, _Assurance(), None), flows=flows)
    except (ValidationError, ValueError) as exc:
        raise section_error(source, where, exc) from None
