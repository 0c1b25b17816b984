"""Evidence packages: the self-contained JSON an auditor verifies offline.

Shape (``version`` is optional for readers; unknown top-level keys are ignored)::

    {
      "version": 1,
      "log": {"origin": "<checkpoint origin>", "vkey": "<verifier key>"},
      "checkpoint": "<signed checkpoint note>",
      "entries": [
        {"entry": {<EvidenceEntry JSON>}, "leaf_index": 0, "inclusion_proof": ["<base64>", ...]}
      ]
    }

Every inclusion proof is against the tree size and root of ``checkpoint``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from faceverdict.evidence.checkpoint import parse_checkpoint, parse_vkey
from faceverdict.evidence.entries import EvidenceEntry
from faceverdict.evidence.errors import MalformedPackageError

PACKAGE_VERSION = 1


@dataclass(frozen=True)
class PackagedEntry:
    """One entry of a package with its leaf index and inclusion proof."""

    entry: EvidenceEntry
    leaf_index: int
    inclusion_proof: Sequence[bytes]


def build_package(checkpoint: str, vkey: str, entries: Iterable[PackagedEntry]) -> dict[str, Any]:
    """Assemble an evidence package dict (JSON-ready) for the given signed checkpoint."""
    head = parse_checkpoint(checkpoint)
    parse_vkey(vkey)
    items = sorted(entries, key=lambda item: item.leaf_index)
    for item in items:
        if not 0 <= item.leaf_index < head.size:
            raise MalformedPackageError(f"leaf index {item.leaf_index} is outside the checkpoint")
    return {
        "version": PACKAGE_VERSION,
        "log": {"origin": head.origin, "vkey": vkey},
        "checkpoint": checkpoint,
        "entries": [
            {
                "entry": item.entry.to_json(),
                "leaf_index": item.leaf_index,
                "inclusion_proof": [base64.b64encode(h).decode() for h in item.inclusion_proof],
            }
            for item in items
        ],
    }
