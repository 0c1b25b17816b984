"""`faceverdict users`, `review export` and `demo` on a fresh data folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceverdict.config import load_settings
from faceverdict.domain.review import Role, TaskStatus
from faceverdict.entrypoints.cli import cli
from faceverdict.ports.review import QueueFilter
from faceverdict.wiring.bootstrap import bootstrap


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACEVERDICT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_admin_creates_accounts_from_the_command_line(data: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli,
        ["users", "create", "alice", "--role", "senior", "--name", "Alice M", "--password-stdin"],
        input="a long enough password\n",
    )
    assert created.exit_code == 0, created.output
    assert "created alice (senior)" in created.output
    listed = runner.invoke(cli, ["users", "list"])
    assert "alice\tsenior\tactive\tAlice M" in listed.output
    short = runner.invoke(cli, ["users", "create", "bob", "--password-stdin"], input="short\n")
    assert short.exit_code != 0
    assert "12" in short.output
    assert runner.invoke(cli, ["users", "disable", "alice"]).exit_code == 0
    assert "disabled" in runner.invoke(cli, ["users", "list"]).output


def test_demo_seeds_a_queue_and_export_writes_a_manifest(data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    seeded = runner.invoke(cli, ["demo", "--captures", "8", "--password", "demo-password-123"])
    assert seeded.exit_code == 0, seeded.output
    assert "http://127.0.0.1:8080/review/" in seeded.output
    assert "demo-password-123" in seeded.output
    application = bootstrap(load_settings(), record_config=False)
    review = application.review
    assert review is not None
    roles = {a.username: a.role for a in review.accounts.accounts()}
    assert roles == {
        "alice": Role.REVIEWER,
        "bob": Role.REVIEWER,
        "sam": Role.SENIOR,
        "ada": Role.ADMIN,
    }
    sam = review.accounts.reviewers.reviewer_by_username("sam")
    assert sam is not None
    waiting = review.service.queue(sam, QueueFilter(statuses=frozenset({TaskStatus.OPEN})))
    assert len(waiting) >= 4
    assert any(t.flow == "payment" and t.sla.breached(review.service.clock.now()) for t in waiting)
    assert review.service.audit.pairs()  # a double review was done
    assert review.accounts.sign_in("sam", "demo-password-123")

    out = tmp_path / "export"
    exported = runner.invoke(cli, ["review", "export", str(out), "--licence", "internal"])
    assert exported.exit_code == 0, exported.output
    with (out / "MANIFEST.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert {r["label"] for r in rows} <= {"real", "fake"}
    assert all((out / r["relpath"]).is_file() for r in rows)
    again = runner.invoke(cli, ["review", "export", str(out), "--licence", "internal"])
    assert again.exit_code != 0
    assert "exists" in again.output
    application.close()
