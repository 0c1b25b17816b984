"""`audit` on a real SQLite database file: every kind of tampering with entries, subtree
hashes or checkpoints is detected; an untouched log (and one with expired evidence) passes."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faceverdict.config import load_settings
from faceverdict.domain.policy import ClientSignals
from faceverdict.evidence.checkpoint import generate_signing_key, parse_signer_key, sign_checkpoint
from faceverdict.evidence.entries import parse_entry_bytes
from faceverdict.evidence.merkle import Frontier, leaf_hash
from faceverdict.services.checks import SubmitCheck
from faceverdict.services.evidence_audit import AuditReport
from faceverdict.wiring.bootstrap import bootstrap
from faceverdict.wiring.records import Records, build_records
from tests.support.images import jpeg_bytes


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with a few checks, a capture read, an erasure and two checkpoints."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    app = bootstrap(load_settings(data_dir=data_dir))
    records = app.records
    for i in range(3):
        app.checks.submit(
            SubmitCheck(jpeg_bytes(160, 120, seed=i), f"user-{i}", "onboarding", ClientSignals())
        )
    records.evidence.checkpoint()
    records.erasure.erase("user-0", requested_by="test")
    records.evidence.checkpoint()
    records.stores.uow.purge_deleted()
    return data_dir


def db(data_dir: Path) -> Path:
    return data_dir / "faceverdict.db"


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(template, copy)
    return copy


@pytest.fixture
def sql(data_dir: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db(data_dir), isolation_level=None)
    yield conn
    conn.close()


def audit(data_dir: Path) -> AuditReport:
    records: Records = build_records(load_settings(data_dir=data_dir))
    return records.evidence.audit()


def assert_detected(data_dir: Path, fragment: str) -> AuditReport:
    report = audit(data_dir)
    assert not report.ok
    assert any(fragment in p for p in report.problems), report.problems
    return report


def test_the_untouched_log_passes(data_dir: Path) -> None:
    report = audit(data_dir)
    assert report.ok, report.problems
    assert report.size >= 15
    assert report.checkpoints_checked == 2


def test_one_changed_byte_in_the_database_file_is_detected(data_dir: Path) -> None:
    raw = db(data_dir).read_bytes()
    needle = b'"band":"abstained"'
    at = raw.find(needle)
    assert at > 0, "the file should hold an entry body in clear (it is not secret)"
    db(data_dir).write_bytes(raw[:at] + b'"band":"abstainee"' + raw[at + len(needle) :])
    assert_detected(data_dir, "bytes do not match its leaf")


def test_a_changed_score_is_detected(data_dir: Path, sql: sqlite3.Connection) -> None:
    (body,) = sql.execute("SELECT body FROM evidence_entries WHERE seq = 5").fetchone()
    changed = bytes(body).replace(b'"occurred_at":"2', b'"occurred_at":"3', 1)
    assert changed != bytes(body)
    sql.execute("UPDATE evidence_entries SET body = ? WHERE seq = 5", (changed,))
    assert_detected(data_dir, "entry 5")


def test_a_deleted_entry_row_is_detected(data_dir: Path, sql: sqlite3.Connection) -> None:
    sql.execute("DELETE FROM evidence_entries WHERE seq = 4")
    assert_detected(data_dir, "entry 4 is missing")


def test_two_swapped_entries_are_detected(data_dir: Path, sql: sqlite3.Connection) -> None:
    rows = dict(sql.execute("SELECT seq, body FROM evidence_entries WHERE seq IN (3, 4)"))
    sql.execute("UPDATE evidence_entries SET body = ? WHERE seq = 3", (rows[4],))
    sql.execute("UPDATE evidence_entries SET body = ? WHERE seq = 4", (rows[3],))
    report = assert_detected(data_dir, "(moved or reordered)")
    assert any("entry 3" in p for p in report.problems)


def test_an_entry_inserted_into_history_is_detected(
    data_dir: Path, sql: sqlite3.Connection
) -> None:
    # Make room at position 2 by shifting the later rows up, then insert a forged row there.
    (last,) = sql.execute("SELECT max(seq) FROM evidence_entries").fetchone()
    for seq in range(last, 1, -1):
        sql.execute("UPDATE evidence_entries SET seq = seq + 1 WHERE seq = ?", (seq,))
    (body,) = sql.execute("SELECT body FROM evidence_entries WHERE seq = 1").fetchone()
    sql.execute(
        "INSERT INTO evidence_entries (seq, check_id, kind, body) VALUES (2, NULL, 'x', ?)",
        (body,),
    )
    assert_detected(data_dir, "(moved or reordered)")


def test_a_row_appended_behind_the_logs_back_is_detected(
    data_dir: Path, sql: sqlite3.Connection
) -> None:
    (size,) = sql.execute("SELECT size FROM evidence_head").fetchone()
    (body,) = sql.execute("SELECT body FROM evidence_entries WHERE seq = 0").fetchone()
    sql.execute(
        "INSERT INTO evidence_entries (seq, check_id, kind, body) VALUES (?, NULL, 'x', ?)",
        (size, body),
    )
    assert_detected(data_dir, "beyond the log head")


def test_a_changed_subtree_hash_is_detected(data_dir: Path, sql: sqlite3.Connection) -> None:
    sql.execute("UPDATE evidence_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 1")
    assert_detected(data_dir, "subtree hash (1, 1)")


def test_an_extra_subtree_hash_is_detected(data_dir: Path, sql: sqlite3.Connection) -> None:
    sql.execute("INSERT INTO evidence_nodes (level, idx, hash) VALUES (0, 100000, zeroblob(32))")
    assert_detected(data_dir, "extra subtree hashes at level 0")


def test_a_removed_entry_body_without_a_retention_record_is_detected(
    data_dir: Path, sql: sqlite3.Connection
) -> None:
    sql.execute("UPDATE evidence_entries SET body = NULL WHERE seq = 6")
    assert_detected(data_dir, "without a retention record")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda note: "\n".join(
                str(int(line) + 1) if i == 1 else line for i, line in enumerate(note.split("\n"))
            ),
            id="size",
        ),
        pytest.param(lambda note: note[:-10] + "AAAAAAAAA\n", id="signature"),
        pytest.param(
            lambda note: note.split("\n")[0] + "x" + note[len(note.split("\n")[0]) :],
            id="origin",
        ),
    ],
)
def test_a_changed_checkpoint_is_detected(
    data_dir: Path, sql: sqlite3.Connection, tamper: Callable[[str], str]
) -> None:
    size, note = sql.execute("SELECT size, note FROM evidence_checkpoints LIMIT 1").fetchone()
    changed = tamper(note)
    assert changed != note
    sql.execute("UPDATE evidence_checkpoints SET note = ? WHERE size = ?", (changed, size))
    assert_detected(data_dir, f"checkpoint {size}")


def test_a_checkpoint_signed_by_another_key_is_detected(
    data_dir: Path, sql: sqlite3.Connection
) -> None:
    size, note = sql.execute("SELECT size, note FROM evidence_checkpoints LIMIT 1").fetchone()
    origin = note.split("\n")[0]
    key = parse_signer_key(generate_signing_key(origin)[0])
    forged = sign_checkpoint(origin, size, b"\x00" * 32, key.private_key, key.name)
    sql.execute("UPDATE evidence_checkpoints SET note = ? WHERE size = ?", (forged, size))
    assert_detected(data_dir, "signature-invalid")


def test_a_rewritten_history_fails_against_its_checkpoint(
    data_dir: Path, sql: sqlite3.Connection
) -> None:
    # An attacker who rewrites an entry AND every hash above it still cannot re-sign.
    (body,) = sql.execute("SELECT body FROM evidence_entries WHERE seq = 0").fetchone()
    forged = bytes(body).replace(b"policy.activated", b"policy.activates")
    parse_entry_bytes(forged)
    sql.execute(
        "UPDATE evidence_entries SET body = ?, kind = ? WHERE seq = 0", (forged, "policy.activates")
    )
    bodies = [bytes(b) for (b,) in sql.execute("SELECT body FROM evidence_entries ORDER BY seq")]
    frontier = Frontier()
    sql.execute("DELETE FROM evidence_nodes")
    for b in bodies:
        for new in frontier.append(leaf_hash(b)):
            sql.execute(
                "INSERT INTO evidence_nodes (level, idx, hash) VALUES (?, ?, ?)",
                (new.node.level, new.node.index, new.hash),
            )
    sql.execute("UPDATE evidence_head SET root_hash = ?", (frontier.root(),))
    assert_detected(data_dir, "signed root is not the recomputed root")
