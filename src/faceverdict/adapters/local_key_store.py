"""LocalKeyStore: data keys wrapped with AES-256-GCM under a key-encryption key from a file.

The embedded default. The KEK file holds one line, the base64 of 32 random bytes. In
development the file is created in the data folder on first start; production refuses that
default and requires an explicit file (ideally on another volume, or a mounted secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faceverdict.errors import ConfigurationError, KeyUnavailable
from faceverdict.ports.captures import DataKey

KEK_SIZE = 32
NONCE_SIZE = 12
_WRAP_VERSION = b"\x01"


def context_bytes(context: Mapping[str, str]) -> bytes:
    """Deterministic bytes of an encryption context, used as associated data."""
    return b"".join(k.encode() + b"\x00" + v.encode() + b"\x00" for k, v in sorted(context.items()))


class LocalKeyStore:
    """Wraps data keys as ``0x01 || nonce || AES-256-GCM(KEK, data key, aad=context)``."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != KEK_SIZE:
            raise ConfigurationError(f"a key-encryption key is {KEK_SIZE} bytes, got {len(kek)}")
        self._aead = AESGCM(kek)
        # Fingerprint, not the key: tells which KEK wrapped a stored data key.
        digest = hashlib.sha256(b"faceverdict-kek-id\x00" + kek).hexdigest()
        self._kek_id = f"local:{digest[:16]}"

    @classmethod
    def from_file(cls, path: Path, *, create: bool) -> LocalKeyStore:
        """Load the KEK file; with ``create`` (development only) make one if it is absent."""
        if not path.exists():
            if not create:
                raise ConfigurationError(f"key-encryption key file {path} does not exist")
            write_secret_file(path, base64.b64encode(AESGCM.generate_key(256)).decode() + "\n")
        try:
            text = path.read_text(encoding="ascii").strip()
            kek = base64.b64decode(text, validate=True)
        except (OSError, UnicodeDecodeError, binascii.Error, ValueError) as exc:
            raise ConfigurationError(
                f"key-encryption key file {path} is unreadable or not base64: {exc}"
            ) from None
        return cls(kek)

    @property
    def kek_id(self) -> str:
        """``local:`` and a 64-bit fingerprint of the KEK."""
        return self._kek_id

    def generate_data_key(self, context: Mapping[str, str]) -> DataKey:
        """A new 256-bit data key and its wrapped form, bound to ``context``."""
        plaintext = AESGCM.generate_key(256)
        nonce = os.urandom(NONCE_SIZE)
        wrapped = (
            _WRAP_VERSION + nonce + self._aead.encrypt(nonce, plaintext, context_bytes(context))
        )
        return DataKey(plaintext=plaintext, wrapped=wrapped, kek_id=self._kek_id)

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext data key; KeyUnavailable if the KEK or context does not match."""
        if len(wrapped) < 1 + NONCE_SIZE + 16 or wrapped[:1] != _WRAP_VERSION:
            raise KeyUnavailable("wrapped data key has an unknown format")
        nonce, sealed = wrapped[1 : 1 + NONCE_SIZE], wrapped[1 + NONCE_SIZE :]
        try:
            return self._aead.decrypt(nonce, sealed, context_bytes(context))
        except InvalidTag:
            raise KeyUnavailable(
                "data key cannot be unwrapped with this key-encryption key"
            ) from None


def write_secret_file(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only; refuses to overwrite an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
