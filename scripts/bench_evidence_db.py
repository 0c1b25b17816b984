"""Benchmark of the evidence log in the real SQL adapter (SQLite file by default).

Usage: python scripts/bench_evidence_db.py [--entries 100000] [--url sqlite:///x.db] [--json]

Phase 1 writes checks the way ``CheckService.submit`` does, minus the detectors: one
transaction per check holding the check, its decision, its capture record and its four
evidence entries (received, two detector results, decided). Phase 2 measures what auditors
and the API pay on the full log: inclusion and consistency proofs from stored subtree hashes,
a signed checkpoint, the evidence package of one check, its offline verification, and a full
audit. Phase 3 appends single entries, one transaction each (capture reads, verdicts).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from faceverdict.adapters.sql_check_repository import SqlCheckRepository
from faceverdict.adapters.sql_database import Database
from faceverdict.adapters.sql_evidence_log import SqlEvidenceReader
from faceverdict.adapters.sql_privacy import SqlCaptureRecords
from faceverdict.adapters.sql_unit_of_work import SqlUnitOfWork
from faceverdict.domain.check import CaptureInfo, Check, Decision
from faceverdict.domain.detection import DetectorResult
from faceverdict.domain.policy import Action, ClientSignals
from faceverdict.evidence.checkpoint import generate_signing_key, parse_signer_key
from faceverdict.evidence.merkle import (
    Node,
    inclusion_plan,
    root_from,
    verify_consistency,
    verify_inclusion,
)
from faceverdict.evidence.verify import verify_package
from faceverdict.policy import load_policy
from faceverdict.ports.captures import CaptureRecord
from faceverdict.services.evidence_events import check_drafts
from faceverdict.services.evidence_log import CheckpointPolicy, CheckpointSigner, EvidenceLog
from faceverdict.services.evidence_package import EvidencePackager

ORIGIN = "faceverdict.local/bench"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = START

    def now(self) -> datetime:
        self.t += timedelta(milliseconds=7)
        return self.t


def make_check(i: int, clock: Clock) -> tuple[Check, CaptureRecord]:
    now = clock.now()
    check_id = f"chk_{uuid.uuid4().hex}"
    pseudonym = uuid.uuid5(uuid.NAMESPACE_OID, str(i % 5000)).hex * 2
    capture = CaptureInfo(
        sha256=uuid.uuid4().hex * 2,
        media_type="image/jpeg",
        width=4000,
        height=3000,
        byte_size=2_400_000 + i % 1000,
    )
    check = Check.receive(
        check_id=check_id,
        subject_pseudonym=pseudonym,
        flow="onboarding",
        capture=capture,
        signals=ClientSignals(liveness_score=0.93),
        now=now,
        request_fingerprint="f" * 64,
    )
    results = [
        DetectorResult(
            "capture_gate",
            "1.0",
            None,
            (),
            31.2,
            "a" * 64,
            None,
            None,
            {"face_count": 1.0, "image_brightness": 120.5},
        ),
        DetectorResult("provenance", "1.0.0", 0.02 + (i % 90) / 100, ("C2PA_NONE",), 0.9),
    ]
    score = round(100 - results[1].fake_probability * 100, 2)  # type: ignore[operator]
    check.decide(
        Decision(
            decision_id=f"dec_{uuid.uuid4().hex}",
            check_id=check_id,
            authenticity_score=score,
            abstention=None,
            band="genuine" if score >= 90 else "gray",
            action=Action.ACCEPT if score >= 90 else Action.STEP_UP,
            reasons=("BAND_GENUINE",),
            policy_version="default-2026.11.2",
            model_versions={"capture_gate": "1.0", "provenance": "1.0.0", "fusion": "1"},
            composite_risk=0.12,
            final=score >= 90,
            decided_at=now,
        ),
        results,
    )
    record = CaptureRecord(
        check_id=check_id,
        subject_pseudonym=pseudonym,
        flow="onboarding",
        blob_key=f"captures/{check_id}",
        key_id="sk_bench",
        sha256=capture.sha256,
        media_type="image/jpeg",
        stored_at=now,
    )
    return check, record


class Store:
    """``SubtreeHashes`` over the reader, for spot checks."""

    def __init__(self, reader: SqlEvidenceReader) -> None:
        self.reader = reader

    def hash_at(self, level: int, index: int) -> bytes:
        """One stored subtree hash."""
        return self.reader.nodes({Node(level, index)})[Node(level, index)]


def timed(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Mean and p99 of ``fn`` in milliseconds."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.fmean(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def run(url: str, entries: int, proofs: int, seed: int) -> dict[str, Any]:
    """Run every phase and return the numbers."""
    rng = random.Random(seed)
    database = Database(url)
    database.upgrade()
    engine = database.engine
    uow = SqlUnitOfWork(engine)
    reader = SqlEvidenceReader(engine)
    clock = Clock()
    signer = CheckpointSigner(parse_signer_key(generate_signing_key(ORIGIN)[0]), ORIGIN)
    log = EvidenceLog(
        uow=uow,
        reader=reader,
        signer=signer,
        clock=clock,
        policy=CheckpointPolicy(every_entries=10**9, every_seconds=10**9),
    )
    repository = SqlCheckRepository(engine)
    out: dict[str, Any] = {"url": url.split("?")[0], "entries": entries}

    check_ids: list[str] = []
    started = time.perf_counter()
    for i in range(entries // 4):
        check, record = make_check(i, clock)
        drafts = check_drafts(check, check.pull_events(), capture_ref=record.blob_key)
        with uow.begin() as tx:
            tx.checks.add(check)
            tx.captures.add(record)
            tx.evidence.append(drafts)
        check_ids.append(check.check_id)
        if len(check_ids) % 5000 == 0:
            print(f"  {len(check_ids) * 4:,} entries", flush=True)
    elapsed = time.perf_counter() - started
    size, root = reader.head()
    out["check_transactions_per_s"] = len(check_ids) / elapsed
    out["append_entries_per_s_in_check_transactions"] = size / elapsed
    out["log_size"] = size

    def inclusion() -> None:
        seq = rng.randrange(size)
        proof = log.inclusion_proofs([seq], size)[seq]
        assert len(proof) == len(inclusion_plan(seq, size))

    out["inclusion_proof_ms"], out["inclusion_proof_p99_ms"] = timed(inclusion, proofs)
    lengths = [len(inclusion_plan(rng.randrange(size), size)) * 32 for _ in range(proofs)]
    out["inclusion_proof_bytes_mean"] = statistics.fmean(lengths)
    out["inclusion_proof_bytes_max"] = max(lengths)

    def consistency() -> None:
        log.consistency_proof(rng.randint(1, size - 1), size)

    out["consistency_proof_ms"], out["consistency_proof_p99_ms"] = timed(consistency, proofs)
    sizes = [32 * len(log.consistency_proof(rng.randint(1, size - 1), size)) for _ in range(200)]
    out["consistency_proof_bytes_mean"] = statistics.fmean(sizes)
    out["consistency_proof_bytes_max"] = max(sizes)

    log.checkpoint()
    out["append_one_and_sign_checkpoint_ms"] = timed(
        lambda: (log.append("bench.tick", {}), log.checkpoint()), 50
    )[0]

    packager = EvidencePackager(
        evidence=log,
        repository=repository,
        records=SqlCaptureRecords(engine),
        policy=load_policy(),
        clock=clock,
    )
    package = packager.package(check_ids[len(check_ids) // 2])
    out["package_ms"], out["package_p99_ms"] = timed(
        lambda: packager.package(rng.choice(check_ids)), 200
    )
    out["package_bytes"] = len(json.dumps(package))
    out["package_verify_offline_ms"] = timed(
        lambda: verify_package(package, trusted_vkey=signer.vkey), 200
    )[0]
    assert verify_package(package, trusted_vkey=signer.vkey).ok

    started = time.perf_counter()
    report = log.audit()
    out["audit_s"] = time.perf_counter() - started
    assert report.ok, report.problems
    out["audit_entries_per_s"] = report.size / out["audit_s"]

    singles = max(200, entries // 50)
    started = time.perf_counter()
    for i in range(singles):
        log.append(
            "capture.read",
            {"caller": "key:0123456789abcdef", "reason": f"case {i}"},
            check_id=rng.choice(check_ids),
        )
    out["append_entries_per_s_one_per_transaction"] = singles / (time.perf_counter() - started)

    size, root = reader.head()
    old = rng.randint(1, size - 1)
    proof = log.consistency_proof(old, size)
    store = Store(reader)
    assert verify_consistency(old, size, root_from(store, old), root, proof)
    leaf = store.hash_at(0, 5)
    assert verify_inclusion(leaf, 5, size, log.inclusion_proofs([5], size)[5], root)
    if url.startswith("sqlite:///"):
        uow.purge_deleted()
        db = Path(url.removeprefix("sqlite:///"))
        out["sqlite_file_bytes_per_entry"] = db.stat().st_size / size
    engine.dispose()
    return out


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: a temp SQLite file)")
    parser.add_argument("--seed", type=int, default=6962)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        results = run(url, args.entries, args.proofs, args.seed)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, value in results.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"{name:<46} {shown:>16}")


if __name__ == "__main__":
    main()
