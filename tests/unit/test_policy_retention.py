"""Retention in the policy file: defaults, per-flow overrides, bad values refused."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from faceverdict.domain.policy import Retention
from faceverdict.errors import ConfigurationError
from faceverdict.policy import load_policy, load_policy_file
from faceverdict.policy.flows import parse_policy


def bundled() -> dict[str, Any]:
    from importlib import resources

    text = resources.files("faceverdict.policy").joinpath("default.toml").read_text()
    return tomllib.loads(text)


def test_the_bundled_policy_keeps_captures_30_days_and_evidence_5_years() -> None:
    policy = load_policy()
    assert policy.default_retention == Retention(capture_days=30, evidence_days=1825)
    assert policy.retention_for("onboarding") == Retention(30, 1825)
    assert policy.retention_for("payment") == Retention(14, 1825)
    assert policy.retention_for("a-flow-removed-since") == policy.default_retention


def test_a_flow_overrides_only_what_it_names() -> None:
    data = bundled()
    data["flows"]["onboarding"] = {"retention": {"evidence_days": 3650}}
    policy = parse_policy(data)
    assert policy.retention_for("onboarding") == Retention(30, 3650)


def test_without_a_retention_section_the_built_in_defaults_apply() -> None:
    data = bundled()
    del data["defaults"]["retention"]
    del data["flows"]["payment"]["retention"]
    assert parse_policy(data).retention_for("payment") == Retention()


@pytest.mark.parametrize(
    ("retention", "message"),
    [
        ({"capture_days": -1}, "capture_days"),
        ({"capture_days": 400, "evidence_days": 100}, "at least as long as the capture"),
        ({"capture_days": "30"}, "capture_days"),
        ({"keep_forever": True}, "keep_forever"),
    ],
)
def test_bad_retention_is_refused_with_the_field(retention: dict[str, Any], message: str) -> None:
    data = bundled()
    data["defaults"]["retention"] = retention
    with pytest.raises(ConfigurationError, match=message):
        parse_policy(data)


def test_the_policy_digest_tracks_the_text() -> None:
    assert len(load_policy_file().sha256) == 64
    assert load_policy_file().sha256 == load_policy_file(None).sha256
