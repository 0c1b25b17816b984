"""The retention sweeper removes exactly what is due (per flow, by an injected clock), records
it in the evidence log, is idempotent, and leaves a log that still audits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from faceverdict.adapters.sql_check_repository import make_engine
from faceverdict.config import load_settings
from faceverdict.domain.policy import ClientSignals
from faceverdict.entrypoints.cli import cli
from faceverdict.errors import CaptureGone, NotFound
from faceverdict.evidence.entries import parse_entry_bytes
from faceverdict.services.checks import SubmitCheck, capture_key
from faceverdict.testing.clock import ManualClock
from faceverdict.wiring.bootstrap import Application, bootstrap
from tests.support.images import jpeg_bytes


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def app(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[Application]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    application = bootstrap(
        load_settings(data_dir=tmp_path / "data", database_url=url), clock=clock
    )
    yield application
    application.close()


def submit(app: Application, flow: str, seed: int) -> str:
    command = SubmitCheck(jpeg_bytes(160, 120, seed=seed), f"user-{seed}", flow, ClientSignals())
    return app.checks.submit(command).check.check_id


def kinds_of(app: Application, check_id: str) -> list[str]:
    return [e.kind for e in app.records.evidence.reader.entries_of(check_id)]


def test_captures_are_deleted_exactly_when_their_flow_says(
    app: Application, clock: ManualClock
) -> None:
    start = clock.now()
    a = submit(app, "onboarding", 1)  # 30 days
    clock.advance(days=10)
    b = submit(app, "payment", 2)  # 14 days: due at day 24
    clock.advance(days=10)
    c = submit(app, "onboarding", 3)  # due at day 50
    sweeper = app.records.retention

    clock.set(start + timedelta(days=24) - timedelta(seconds=1))
    assert not sweeper.sweep().removed_anything
    clock.set(start + timedelta(days=24))
    assert sweeper.sweep().captures_deleted == (b,)
    clock.set(start + timedelta(days=30))
    size_before = app.records.evidence.reader.head()[0]
    report = sweeper.sweep()
    assert report.captures_deleted == (a,)
    assert report.checks_expired == ()
    assert report.evidence_seq == size_before + 1  # capture.deleted, then retention.swept

    for check_id in (a, b):
        assert not app.records.vault.exists(capture_key(check_id))
        assert kinds_of(app, check_id)[-1] == "capture.deleted"
        with pytest.raises(CaptureGone, match="retention"):
            app.records.captures.read(check_id, caller="t", reason="audit")
    assert app.records.vault.exists(capture_key(c))
    assert app.records.captures.read(c, caller="t", reason="audit").data

    head = app.records.evidence.reader.head()
    assert not sweeper.sweep().removed_anything  # idempotent: nothing due, nothing written
    assert app.records.evidence.reader.head() == head
    assert app.records.evidence.audit().ok


def test_expired_evidence_is_removed_and_the_log_still_audits(
    app: Application, clock: ManualClock
) -> None:
    start = clock.now()
    old = submit(app, "onboarding", 1)
    clock.advance(days=1)
    young = submit(app, "onboarding", 2)
    app.records.evidence.checkpoint()
    old_seqs = [e.seq for e in app.records.evidence.reader.entries_of(old)]

    clock.set(start + timedelta(days=1825))
    report = app.records.retention.sweep()
    assert report.checks_expired == (old,)
    assert report.entries_expired == len(old_seqs)
    assert set(report.captures_deleted) == {old, young}  # both long past 30 days
    assert all(e.body is None for e in app.records.evidence.reader.entries_of(old))
    with pytest.raises(NotFound):
        app.checks.get(old)
    with pytest.raises(NotFound):
        app.records.packages.package(old)
    assert app.checks.get(young).check_id == young

    swept = [
        parse_entry_bytes(e.body)
        for e in app.records.evidence.reader.scan()
        if e.kind == "retention.swept" and e.body is not None
    ]
    assert swept[-1].payload["checks_expired"] == [old]
    assert swept[-1].payload["redacted_seqs"] == [[old_seqs[0], old_seqs[-1] + 1]]
    report_audit = app.records.evidence.audit()
    assert report_audit.ok, report_audit.problems
    assert report_audit.entries_expired == len(old_seqs)
    assert not app.records.retention.sweep().removed_anything


def test_the_cli_sweeps(app: Application, clock: ManualClock) -> None:
    # The CLI reads the wall clock, so the capture must be young by the wall clock too: a
    # capture stamped on the fixed test date falls due 14 days later and the sweep deletes it.
    clock.set(datetime.now(UTC))
    submit(app, "payment", 1)
    env = {"FACEVERDICT_DATA_DIR": str(app.settings.data_dir)}
    if app.settings.database_url:
        env["FACEVERDICT_DATABASE_URL"] = app.settings.database_url
    result = CliRunner().invoke(cli, ["retention", "sweep"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("swept: 0 captures deleted")


def test_expiry_also_removes_rows_other_features_hang_off_a_check(
    app: Application, clock: ManualClock
) -> None:
    start = clock.now()
    old = submit(app, "onboarding", 1)
    engine = make_engine(app.settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE feature_rows (id VARCHAR(40) PRIMARY KEY,"
                " check_id VARCHAR(40) NOT NULL REFERENCES checks (check_id))"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE feature_details (id INTEGER PRIMARY KEY,"
                " row_id VARCHAR(40) NOT NULL REFERENCES feature_rows (id))"
            )
        )
        conn.execute(text("INSERT INTO feature_rows VALUES ('r1', :c)"), {"c": old})
        conn.execute(text("INSERT INTO feature_details VALUES (1, 'r1')"))
    clock.set(start + timedelta(days=1825))
    assert app.records.retention.sweep().checks_expired == (old,)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM feature_rows")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM feature_details")).scalar() == 0
    engine.dispose()
