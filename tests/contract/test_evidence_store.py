"""One contract for the evidence log on memory, SQLite (embedded) and PostgreSQL (scale-out).

Appends are gapless and serialised across threads, commit or vanish with their transaction,
and the stored subtree hashes answer the same proofs as the in-memory reference tree.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from faceverdict.evidence.checkpoint import generate_signing_key, parse_signer_key
from faceverdict.evidence.entries import leaf_hash, parse_entry_bytes
from faceverdict.evidence.merkle import MemoryTree, verify_consistency, verify_inclusion
from faceverdict.ports.evidence import EntryDraft, StoredCheckpoint
from faceverdict.services.evidence_log import CheckpointPolicy, CheckpointSigner, EvidenceLog
from faceverdict.testing.clock import ManualClock
from faceverdict.wiring.stores import Stores

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ORIGIN = "faceverdict.local/contract"


def draft(i: int, check_id: str | None = None) -> EntryDraft:
    return EntryDraft("test.event", check_id or f"chk_{i % 7}", NOW, {"i": i, "score": i / 3})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def log(stores: Stores, clock: ManualClock) -> EvidenceLog:
    signer = CheckpointSigner(parse_signer_key(generate_signing_key(ORIGIN)[0]), ORIGIN)
    return EvidenceLog(
        uow=stores.uow,
        reader=stores.evidence,
        signer=signer,
        clock=clock,
        policy=CheckpointPolicy(every_entries=10, every_seconds=60),
    )


def reference(log: EvidenceLog) -> MemoryTree:
    rows = list(log.reader.scan())
    assert [r.seq for r in rows] == list(range(len(rows)))
    return MemoryTree(leaf_hash(parse_entry_bytes(r.body)) for r in rows if r.body is not None)


def test_appends_get_consecutive_positions_and_canonical_bytes(log: EvidenceLog) -> None:
    first = log.append_many([draft(0), draft(1)])
    second = log.append("test.event", {"i": 2}, check_id="chk_x", occurred_at=NOW)
    assert [e.seq for e in first] == [0, 1]
    assert second.seq == 2
    size, root = log.reader.head()
    assert size == 3
    assert root == reference(log).root()
    assert [e.seq for e in log.reader.entries_of("chk_x")] == [2]


def test_a_failed_transaction_leaves_no_entry_and_no_gap(log: EvidenceLog) -> None:
    log.append_many([draft(0)])

    def append_then_fail() -> None:
        with log.uow.begin() as tx:
            tx.evidence.append([draft(1), draft(2)])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        append_then_fail()
    # The writer's cached right edge must not survive the rollback.
    assert [e.seq for e in log.append_many([draft(3)])] == [1]
    assert log.reader.head()[0] == 2
    assert log.reader.head()[1] == reference(log).root()


def test_concurrent_writers_are_serialised_without_gaps(log: EvidenceLog) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                log.append_many([draft(n * 100 + i), draft(n * 100 + i + 50)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tree = reference(log)
    assert tree.size == 4 * 15 * 2
    assert log.reader.head() == (tree.size, tree.root())
    assert log.audit().ok


def test_stored_proofs_equal_the_reference_and_verify(log: EvidenceLog) -> None:
    log.append_many([draft(i) for i in range(37)])
    tree = reference(log)
    proofs = log.inclusion_proofs(list(range(37)), 37)
    for seq, proof in proofs.items():
        assert proof == tree.inclusion_proof(seq, 37)
        assert verify_inclusion(tree.hash_at(0, seq), seq, 37, proof, tree.root())
    for old in (1, 8, 13, 36):
        proof = log.consistency_proof(old, 37)
        assert proof == tree.consistency_proof(old, 37)
        assert verify_consistency(old, 37, tree.root(old), tree.root(), proof)


def test_checkpoints_are_signed_when_due_and_extend_each_other(
    log: EvidenceLog, clock: ManualClock
) -> None:
    assert log.maybe_checkpoint() is not None  # the first one, even of an empty log
    log.append_many([draft(i) for i in range(3)])
    assert log.maybe_checkpoint() is None  # 3 < 10 entries and not 60 s old
    clock.advance(seconds=61)
    signed = log.maybe_checkpoint()
    assert signed is not None
    assert signed.size == 3
    log.append_many([draft(i) for i in range(10)])
    assert log.maybe_checkpoint() is not None
    assert [c.size for c in log.reader.checkpoints()] == [0, 3, 13]
    assert log.checkpoint().size == 13  # nothing new: the latest is reused
    report = log.audit()
    assert report.ok, report.problems
    assert report.checkpoints_checked == 3


def test_record_if_changed_appends_only_on_change(log: EvidenceLog) -> None:
    assert log.record_if_changed("policy.activated", {"policy_version": "a"}) is not None
    assert log.record_if_changed("policy.activated", {"policy_version": "a"}) is None
    assert log.record_if_changed("policy.activated", {"policy_version": "b"}) is not None
    assert log.reader.head()[0] == 2


def test_a_checkpoint_is_stored_once_per_size(log: EvidenceLog) -> None:
    log.append_many([draft(0)])
    first = StoredCheckpoint(size=1, note="note one", signed_at=NOW)
    assert log.reader.add_checkpoint(first)
    assert not log.reader.add_checkpoint(StoredCheckpoint(1, "another", NOW))
    assert log.reader.latest_checkpoint() == first
    assert log.reader.checkpoints() == [first]


def test_redaction_keeps_the_leaves_and_the_proofs(log: EvidenceLog) -> None:
    log.append_many([draft(i, "chk_gone" if i % 2 else "chk_kept") for i in range(6)])
    root = log.reader.head()[1]
    with log.uow.begin() as tx:
        seqs = tx.evidence.live_seqs_of(["chk_gone"])
        assert seqs == [1, 3, 5]
        assert tx.evidence.redact(seqs, NOW) == 3
        assert tx.evidence.redact(seqs, NOW) == 0  # already gone
        assert tx.evidence.live_seqs_of(["chk_gone"]) == []
    assert [e.body is None for e in log.reader.entries_of("chk_gone")] == [True] * 3
    assert all(e.body is not None for e in log.reader.entries_of("chk_kept"))
    assert log.reader.head()[1] == root
    assert sorted(log.reader.node_range(0, 0, 6)) == list(range(6))
    assert log.reader.node_counts()[0] == 6
    assert log.inclusion_proofs([1], 6)[1]  # the leaf of a redacted entry still proves


def test_latest_reads_the_newest_readable_entry_of_a_kind(log: EvidenceLog) -> None:
    assert log.record_if_changed("policy.activated", {"v": "a"}) is not None
    log.append_many([draft(1)])
    assert log.record_if_changed("policy.activated", {"v": "b"}) is not None
    with log.uow.begin() as tx:
        latest = tx.evidence.latest("policy.activated")
        assert latest is not None
        assert latest.payload == {"v": "b"}
        assert latest.seq == 2
        assert tx.evidence.latest("no.such") is None
