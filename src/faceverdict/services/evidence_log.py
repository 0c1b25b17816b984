"""The evidence log service: append entries, sign checkpoints, prove inclusion.

Entries of a check are appended by ``CheckService`` in the check's own transaction; this
service appends everything else (review verdicts, capture reads, erasures, configuration
changes) in a transaction of its own, and signs checkpoints of the committed tree.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from faceverdict.errors import IntegrityFailure, InvalidRequest
from faceverdict.evidence.checkpoint import (
    Checkpoint,
    SignerKey,
    VerifierKey,
    parse_checkpoint,
    sign_checkpoint,
)
from faceverdict.evidence.entries import EvidenceEntry, JsonValue
from faceverdict.evidence.merkle import (
    assemble,
    consistency_plan,
    fold,
    inclusion_plan,
    plan_nodes,
    root_plan,
    verify_consistency,
)
from faceverdict.ports.clock import Clock
from faceverdict.ports.evidence import EntryDraft, EvidenceReader, StoredCheckpoint
from faceverdict.ports.uow import UnitOfWork
from faceverdict.services.evidence_audit import AuditReport, audit_log

log = logging.getLogger(__name__)


class CheckpointSigner:
    """Signs C2SP checkpoints of one log (origin) with one Ed25519 key."""

    def __init__(self, key: SignerKey, origin: str) -> None:
        self._key = key
        self.origin = origin

    @property
    def verifier_key(self) -> VerifierKey:
        """The public key auditors pin."""
        return self._key.verifier_key()

    @property
    def vkey(self) -> str:
        """The vkey string (``<name>+<key id>+<base64 key>``)."""
        return str(self._key.verifier_key())

    def sign(self, size: int, root: bytes) -> str:
        """The signed checkpoint note for a tree of ``size`` leaves with ``root``."""
        return sign_checkpoint(self.origin, size, root, self._key.private_key, self._key.name)


@dataclass(frozen=True)
class CheckpointPolicy:
    """Sign when this many entries are unsigned, or when the oldest is this old."""

    every_entries: int = 1000
    every_seconds: float = 60.0


class EvidenceLog:
    """Appends to the log and signs and proves its checkpoints."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        reader: EvidenceReader,
        signer: CheckpointSigner,
        clock: Clock,
        policy: CheckpointPolicy | None = None,
    ) -> None:
        self.uow = uow
        self.reader = reader
        self.signer = signer
        self.clock = clock
        self.policy = policy or CheckpointPolicy()

    def append(
        self,
        kind: str,
        payload: Mapping[str, JsonValue],
        *,
        check_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> EvidenceEntry:
        """Append one entry in its own transaction (e.g. ``review.verdict``) and return it.

        To record an entry together with a new decision, pass it to
        ``CheckService.save_decision(check, extra=[...])`` instead: both then commit as one.
        """
        draft = EntryDraft(kind, check_id, occurred_at or self.clock.now(), payload)
        return self.append_many([draft])[0]

    def append_many(self, drafts: Sequence[EntryDraft]) -> list[EvidenceEntry]:
        """Append several entries, in order, in one transaction."""
        with self.uow.begin() as tx:
            return tx.evidence.append(drafts)

    def record_if_changed(
        self, kind: str, payload: Mapping[str, JsonValue]
    ) -> EvidenceEntry | None:
        """Append a log-wide entry unless the latest entry of ``kind`` has the same payload."""
        with self.uow.begin() as tx:
            latest = tx.evidence.latest(kind)
            if latest is not None and latest.payload == dict(payload):
                return None
            return tx.evidence.append([EntryDraft(kind, None, self.clock.now(), payload)])[0]

    # --- checkpoints -----------------------------------------------------------------------

    def checkpoint(self) -> StoredCheckpoint:
        """Sign the committed tree (unless the latest checkpoint already has its size)."""
        size, root = self.reader.head()
        latest = self.reader.latest_checkpoint()
        if latest is not None and latest.size == size:
            return latest
        self._self_check(size, root, latest)
        note = self.signer.sign(size, root)
        stored = StoredCheckpoint(size=size, note=note, signed_at=self.clock.now())
        if not self.reader.add_checkpoint(stored):
            newest = self.reader.latest_checkpoint()
            return newest if newest is not None else stored
        log.info("signed evidence checkpoint at size %d", size)
        return stored

    def maybe_checkpoint(self) -> StoredCheckpoint | None:
        """Sign if enough entries are unsigned or the last checkpoint is old; else None."""
        size, _root = self.reader.head()
        latest = self.reader.latest_checkpoint()
        signed = latest.size if latest is not None else 0
        if size == signed and latest is not None:
            return None
        if size - signed >= self.policy.every_entries or latest is None:
            return self.checkpoint()
        age = (self.clock.now() - latest.signed_at).total_seconds()
        return self.checkpoint() if age >= self.policy.every_seconds else None

    def consistency_since(self, old_size: int) -> dict[str, JsonValue]:
        """Proof that the log now extends its tree of ``old_size`` entries (for auditors).

        Returns the latest signed checkpoint (signing one if the log grew) and the RFC 9162
        consistency proof from ``old_size`` to its size, as JSON.
        """
        signed = self.checkpoint()
        new_size = parse_checkpoint(signed.note).size
        if not 0 <= old_size <= new_size:
            raise InvalidRequest(f"old_size must be within 0..{new_size}")
        proof: list[JsonValue] = [
            base64.b64encode(h).decode() for h in self.consistency_proof(old_size, new_size)
        ]
        return {
            "old_size": old_size,
            "new_size": new_size,
            "checkpoint": signed.note,
            "proof": proof,
        }

    def checkpoint_covering(self, seq: int) -> StoredCheckpoint:
        """A signed checkpoint whose tree contains entry ``seq``, signing one if needed."""
        latest = self.reader.latest_checkpoint()
        if latest is not None and latest.size > seq:
            return latest
        signed = self.checkpoint()
        if signed.size <= seq:
            raise IntegrityFailure(f"entry {seq} is not in the committed log of {signed.size}")
        return signed

    def _self_check(self, size: int, root: bytes, latest: StoredCheckpoint | None) -> None:
        """Refuse to sign a head the stored subtrees do not produce, or that rewrites history."""
        plan = root_plan(size)
        stored = self.reader.nodes(set(plan))
        if any(node not in stored for node in plan) or fold([stored[n] for n in plan]) != root:
            raise IntegrityFailure("refusing to sign: stored subtree hashes disagree with the head")
        if latest is None:
            return
        previous = parse_checkpoint(latest.note)
        if previous.size > size:
            raise IntegrityFailure(
                f"refusing to sign: the log ({size}) is shorter than its checkpoint "
                f"{previous.size} (restored from an old backup?)"
            )
        proof = self.consistency_proof(previous.size, size)
        if not verify_consistency(previous.size, size, previous.root_hash, root, proof):
            raise IntegrityFailure(
                f"refusing to sign: tree {size} does not extend signed tree {previous.size}"
            )

    # --- proofs ----------------------------------------------------------------------------

    def inclusion_proofs(self, seqs: Sequence[int], size: int) -> dict[int, list[bytes]]:
        """Inclusion proofs of several leaves in the tree of ``size``, with one node query."""
        plans = {seq: inclusion_plan(seq, size) for seq in seqs}
        nodes = plan_nodes(element for plan in plans.values() for element in plan)
        hashes = self.reader.nodes(nodes)
        missing = [n for n in nodes if n not in hashes]
        if missing:
            raise IntegrityFailure(
                f"evidence log is damaged: {len(missing)} subtree hashes missing"
            )
        return {seq: assemble(plan, hashes) for seq, plan in plans.items()}

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 consistency proof between two sizes of the stored tree."""
        plan = consistency_plan(old_size, new_size)
        nodes = plan_nodes(plan)
        hashes = self.reader.nodes(nodes)
        if any(n not in hashes for n in nodes):
            raise IntegrityFailure("evidence log is damaged: subtree hashes missing")
        return assemble(plan, hashes)

    def audit(
        self, vkey: VerifierKey | None = None, progress: Callable[[int], None] | None = None
    ) -> AuditReport:
        """Re-verify the whole stored log against ``vkey`` (default: this log's own key)."""
        return audit_log(
            self.reader, vkey or self.signer.verifier_key, self.signer.origin, progress
        )

    def parsed(self, checkpoint: StoredCheckpoint) -> Checkpoint:
        """The checkpoint body of a stored note (signature not re-checked)."""
        return parse_checkpoint(checkpoint.note)
