"""Which checks get asynchronous assurance: pure rules from the policy's ``assurance`` tables."""

from __future__ import annotations

from dataclasses import dataclass, field

from faceverdict.domain.policy import Action


@dataclass(frozen=True)
class AssuranceRules:
    """Selection rules of one flow.

    A not-final decision is assured when its score lies in ``[min_score, max_score)`` (the
    gray band), when its action is in ``actions``, when the whole flow is chosen
    (``all_checks``), or when its sample draw falls under ``sample_fraction``.
    ``may_relax`` says whether assurance may replace the inline action with a less severe
    one (``step_up`` -> ``accept``); without it assurance confirms or escalates only.
    """

    enabled: bool = False
    min_score: float = 60.0
    max_score: float = 90.0
    actions: frozenset[Action] = frozenset()
    all_checks: bool = False
    sample_fraction: float = 0.0
    lease_seconds: float = 300.0
    may_relax: bool = True

    def allows(self, inline: Action, assured: Action) -> bool:
        """Whether an assurance action may supersede the inline one."""
        return self.may_relax or assured.severity >= inline.severity

    def reasons(
        self, *, action: Action, final: bool, score: float | None, draw: float
    ) -> tuple[str, ...]:
        """Why a decision is selected (empty: it is not)."""
        if not self.enabled or final:
            return ()
        why: list[str] = []
        if score is not None and self.min_score <= score < self.max_score:
            why.append("gray_band")
        if action in self.actions:
            why.append("action")
        if self.all_checks:
            why.append("flow")
        if draw < self.sample_fraction:
            why.append("sample")
        return tuple(why)


@dataclass(frozen=True)
class AssurancePolicy:
    """Assurance rules per flow, with the defaults for flows not named."""

    defaults: AssuranceRules = AssuranceRules()
    flows: dict[str, AssuranceRules] = field(default_factory=dict)

    def for_flow(self, flow: str) -> AssuranceRules:
        """The rules of ``flow``."""
        return self.flows.get(flow, self.defaults)

    @property
    def max_lease_seconds(self) -> float:
        """The longest lease of any flow (how long a job may sit before it is re-enqueued)."""
        return max([self.defaults.lease_seconds, *(r.lease_seconds for r in self.flows.values())])
