"""Evidence log entries and their canonical bytes (RFC 8785 JSON Canonicalization Scheme).

The bytes of an entry are the JCS form of the JSON object
``{"check_id", "kind", "occurred_at", "payload", "seq"}``: keys sorted by UTF-16 code units,
no insignificant whitespace, UTF-8, ECMAScript number formatting. A third party re-hashes an
entry with any JCS implementation; its leaf hash is ``SHA-256(0x00 || bytes)``.

Values are restricted to what every JCS implementation renders the same way: strings, finite
floats, integers of magnitude below 2**53 (exact as IEEE 754 doubles), booleans, null,
lists and objects with string keys.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from faceverdict.evidence.errors import MalformedEntryError
from faceverdict.evidence.merkle import leaf_hash as merkle_leaf_hash

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32
ENTRY_FIELDS = frozenset({"seq", "check_id", "kind", "occurred_at", "payload"})

_KIND = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?Z"
)


@dataclass(frozen=True)
class EvidenceEntry:
    """One domain event as recorded in the evidence log.

    ``seq`` is the entry's leaf index in the log (0-based), ``check_id`` is None for log-wide
    events, ``kind`` a dotted event name (``check.decided``), ``occurred_at`` an RFC 3339 UTC
    timestamp ending in ``Z``, ``payload`` a JSON object. The payload is deep-copied on
    construction so the entry cannot change after it has been hashed.
    """

    seq: int
    check_id: str | None
    kind: str
    occurred_at: str
    payload: dict[str, JsonValue]

    def __post_init__(self) -> None:
        if type(self.seq) is not int or self.seq < 0:
            raise MalformedEntryError(f"seq must be a non-negative integer, got {self.seq!r}")
        if self.seq > MAX_SAFE_INTEGER:
            raise MalformedEntryError("seq is beyond 2**53 - 1")
        if self.check_id is not None and (not isinstance(self.check_id, str) or not self.check_id):
            raise MalformedEntryError("check_id must be a non-empty string or None")
        if not isinstance(self.kind, str) or not _KIND.fullmatch(self.kind):
            raise MalformedEntryError(f"kind must be a dotted lower-case name, got {self.kind!r}")
        _check_timestamp(self.occurred_at)
        if not isinstance(self.payload, dict):
            raise MalformedEntryError("payload must be a JSON object")
        _check_value(self.payload, depth=0, where="payload")
        object.__setattr__(self, "payload", copy.deepcopy(self.payload))

    def to_json(self) -> dict[str, JsonValue]:
        """The entry as a JSON object (the shape used in evidence packages)."""
        return {
            "seq": self.seq,
            "check_id": self.check_id,
            "kind": self.kind,
            "occurred_at": self.occurred_at,
            "payload": copy.deepcopy(self.payload),
        }

    @classmethod
    def from_json(cls, data: object) -> EvidenceEntry:
        """Parse an entry from its JSON object form; MalformedEntryError if it is not one."""
        if not isinstance(data, Mapping):
            raise MalformedEntryError("an entry must be a JSON object")
        keys = set(data)
        if keys != ENTRY_FIELDS:
            missing = sorted(ENTRY_FIELDS - keys)
            extra = sorted(str(k) for k in keys - ENTRY_FIELDS)
            raise MalformedEntryError(f"entry fields differ: missing {missing}, unexpected {extra}")
        return cls(
            seq=data["seq"],
            check_id=data["check_id"],
            kind=data["kind"],
            occurred_at=data["occurred_at"],
            payload=data["payload"],
        )


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC form used for ``occurred_at``: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MalformedEntryError("a timestamp must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_bytes(entry: EvidenceEntry) -> bytes:
    """Canonical (RFC 8785) UTF-8 JSON bytes of an entry: what the log hashes."""
    # The entry was validated and its payload copied at construction: serialise directly.
    fields = {
        "seq": entry.seq,
        "check_id": entry.check_id,
        "kind": entry.kind,
        "occurred_at": entry.occurred_at,
        "payload": entry.payload,
    }
    parts: list[str] = []
    _write(fields, parts)
    return "".join(parts).encode("utf-8")


def parse_entry_bytes(data: bytes) -> EvidenceEntry:
    """Parse stored entry bytes; MalformedEntryError unless they are an entry's canonical bytes."""
    try:
        decoded = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEntryError(f"entry bytes are not UTF-8 JSON: {exc}") from None
    entry = EvidenceEntry.from_json(decoded)
    if entry_bytes(entry) != data:
        raise MalformedEntryError("entry bytes are not in canonical (RFC 8785) form")
    return entry


def leaf_hash(entry: EvidenceEntry) -> bytes:
    """RFC 6962 leaf hash of an entry: SHA-256(0x00 || entry_bytes(entry))."""
    return merkle_leaf_hash(entry_bytes(entry))


def canonical_json(value: object) -> bytes:
    """RFC 8785 canonical JSON bytes of a value; MalformedEntryError if it has no canonical form."""
    _check_value(value, depth=0, where="value")
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("utf-8")


def _check_timestamp(value: object) -> None:
    if not isinstance(value, str):
        raise MalformedEntryError("occurred_at must be a string")
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise MalformedEntryError(f"occurred_at must be RFC 3339 UTC ending in Z, got {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise MalformedEntryError(f"occurred_at is not a real instant: {value!r}") from exc


def _check_value(value: object, depth: int, where: str) -> None:
    if depth > MAX_DEPTH:
        raise MalformedEntryError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if not _is_unicode(value):
            raise MalformedEntryError(f"{where}: strings must not contain lone surrogates")
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise MalformedEntryError(f"{where}: integer {value} is beyond +/-(2**53 - 1)")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedEntryError(f"{where}: {value} has no JSON form")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, depth + 1, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not _is_unicode(key):
                raise MalformedEntryError(f"{where}: object keys must be strings, got {key!r}")
            _check_value(item, depth + 1, f"{where}.{key}")
        return
    raise MalformedEntryError(f"{where}: {type(value).__name__} is not a JSON value")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_ESCAPES["\t"] = "\\t"
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _write_string(value: str, out: list[str]) -> None:
    out.append('"')
    out.append(_NEEDS_ESCAPE.sub(_escape_char, value))
    out.append('"')


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, str):
        _write_string(value, out)
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                out.append(",")
            _write_string(key, out)
            out.append(":")
            _write(value[key], out)
        out.append("}")


def format_number(value: float) -> str:
    """ECMAScript Number::toString of a finite float, as RFC 8785 requires."""
    if not math.isfinite(value):
        raise MalformedEntryError(f"{value} has no JSON form")
    if value == 0:
        return "0"  # covers -0.0
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript does; Decimal splits them.
    parsed = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in parsed.digits)
    k = len(digits)
    n = k + int(parsed.exponent)  # value = 0.digits * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        exponent = n - 1
        sign_e = "+" if exponent >= 0 else "-"
        head = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{head}e{sign_e}{abs(exponent)}"
    return sign + text
