"""SecretSealer: webhook signing secrets encrypted at rest under the key-encryption key.

A sealed value is ``sealed:v1:`` + base64 of ``len(wrapped) (2 bytes) || wrapped data key ||
nonce (12 bytes) || AES-256-GCM ciphertext+tag``; the data key is wrapped by the ``KeyStore``
(local KEK or KMS) with a context naming the endpoint, and the endpoint id is the associated
data, so a sealed secret copied to another endpoint does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faceverdict.ports.captures import KeyStore

PREFIX = "sealed:v1:"
PURPOSE = "faceverdict-webhook-secret"


class SecretSealer:
    """Seals and opens short secrets with envelope encryption."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    @staticmethod
    def _context(owner: str) -> dict[str, str]:
        return {"purpose": PURPOSE, "owner": owner}

    def seal(self, secret: str, owner: str) -> str:
        """Encrypt ``secret`` for ``owner`` (an endpoint id)."""
        key = self._keys.generate_data_key(self._context(owner))
        nonce = os.urandom(12)
        sealed = AESGCM(key.plaintext).encrypt(nonce, secret.encode(), owner.encode())
        blob = len(key.wrapped).to_bytes(2, "big") + key.wrapped + nonce + sealed
        return PREFIX + base64.b64encode(blob).decode()

    def open(self, value: str, owner: str) -> str:
        """The secret in ``value`` (values stored before sealing pass through)."""
        if not value.startswith(PREFIX):
            return value
        blob = base64.b64decode(value.removeprefix(PREFIX))
        size = int.from_bytes(blob[:2], "big")
        wrapped, rest = blob[2 : 2 + size], blob[2 + size :]
        data_key = self._keys.unwrap(wrapped, self._context(owner))
        return AESGCM(data_key).decrypt(rest[:12], rest[12:], owner.encode()).decode()
