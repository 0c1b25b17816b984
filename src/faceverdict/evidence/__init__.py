"""Verifiable evidence log core: RFC 6962 Merkle tree, C2SP checkpoints, canonical entries.

Pure Python (stdlib + ``cryptography``): no database, no web framework. Submodules:
``merkle`` (hashing, proofs, append structures), ``entries`` (canonical entry bytes),
``checkpoint`` (signed notes, checkpoints, keys), ``package`` and ``verify`` (offline audit),
``errors`` (the EvidenceError tree). See docs/evidence.md for the formats.
"""
