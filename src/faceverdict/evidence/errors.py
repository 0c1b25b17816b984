"""Errors of the verifiable evidence log; part of the service-wide tree under FaceverdictError.

EvidenceError                     anything wrong with entries, notes, keys or proofs
├── MalformedEntryError           an entry cannot be put in canonical form
├── MalformedKeyError             a vkey or signer key string is not well formed
├── MalformedNoteError            a signed note does not follow C2SP signed-note syntax
│   └── MalformedCheckpointError  the note text is not a C2SP tlog-checkpoint
├── CheckpointRejectedError       a well-formed checkpoint that must not be trusted
│   ├── InvalidSignatureError     no valid signature by the trusted key
│   └── OriginMismatchError       signed by the right key, but for another log
├── InvalidProofError             an inclusion or consistency proof does not verify
└── MalformedPackageError         an evidence package is not of the documented shape
"""

from __future__ import annotations

from faceverdict.errors import FaceverdictError


class EvidenceError(FaceverdictError):
    """Base of every error raised by the evidence log core."""

    slug = "evidence"


class MalformedEntryError(EvidenceError):
    """An evidence entry is invalid or cannot be serialised canonically."""

    slug = "malformed-entry"


class MalformedKeyError(EvidenceError):
    """A verifier key (vkey) or signer key string is not well formed."""

    slug = "malformed-key"


class MalformedNoteError(EvidenceError):
    """A signed note breaks the C2SP signed-note syntax."""

    slug = "malformed-note"


class MalformedCheckpointError(MalformedNoteError):
    """A note text is not a valid C2SP tlog-checkpoint body."""

    slug = "malformed-checkpoint"


class CheckpointRejectedError(EvidenceError):
    """A syntactically valid checkpoint failed verification and must not be trusted."""

    slug = "checkpoint-rejected"


class InvalidSignatureError(CheckpointRejectedError):
    """The note carries no valid signature by the trusted key (or a bad one by it)."""

    slug = "signature-invalid"


class OriginMismatchError(CheckpointRejectedError):
    """The checkpoint names another log than the one expected."""

    slug = "origin-mismatch"


class InvalidProofError(EvidenceError):
    """An inclusion or consistency proof does not verify."""

    slug = "proof-invalid"


class MalformedPackageError(EvidenceError):
    """An evidence package does not have the documented JSON shape."""

    slug = "malformed-package"
