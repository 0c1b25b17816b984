"""C2SP signed notes and tlog-checkpoints; Ed25519 keys in the sumdb/note text forms.

A checkpoint (c2sp.org/tlog-checkpoint) is the text::

    <origin>\\n<tree size, decimal>\\n<base64 root hash>\\n[<extension line>\\n ...]

signed as a note (c2sp.org/signed-note): the text, a blank line, then one line per signature
``— <key name> <base64(4-byte key ID || Ed25519 signature of the text)>`` (U+2014 em dash).
The key ID is ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``.

Keys travel as one-line strings:

* verifier key (vkey, public): ``<name>+<8 hex key ID>+<base64(0x01 || public key)>``
* signer key (skey, secret): ``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || seed)>``
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from faceverdict.evidence.errors import (
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedKeyError,
    MalformedNoteError,
    OriginMismatchError,
)
from faceverdict.evidence.merkle import HASH_SIZE

SIGNATURE_PREFIX = "\u2014 "  # em dash, space
ALG_ED25519 = 0x01
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100
MAX_TREE_SIZE = 2**63 - 1
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key with its C2SP key ID; ``str()`` gives the vkey string."""

    name: str
    key_id: int
    public_key: bytes

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` is a valid Ed25519 signature of ``message`` by this key."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """A named Ed25519 private key; ``encode()`` gives the secret skey string."""

    name: str
    key_id: int
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)

    def encode(self) -> str:
        """The secret ``PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || seed)>`` string."""
        seed = self.private_key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{encoded}"

    def verifier_key(self) -> VerifierKey:
        """The public half of this key."""
        return VerifierKey(self.name, self.key_id, _raw_public(self.private_key))


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: key name, 32-bit key ID, raw signature bytes."""

    key_name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    """A parsed (not yet verified) signed note: its text, final newline included, and lines."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its size and root hash (C2SP tlog-checkpoint body)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The checkpoint note text, each line ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))


def key_id(name: str, public_key: bytes) -> int:
    """C2SP key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def is_valid_key_name(name: str) -> bool:
    """True if ``name`` is non-empty, has no Unicode space, no '+' and no control character."""
    return bool(name) and not any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name)


def verifier_key(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """The vkey string for a named Ed25519 public key."""
    raw = public_key if isinstance(public_key, bytes) else _raw_public_key(public_key)
    if len(raw) != ED25519_KEY_SIZE:
        raise MalformedKeyError(
            f"an Ed25519 public key is {ED25519_KEY_SIZE} bytes, got {len(raw)}"
        )
    _require_name(name, MalformedKeyError)
    return str(VerifierKey(name, key_id(name, raw), raw))


def parse_vkey(vkey: str) -> VerifierKey:
    """Parse and check a vkey string; MalformedKeyError if any part is wrong."""
    name, _, rest = vkey.partition("+")
    hex_id, _, encoded = rest.partition("+")
    raw = _strict_b64(encoded)
    if not is_valid_key_name(name) or not _HEX8.fullmatch(hex_id) or raw is None:
        raise MalformedKeyError("a vkey is <name>+<8 hex digits>+<base64 key>")
    if len(raw) != 1 + ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise MalformedKeyError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
    public = raw[1:]
    if int(hex_id, 16) != key_id(name, public):
        raise MalformedKeyError("the vkey's key ID does not match its name and public key")
    return VerifierKey(name, int(hex_id, 16), public)


def parse_signer_key(skey: str) -> SignerKey:
    """Parse and check a secret ``PRIVATE+KEY+...`` signer key string."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise MalformedKeyError("a signer key is PRIVATE+KEY+<name>+<8 hex digits>+<base64 seed>")
    _, _, name, hex_id, encoded = parts
    raw = _strict_b64(encoded)
    if not is_valid_key_name(name) or not _HEX8.fullmatch(hex_id) or raw is None:
        raise MalformedKeyError("a signer key is PRIVATE+KEY+<name>+<8 hex digits>+<base64 seed>")
    if len(raw) != 1 + ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise MalformedKeyError("only Ed25519 signer keys (type 0x01, 32-byte seed) are supported")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if int(hex_id, 16) != key_id(name, _raw_public(private)):
        raise MalformedKeyError("the signer key's key ID does not match its name and key")
    return SignerKey(name, int(hex_id, 16), private)


def signer_key(name: str, private_key: Ed25519PrivateKey) -> SignerKey:
    """Wrap an Ed25519 private key with a key name (and its derived key ID)."""
    _require_name(name, MalformedKeyError)
    return SignerKey(name, key_id(name, _raw_public(private_key)), private_key)


def generate_signing_key(name: str) -> tuple[str, str]:
    """Generate a fresh Ed25519 key: (secret skey string, public vkey string)."""
    key = signer_key(name, Ed25519PrivateKey.generate())
    return key.encode(), str(key.verifier_key())


def sign_note(text: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """Sign a note text (ending in a newline) and return the signed note."""
    _require_name(key_name, MalformedNoteError)
    if not text.endswith("\n"):
        raise MalformedNoteError("a note text must end with a newline")
    _check_characters(text)
    message = text.encode()
    signature = private_key.sign(message)
    kid = key_id(key_name, _raw_public(private_key))
    encoded = base64.b64encode(kid.to_bytes(4, "big") + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{key_name} {encoded}\n"


def parse_note(note: str | bytes) -> SignedNote:
    """Split a signed note into text and signature lines; MalformedNoteError on any syntax error."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedNoteError("a note must be valid UTF-8") from exc
    _check_characters(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("a note needs a blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNoteError("signature lines must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    return SignedNote(text, tuple(_parse_signature_line(line) for line in lines))


def open_note(note: str | bytes, vkey: str | VerifierKey) -> SignedNote:
    """Parse a note and require a valid signature by ``vkey``; other keys' lines are ignored."""
    key = parse_vkey(vkey) if isinstance(vkey, str) else vkey
    parsed = parse_note(note)
    message = parsed.text.encode()
    matching = [s for s in parsed.signatures if s.key_name == key.name and s.key_id == key.key_id]
    if not matching:
        raise InvalidSignatureError(f"the note is not signed by {key.name}+{key.key_id:08x}")
    for sig in matching:
        if not key.verify(message, sig.signature):
            raise InvalidSignatureError(f"invalid signature by {key.name}+{key.key_id:08x}")
    return parsed


def sign_checkpoint(
    origin: str,
    size: int,
    root: bytes,
    private_key: Ed25519PrivateKey,
    key_name: str,
    extensions: Sequence[str] = (),
) -> str:
    """Build and sign a C2SP checkpoint; returns the signed note text."""
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    _check_checkpoint(checkpoint)
    return sign_note(checkpoint.body(), private_key, key_name)


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse checkpoint note text (no signatures); MalformedCheckpointError if it is not one."""
    if not text.endswith("\n"):
        raise MalformedCheckpointError("a checkpoint text ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise MalformedCheckpointError("a checkpoint has at least three lines, none empty")
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise MalformedCheckpointError(
            f"tree size must be decimal without leading zeros: {size_text!r}"
        )
    root = _strict_b64(root_text)
    if root is None or len(root) != HASH_SIZE:
        raise MalformedCheckpointError("root hash must be the base64 of 32 bytes")
    checkpoint = Checkpoint(origin, int(size_text), root, tuple(extensions))
    _check_checkpoint(checkpoint)
    return checkpoint


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a signed checkpoint note WITHOUT checking signatures (see ``verify_checkpoint``)."""
    return parse_checkpoint_body(parse_note(text).text)


def verify_checkpoint(
    text: str | bytes, vkey: str | VerifierKey, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint against a trusted vkey (and origin, if given); return it."""
    checkpoint = parse_checkpoint_body(open_note(text, vkey).text)
    if origin is not None and checkpoint.origin != origin:
        raise OriginMismatchError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError("a signature line starts with an em dash (U+2014) and a space")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = _strict_b64(encoded)
    if not is_valid_key_name(name) or raw is None or len(raw) < 5:
        raise MalformedNoteError(f"malformed signature line for {name!r}")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _check_characters(text: str) -> None:
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise MalformedNoteError("a note must not contain control characters other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedNoteError("a note must be valid Unicode (no lone surrogates)") from exc


def _check_checkpoint(checkpoint: Checkpoint) -> None:
    if not checkpoint.origin or "\n" in checkpoint.origin:
        raise MalformedCheckpointError("the origin must be one non-empty line")
    if not 0 <= checkpoint.size <= MAX_TREE_SIZE:
        raise MalformedCheckpointError(f"tree size out of range: {checkpoint.size}")
    if len(checkpoint.root_hash) != HASH_SIZE:
        raise MalformedCheckpointError("the root hash is 32 bytes")
    if any(not line or "\n" in line for line in checkpoint.extensions):
        raise MalformedCheckpointError("extension lines must be single non-empty lines")
    _check_characters(checkpoint.body())


def _require_name(name: str, error: type[MalformedKeyError] | type[MalformedNoteError]) -> None:
    if not is_valid_key_name(name):
        raise error(f"invalid key name {name!r}: empty, or has a space, '+' or control char")


def _strict_b64(text: str) -> bytes | None:
    """Decode standard padded base64, refusing anything but its one canonical spelling."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode() == text else None


def _raw_public(private_key: Ed25519PrivateKey) -> bytes:
    return _raw_public_key(private_key.public_key())


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes_raw()
