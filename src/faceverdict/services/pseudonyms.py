"""Keyed pseudonyms for subject references: the client's user id is never stored in clear."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymizer:
    """HMAC-SHA256 of the subject reference under a secret key from configuration."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("pseudonym key must be at least 16 bytes")
        self._key = key

    def pseudonym(self, subject_ref: str) -> str:
        """The stable pseudonym of ``subject_ref`` (64 hex characters)."""
        return hmac.new(self._key, subject_ref.encode("utf-8"), hashlib.sha256).hexdigest()
