"""The review sections of a policy file: defaults, per-flow overrides, clear refusals."""

from __future__ import annotations

import copy
import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from faceverdict.domain.policy import Action
from faceverdict.domain.review import Priority, TaskReason, VerdictLabel
from faceverdict.errors import ConfigurationError
from faceverdict.policy import load_policy_file
from faceverdict.policy.review import parse_review_policy

REVIEW = {
    "task_actions": ["review"],
    "priority": "normal",
    "sla_minutes": 1440,
    "senior_min_risk": 0.8,
    "senior_reasons": ["detector_conflict", "assurance_escalation"],
    "conflict_spread": 0.6,
    "audit_fraction": 0.02,
    "audit_sla_minutes": 4320,
    "double_review_fraction": 0.1,
    "verdict_actions": {"genuine": "accept", "fake": "reject", "inconclusive": "step_up"},
}


def document() -> dict[str, Any]:
    text = resources.files("faceverdict.policy").joinpath("default.toml").read_text()
    doc = tomllib.loads(text)
    doc["defaults"]["review"] = copy.deepcopy(REVIEW)
    doc["flows"]["payment"]["review"] = {
        "priority": "high",
        "sla_minutes": 15,
        "verdict_actions": {"inconclusive": "reject"},
    }
    return doc


def test_defaults_apply_to_every_flow_and_flows_override_single_keys() -> None:
    policy = parse_review_policy(document())
    onboarding, payment = policy.for_flow("onboarding"), policy.for_flow("payment")
    assert onboarding.sla == timedelta(hours=24)
    assert onboarding.priority is Priority.NORMAL
    assert onboarding.task_actions == {Action.REVIEW}
    assert onboarding.senior_reasons == {
        TaskReason.DETECTOR_CONFLICT,
        TaskReason.ASSURANCE_ESCALATION,
    }
    assert onboarding.audit_fraction == 0.02
    assert payment.sla == timedelta(minutes=15)
    assert payment.priority is Priority.HIGH
    assert payment.double_review_fraction == 0.1  # inherited
    assert payment.verdict_actions[VerdictLabel.INCONCLUSIVE] is Action.REJECT
    assert payment.verdict_actions[VerdictLabel.FAKE] is Action.REJECT
    assert policy.version == document()["version"]


def test_bundled_policy_has_review_rules() -> None:
    policy = load_policy_file().review
    assert policy.for_flow("payment").sla < policy.for_flow("onboarding").sla
    assert 0 <= policy.defaults.double_review_fraction <= 1


def test_a_policy_without_review_sections_gets_safe_defaults() -> None:
    policy = parse_review_policy({"version": "v1", "defaults": {}, "flows": {"onboarding": {}}})
    assert policy.for_flow("onboarding").task_actions == {Action.REVIEW}


@pytest.mark.parametrize(
    ("where", "change", "message"),
    [
        ("defaults", {"sla_minutes": 0}, "defaults.review.sla_minutes"),
        ("defaults", {"priority": "asap"}, "defaults.review.priority"),
        ("defaults", {"double_review_fraction": 1.5}, "double_review_fraction"),
        ("defaults", {"senior_reasons": ["hunch"]}, "senior_reasons"),
        ("defaults", {"mood": 1}, "mood"),
        ("payment", {"verdict_actions": {"fake": "review"}}, "flows.payment.review"),
        ("payment", {"task_actions": ["approve"]}, "flows.payment.review.task_actions"),
    ],
)
def test_bad_review_sections_are_refused_with_the_field(
    where: str, change: dict[str, Any], message: str
) -> None:
    doc = document()
    target = doc["defaults"]["review"] if where == "defaults" else doc["flows"][where]["review"]
    target.update(change)
    with pytest.raises(ConfigurationError, match=message):
        parse_review_policy(doc, "test.toml")


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_policy_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = [", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_policy_file(bad)
