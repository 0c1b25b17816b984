"""One contract for every CheckRepository adapter: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from faceverdict.adapters.sql_check_repository import SqlCheckRepository, make_engine
from faceverdict.domain.check import CaptureInfo, Check, CheckState, Decision
from faceverdict.domain.detection import DetectorResult, Heatmap
from faceverdict.domain.policy import Action, ClientSignals
from faceverdict.errors import Unavailable
from faceverdict.ports import CheckRepository, DuplicateIdempotencyKey

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CheckRepository]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    repo = SqlCheckRepository(engine)
    repo.create_schema()
    yield repo
    engine.dispose()


def make_check(check_id: str = "chk_1", key: str | None = None, final: bool = True) -> Check:
    check = Check.receive(
        check_id=check_id,
        subject_pseudonym="p" * 64,
        flow="onboarding",
        capture=CaptureInfo(
            sha256="a" * 64, media_type="image/jpeg", width=640, height=480, byte_size=1234
        ),
        signals=ClientSignals(liveness_score=0.9),
        now=NOW,
        idempotency_key=key,
        request_fingerprint="f" * 64,
    )
    results = [
        DetectorResult(
            detector="provenance",
            version="1.0",
            fake_probability=0.97,
            reasons=("C2PA_GENERATIVE_SOURCE",),
            elapsed_ms=1.5,
            details={"generator": "x", "valid": True, "n": 2.0},
            heatmap=Heatmap(width=2, height=1, values=(0.1, 0.9), box=(0, 0, 10, 10)),
        )
    ]
    check.decide(
        Decision(
            decision_id=f"dec_{check_id}",
            check_id=check_id,
            authenticity_score=12.5,
            abstention=None,
            band="suspect",
            action=Action.REVIEW if not final else Action.ACCEPT,
            reasons=("BAND_SUSPECT",),
            policy_version="p1",
            model_versions={"provenance": "1.0"},
            composite_risk=0.4,
            final=final,
            decided_at=NOW,
        ),
        results,
    )
    return check


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
    later = Decision(
        decision_id="dec_2",
        check_id=check.check_id,
        authenticity_score=5.0,
        abstention=None,
        band="fake",
        action=Action.REJECT,
        reasons=("ASSURANCE",),
        policy_version="p1",
        model_versions={},
        composite_risk=None,
        final=True,
        decided_at=NOW + timedelta(minutes=5),
        supersedes=f"dec_{check.check_id}",
        stage="assurance",
    )
    check.decide(later, check.detector_results)
    repository.save_decision(check)
    loaded = repository.get(check.check_id)
    assert loaded is not None
    assert [d.decision_id for d in loaded.decisions] == [f"dec_{check.check_id}", "dec_2"]
    assert loaded.state is CheckState.FINAL
    assert loaded.current_decision == later


def test_ping_and_outage(repository: CheckRepository, tmp_path: Path) -> None:
    repository.ping()
    broken = SqlCheckRepository(make_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db"))
    with pytest.raises(Unavailable):
        broken.ping()
