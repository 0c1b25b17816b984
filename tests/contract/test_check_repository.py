"""One contract for every CheckRepository adapter: memory, SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from faceverdict.adapters.sql_check_repository import SqlCheckRepository, make_engine
from faceverdict.domain.check import CheckState
from faceverdict.errors import Unavailable
from faceverdict.ports.checks import CheckRepository, DecisionConflict, DuplicateIdempotencyKey
from faceverdict.wiring.stores import Stores
from tests.contract.builders import NOW, make_check, superseding


@pytest.fixture
def repository(stores: Stores) -> CheckRepository:
    return stores.checks


def test_round_trip_keeps_everything(repository: CheckRepository) -> None:
    check = make_check()
    repository.add(check)
    loaded = repository.get("chk_1")
    assert loaded is not None
    assert loaded.capture == check.capture
    assert loaded.signals == check.signals
    assert loaded.state is CheckState.FINAL
    assert loaded.detector_results == check.detector_results
    assert loaded.decisions == check.decisions
    assert loaded.created_at == NOW
    assert loaded.idempotency_key is None
    assert loaded.request_fingerprint == "f" * 64
    assert loaded.events == []  # pending events are the outbox's, not the check row's


def test_stored_state_does_not_follow_the_callers_objects(repository: CheckRepository) -> None:
    check = make_check()
    repository.add(check)
    check.decisions.clear()
    loaded = repository.get("chk_1")
    assert loaded is not None
    loaded.decisions.clear()
    loaded.state = CheckState.RECEIVED
    again = repository.get("chk_1")
    assert again is not None
    assert len(again.decisions) == 1
    assert again.state is CheckState.FINAL


def test_unknown_ids_are_none(repository: CheckRepository) -> None:
    assert repository.get("chk_missing") is None
    assert repository.get_by_idempotency_key("nope") is None


def test_idempotency_key_is_unique(repository: CheckRepository) -> None:
    repository.add(make_check("chk_a", key="k1"))
    found = repository.get_by_idempotency_key("k1")
    assert found is not None
    assert found.check_id == "chk_a"
    with pytest.raises(DuplicateIdempotencyKey):
        repository.add(make_check("chk_b", key="k1"))
    assert repository.get("chk_b") is None


def test_superseding_decision_is_appended(repository: CheckRepository) -> None:
    check = make_check(final=False)
    repository.add(check)
    later = superseding(check, "dec_2")
    check.decide(later, check.detector_results)
    repository.save_decision(check)
    loaded = repository.get(check.check_id)
    assert loaded is not None
    assert [d.decision_id for d in loaded.decisions] == [f"dec_{check.check_id}", "dec_2"]
    assert loaded.state is CheckState.FINAL
    assert loaded.current_decision == later


def test_a_decision_that_lost_the_race_conflicts(repository: CheckRepository) -> None:
    repository.add(make_check(final=False))
    first, second = repository.get("chk_1"), repository.get("chk_1")
    assert first is not None
    assert second is not None
    first.decide(superseding(first, "dec_first"), first.detector_results)
    second.decide(superseding(second, "dec_second"), second.detector_results)
    repository.save_decision(first)
    with pytest.raises(DecisionConflict):
        repository.save_decision(second)
    loaded = repository.get("chk_1")
    assert loaded is not None
    assert [d.decision_id for d in loaded.decisions] == ["dec_chk_1", "dec_first"]


def test_save_decision_needs_a_decision(repository: CheckRepository) -> None:
    check = make_check()
    check.decisions.clear()
    with pytest.raises(ValueError, match="no decision"):
        repository.save_decision(check)


def test_transition_is_conditional(repository: CheckRepository) -> None:
    repository.add(make_check(final=False))
    assert repository.transition("chk_1", CheckState.DECIDED, CheckState.ASSURING)
    assert not repository.transition("chk_1", CheckState.DECIDED, CheckState.ASSURING)
    assert not repository.transition("chk_missing", CheckState.DECIDED, CheckState.ASSURING)
    loaded = repository.get("chk_1")
    assert loaded is not None
    assert loaded.state is CheckState.ASSURING
    assert len(loaded.decisions) == 1


def test_stale_lists_the_oldest_untouched_checks_of_a_state(repository: CheckRepository) -> None:
    for check_id in ("chk_a", "chk_b", "chk_c"):
        repository.add(make_check(check_id, final=False))
        assert repository.transition(check_id, CheckState.DECIDED, CheckState.ASSURING)
        time.sleep(0.002)
    repository.add(make_check("chk_final"))
    time.sleep(0.002)
    # Touching a check (source == target) renews its lease: it is now the newest.
    assert repository.transition("chk_a", CheckState.ASSURING, CheckState.ASSURING)
    time.sleep(0.002)
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert repository.stale(CheckState.ASSURING, later) == ["chk_b", "chk_c", "chk_a"]
    assert repository.stale(CheckState.ASSURING, later, limit=1) == ["chk_b"]
    assert repository.stale(CheckState.FINAL, later) == ["chk_final"]
    assert repository.stale(CheckState.ASSURING, datetime.now(UTC) - timedelta(hours=1)) == []


def test_ping(repository: CheckRepository) -> None:
    repository.ping()


def test_sql_outage_is_unavailable(tmp_path: Path) -> None:
    broken = SqlCheckRepository(make_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db"))
    with pytest.raises(Unavailable):
        broken.ping()
