"""The check state machine and its events."""

from __future__ import annotations

from dataclasses import replace

import pytest

from faceverdict.domain.check import CheckState, InvalidTransition
from faceverdict.domain.events import CheckDecided, CheckReceived
from tests.contract.builders import NOW, make_check


def test_receive_then_decide_raises_events_once() -> None:
    check = make_check(final=False)
    assert check.state is CheckState.DECIDED
    events = check.pull_events()
    assert [type(e) for e in events] == [CheckReceived, CheckDecided]
    assert [e.name for e in events] == ["check.received", "check.decided"]
    assert check.pull_events() == []


def test_a_later_decision_must_name_the_one_it_supersedes() -> None:
    check = make_check(final=False)
    first = check.current_decision
    assert first is not None
    with pytest.raises(ValueError, match="supersedes"):
        check.decide(replace(first, decision_id="dec_x"), [])
    check.decide(replace(first, decision_id="dec_y", supersedes=first.decision_id, final=True), [])
    assert check.state is CheckState.FINAL


def test_a_final_check_cannot_be_decided_again() -> None:
    check = make_check(final=True)
    first = check.current_decision
    assert first is not None
    with pytest.raises(InvalidTransition):
        check.decide(replace(first, decision_id="dec_z", supersedes=first.decision_id), [])


def test_decision_of_another_check_is_refused() -> None:
    check = make_check(final=False)
    first = check.current_decision
    assert first is not None
    with pytest.raises(ValueError, match="another check"):
        check.decide(replace(first, check_id="chk_other", decided_at=NOW), [])
