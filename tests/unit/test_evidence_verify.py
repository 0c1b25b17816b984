"""Canonical evidence entries and offline verification of evidence packages."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from faceverdict.evidence.checkpoint import (
    generate_signing_key,
    parse_signer_key,
    sign_checkpoint,
    signer_key,
)
from faceverdict.evidence.entries import (
    EvidenceEntry,
    canonical_json,
    entry_bytes,
    format_number,
    format_timestamp,
    leaf_hash,
)
from faceverdict.evidence.errors import (
    CheckpointRejectedError,
    InvalidProofError,
    MalformedEntryError,
    MalformedPackageError,
    OriginMismatchError,
)
from faceverdict.evidence.merkle import MemoryTree
from faceverdict.evidence.merkle import leaf_hash as raw_leaf_hash
from faceverdict.evidence.package import PackagedEntry, build_package
from faceverdict.evidence.verify import verify_consistency_between, verify_package

ORIGIN = "faceverdict.example/evidence/test"

# --- canonical entries ---------------------------------------------------------------------


def _entry(seq: int, **payload: Any) -> EvidenceEntry:
    return EvidenceEntry(
        seq=seq,
        check_id=f"chk_{seq % 7}",
        kind="check.decided",
        occurred_at="2026-11-23T18:25:30.123456Z",
        payload={"score": 87.5, "action": "accept", "n": seq, **payload},
    )


def test_entry_bytes_are_canonical_json() -> None:
    entry = EvidenceEntry(
        seq=3,
        check_id=None,
        kind="policy.activated",
        occurred_at="2026-01-02T03:04:05Z",
        payload={"z": [1, 2.5, None, True], "a": {"é": "x\ny"}, "m": -0.0},
    )
    assert (
        entry_bytes(entry)
        == (
            '{"check_id":null,"kind":"policy.activated","occurred_at":"2026-01-02T03:04:05Z",'
            '"payload":{"a":{"é":"x\\ny"},"m":0,"z":[1,2.5,null,true]},"seq":3}'
        ).encode()
    )
    assert leaf_hash(entry) == raw_leaf_hash(entry_bytes(entry))


def test_rfc8785_example_object() -> None:
    # RFC 8785 section 3.2.2 input and its canonical output.
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode()


def test_object_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 is a surrogate pair (D83D DE00) and sorts before U+E000 in UTF-16.
    assert canonical_json({"\ue000": 1, "\U0001f600": 2, "a": 3}) == (
        '{"a":3,"\U0001f600":2,"\ue000":1}'.encode()
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (123e-20, "1.23e-18"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_numbers_use_ecmascript_formatting(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    "payload",
    [
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": -float("inf")},
        {"x": 2**53},
        {"x": {1: "non-string key"}},
        {"x": b"bytes"},
        {"x": (1, 2)},
        {"x": {"y": object()}},
        {"x": "\ud800"},
    ],
)
def test_values_without_a_canonical_form_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(MalformedEntryError):
        entry_bytes(_entry(0, **payload))


@pytest.mark.parametrize(
    "fields",
    [
        {"seq": -1},
        {"seq": True},
        {"seq": 1.0},
        {"check_id": ""},
        {"kind": "Check Decided"},
        {"kind": ""},
        {"occurred_at": "2026-11-23T18:25:30+00:00"},
        {"occurred_at": "2026-11-23 18:25:30Z"},
        {"occurred_at": "2026-02-30T00:00:00Z"},
        {"payload": []},
    ],
)
def test_invalid_entries_are_refused(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = _entry(1).to_json()
    with pytest.raises(MalformedEntryError):
        EvidenceEntry(**{**base, **fields})


def test_entries_are_insulated_from_later_mutation() -> None:
    payload: dict[str, Any] = {"reasons": ["blend_boundary"]}
    entry = EvidenceEntry(1, "chk", "check.decided", "2026-01-01T00:00:00Z", payload)
    before = entry_bytes(entry)
    payload["reasons"].append("added later")
    exported: Any = entry.to_json()
    exported["payload"]["reasons"].append("added via to_json")
    assert entry_bytes(entry) == before


def test_entry_json_round_trip_is_strict() -> None:
    entry = _entry(5)
    assert EvidenceEntry.from_json(json.loads(json.dumps(entry.to_json()))) == entry
    with pytest.raises(MalformedEntryError, match="unexpected"):
        EvidenceEntry.from_json({**entry.to_json(), "extra": 1})
    with pytest.raises(MalformedEntryError, match="missing"):
        EvidenceEntry.from_json({k: v for k, v in entry.to_json().items() if k != "kind"})
    with pytest.raises(MalformedEntryError):
        EvidenceEntry.from_json([1, 2])


def test_format_timestamp_is_utc_with_z() -> None:
    moment = datetime(2026, 11, 23, 20, 25, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2026-11-23T18:25:30.000005Z"
    assert _entry(0).occurred_at.endswith("Z")
    with pytest.raises(MalformedEntryError):
        format_timestamp(datetime(2026, 1, 1))  # naive on purpose
    assert format_timestamp(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000Z"


# --- packages ------------------------------------------------------------------------------


class Log:
    """A tiny in-memory evidence log, as the service will run it over a database."""

    def __init__(self, size: int) -> None:
        self.skey, self.vkey = generate_signing_key(ORIGIN)
        self.entries = [_entry(i) for i in range(size)]
        self.tree = MemoryTree(leaf_hash(e) for e in self.entries)

    def checkpoint(self, size: int | None = None) -> str:
        size = self.tree.size if size is None else size
        signer = parse_signer_key(self.skey)
        root = self.tree.root(size)
        return sign_checkpoint(ORIGIN, size, root, signer.private_key, signer.name)

    def package(self, indices: list[int]) -> dict[str, Any]:
        items = [PackagedEntry(self.entries[i], i, self.tree.inclusion_proof(i)) for i in indices]
        return build_package(self.checkpoint(), self.vkey, items)


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(37)


@pytest.fixture
def package(log: Log) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(log.package([2, 3, 17, 36])))
    return copied


def test_genuine_package_verifies(log: Log, package: dict[str, Any]) -> None:
    report = verify_package(package, trusted_vkey=log.vkey)
    assert report.ok, report.failures
    assert report.key_pinned
    assert report.checkpoint is not None
    assert report.checkpoint.size == 37
    assert [e.leaf_index for e in report.entries] == [2, 3, 17, 36]
    assert all(e.kind == "check.decided" for e in report.entries)
    report.raise_for_failure()


def test_package_verifies_without_a_pinned_key_but_says_so(package: dict[str, Any]) -> None:
    report = verify_package(package)
    assert report.ok
    assert not report.key_pinned


def test_one_changed_payload_byte_fails_that_entry_only(log: Log, package: dict[str, Any]) -> None:
    package["entries"][1]["entry"]["payload"]["action"] = "accepT"
    report = verify_package(package, trusted_vkey=log.vkey)
    assert not report.ok
    assert [e.ok for e in report.entries] == [True, False, True, True]
    assert "inclusion proof" in (report.entries[1].problem or "")
    with pytest.raises(InvalidProofError, match=r"entries\[1\]"):
        report.raise_for_failure()


def test_changed_number_fails(log: Log, package: dict[str, Any]) -> None:
    package["entries"][0]["entry"]["payload"]["score"] = 87.50000000000001
    assert not verify_package(package, trusted_vkey=log.vkey).entries[0].ok


def test_entry_moved_to_another_leaf_fails(log: Log, package: dict[str, Any]) -> None:
    first, second = package["entries"][0], package["entries"][1]
    first["entry"], second["entry"] = second["entry"], first["entry"]
    report = verify_package(package, trusted_vkey=log.vkey)
    assert [e.ok for e in report.entries] == [False, False, True, True]


def test_entry_with_consistent_seq_but_wrong_proof_fails(log: Log, package: dict[str, Any]) -> None:
    # Renumber the entry and claim the other leaf: the content then no longer hashes to it.
    item = package["entries"][0]
    item["entry"]["seq"] = 3
    item["leaf_index"] = 3
    item["inclusion_proof"] = package["entries"][1]["inclusion_proof"]
    report = verify_package(package, trusted_vkey=log.vkey)
    assert not report.entries[0].ok
    assert report.order_problem is not None  # 3 then 3


def test_reordered_package_fails(log: Log, package: dict[str, Any]) -> None:
    package["entries"].reverse()
    report = verify_package(package, trusted_vkey=log.vkey)
    assert all(e.ok for e in report.entries)
    assert not report.ok
    assert report.order_problem is not None


def test_wrong_leaf_index_fails(log: Log, package: dict[str, Any]) -> None:
    package["entries"][2]["leaf_index"] = 18
    report = verify_package(package, trusted_vkey=log.vkey)
    assert "leaf index" in (report.entries[2].problem or "")
    package["entries"][2]["entry"]["seq"] = 18
    report = verify_package(package, trusted_vkey=log.vkey)
    assert "inclusion proof" in (report.entries[2].problem or "")


def test_truncated_or_padded_proof_fails(log: Log, package: dict[str, Any]) -> None:
    package["entries"][0]["inclusion_proof"].pop()
    package["entries"][1]["inclusion_proof"].append(package["entries"][1]["inclusion_proof"][0])
    package["entries"][2]["inclusion_proof"][0] = package["entries"][2]["inclusion_proof"][0][:-4]
    package["entries"][3]["inclusion_proof"] = []
    report = verify_package(package, trusted_vkey=log.vkey)
    assert [e.ok for e in report.entries] == [False, False, False, False]
    assert "base64" in (report.entries[2].problem or "")


def test_tampered_checkpoint_fails_every_entry(log: Log, package: dict[str, Any]) -> None:
    package["checkpoint"] = package["checkpoint"].replace("\n37\n", "\n38\n")
    report = verify_package(package, trusted_vkey=log.vkey)
    assert report.checkpoint is None
    assert "signature" in (report.checkpoint_problem or "")
    assert not any(e.ok for e in report.entries)


def test_package_signed_by_another_key_fails_against_the_pinned_key(
    log: Log, package: dict[str, Any]
) -> None:
    other = Log(37)
    forged = json.loads(json.dumps(other.package([2])))
    report = verify_package(forged, trusted_vkey=log.vkey)
    assert not report.ok
    assert report.checkpoint_problem == "the package's vkey is not the trusted key"
    # Even when the forger keeps the genuine vkey in the package, the signature fails.
    forged["log"]["vkey"] = log.vkey
    report = verify_package(forged, trusted_vkey=log.vkey)
    assert "not signed by" in (report.checkpoint_problem or "")


def test_origin_in_log_must_match_the_checkpoint(log: Log, package: dict[str, Any]) -> None:
    package["log"]["origin"] = "faceverdict.example/evidence/prod"
    report = verify_package(package, trusted_vkey=log.vkey)
    assert "origin" in (report.checkpoint_problem or "")


def test_malformed_entries_are_reported_not_raised(log: Log, package: dict[str, Any]) -> None:
    package["entries"][0]["entry"]["payload"]["x"] = 2**60
    package["entries"][1] = "not an object"
    package["entries"][2]["leaf_index"] = "17"
    package["entries"][3]["inclusion_proof"] = "nope"
    report = verify_package(package, trusted_vkey=log.vkey)
    assert [e.ok for e in report.entries] == [False, False, False, False]
    assert len(report.failures) == 4


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("log"),
        lambda p: p["log"].pop("vkey"),
        lambda p: p.update(checkpoint=None),
        lambda p: p.update(entries={}),
        lambda p: p.update(version=2),
        lambda p: p["log"].update(vkey="not a vkey"),
    ],
)
def test_unusable_package_shape_raises(package: dict[str, Any], mutate: Any) -> None:
    broken = copy.deepcopy(package)
    mutate(broken)
    with pytest.raises(MalformedPackageError):
        verify_package(broken)


def test_build_package_refuses_leaves_beyond_the_checkpoint(log: Log) -> None:
    item = PackagedEntry(log.entries[0], 40, [])
    with pytest.raises(MalformedPackageError):
        build_package(log.checkpoint(), log.vkey, [item])


# --- consistency between two checkpoints -------------------------------------------------------


def test_consistency_between_checkpoints(log: Log) -> None:
    old, new = log.checkpoint(20), log.checkpoint(37)
    proof = log.tree.consistency_proof(20, 37)
    as_text = [base64.b64encode(h).decode() for h in proof]
    first, second = verify_consistency_between(old, new, as_text, log.vkey)
    assert (first.size, second.size) == (20, 37)
    assert verify_consistency_between(old, new, proof, log.vkey)[1].size == 37
    assert verify_consistency_between(new, new, [], log.vkey)[0].size == 37


def test_inconsistent_checkpoints_are_rejected(log: Log) -> None:
    old, new = log.checkpoint(20), log.checkpoint(37)
    proof = log.tree.consistency_proof(20, 37)
    with pytest.raises(InvalidProofError):
        verify_consistency_between(old, new, proof[:-1], log.vkey)
    with pytest.raises(InvalidProofError):
        verify_consistency_between(new, old, proof, log.vkey)
    with pytest.raises(InvalidProofError):
        verify_consistency_between(old, new, [b"short"], log.vkey)
    with pytest.raises(InvalidProofError):
        verify_consistency_between(old, new, ["not base64!"], log.vkey)
    # A forked log: same first 20 entries, different 21st onwards.
    fork = MemoryTree(log.tree.hash_at(0, i) for i in range(20))
    fork.extend(raw_leaf_hash(b"rewritten history %d" % i) for i in range(17))
    signer = parse_signer_key(log.skey)
    forked = sign_checkpoint(ORIGIN, 37, fork.root(), signer.private_key, signer.name)
    with pytest.raises(InvalidProofError):
        verify_consistency_between(old, forked, proof, log.vkey)
    assert verify_consistency_between(old, forked, fork.consistency_proof(20), log.vkey)


def test_consistency_needs_both_checkpoints_from_the_trusted_log(log: Log) -> None:
    other = Log(37)
    with pytest.raises(CheckpointRejectedError):
        verify_consistency_between(log.checkpoint(20), other.checkpoint(37), [], log.vkey)
    signer = parse_signer_key(log.skey)
    elsewhere = sign_checkpoint(
        "faceverdict.example/evidence/prod", 37, log.tree.root(), signer.private_key, ORIGIN
    )
    with pytest.raises(OriginMismatchError):
        verify_consistency_between(log.checkpoint(20), elsewhere, [], log.vkey)


# --- the worked example of docs/evidence.md --------------------------------------------------

DOC_ORIGIN = "evidence.faceverdict.example/docs"
DOC_VKEY = "evidence.faceverdict.example/docs+96c9af0a+Ae2Flhy5RKfD+kU3HlBk2aVop/KWmw+jxTsrBRxTAS7b"
DOC_SIGNATURE = (
    "lsmvCjQtdWWDTPLQbBYz+8CbpsdoCgrmdDOkMVCVER7e7yTVzsa7Vymvojek8Kn2VSBGOopFOtJz2g8LHPcLsqJ7Ugw="
)


def test_documented_example_is_reproducible() -> None:
    seed = hashlib.sha256(b"faceverdict docs example key - never use in production").digest()
    signer = signer_key(DOC_ORIGIN, Ed25519PrivateKey.from_private_bytes(seed))
    assert str(signer.verifier_key()) == DOC_VKEY
    entries = [
        EvidenceEntry(
            0,
            "chk_01J9Z7",
            "check.received",
            "2026-11-23T18:25:30.120000Z",
            {
                "flow": "onboarding",
                "capture_sha256": hashlib.sha256(b"test").hexdigest(),
            },
        ),
        EvidenceEntry(
            1,
            "chk_01J9Z7",
            "check.decided",
            "2026-11-23T18:25:30.310000Z",
            {
                "decision_id": "dec_01J9Z8",
                "action": "step_up",
                "authenticity_score": 41.5,
                "policy_version": "2026-11-01",
                "reasons": ["blend_boundary"],
                "supersedes": None,
            },
        ),
        EvidenceEntry(
            2,
            None,
            "policy.activated",
            "2026-11-23T18:30:00.000000Z",
            {"policy_version": "2026-11-02"},
        ),
    ]
    assert [leaf_hash(e).hex() for e in entries] == [
        "609d8f6419e74b5a4585feac808c23576819e8ee4319c2678084c54a93d869fd",
        "e9cb57425900f309514c74af2e4cb52da5d6d15d6135918d96566f73159be0ca",
        "c913ca7e2a2b7849ab514b0261d7475a30511912561983749f6f0acb01f89901",
    ]
    tree = MemoryTree(leaf_hash(e) for e in entries)
    assert tree.root().hex() == "4a48921aadc1a1f7d8770e6768901ba51f155cba589b9379fdcfc69620acda5e"
    checkpoint = sign_checkpoint(DOC_ORIGIN, 3, tree.root(), signer.private_key, signer.name)
    assert checkpoint == (
        f"{DOC_ORIGIN}\n3\nSkiSGq3BoffYdw5naJAbpR8VXLpYm5N5/c/GliCs2l4=\n\n"
        f"\u2014 {DOC_ORIGIN} {DOC_SIGNATURE}\n"
    )
    package = build_package(
        checkpoint, DOC_VKEY, [PackagedEntry(entries[1], 1, tree.inclusion_proof(1))]
    )
    assert package["entries"][0]["inclusion_proof"] == [
        "YJ2PZBnnS1pFhf6sgIwjV2gZ6O5DGcJngITFSpPYaf0=",
        "yRPKfioreEmrUUsCYddHWjBRGRJWGYN0n28KywH4mQE=",
    ]
    assert verify_package(package, trusted_vkey=DOC_VKEY).ok
