"""The policy's pure rules: bands, signal rules, composite risk and abstentions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from faceverdict.domain.detection import Abstention
from faceverdict.domain.policy import (
    Action,
    Band,
    ClientSignals,
    Comparison,
    CompositeRisk,
    Escalation,
    FlowPolicy,
    Signal,
    SignalRule,
    apply_policy,
)

ALL_STEP_UP = dict.fromkeys(Abstention, Action.STEP_UP)


def flow(**kwargs: object) -> FlowPolicy:
    defaults: dict[str, object] = {
        "bands": (
            Band("suspect", 0, Action.REVIEW),
            Band("genuine", 90, Action.ACCEPT),
            Band("gray", 60, Action.STEP_UP),
        ),
        "abstentions": ALL_STEP_UP,
    }
    defaults.update(kwargs)
    return FlowPolicy(**defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("score", "band", "action"),
    [
        (100, "genuine", Action.ACCEPT),
        (90, "genuine", Action.ACCEPT),
        (89.9, "gray", Action.STEP_UP),
        (60, "gray", Action.STEP_UP),
        (59.99, "suspect", Action.REVIEW),
        (0, "suspect", Action.REVIEW),
    ],
)
def test_default_bands_follow_the_documented_thresholds(
    score: float, band: str, action: Action
) -> None:
    outcome = apply_policy(flow(), score, None, ClientSignals())
    assert (outcome.band, outcome.action) == (band, action)
    assert outcome.reasons[0] == f"BAND_{band.upper()}"


def test_accept_is_final_and_step_up_is_not() -> None:
    assert apply_policy(flow(), 95, None, ClientSignals()).final is True
    assert apply_policy(flow(), 70, None, ClientSignals()).final is False


def test_abstention_uses_its_configured_action_and_has_no_band() -> None:
    f = flow(abstentions={**ALL_STEP_UP, Abstention.MULTIPLE_FACES: Action.REVIEW})
    outcome = apply_policy(f, None, Abstention.MULTIPLE_FACES, ClientSignals())
    assert outcome.band == "abstained"
    assert outcome.action is Action.REVIEW
    assert outcome.reasons == ("ABSTAINED_MULTIPLE_FACES",)


def test_no_evidence_is_never_accepted() -> None:
    outcome = apply_policy(flow(), None, None, ClientSignals(liveness_score=0.99))
    assert outcome.band == "no_evidence"
    assert outcome.action is Action.REVIEW  # the flow's degraded action (default: review)
    assert "NO_EVIDENCE" in outcome.reasons
    assert not outcome.final


@pytest.mark.parametrize("degraded_action", [Action.STEP_UP, Action.REVIEW, Action.REJECT])
def test_a_degraded_check_is_never_accepted_whatever_the_score(degraded_action: Action) -> None:
    f = replace(flow(), degraded_action=degraded_action)
    outcome = apply_policy(f, 99.9, None, ClientSignals(), degraded=("synthetic",))
    assert outcome.action is degraded_action
    assert outcome.band == "genuine"  # the score stays on record, with what answered
    assert "DEGRADED" in outcome.reasons
    assert not outcome.final
    low = apply_policy(f, 5.0, None, ClientSignals(), degraded=("synthetic",))
    assert low.action.severity >= degraded_action.severity


def test_a_flow_may_not_accept_degraded_checks() -> None:
    with pytest.raises(ValueError, match="may not be accept"):
        replace(flow(), degraded_action=Action.ACCEPT)


def test_signal_rule_escalates_but_never_relaxes() -> None:
    rule = SignalRule(Signal.LIVENESS, Comparison.BELOW, 0.3, Action.REVIEW, "LIVENESS_LOW")
    f = flow(rules=(rule,))
    low = apply_policy(f, 99, None, ClientSignals(liveness_score=0.1))
    assert low.action is Action.REVIEW
    assert "LIVENESS_LOW" in low.reasons
    high = apply_policy(f, 99, None, ClientSignals(liveness_score=0.9))
    assert high.action is Action.ACCEPT
    absent = apply_policy(f, 99, None, ClientSignals())
    assert absent.action is Action.ACCEPT


def test_composite_risk_is_a_renormalised_weighted_mean() -> None:
    composite = CompositeRisk(weights={"authenticity": 0.5, "liveness": 0.5, "device": 1.0})
    # Only authenticity and liveness present: device weight is ignored.
    risk = composite.risk(80, ClientSignals(liveness_score=0.6))
    assert risk == pytest.approx((0.5 * 0.2 + 0.5 * 0.4) / 1.0)
    assert composite.risk(None, ClientSignals()) is None


def test_composite_escalation_picks_the_most_severe_reached() -> None:
    composite = CompositeRisk(
        weights={"authenticity": 1.0, "device": 1.0},
        escalations=(Escalation(0.4, Action.STEP_UP), Escalation(0.6, Action.REVIEW)),
    )
    f = flow(composite=composite)
    outcome = apply_policy(f, 95, None, ClientSignals(device_risk=0.95))  # risk 0.5
    assert outcome.action is Action.STEP_UP
    assert outcome.composite_risk == pytest.approx(0.5)
    assert "COMPOSITE_RISK_STEP_UP" in outcome.reasons


@pytest.mark.parametrize(
    "bands",
    [
        (),
        (Band("a", 10, Action.ACCEPT),),
        (Band("a", 0, Action.ACCEPT), Band("b", 0, Action.REVIEW)),
        (Band("a", 0, Action.ACCEPT), Band("a", 50, Action.REVIEW)),
    ],
)
def test_flow_refuses_bands_that_leave_gaps_or_clash(bands: tuple[Band, ...]) -> None:
    with pytest.raises(ValueError, match="band"):
        flow(bands=bands)


def test_client_signals_must_be_probabilities() -> None:
    with pytest.raises(ValueError, match="liveness_score"):
        ClientSignals(liveness_score=1.5)
