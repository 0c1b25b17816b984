"""Response bodies of the evidence, capture and erasure endpoints (docs/evidence.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from faceverdict.services.privacy import Erasure


class LogOut(BaseModel):
    """Which log the package comes from."""

    origin: str = Field(description="checkpoint origin, faceverdict.local/<deployment id>")
    vkey: str = Field(description="the log's verifier key; pin it from a trusted channel")


class PackagedEntryOut(BaseModel):
    """One entry with its RFC 9162 inclusion proof against the package's checkpoint."""

    entry: dict[str, Any] = Field(
        description="seq, check_id, kind, occurred_at, payload; hashed in RFC 8785 form"
    )
    leaf_index: int
    inclusion_proof: list[str] = Field(description="base64 SHA-256 hashes, leaf side first")


class EvidencePackageOut(BaseModel):
    """An evidence package: verify it offline with `faceverdict evidence verify`."""

    version: int
    log: LogOut
    checkpoint: str = Field(description="C2SP tlog-checkpoint in a C2SP signed note (Ed25519)")
    entries: list[PackagedEntryOut]
    check: dict[str, Any] = Field(
        description="the decision rationale (unsigned summary of the signed entries)"
    )
    retention: dict[str, Any] = Field(
        description="retention periods of the check's flow and the capture's status"
    )
    generated_at: str


class ConsistencyOut(BaseModel):
    """A signed checkpoint now, and the proof that it extends an older tree size."""

    old_size: int
    new_size: int
    checkpoint: str = Field(description="signed note of the tree of new_size entries")
    proof: list[str] = Field(description="RFC 9162 consistency proof, base64 hashes")


class ErasureOut(BaseModel):
    """What an erasure did: keys destroyed, captures deleted, and its evidence entry."""

    subject_pseudonym: str
    checks: list[str]
    captures_deleted: int
    keys_destroyed: list[str]
    evidence_seq: int = Field(description="position of the subject.erased entry in the log")
    purged: bool = Field(description="deleted pages were also purged from the database files")

    @classmethod
    def of(cls, erasure: Erasure) -> ErasureOut:
        """From the service's result."""
        return cls(
            subject_pseudonym=erasure.subject_pseudonym,
            checks=list(erasure.checks),
            captures_deleted=erasure.captures_deleted,
            keys_destroyed=list(erasure.keys_destroyed),
            evidence_seq=erasure.evidence_seq,
            purged=erasure.purged,
        )
