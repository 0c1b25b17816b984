"""Argon2PasswordHasher: argon2id (RFC 9106), a memory-hard password hash, via argon2-cffi."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2PasswordHasher:
    """argon2id with RFC 9106's second recommended profile (t=3, 64 MiB) by default.

    Tests pass smaller costs; a hash made with other costs still verifies and reports
    ``needs_rehash`` so that the next sign-in upgrades it.
    """

    def __init__(
        self, time_cost: int = 3, memory_cost_kib: int = 64 * 1024, parallelism: int = 4
    ) -> None:
        self._hasher = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )

    def hash(self, password: str) -> str:
        """A PHC-format argon2id hash of ``password`` with a fresh random salt."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash`` (False for malformed hashes)."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash used other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True
