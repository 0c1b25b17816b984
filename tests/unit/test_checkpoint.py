"""C2SP signed notes and tlog-checkpoints, with the golang.org/x/mod/sumdb/note test vectors."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from faceverdict.errors import FaceverdictError
from faceverdict.evidence.checkpoint import (
    Checkpoint,
    generate_signing_key,
    key_id,
    open_note,
    parse_checkpoint,
    parse_checkpoint_body,
    parse_note,
    parse_signer_key,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    signer_key,
    verifier_key,
    verify_checkpoint,
)
from faceverdict.evidence.errors import (
    CheckpointRejectedError,
    EvidenceError,
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedKeyError,
    MalformedNoteError,
    OriginMismatchError,
)

# Test vectors published with golang.org/x/mod/sumdb/note (note_test.go).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
QUOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
    "ngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)

ORIGIN = "faceverdict.example/evidence/test"
ROOT = hashlib.sha256(b"some root").digest()


@pytest.fixture(scope="module")
def key() -> tuple[str, str]:
    return generate_signing_key(ORIGIN)


def _signed(key: tuple[str, str], size: int = 42, extensions: tuple[str, ...] = ()) -> str:
    signer = parse_signer_key(key[0])
    return sign_checkpoint(ORIGIN, size, ROOT, signer.private_key, signer.name, extensions)


# --- test vectors ------------------------------------------------------------------------------


def test_signer_key_vector_derives_the_published_vkey() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    assert str(signer.verifier_key()) == PETER_VKEY
    assert signer.encode() == PETER_SKEY


def test_signing_reproduces_the_published_signed_note_byte_for_byte() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert sign_note(QUOTE, signer.private_key, signer.name) == QUOTE + "\n" + PETER_SIG


def test_opening_the_published_note_with_either_key() -> None:
    note = QUOTE + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, PETER_VKEY).text == QUOTE
    assert open_note(note, ENOCH_VKEY).text == QUOTE
    parsed = parse_note(note)
    assert [(s.key_name, s.key_id) for s in parsed.signatures] == [
        ("PeterNeumann", 0xC74F20A3),
        ("EnochRoot", 0xAF0CFE78),
    ]


def test_key_id_follows_the_c2sp_rule() -> None:
    vkey = parse_vkey(PETER_VKEY)
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + vkey.public_key).digest()
    assert key_id("PeterNeumann", vkey.public_key) == int.from_bytes(digest[:4], "big")


def test_every_substring_or_bumped_byte_of_a_vkey_is_refused() -> None:
    raw = PETER_VKEY.encode()
    for i in range(len(raw) + 1):
        for j in range(i + 1, len(raw) + 1):
            if (i, j) != (0, len(raw)):
                with pytest.raises(MalformedKeyError):
                    parse_vkey(raw[i:j].decode())
    for i in range(len(raw)):
        bumped = raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :]
        with pytest.raises(MalformedKeyError):
            parse_vkey(bumped.decode())


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    ],
)
def test_malformed_vkeys_are_refused(bad: str) -> None:
    with pytest.raises(MalformedKeyError):
        parse_vkey(bad)


def test_malformed_signer_keys_are_refused() -> None:
    for bad in (
        PETER_SKEY.replace("PRIVATE", "PUBLIC"),
        PETER_SKEY.replace("c74f20a3", "c74f20a4"),
        PETER_SKEY[:-4],
        "PRIVATE+KEY+PeterNeumann+c74f20a3",
    ):
        with pytest.raises(MalformedKeyError):
            parse_signer_key(bad)


# --- keys --------------------------------------------------------------------------------------


def test_generated_keys_round_trip(key: tuple[str, str]) -> None:
    skey, vkey = key
    signer = parse_signer_key(skey)
    assert str(signer.verifier_key()) == vkey
    assert parse_vkey(vkey).name == ORIGIN
    assert "private_key" not in repr(signer)  # the secret never lands in a log line


def test_vkey_from_a_public_key_object() -> None:
    private = Ed25519PrivateKey.generate()
    vkey = verifier_key("example.org/log", private.public_key())
    assert vkey == str(signer_key("example.org/log", private).verifier_key())
    with pytest.raises(MalformedKeyError):
        verifier_key("example.org/log", b"short")
    with pytest.raises(MalformedKeyError):
        verifier_key("bad+name", private.public_key())


# --- checkpoints -------------------------------------------------------------------------------


def test_checkpoint_round_trip(key: tuple[str, str]) -> None:
    text = _signed(key)
    lines = text.split("\n")
    assert lines[:4] == [ORIGIN, "42", base64.b64encode(ROOT).decode(), ""]
    assert lines[4].startswith(f"\u2014 {ORIGIN} ")
    expected = Checkpoint(ORIGIN, 42, ROOT)
    assert parse_checkpoint(text) == expected
    assert verify_checkpoint(text, key[1]) == expected
    assert verify_checkpoint(text, parse_vkey(key[1]), origin=ORIGIN) == expected


def test_checkpoint_with_extension_lines(key: tuple[str, str]) -> None:
    text = _signed(key, extensions=("ext one", "ext two"))
    assert verify_checkpoint(text, key[1]).extensions == ("ext one", "ext two")


def test_empty_tree_checkpoint(key: tuple[str, str]) -> None:
    signer = parse_signer_key(key[0])
    text = sign_checkpoint(ORIGIN, 0, hashlib.sha256().digest(), signer.private_key, signer.name)
    assert verify_checkpoint(text, key[1]).size == 0


def test_wrong_key_is_rejected(key: tuple[str, str]) -> None:
    _, other_vkey = generate_signing_key(ORIGIN)
    with pytest.raises(InvalidSignatureError, match="not signed by"):
        verify_checkpoint(_signed(key), other_vkey)


def test_same_name_and_key_id_but_other_key_is_rejected(key: tuple[str, str]) -> None:
    # Forge a vkey string that claims the right name and ID for another public key.
    vkey = parse_vkey(key[1])
    other = parse_vkey(generate_signing_key(ORIGIN)[1])
    impostor = type(vkey)(vkey.name, vkey.key_id, other.public_key)
    with pytest.raises(InvalidSignatureError, match="invalid signature"):
        verify_checkpoint(_signed(key), impostor)


@pytest.mark.parametrize(
    ("line", "replacement"),
    [(0, "faceverdict.example/evidence/other"), (1, "43"), (2, base64.b64encode(b"\0" * 32))],
)
def test_changed_origin_size_or_root_is_rejected(
    key: tuple[str, str], line: int, replacement: str | bytes
) -> None:
    lines = _signed(key).split("\n")
    lines[line] = replacement if isinstance(replacement, str) else replacement.decode()
    with pytest.raises(InvalidSignatureError):
        verify_checkpoint("\n".join(lines), key[1])


def test_extra_body_line_is_rejected(key: tuple[str, str]) -> None:
    body, sigs = _signed(key).split("\n\n")
    with pytest.raises(InvalidSignatureError):
        verify_checkpoint(body + "\nsneaky extension\n\n" + sigs, key[1])


def test_extra_line_after_the_signatures_is_rejected(key: tuple[str, str]) -> None:
    with pytest.raises(MalformedNoteError):
        verify_checkpoint(_signed(key) + "unexpected line\n", key[1])


def test_altered_signature_is_rejected(key: tuple[str, str]) -> None:
    text = _signed(key)
    body, sig_line = text.split("\n\n")
    prefix, encoded = sig_line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    for position in (4, 30, 67):  # inside the Ed25519 signature
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        line = f"{prefix} {base64.b64encode(bytes(tampered)).decode()}\n"
        with pytest.raises(InvalidSignatureError):
            verify_checkpoint(f"{body}\n\n{line}", key[1])
    raw[0] ^= 0x01  # key ID: the signature is then from an unknown key
    line = f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(InvalidSignatureError, match="not signed by"):
        verify_checkpoint(f"{body}\n\n{line}", key[1])


def test_unknown_signatures_are_ignored_but_a_bad_known_one_is_not(key: tuple[str, str]) -> None:
    text = _signed(key)
    assert verify_checkpoint(text + ENOCH_SIG, key[1]).size == 42
    assert verify_checkpoint(text.replace("\n\n", "\n\n" + ENOCH_SIG), key[1]).size == 42
    body, sig_line = text.split("\n\n")
    other = parse_signer_key(generate_signing_key(ORIGIN)[0])
    forged = sign_note(body + "\n", other.private_key, ORIGIN).split("\n\n")[1]
    # Same name, other key ID: ignored; the genuine signature still verifies.
    assert verify_checkpoint(f"{body}\n\n{forged}{sig_line}", key[1]).size == 42


def test_wrong_origin_is_rejected(key: tuple[str, str]) -> None:
    with pytest.raises(OriginMismatchError):
        verify_checkpoint(_signed(key), key[1], origin="faceverdict.example/evidence/prod")


@pytest.mark.parametrize(
    "note",
    [
        QUOTE,
        QUOTE + "\n",
        QUOTE + "\n" + PETER_SIG[:-1],
        "\x01" + QUOTE + "\n" + PETER_SIG,
        QUOTE + "\n" + "\u2014 Bad Name " + PETER_SIG.split(" ")[-1],
        QUOTE + "\n" + PETER_SIG + "Unexpected line.\n",
        QUOTE + "\n" + PETER_SIG.replace("\u2014", "-"),
        QUOTE + "\n" + PETER_SIG.replace("=\n", "\n"),
        QUOTE + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(note, PETER_VKEY)


def test_notes_must_be_utf8() -> None:
    with pytest.raises(MalformedNoteError):
        parse_note(b"\xff" + (QUOTE + "\n" + PETER_SIG).encode())
    assert parse_note((QUOTE + "\n" + PETER_SIG).encode()).text == QUOTE


@pytest.mark.parametrize(
    "body",
    [
        "origin\n42\n",
        "origin\n042\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n4\u0662\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n42\n" + base64.b64encode(ROOT[:31]).decode() + "\n",
        "origin\n42\n" + base64.b64encode(ROOT).decode().rstrip("=") + "\n",
        "origin\n42\n" + base64.b64encode(ROOT).decode(),
        "\n42\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n42\n" + base64.b64encode(ROOT).decode() + "\n\next\n",
        f"origin\n{2**63}\n" + base64.b64encode(ROOT).decode() + "\n",
    ],
)
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(MalformedCheckpointError):
        parse_checkpoint_body(body)


def test_signed_non_checkpoint_is_refused(key: tuple[str, str]) -> None:
    signer = parse_signer_key(key[0])
    note = sign_note("just a note\n", signer.private_key, signer.name)
    with pytest.raises(MalformedCheckpointError):
        verify_checkpoint(note, key[1])


def test_signing_refuses_bad_input(key: tuple[str, str]) -> None:
    signer = parse_signer_key(key[0])
    with pytest.raises(MalformedCheckpointError):
        sign_checkpoint("two\nlines", 1, ROOT, signer.private_key, signer.name)
    with pytest.raises(MalformedCheckpointError):
        sign_checkpoint(ORIGIN, -1, ROOT, signer.private_key, signer.name)
    with pytest.raises(MalformedCheckpointError):
        sign_checkpoint(ORIGIN, 1, ROOT[:5], signer.private_key, signer.name)
    with pytest.raises(MalformedCheckpointError):
        sign_checkpoint(ORIGIN, 1, ROOT, signer.private_key, signer.name, [""])
    with pytest.raises(MalformedNoteError):
        sign_checkpoint(ORIGIN, 1, ROOT, signer.private_key, "bad name")
    with pytest.raises(MalformedNoteError):
        sign_note("no final newline", signer.private_key, signer.name)


def test_errors_belong_to_the_service_tree() -> None:
    assert issubclass(InvalidSignatureError, CheckpointRejectedError)
    assert issubclass(MalformedCheckpointError, MalformedNoteError)
    assert issubclass(EvidenceError, FaceverdictError)
