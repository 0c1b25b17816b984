"""Captures at rest: AES-256-GCM under per-subject data keys, wrapped by a KEK (local file or
AWS KMS, the latter against moto's KMS); one contract for both key stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from faceverdict.adapters.aws_kms_key_store import AwsKmsKeyStore
from faceverdict.adapters.encrypting_blob_store import EncryptingBlobStore, key_context
from faceverdict.adapters.local_blob_store import LocalBlobStore
from faceverdict.adapters.local_key_store import LocalKeyStore
from faceverdict.errors import CaptureGone, ConfigurationError, IntegrityFailure, KeyUnavailable
from faceverdict.ports.captures import KeyStore, SubjectKey
from faceverdict.testing.clock import ManualClock

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class MemorySubjectKeys:
    """SubjectKeys in a dict (the SQL adapter is exercised by the integration tests)."""

    def __init__(self) -> None:
        self.by_subject: dict[str, SubjectKey] = {}

    def get(self, subject_pseudonym: str) -> SubjectKey | None:
        return self.by_subject.get(subject_pseudonym)

    def get_by_id(self, key_id: str) -> SubjectKey | None:
        return next((k for k in self.by_subject.values() if k.key_id == key_id), None)

    def create(self, key: SubjectKey, now: datetime) -> SubjectKey:
        return self.by_subject.setdefault(key.subject_pseudonym, key)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["local", "aws-kms"])
def key_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "local":
        yield LocalKeyStore.from_file(tmp_path / "kek.b64", create=True)
        return
    request.getfixturevalue("aws_env")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        import boto3

        key_id = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["KeyId"]
        yield AwsKmsKeyStore.connect(key_id, region="eu-west-1")


def test_data_keys_round_trip_and_are_bound_to_their_context(key_store: KeyStore) -> None:
    fresh = key_store.generate_data_key(key_context("sk_1"))
    assert len(fresh.plaintext) == 32
    assert fresh.plaintext not in fresh.wrapped
    assert fresh.kek_id == key_store.kek_id
    assert key_store.unwrap(fresh.wrapped, key_context("sk_1")) == fresh.plaintext
    with pytest.raises(KeyUnavailable):
        key_store.unwrap(fresh.wrapped, key_context("sk_2"))
    tampered = bytearray(fresh.wrapped)
    tampered[-1] ^= 1
    with pytest.raises(KeyUnavailable):
        key_store.unwrap(bytes(tampered), key_context("sk_1"))


def test_every_data_key_is_new(key_store: KeyStore) -> None:
    keys = {key_store.generate_data_key(key_context(f"sk_{i}")).plaintext for i in range(5)}
    assert len(keys) == 5


@pytest.fixture
def vault(tmp_path: Path, key_store: KeyStore) -> EncryptingBlobStore:
    return EncryptingBlobStore(
        LocalBlobStore(tmp_path / "blobs"), key_store, MemorySubjectKeys(), ManualClock(NOW)
    )


def test_captures_are_stored_encrypted_and_read_back(
    vault: EncryptingBlobStore, tmp_path: Path
) -> None:
    image = b"\xff\xd8\xff" + os.urandom(2000) + b"FACE-PIXELS" * 50
    key_id = vault.put("captures/chk_1", image, subject_pseudonym="p" * 64)
    stored = (tmp_path / "blobs" / "captures" / "chk_1").read_bytes()
    assert b"FACE-PIXELS" not in stored
    assert image[:64] not in stored
    assert vault.get("captures/chk_1") == image
    # One key per subject: a second capture of the same subject reuses it.
    assert vault.put("captures/chk_2", b"x" * 10, subject_pseudonym="p" * 64) == key_id
    assert vault.put("captures/chk_3", b"y" * 10, subject_pseudonym="q" * 64) != key_id


def test_a_ciphertext_moved_to_another_check_does_not_decrypt(
    vault: EncryptingBlobStore, tmp_path: Path
) -> None:
    vault.put("captures/chk_a", b"image of a" * 10, subject_pseudonym="p" * 64)
    vault.put("captures/chk_b", b"image of b" * 10, subject_pseudonym="p" * 64)
    blobs = tmp_path / "blobs" / "captures"
    (blobs / "chk_b").write_bytes((blobs / "chk_a").read_bytes())
    with pytest.raises(IntegrityFailure, match="chk_b"):
        vault.get("captures/chk_b")


def test_a_flipped_ciphertext_bit_is_refused(vault: EncryptingBlobStore, tmp_path: Path) -> None:
    vault.put("captures/chk_a", b"image" * 20, subject_pseudonym="p" * 64)
    path = tmp_path / "blobs" / "captures" / "chk_a"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityFailure):
        vault.get("captures/chk_a")


def test_without_the_subject_key_the_capture_is_gone(tmp_path: Path) -> None:
    keys = MemorySubjectKeys()
    vault = EncryptingBlobStore(
        LocalBlobStore(tmp_path / "blobs"),
        LocalKeyStore.from_file(tmp_path / "kek.b64", create=True),
        keys,
        ManualClock(NOW),
    )
    vault.put("captures/chk_a", b"image" * 20, subject_pseudonym="p" * 64)
    keys.by_subject.clear()  # what erasure does to the wrapped key row
    with pytest.raises(CaptureGone, match="destroyed"):
        vault.get("captures/chk_a")
    with pytest.raises(CaptureGone):
        vault.get("captures/never")


def test_a_missing_kek_file_is_refused_unless_creation_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        LocalKeyStore.from_file(tmp_path / "kek.b64", create=False)
    made = LocalKeyStore.from_file(tmp_path / "kek.b64", create=True)
    assert (tmp_path / "kek.b64").stat().st_mode & 0o077 == 0
    assert LocalKeyStore.from_file(tmp_path / "kek.b64", create=False).kek_id == made.kek_id
    (tmp_path / "bad.b64").write_text("not base64!")
    with pytest.raises(ConfigurationError, match="not base64"):
        LocalKeyStore.from_file(tmp_path / "bad.b64", create=False)


def test_another_kek_cannot_unwrap(tmp_path: Path) -> None:
    one = LocalKeyStore.from_file(tmp_path / "one.b64", create=True)
    two = LocalKeyStore.from_file(tmp_path / "two.b64", create=True)
    wrapped = one.generate_data_key(key_context("sk_1")).wrapped
    with pytest.raises(KeyUnavailable):
        two.unwrap(wrapped, key_context("sk_1"))


@pytest.mark.usefixtures("aws_env")
def test_kms_refusals_become_key_unavailable() -> None:
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        store = AwsKmsKeyStore.connect("alias/does-not-exist", region="eu-west-1")
        with pytest.raises(KeyUnavailable, match="refused"):
            store.generate_data_key(key_context("sk_1"))
