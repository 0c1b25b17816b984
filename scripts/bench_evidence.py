"""Micro-benchmark of the evidence log core: appends, proofs, checkpoints, package checks.

Usage: python scripts/bench_evidence.py [--entries 100000] [--proofs 2000] [--json]
Everything is in memory; a "row store" (a dict keyed by (level, index)) stands in for the
database table of complete-subtree hashes that the adapter will keep.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from faceverdict.evidence.checkpoint import (
    generate_signing_key,
    parse_signer_key,
    sign_checkpoint,
    verify_checkpoint,
)
from faceverdict.evidence.entries import EvidenceEntry, leaf_hash
from faceverdict.evidence.merkle import (
    Frontier,
    MemoryTree,
    Node,
    assemble,
    consistency_plan,
    inclusion_plan,
    inclusion_proof,
    plan_nodes,
    verify_consistency,
    verify_inclusion,
)
from faceverdict.evidence.package import PackagedEntry, build_package
from faceverdict.evidence.verify import verify_package

ORIGIN = "faceverdict.example/evidence/bench"


def _entry(seq: int) -> EvidenceEntry:
    return EvidenceEntry(
        seq=seq,
        check_id=f"chk_{seq // 4:012d}",
        kind=("check.received", "check.decided", "review.verdict", "webhook.sent")[seq % 4],
        occurred_at=f"2026-11-23T18:{(seq // 60) % 60:02d}:{seq % 60:02d}.123456Z",
        payload={
            "authenticity_score": 87.5 - (seq % 50),
            "action": "accept",
            "reasons": ["blend_boundary_low", "provenance_absent"],
            "detectors": {"blending": "1.2.0", "synthetic": "0.9.1"},
            "policy_version": "2026-11-01",
        },
    )


def _per_call_ms(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Mean and 99th percentile wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.fmean(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def run(n: int, proofs: int, seed: int) -> dict[str, Any]:
    """Run every measurement and return the numbers."""
    rng = random.Random(seed)
    results: dict[str, Any] = {"entries": n}

    start = time.perf_counter()
    entries = [_entry(i) for i in range(n)]
    results["entry_construct_per_s"] = n / (time.perf_counter() - start)
    start = time.perf_counter()
    hashes = [leaf_hash(e) for e in entries]
    results["entry_canonical_bytes_and_leaf_hash_per_s"] = n / (time.perf_counter() - start)

    start = time.perf_counter()
    tree = MemoryTree()
    for h in hashes:
        tree.append(h)
    results["tree_append_per_s"] = n / (time.perf_counter() - start)

    start = time.perf_counter()
    frontier = Frontier()
    rows: dict[Node, bytes] = {}
    for h in hashes:
        for new in frontier.append(h):
            rows[new.node] = new.hash
    results["frontier_append_with_rows_per_s"] = n / (time.perf_counter() - start)
    results["stored_subtree_hashes"] = len(rows)
    assert frontier.root() == tree.root()

    results["root_ms"] = _per_call_ms(lambda: tree.root(rng.randint(1, n)), proofs)[0]

    def from_rows_inclusion() -> None:
        i = rng.randrange(n)
        plan = inclusion_plan(i, n)
        proof = assemble(plan, {node: rows[node] for node in plan_nodes(plan)})
        assert len(proof) == len(plan)

    def from_rows_consistency() -> None:
        m = rng.randint(1, n - 1)
        plan = consistency_plan(m, n)
        assemble(plan, {node: rows[node] for node in plan_nodes(plan)})

    results["inclusion_proof_ms"], results["inclusion_proof_p99_ms"] = _per_call_ms(
        lambda: tree.inclusion_proof(rng.randrange(n)), proofs
    )
    results["inclusion_proof_from_rows_ms"] = _per_call_ms(from_rows_inclusion, proofs)[0]
    results["consistency_proof_ms"], results["consistency_proof_p99_ms"] = _per_call_ms(
        lambda: tree.consistency_proof(rng.randint(1, n - 1)), proofs
    )
    results["consistency_proof_from_rows_ms"] = _per_call_ms(from_rows_consistency, proofs)[0]

    root = tree.root()
    samples = [rng.randrange(n) for _ in range(proofs)]
    inclusion_sizes = [32 * len(tree.inclusion_proof(i)) for i in samples]
    consistency_sizes = [32 * len(tree.consistency_proof(rng.randint(1, n - 1))) for _ in samples]
    results["inclusion_proof_bytes_mean"] = statistics.fmean(inclusion_sizes)
    results["inclusion_proof_bytes_max"] = max(inclusion_sizes)
    results["consistency_proof_bytes_mean"] = statistics.fmean(consistency_sizes)
    results["consistency_proof_bytes_max"] = max(consistency_sizes)

    def verify_one_inclusion() -> None:
        i = rng.randrange(n)
        assert verify_inclusion(hashes[i], i, n, tree.inclusion_proof(i), root)

    def verify_one_consistency() -> None:
        m = rng.randint(1, n - 1)
        assert verify_consistency(m, n, tree.root(m), root, tree.consistency_proof(m))

    results["inclusion_prove_and_verify_ms"] = _per_call_ms(verify_one_inclusion, proofs)[0]
    results["consistency_prove_and_verify_ms"] = _per_call_ms(verify_one_consistency, proofs)[0]

    # The O(n) reference path, without stored subtrees: what we avoid doing per request.
    results["inclusion_proof_from_leaf_list_ms"] = _per_call_ms(
        lambda: inclusion_proof(rng.randrange(n), hashes), 3
    )[0]

    skey, vkey = generate_signing_key(ORIGIN)
    signer = parse_signer_key(skey)
    checkpoint = sign_checkpoint(ORIGIN, n, root, signer.private_key, signer.name)
    results["checkpoint_sign_ms"] = _per_call_ms(
        lambda: sign_checkpoint(ORIGIN, n, root, signer.private_key, signer.name), 200
    )[0]
    results["checkpoint_verify_ms"] = _per_call_ms(
        lambda: verify_checkpoint(checkpoint, vkey), 200
    )[0]

    picked = sorted(rng.sample(range(n), 10))
    package = build_package(
        checkpoint,
        vkey,
        [PackagedEntry(entries[i], i, tree.inclusion_proof(i)) for i in picked],
    )
    results["package_bytes_10_entries"] = len(json.dumps(package))
    results["package_verify_10_entries_ms"] = _per_call_ms(
        lambda: verify_package(package, trusted_vkey=vkey), 50
    )[0]
    assert verify_package(package, trusted_vkey=vkey).ok
    return results


def main() -> None:
    """Parse arguments, run the benchmark, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=6962)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results = run(args.entries, args.proofs, args.seed)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, value in results.items():
        shown = f"{value:,.4f}" if isinstance(value, float) else f"{value:,}"
        print(f"{name:<44} {shown:>16}")


if __name__ == "__main__":
    main()
