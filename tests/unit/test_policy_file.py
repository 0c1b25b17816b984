"""Policy files: the bundled default loads, bad files are refused with one clear message."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from faceverdict.domain.detection import Abstention
from faceverdict.domain.policy import Action
from faceverdict.errors import ConfigurationError
from faceverdict.policy import load_policy
from faceverdict.policy.flows import parse_policy


def default_document() -> dict[str, Any]:
    text = resources.files("faceverdict.policy").joinpath("default.toml").read_text()
    return tomllib.loads(text)


def test_bundled_policy_loads_with_documented_defaults() -> None:
    policy = load_policy()
    onboarding = policy.flow("onboarding")
    assert [(b.name, b.min_score, b.action) for b in onboarding.bands] == [
        ("genuine", 90, Action.ACCEPT),
        ("gray", 60, Action.STEP_UP),
        ("suspect", 0, Action.REVIEW),
    ]
    assert set(onboarding.abstentions) == set(Abstention)
    assert policy.flow("payment").band_for(10).action is Action.REJECT
    assert policy.version


def test_flow_overrides_replace_only_their_section() -> None:
    policy = load_policy()
    payment, onboarding = policy.flow("payment"), policy.flow("onboarding")
    assert payment.bands != onboarding.bands
    assert payment.rules == onboarding.rules
    assert payment.abstentions == onboarding.abstentions


def mutated(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(default_document())
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d["defaults"]["bands"][0].update(action="approve"), "action"),
        (lambda d: d["defaults"]["bands"][0].update(min_score=120), "min_score"),
        (lambda d: d["defaults"]["bands"].pop(), "lowest band"),
        (lambda d: d["defaults"]["composite"]["weights"].update(mood=1.0), "mood"),
        (lambda d: d["defaults"]["rules"][0].update(at_least=0.5), "exactly one"),
        (lambda d: d["defaults"]["abstentions"].pop("no_face"), "no_face"),
        (lambda d: d["defaults"].update(colour="blue"), "colour"),
        (lambda d: d.update(flows={}), "flows"),
        (lambda d: d["flows"].update({"bad flow!": {}}), "flow name"),
    ],
)
def test_bad_policies_are_refused_with_a_clear_message(change: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_policy(mutated(change), "test.toml")


def test_unreadable_and_malformed_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = [unclosed")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_policy(bad)
