"""EncryptingBlobStore: captures sealed with AES-256-GCM under their subject's data key.

Envelope encryption: each subject has one random 256-bit data key, stored only wrapped by the
key-encryption key (``KeyStore``) in ``subject_keys``. A stored blob is::

    b"FVC1" || len(key id) (1 byte) || key id (ASCII) || nonce (12 bytes) || ciphertext+tag

and its associated data is ``b"FVC1" || blob key || 0x00 || key id``: the blob key is
``captures/<check id>``, so a ciphertext moved to another check, or relabelled with another
key id, fails to decrypt. Deleting the subject's wrapped key (erasure) makes every one of
its blobs undecryptable at once (crypto-shredding), wherever copies of them live.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faceverdict.errors import CaptureGone, IntegrityFailure
from faceverdict.ports.captures import BlobStore, KeyStore, SubjectKey, SubjectKeys
from faceverdict.ports.clock import Clock

MAGIC = b"FVC1"
NONCE_SIZE = 12
KEY_PURPOSE = "faceverdict-capture"


def key_context(key_id: str) -> dict[str, str]:
    """Encryption context bound to a wrapped data key (no personal data: KMS logs it)."""
    return {"purpose": KEY_PURPOSE, "key_id": key_id}


class EncryptingBlobStore:
    """A ``CaptureVault`` over any ``BlobStore``: encrypts on put, decrypts on get."""

    def __init__(
        self, inner: BlobStore, keys: KeyStore, subject_keys: SubjectKeys, clock: Clock
    ) -> None:
        self._inner = inner
        self._keys = keys
        self._subject_keys = subject_keys
        self._clock = clock

    def _data_key_for(self, subject_pseudonym: str) -> tuple[str, bytes]:
        stored = self._subject_keys.get(subject_pseudonym)
        if stored is None:
            key_id = f"sk_{uuid.uuid4().hex}"
            fresh = self._keys.generate_data_key(key_context(key_id))
            created = self._subject_keys.create(
                SubjectKey(key_id, subject_pseudonym, fresh.wrapped, fresh.kek_id),
                self._clock.now(),
            )
            if created.key_id == key_id:
                return key_id, fresh.plaintext
            stored = created  # a concurrent request made the subject's key first
        return stored.key_id, self._unwrap(stored)

    def _unwrap(self, stored: SubjectKey) -> bytes:
        return self._keys.unwrap(stored.wrapped, key_context(stored.key_id))

    def put(self, key: str, data: bytes, *, subject_pseudonym: str) -> str:
        """Encrypt ``data`` with the subject's data key and store it; return the key id."""
        key_id, data_key = self._data_key_for(subject_pseudonym)
        nonce = os.urandom(NONCE_SIZE)
        sealed = AESGCM(data_key).encrypt(nonce, data, _associated(key, key_id))
        header = MAGIC + bytes([len(key_id)]) + key_id.encode("ascii")
        self._inner.put(key, header + nonce + sealed)
        return key_id

    def get(self, key: str) -> bytes:
        """The decrypted capture; CaptureGone if the blob or its subject's key is gone."""
        try:
            blob = self._inner.get(key)
        except KeyError:
            raise CaptureGone(f"no stored capture under {key}") from None
        key_id, nonce, sealed = _parse(blob, key)
        stored = self._subject_keys.get_by_id(key_id)
        if stored is None:
            raise CaptureGone(f"the data key of {key} was destroyed (subject erased)")
        try:
            return AESGCM(self._unwrap(stored)).decrypt(nonce, sealed, _associated(key, key_id))
        except InvalidTag:
            raise IntegrityFailure(
                f"capture {key} fails authentication: altered or moved"
            ) from None

    def delete(self, key: str) -> None:
        """Remove the ciphertext; absent keys are ignored."""
        self._inner.delete(key)

    def exists(self, key: str) -> bool:
        """Whether ciphertext is stored under ``key``."""
        return self._inner.exists(key)


def _associated(blob_key: str, key_id: str) -> bytes:
    return MAGIC + blob_key.encode() + b"\x00" + key_id.encode("ascii")


def _parse(blob: bytes, key: str) -> tuple[str, bytes, bytes]:
    if len(blob) < len(MAGIC) + 1 or blob[: len(MAGIC)] != MAGIC:
        raise IntegrityFailure(f"capture {key} is not a sealed capture")
    length = blob[len(MAGIC)]
    start = len(MAGIC) + 1
    key_id = blob[start : start + length]
    nonce = blob[start + length : start + length + NONCE_SIZE]
    sealed = blob[start + length + NONCE_SIZE :]
    if len(key_id) != length or len(nonce) != NONCE_SIZE or len(sealed) < 16:
        raise IntegrityFailure(f"capture {key} is truncated")
    try:
        return key_id.decode("ascii"), nonce, sealed
    except UnicodeDecodeError:
        raise IntegrityFailure(f"capture {key} has a malformed header") from None
