"""The policy's assurance sections: which decisions a worker looks at again."""

from __future__ import annotations

import pytest

from faceverdict.domain.assurance import AssuranceRules
from faceverdict.domain.policy import Action
from faceverdict.errors import ConfigurationError
from faceverdict.policy import load_policy_file
from faceverdict.policy.assurance import parse_assurance_policy

DOC = {
    "version": "t",
    "defaults": {
        "assurance": {
            "enabled": True,
            "gray_band": [60, 90],
            "actions": ["review"],
            "flows": ["payment"],
            "sample_fraction": 0.1,
        }
    },
    "flows": {"onboarding": {}, "payment": {}, "login": {"assurance": {"enabled": False}}},
}


def test_the_bundled_policy_assures_the_gray_band_and_step_ups() -> None:
    rules = load_policy_file().assurance.for_flow("onboarding")
    assert rules.enabled
    assert rules.reasons(action=Action.STEP_UP, final=False, score=75, draw=0.9) == (
        "gray_band",
        "action",
    )
    assert rules.reasons(action=Action.ACCEPT, final=True, score=75, draw=0.0) == ()


@pytest.mark.parametrize(
    ("flow", "action", "score", "draw", "expected"),
    [
        ("onboarding", Action.STEP_UP, 75.0, 0.9, ("gray_band",)),
        ("onboarding", Action.STEP_UP, 95.0, 0.9, ()),
        ("onboarding", Action.REVIEW, 30.0, 0.9, ("action",)),
        ("onboarding", Action.STEP_UP, None, 0.05, ("sample",)),
        ("payment", Action.STEP_UP, 95.0, 0.9, ("flow",)),
        ("login", Action.STEP_UP, 75.0, 0.0, ()),
    ],
)
def test_selection_by_band_action_flow_and_sample(
    flow: str, action: Action, score: float | None, draw: float, expected: tuple[str, ...]
) -> None:
    rules = parse_assurance_policy(DOC).for_flow(flow)
    assert rules.reasons(action=action, final=False, score=score, draw=draw) == expected


def test_final_decisions_are_never_assured() -> None:
    rules = AssuranceRules(enabled=True, all_checks=True, sample_fraction=1.0)
    assert rules.reasons(action=Action.REJECT, final=True, score=10, draw=0.0) == ()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"gray_band": [90, 60]}, "gray_band"),
        ({"sample_fraction": 2}, "sample_fraction"),
        ({"flows": ["nope"]}, "does not define"),
        ({"surprise": 1}, "surprise"),
        ({"actions": ["hold"]}, "actions"),
    ],
)
def test_a_bad_section_is_refused_with_its_field(section: dict[str, object], message: str) -> None:
    doc = {"version": "t", "defaults": {"assurance": section}, "flows": {"onboarding": {}}}
    with pytest.raises(ConfigurationError, match=message):
        parse_assurance_policy(doc)


def test_may_relax_is_true_when_absent_and_a_flow_can_forbid_it() -> None:
    # Absent means true, so a policy written before the key keeps its meaning; the bundled
    # policy says false explicitly (decision 0007).
    doc = {
        **DOC,
        "flows": {"onboarding": {}, "payment": {"assurance": {"may_relax": False}}, "login": {}},
    }
    policy = parse_assurance_policy(doc)
    bundled = load_policy_file().assurance
    assert not bundled.for_flow("onboarding").may_relax
    assert not bundled.for_flow("payment").may_relax
    onboarding, payment = policy.for_flow("onboarding"), policy.for_flow("payment")
    assert onboarding.may_relax
    assert onboarding.allows(Action.STEP_UP, Action.ACCEPT)
    assert not payment.may_relax
    assert not payment.allows(Action.STEP_UP, Action.ACCEPT)  # relaxing: refused
    assert payment.allows(Action.STEP_UP, Action.REVIEW)  # escalating: allowed
    assert payment.allows(Action.STEP_UP, Action.STEP_UP)
    with pytest.raises(ConfigurationError, match="may_relax"):
        parse_assurance_policy({**DOC, "defaults": {"assurance": {"may_relax": "sometimes"}}})
