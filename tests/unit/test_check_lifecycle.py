"""The check's lifecycle: every transition is an event, and the guards that make a person's
verdict final and keep automated stages from relaxing what the policy forbids."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from faceverdict.domain.check import (
    ASSURANCE_STAGE,
    RESCAN_STAGE,
    REVIEW_STAGE,
    Check,
    CheckState,
    Decision,
    HumanVerdictStands,
    InvalidTransition,
    RelaxationForbidden,
)
from faceverdict.domain.events import (
    AssuranceAbandoned,
    AssuranceConfirmed,
    AssuranceStarted,
    CheckDecided,
    ReviewOpened,
    ReviewRequested,
    event_fields,
    event_from_fields,
)
from faceverdict.domain.policy import Action
from tests.contract.builders import NOW, make_check


def later(check: Check, action: Action, stage: str, *, final: bool | None = None) -> Decision:
    """A decision superseding the check's current one."""
    previous = check.current_decision
    assert previous is not None
    return replace(
        previous,
        decision_id=f"dec_{stage}_{len(check.decisions)}",
        action=action,
        final=action is not Action.REVIEW if final is None else final,
        supersedes=previous.decision_id,
        stage=stage,
        decided_at=NOW + timedelta(minutes=len(check.decisions)),
    )


def state(check: Check) -> CheckState:
    """The check's state now (a call, so that type checkers do not narrow it)."""
    return check.state


def step_up(check_id: str = "chk_1") -> Check:
    check = make_check(check_id, final=False)
    check.decisions[-1] = replace(check.decisions[-1], action=Action.STEP_UP)
    check.pull_events()
    return check


def test_assurance_start_confirm_and_abandon_are_events() -> None:
    check = step_up()
    check.begin_assurance(NOW, ("gray_band",))
    assert state(check) is CheckState.ASSURING
    check.abandon_assurance(NOW, "capture_gone")
    assert state(check) is CheckState.DECIDED
    check.begin_assurance(NOW)
    check.confirm_assurance(
        NOW, score=71.0, model_versions={"x": "1"}, assured_action=Action.ACCEPT
    )
    assert state(check) is CheckState.FINAL
    started, abandoned, _, confirmed = check.pull_events()
    assert isinstance(started, AssuranceStarted)
    assert started.reasons == ("gray_band",)
    assert isinstance(abandoned, AssuranceAbandoned)
    assert isinstance(confirmed, AssuranceConfirmed)
    assert confirmed.assured_action == "accept"  # what it would have done, had it been allowed
    assert confirmed.kept_because == "may_relax is false"
    assert [e.name for e in (started, abandoned, confirmed)] == [
        "assurance.started",
        "assurance.abandoned",
        "assurance.confirmed",
    ]


def test_only_a_decided_check_is_assured() -> None:
    check = make_check(final=True)
    with pytest.raises(InvalidTransition):
        check.begin_assurance(NOW)
    with pytest.raises(InvalidTransition):
        step_up().confirm_assurance(NOW, score=None, model_versions={})


def test_an_automated_stage_never_relaxes_when_the_policy_forbids_it() -> None:
    check = step_up()
    check.begin_assurance(NOW)
    assert not check.can_supersede(ASSURANCE_STAGE, Action.ACCEPT, may_relax=False)
    with pytest.raises(RelaxationForbidden):
        check.decide(later(check, Action.ACCEPT, ASSURANCE_STAGE), [], may_relax=False)
    assert check.can_supersede(ASSURANCE_STAGE, Action.REVIEW, may_relax=False)  # escalating
    check.decide(later(check, Action.ACCEPT, ASSURANCE_STAGE), [], may_relax=True)
    assert state(check) is CheckState.FINAL


def test_a_review_decision_opens_review_and_only_a_person_settles_it() -> None:
    check = step_up()
    check.open_review(NOW, "rvt_1")
    assert state(check) is CheckState.IN_REVIEW
    for stage in (ASSURANCE_STAGE, RESCAN_STAGE):
        with pytest.raises(InvalidTransition):
            check.decide(later(check, Action.REJECT, stage), [])
    check.decide(later(check, Action.REJECT, REVIEW_STAGE, final=True), [])
    assert state(check) is CheckState.FINAL
    assert check.settled_by_person
    opened, decided = check.pull_events()
    assert isinstance(opened, ReviewOpened)
    assert opened.task_id == "rvt_1"
    assert isinstance(decided, CheckDecided)
    assert decided.state == "final"


def test_a_persons_verdict_is_never_overruled_by_a_model() -> None:
    check = step_up()
    check.decide(later(check, Action.REJECT, REVIEW_STAGE, final=True), [])
    check.pull_events()
    for stage in (ASSURANCE_STAGE, RESCAN_STAGE, "inline"):
        assert not check.can_supersede(stage, Action.ACCEPT)
        with pytest.raises(HumanVerdictStands):
            check.decide(later(check, Action.ACCEPT, stage), [])
    # a newer model may ask a person to look again, without deciding anything
    check.request_review(NOW, "rescan_disagreement", Action.ACCEPT)
    [requested] = check.pull_events()
    assert isinstance(requested, ReviewRequested)
    assert requested.proposed_action == "accept"
    assert state(check) is CheckState.FINAL
    # a senior reconsidering it opens the check again; her verdict settles it
    check.open_review(NOW, "rvt_2")
    check.decide(later(check, Action.ACCEPT, REVIEW_STAGE, final=True), [])
    assert check.current_decision is not None
    assert check.current_decision.action is Action.ACCEPT


def test_a_rescan_reopens_an_automated_final_decision_but_nothing_else_does() -> None:
    check = make_check(final=True)
    assert not check.can_supersede(ASSURANCE_STAGE, Action.REVIEW)
    with pytest.raises(InvalidTransition):
        check.open_review(NOW, "rvt_1")  # an automated final decision is only audited
    check.decide(later(check, Action.REVIEW, RESCAN_STAGE), [])
    assert state(check) is CheckState.DECIDED  # waiting for the review its event queues
    check.open_review(NOW, "rvt_1")
    assert state(check) is CheckState.IN_REVIEW


def test_events_survive_storage_as_fields() -> None:
    check = step_up()
    check.begin_assurance(NOW, ("gray_band", "action"))
    check.confirm_assurance(NOW, score=80.0, model_versions={"synthetic": "1.1.0"})
    for event in check.pull_events():
        fields = event_fields(event)
        assert "check_id" not in fields
        rebuilt = event_from_fields(event.name, event.check_id, event.occurred_at, fields)
        assert rebuilt == event
    with pytest.raises(KeyError):
        event_from_fields("no.such.event", "chk_1", NOW, {})
