"""Offline verification of evidence packages and of consistency between two checkpoints.

Nothing here touches a database or the network: an auditor needs the package, and should
hold the log's vkey from a trusted channel (a package that brings its own key proves only
that someone with that key signed it).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from faceverdict.evidence.checkpoint import (
    Checkpoint,
    VerifierKey,
    parse_vkey,
    verify_checkpoint,
)
from faceverdict.evidence.entries import EvidenceEntry
from faceverdict.evidence.entries import leaf_hash as entry_leaf_hash
from faceverdict.evidence.errors import (
    EvidenceError,
    InvalidProofError,
    MalformedPackageError,
)
from faceverdict.evidence.merkle import HASH_SIZE, verify_consistency, verify_inclusion
from faceverdict.evidence.package import PACKAGE_VERSION


@dataclass(frozen=True)
class EntryCheck:
    """The outcome for one packaged entry; ``problem`` is None when it verified."""

    position: int
    leaf_index: int | None
    seq: int | None
    kind: str | None
    leaf_hash: str | None
    problem: str | None

    @property
    def ok(self) -> bool:
        """True if the entry is intact and included in the checkpointed tree."""
        return self.problem is None


@dataclass(frozen=True)
class VerificationReport:
    """Everything checked in one package, with what failed and why."""

    origin: str
    vkey: str
    key_pinned: bool
    checkpoint: Checkpoint | None
    checkpoint_problem: str | None
    entries: tuple[EntryCheck, ...]
    order_problem: str | None

    @property
    def ok(self) -> bool:
        """True if the checkpoint, every entry and the entry order verified."""
        return (
            self.checkpoint_problem is None
            and self.order_problem is None
            and all(e.ok for e in self.entries)
        )

    @property
    def failures(self) -> list[str]:
        """One human-readable line per failed check."""
        lines = []
        if self.checkpoint_problem is not None:
            lines.append(f"checkpoint: {self.checkpoint_problem}")
        if self.order_problem is not None:
            lines.append(f"order: {self.order_problem}")
        lines += [f"entries[{e.position}]: {e.problem}" for e in self.entries if e.problem]
        return lines

    def raise_for_failure(self) -> None:
        """Raise InvalidProofError listing the failures, if any check failed."""
        if not self.ok:
            raise InvalidProofError("; ".join(self.failures))


def verify_package(
    package: Mapping[str, object], trusted_vkey: str | None = None
) -> VerificationReport:
    """Verify an evidence package offline and report on every check.

    Raises MalformedPackageError only when the package's outer shape is unusable (no log, vkey,
    checkpoint or entry list), MalformedKeyError if ``trusted_vkey`` is not a vkey; everything
    else is recorded in the report. With ``trusted_vkey`` the package's own vkey must be that
    key; without it the package's vkey is used and the report says ``key_pinned=False``.
    """
    origin, package_vkey, checkpoint_text, items = _outer_shape(package)
    try:
        package_key = parse_vkey(package_vkey)
    except EvidenceError as exc:
        raise MalformedPackageError(f"log.vkey: {exc.detail}") from exc

    checkpoint: Checkpoint | None = None
    problem: str | None = None
    key: VerifierKey = package_key
    if trusted_vkey is not None:
        key = parse_vkey(trusted_vkey)
        if key != package_key:
            problem = "the package's vkey is not the trusted key"
    if problem is None:
        try:
            checkpoint = verify_checkpoint(checkpoint_text, key, origin=origin)
        except EvidenceError as exc:
            problem = f"{exc.slug}: {exc.detail}"
            checkpoint = None

    checks = tuple(_check_item(position, item, checkpoint) for position, item in enumerate(items))
    return VerificationReport(
        origin=origin,
        vkey=str(key),
        key_pinned=trusted_vkey is not None,
        checkpoint=checkpoint,
        checkpoint_problem=problem,
        entries=checks,
        order_problem=_order_problem(checks),
    )


def verify_consistency_between(
    old_checkpoint: str,
    new_checkpoint: str,
    proof: Sequence[str | bytes],
    vkey: str | VerifierKey,
) -> tuple[Checkpoint, Checkpoint]:
    """Verify two signed checkpoints of one log and that the newer extends the older.

    ``proof`` is the RFC 9162 consistency proof, as base64 strings or raw hashes. Returns the
    two checkpoints; raises CheckpointRejectedError, InvalidProofError or a Malformed*Error.
    """
    old = verify_checkpoint(old_checkpoint, vkey)
    new = verify_checkpoint(new_checkpoint, vkey, origin=old.origin)
    if old.size > new.size:
        raise InvalidProofError(
            f"the old checkpoint ({old.size}) is larger than the new ({new.size})"
        )
    hashes = [_proof_hash(p) for p in proof]
    if any(h is None for h in hashes):
        raise InvalidProofError("a consistency proof hash is not 32 bytes of base64")
    decoded = [h for h in hashes if h is not None]
    if not verify_consistency(old.size, new.size, old.root_hash, new.root_hash, decoded):
        raise InvalidProofError(
            f"tree {new.size} of {new.origin} is not proven to extend tree {old.size}"
        )
    return old, new


def _outer_shape(package: Mapping[str, object]) -> tuple[str, str, str, list[object]]:
    if not isinstance(package, Mapping):
        raise MalformedPackageError("an evidence package is a JSON object")
    version = package.get("version", PACKAGE_VERSION)
    if version != PACKAGE_VERSION or isinstance(version, bool):
        raise MalformedPackageError(f"unsupported package version {version!r}")
    log = package.get("log")
    if not isinstance(log, Mapping):
        raise MalformedPackageError("the package has no 'log' object")
    origin, vkey = log.get("origin"), log.get("vkey")
    checkpoint, items = package.get("checkpoint"), package.get("entries")
    if not isinstance(origin, str) or not isinstance(vkey, str):
        raise MalformedPackageError("log.origin and log.vkey must be strings")
    if not isinstance(checkpoint, str):
        raise MalformedPackageError("'checkpoint' must be the signed note text")
    if not isinstance(items, list):
        raise MalformedPackageError("'entries' must be a list")
    return origin, vkey, checkpoint, items


def _check_item(position: int, item: object, checkpoint: Checkpoint | None) -> EntryCheck:
    index: int | None = None
    entry: EvidenceEntry | None = None
    digest: bytes | None = None

    def result(problem: str | None) -> EntryCheck:
        return EntryCheck(
            position=position,
            leaf_index=index,
            seq=entry.seq if entry is not None else None,
            kind=entry.kind if entry is not None else None,
            leaf_hash=digest.hex() if digest is not None else None,
            problem=problem,
        )

    if not isinstance(item, Mapping):
        return result("not a JSON object")
    raw_index = item.get("leaf_index")
    if not isinstance(raw_index, int) or isinstance(raw_index, bool) or raw_index < 0:
        return result("leaf_index must be a non-negative integer")
    index = raw_index
    try:
        entry = EvidenceEntry.from_json(item.get("entry"))
    except EvidenceError as exc:
        return result(f"entry: {exc.detail}")
    digest = entry_leaf_hash(entry)
    raw_proof = item.get("inclusion_proof")
    if not isinstance(raw_proof, list):
        return result("inclusion_proof must be a list")
    proof = [_proof_hash(p) if isinstance(p, str) else None for p in raw_proof]
    hashes = [h for h in proof if h is not None]
    if entry.seq != index:
        return result(f"entry seq {entry.seq} is not its leaf index {index}")
    if len(hashes) != len(proof):
        return result("an inclusion proof hash is not 32 bytes of base64")
    if checkpoint is None:
        return result("not verified: the checkpoint was rejected")
    if index >= checkpoint.size:
        return result(f"leaf {index} is beyond tree size {checkpoint.size}")
    if not verify_inclusion(digest, index, checkpoint.size, hashes, checkpoint.root_hash):
        return result("inclusion proof does not lead to the checkpoint root")
    return result(None)


def _order_problem(checks: Sequence[EntryCheck]) -> str | None:
    indices = [c.leaf_index for c in checks if c.leaf_index is not None]
    for before, after in itertools.pairwise(indices):
        if after <= before:
            return f"entries are not in strictly increasing leaf order ({before} then {after})"
    return None


def _proof_hash(value: str | bytes) -> bytes | None:
    if isinstance(value, bytes):
        return value if len(value) == HASH_SIZE else None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == HASH_SIZE and base64.b64encode(raw).decode() == value else None
