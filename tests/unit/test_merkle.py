"""RFC 6962 / 9162 Merkle tree: roots, proofs and their verification, against a naive reference."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceverdict.evidence import merkle
from faceverdict.evidence.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryTree,
    Node,
    assemble,
    consistency_plan,
    consistency_proof,
    inclusion_plan,
    inclusion_proof,
    plan_nodes,
    root,
    verify_consistency,
    verify_inclusion,
)

# --- naive reference: RFC 9162 section 2.1 written as literally as possible -----------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH over *entries* (not leaf hashes), straight from the RFC."""
    if not d:
        return _sha(b"")
    if len(d) == 1:
        return _sha(b"\x00" + d[0])
    k = _k(len(d))
    return _sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return [] if m in (0, len(d)) else ref_subproof(m, d, True)


def path_shape(i: int, n: int) -> tuple[bool, ...]:
    """Sides of the siblings on the path of leaf i in a tree of n (True: sibling on the left)."""
    if n == 1:
        return ()
    k = _k(n)
    if i < k:
        return (*path_shape(i, k), False)
    return (*path_shape(i - k, n - k), True)


ENTRIES = [f"entry {i}".encode() for i in range(80)]
LEAVES = [merkle.leaf_hash(e) for e in ENTRIES]
TREE = MemoryTree(LEAVES)
MAX_PROOF_N = 40


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


# --- hashing and roots ----------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert MemoryTree().root() == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"abc") == _sha(b"\x00abc")
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == _sha(b"\x01" + b"L" * 32 + b"R" * 32)


@pytest.mark.parametrize("n", range(71))
def test_roots_match_the_naive_reference(n: int) -> None:
    expected = ref_mth(ENTRIES[:n])
    assert root(LEAVES[:n]) == expected
    assert TREE.root(n) == expected
    frontier = Frontier()
    for h in LEAVES[:n]:
        frontier.append(h)
    assert frontier.root() == expected
    assert Frontier.from_store(TREE, n).root() == expected


def test_memory_tree_root_tracks_every_append() -> None:
    tree = MemoryTree()
    for n, h in enumerate(LEAVES, start=1):
        assert tree.append(h) == n - 1
        assert tree.root() == ref_mth(ENTRIES[:n])


def test_frontier_reports_exactly_the_subtrees_a_store_needs() -> None:
    frontier = Frontier()
    stored: dict[Node, bytes] = {}
    for h in LEAVES:
        for new in frontier.append(h):
            assert new.node not in stored
            stored[new.node] = new.hash
    assert all(TREE.hash_at(node.level, node.index) == h for node, h in stored.items())
    assert len(stored) == 2 * len(LEAVES) - len(LEAVES).bit_count()


def test_frontier_rejects_an_inconsistent_edge() -> None:
    with pytest.raises(ValueError, match="set bit"):
        Frontier(3, [EMPTY_ROOT])


def test_incomplete_subtrees_are_not_in_the_store() -> None:
    tree = MemoryTree(LEAVES[:5])
    with pytest.raises(LookupError):
        tree.hash_at(1, 2)  # leaves 4..5: only leaf 4 exists
    with pytest.raises(LookupError):
        tree.hash_at(3, 0)


# --- inclusion proofs -----------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, MAX_PROOF_N + 1))
def test_inclusion_proofs_verify_and_match_the_reference(n: int) -> None:
    tree_root = ref_mth(ENTRIES[:n])
    for i in range(n):
        proof = inclusion_proof(i, LEAVES[:n])
        assert proof == ref_path(i, ENTRIES[:n])
        assert TREE.inclusion_proof(i, n) == proof
        assert verify_inclusion(LEAVES[i], i, n, proof, tree_root)


@pytest.mark.parametrize("n", range(1, MAX_PROOF_N + 1))
def test_inclusion_proofs_fail_when_anything_is_altered(n: int) -> None:
    tree_root = TREE.root(n)
    for i in range(n):
        proof = TREE.inclusion_proof(i, n)
        leaf = LEAVES[i]
        for j, element in enumerate(proof):
            for position in range(32):
                bad = [*proof[:j], _flip(element, position), *proof[j + 1 :]]
                assert not verify_inclusion(leaf, i, n, bad, tree_root)
        assert not verify_inclusion(_flip(leaf, 0), i, n, proof, tree_root)
        assert not verify_inclusion(leaf, i, n, proof, _flip(tree_root, 31))
        if proof:
            assert not verify_inclusion(leaf, i, n, proof[:-1], tree_root)
        assert not verify_inclusion(leaf, i, n, [*proof, EMPTY_ROOT], tree_root)
        for other in range(-1, n + 2):
            if other != i:
                assert not verify_inclusion(leaf, other, n, proof, tree_root)
        for other_size in range(0, MAX_PROOF_N + 2):
            if other_size != n:
                # With the true root of the other size the proof must fail...
                assert not verify_inclusion(leaf, i, other_size, proof, TREE.root(other_size))
                # ...and with the same root it passes only when the verifier would do the very
                # same hashing (RFC 9162 binds the size only through a signed tree head).
                same_walk = i < other_size and path_shape(i, other_size) == path_shape(i, n)
                assert verify_inclusion(leaf, i, other_size, proof, tree_root) == same_walk


def test_inclusion_verification_rejects_ill_formed_input() -> None:
    proof = TREE.inclusion_proof(3, 8)
    tree_root = TREE.root(8)
    assert not verify_inclusion(LEAVES[3][:31], 3, 8, proof, tree_root)
    assert not verify_inclusion(LEAVES[3], 3, 8, [proof[0][:31], *proof[1:]], tree_root)
    assert not verify_inclusion(LEAVES[3], 3, 8, proof, tree_root[:31])
    assert not verify_inclusion(LEAVES[3], 3, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(LEAVES[3], 3, 8, [proof[0]] * 70, tree_root)


def test_inclusion_plan_rejects_out_of_range_indices() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_plan(5, 5)
    with pytest.raises(ValueError, match="outside"):
        inclusion_plan(-1, 5)


# --- consistency proofs ---------------------------------------------------------------------


@pytest.mark.parametrize("n", range(0, MAX_PROOF_N + 1))
def test_consistency_proofs_verify_and_match_the_reference(n: int) -> None:
    for m in range(0, n + 1):
        proof = consistency_proof(m, LEAVES[:n])
        assert proof == ref_proof(m, ENTRIES[:n])
        assert TREE.consistency_proof(m, n) == proof
        assert verify_consistency(m, n, ref_mth(ENTRIES[:m]), ref_mth(ENTRIES[:n]), proof)


@pytest.mark.parametrize("n", range(2, MAX_PROOF_N + 1))
def test_consistency_proofs_fail_when_anything_is_altered(n: int) -> None:
    new_root = TREE.root(n)
    for m in range(1, n):
        old_root = TREE.root(m)
        proof = TREE.consistency_proof(m, n)
        assert proof
        for j, element in enumerate(proof):
            for position in (0, 13, 31):
                bad = [*proof[:j], _flip(element, position), *proof[j + 1 :]]
                assert not verify_consistency(m, n, old_root, new_root, bad)
        assert not verify_consistency(m, n, _flip(old_root, 5), new_root, proof)
        assert not verify_consistency(m, n, old_root, _flip(new_root, 5), proof)
        assert not verify_consistency(m, n, old_root, new_root, proof[:-1])
        assert not verify_consistency(m, n, old_root, new_root, [*proof, EMPTY_ROOT])
        assert not verify_consistency(m, n, old_root, new_root, [])
        # Other sizes, with the true roots of those sizes, must not verify this proof.
        for other_m in range(0, n + 2):
            if other_m != m:
                assert not verify_consistency(
                    other_m, n, TREE.root(min(other_m, TREE.size)), new_root, proof
                )
        for other_n in range(m, MAX_PROOF_N + 2):
            if other_n != n:
                assert not verify_consistency(m, other_n, old_root, TREE.root(other_n), proof)


def test_trivial_consistency_cases() -> None:
    r5 = TREE.root(5)
    assert verify_consistency(5, 5, r5, r5, [])
    assert not verify_consistency(5, 5, r5, TREE.root(6), [])
    assert not verify_consistency(5, 5, r5, r5, [r5])
    assert verify_consistency(0, 5, EMPTY_ROOT, r5, [])
    assert not verify_consistency(0, 5, r5, r5, [])
    assert not verify_consistency(6, 5, TREE.root(6), r5, TREE.consistency_proof(5, 6))
    with pytest.raises(ValueError, match="old size"):
        consistency_plan(6, 5)


# --- stored subtrees: what a database adapter will do ----------------------------------------


def test_plans_let_an_adapter_fetch_all_nodes_at_once() -> None:
    rows = {
        Node(level, index): TREE.hash_at(level, index)
        for level in range(7)
        for index in range(TREE.size >> level)
    }
    plan = inclusion_plan(37, 61)
    needed = plan_nodes(plan)
    assert len(needed) <= 2 * 6
    fetched = {node: rows[node] for node in needed}
    assert assemble(plan, fetched) == ref_path(37, ENTRIES[:61])
    plan = consistency_plan(23, 77)
    fetched = {node: rows[node] for node in plan_nodes(plan)}
    assert assemble(plan, fetched) == ref_proof(23, ENTRIES[:77])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=3000))
def test_stored_proofs_equal_list_proofs_on_bigger_trees(data: st.DataObject, n: int) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = MemoryTree(leaves)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    m = data.draw(st.integers(min_value=0, max_value=n))
    assert tree.root() == root(leaves)
    proof = tree.inclusion_proof(i)
    assert proof == inclusion_proof(i, leaves)
    assert verify_inclusion(leaves[i], i, n, proof, tree.root())
    cproof = tree.consistency_proof(m)
    assert cproof == consistency_proof(m, leaves)
    assert verify_consistency(m, n, tree.root(m), tree.root(), cproof)


# --- interoperability: a real Certificate Transparency log ------------------------------------
# Responses of Google's Argon 2020 CT log (get-sth, get-entries 10000, get-proof-by-hash,
# get-sth-consistency?first=3654490), as kept in golang.org/x/mod sumdb/tlog/testdata/argon2020.

_ARGON_SIZE = 961984013
_ARGON_ROOT = "dwlueapdd7LaOEnX2W2Wp9v2XE+KzejHRQGHwEx0oaM="
_ARGON_OLD_SIZE = 3654490
_ARGON_OLD_ROOT = "AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ="
_ARGON_LEAF_10000 = (
    "AAAAAAFelPhqUwAAAAViMIIFXjCCBEagAwIBAgIRAOodHzZdqWIFzYyl/SovhCMwDQYJKoZIhvcNAQELBQAwgZAx"
    "CzAJBgNVBAYTAkdCMRswGQYDVQQIExJHcmVhdGVyIE1hbmNoZXN0ZXIxEDAOBgNVBAcTB1NhbGZvcmQxGjAYBgNV"
    "BAoTEUNPTU9ETyBDQSBMaW1pdGVkMTYwNAYDVQQDEy1DT01PRE8gUlNBIERvbWFpbiBWYWxpZGF0aW9uIFNlY3Vy"
    "ZSBTZXJ2ZXIgQ0EwHhcNMTcwMjE1MDAwMDAwWhcNMjAwNDE2MjM1OTU5WjBfMSEwHwYDVQQLExhEb21haW4gQ29u"
    "dHJvbCBWYWxpZGF0ZWQxHTAbBgNVBAsTFFBvc2l0aXZlU1NMIFdpbGRjYXJkMRswGQYDVQQDDBIqLmxhbmRsb3Jk"
    "cy5jb20uYXUwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQCtPBKKHj4zdrGlCjgTHzb5gx9JCs97DwvB"
    "z60f14gDufF2haWbOxyJ0a3opAMsZnOr8HkARVCwxdqG/PTfACcb0QM7FOlzvxGqxataTYiChwvkkif8F9GlJw69"
    "HuHgzhusPf1Ytfk3ps1PRC14MkyrS4kwPrk/Le4XdkqRpRw62wG4V6IkbzsNMEOl1H8EgUbfyapdOcVxHjIzvBVy"
    "56fBRKG05Fr5wNq3Acak5kYZdNsLhhmlrqAfAjiombW3hb3V5blJdRC0BDdYHv2+zKey6LqJ1FDoXo6IzbzPpC+a"
    "ifZy47YX+/N1U64Qn5xlDg7mOP8JXfkNJHbU1TJZHif5AgMBAAGjggHhMIIB3TAfBgNVHSMEGDAWgBSQr2o6lFoL"
    "2JDqElZz30O0Oija5zAdBgNVHQ4EFgQUNQSLjkoz01I+iuuoC5lgEp0anhcwDgYDVR0PAQH/BAQDAgWgMAwGA1Ud"
    "EwEB/wQCMAAwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUFBwMCME8GA1UdIARIMEYwOgYLKwYBBAGyMQECAgcw"
    "KzApBggrBgEFBQcCARYdaHR0cHM6Ly9zZWN1cmUuY29tb2RvLmNvbS9DUFMwCAYGZ4EMAQIBMFQGA1UdHwRNMEsw"
    "SaBHoEWGQ2h0dHA6Ly9jcmwuY29tb2RvY2EuY29tL0NPTU9ET1JTQURvbWFpblZhbGlkYXRpb25TZWN1cmVTZXJ2"
    "ZXJDQS5jcmwwgYUGCCsGAQUFBwEBBHkwdzBPBggrBgEFBQcwAoZDaHR0cDovL2NydC5jb21vZG9jYS5jb20vQ09N"
    "T0RPUlNBRG9tYWluVmFsaWRhdGlvblNlY3VyZVNlcnZlckNBLmNydDAkBggrBgEFBQcwAYYYaHR0cDovL29jc3Au"
    "Y29tb2RvY2EuY29tMC8GA1UdEQQoMCaCEioubGFuZGxvcmRzLmNvbS5hdYIQbGFuZGxvcmRzLmNvbS5hdTANBgkq"
    "hkiG9w0BAQsFAAOCAQEACyHqxUzrexToY7tOv4+kyGPP2D27P1tQpyzeAl1bPObiMhNK2b9vvBLDWAaqm8c0YL1h"
    "+DBdLoWzf3xFsIkTCVCjWJTNSNlcYtgRk6or1s7jWsfXzWqsnPjPPmTIOCw7EfH7Yme3oxPs3UUsmShAgPwNohAt"
    "L9GqlqMiKM6v1WU3NHt01jEoNP23LRa6KeNK6AH6WHJykzL223IlhgXjHTeuQj6lR+TNrQXJuhwTXYe+20rrpPQx"
    "c1Pn7AqnvfWgmicRQ7gdIcr4V6+ecTvLfNOaJ0ZYe5G5giuAAdTm7F57pk04f4gyZNYKrj88mvbkoriN8b6jcWEx"
    "trYO6bm2TwAA"
)
_ARGON_AUDIT_PATH = """
T46AmJsuOM/gFiGlUp+IJJebp+1Z5qratFNW7U0JyOQ= 9Jj1Feodn42uRYEfffkV4HF/EIPFQ5Zo9IwkxbQ2uhk=
D53/1oCNebF4J59HHgioovKZxrmrKcVuCVhy3Izg8Ck= wSFDgGSrsXRPA+1c8WHoAFCsWeUv8NDyP/Q/SgsyVyY=
516/RcwsgdwdzHn18v1dJHqBkgFUbNhmCIWOGjsMJaE= naTFY2ajLFgrgs5XUl+zJYZnnlJksLGsA1VYwpLfqbY=
mKBRJo6qao+0Kdh/rhGkZUbHUAxMhrtrclrTpIbNjIg= Co4ueOFE7lpifLio94irxxsv1wFMMaK3tPu2ZQkHlro=
yRgy800K6JMYCC05sWfqF2kvCg2riT/pVM+nEa6V5+0= n2O38XJZC8/Wpbwi9HhgVizlUyeUHVZvYyQB1607MRc=
go3tAjuNfNSCj87y2Rg1xOroDknGN1eaf3cgvzObf7Q= 8D0Mj3/J7ySSnFb0afIHYXv6rlOhECnsebY6XKi1IR8=
6rcez46ZU8M5vPiWVMAUfJfAOV0pPP/mch/lYzZhj/M= 2rtIeXrPvSdUyHc5maIgSAVB2BzaKaupWxSAiVayDE4=
nniW/IMFQPN5xw8UsHFn7CRStYbm1gLu7NNa6kkRqJQ= mRPPi7sQS22MduIEyvcNzCNFqIt6kLwYPkNKrVtIcu8=
JvTivzESNS9wHI8aph5a7uieVmtS/p9PciMZ5D6GyOo= UTyQd+Ym0wY4zG+qK806bBORwi1CSVvFQ/KknnqoZj8=
hXODrqN+ff+U6zPqRQ+ZQKs6im1fPcxIerDSfNwflhE= II6GE+WY/DrpZzfHztLwkR46o37zVkNLCyPYlf68zA0=
d609kWWcNBllbA8Jb/ad4XAVVGnScLRmtP8FYyr+Dck= rikBsP0G0gioXRpBFED2CzQdSLrGPvRd0bEcbEZw1rI=
GXIElfmnRuWfbA4z7ubV/UwlpSRUbUeec7oL5HDDnh0= pR0SH/NYP6s9+8azWwaeUXA4Ze/3WCIgMfh5YW6wvcE=
f3GuAKYVrF8RBg3s15jvA/YvV9oAliWtzP/imwPhQVA= WHn8zDxlVgkV+lSlmzaOdfSBrTHoRr5nT3d76q0KKWE=
f2uV2ZxVgULzLPKuZcowRY3ZY7fRlX59iDBjV1R8kNQ= NzQVjJsvQwbi7WStMr9oFkh9VbHfK7LB6o7WwAqwNTs=
C0LttBeYHZHgL+032JIcJC3CTBIyza/hsbmJUgJfmDI= nixU5CWTFVDlF4BGdcU6kA7WSYurEpe9jRWc+F/7sOc=
"""
_ARGON_CONSISTENCY = """
80Sfbj6UQEdVSZCSIgh9NMPj3vCBzcc1A48B2crJSWg= FZcrgAHUk6nNPviJZq8kEK6jCG1d18pJOFE45ZDc1TQ=
Q67reWXmPBo1UfmwBap4Xi9PMPfFdUSSw3WGlRZdG7k= eJ7CyhR4PxzBxDIsWgrVYW1eFUb9ndgf46tFmiqVrxA=
QrDwp062Grm5WY8KdrhFsBuuNjGzRox2Jb8PmVL5OYw= XM4YMjMEdLH/XJam/ZWyaP14k3cmsOtnPsOWQ54lW1s=
SGiBh+jOTGccXU48ZzgQ88lRcBmtB4wz4oSDndv2QTg= WAS6txqNLYKGL1GdBdpqmV42TTfn6cJsuDsqLXuTCNI=
QFmRS0rirUA7ZN3lxFjDncV+E1OCrn3NUB4RCp+5fzc= Hdbp7It2XBNZmNDBpCN/KPd7vfVqxgzwOosqVIaEA9E=
mxvHL0ZiblBdD7j7pIa1jlfB0gSqfJ6oX0UGo7L0VsU= q5hjyvoW6TL/PThgcitpDcSTrnKX2p1+aqscqH2euRA=
jTOWDqt3IHj2NVFeezyBz2ofpru+ztEywqKUAfFclKI= GIRn0w3HqJdvU9j1WVD//eR6lk2AaTVjyzjsJNP8U88=
x52GJvxG81fnQBrgOTbll1A5tz95/LXK0Ag1NhB0r1I= 6/0OqrcTgc3o5dD5PymmoC96lB9yLPFuTHVvLy8fSGk=
Gf+iKLfcXO5l4JEFmsZvSdG5q1uEeWPfYLrds6pmjz0= DGuaco+McyM3AfRSF6qX7RwSetwe2ieYJmxw5e9rVx0=
2tQJ9V32hnYp+fdpP6TcjmgJmLeNVOMKM0Ml1kk4cNU= 3PapK+IkyJr8I9yAErAmzuZezzLMzsg+PfeRCgNW8NQ=
s6xiYeejb+wtqHA+URJZ2I/SCPyIW8coP6aB00FJbMY= z9lSpmdTcr5M5ZzKlc4EPh3SrSypKFdk6JUF/UccaZU=
GXIElfmnRuWfbA4z7ubV/UwlpSRUbUeec7oL5HDDnh0= pR0SH/NYP6s9+8azWwaeUXA4Ze/3WCIgMfh5YW6wvcE=
f3GuAKYVrF8RBg3s15jvA/YvV9oAliWtzP/imwPhQVA= WHn8zDxlVgkV+lSlmzaOdfSBrTHoRr5nT3d76q0KKWE=
f2uV2ZxVgULzLPKuZcowRY3ZY7fRlX59iDBjV1R8kNQ= NzQVjJsvQwbi7WStMr9oFkh9VbHfK7LB6o7WwAqwNTs=
C0LttBeYHZHgL+032JIcJC3CTBIyza/hsbmJUgJfmDI= nixU5CWTFVDlF4BGdcU6kA7WSYurEpe9jRWc+F/7sOc=
"""


def _hashes(text: str) -> list[bytes]:
    return [base64.b64decode(item) for item in text.split()]


def test_verifies_a_real_certificate_transparency_inclusion_proof() -> None:
    leaf = merkle.leaf_hash(base64.b64decode(_ARGON_LEAF_10000))
    proof = _hashes(_ARGON_AUDIT_PATH)
    argon_root = base64.b64decode(_ARGON_ROOT)
    assert verify_inclusion(leaf, 10000, _ARGON_SIZE, proof, argon_root)
    assert not verify_inclusion(leaf, 10001, _ARGON_SIZE, proof, argon_root)
    assert not verify_inclusion(leaf, 10000, _ARGON_SIZE, proof[::-1], argon_root)


def test_verifies_a_real_certificate_transparency_consistency_proof() -> None:
    proof = _hashes(_ARGON_CONSISTENCY)
    old_root = base64.b64decode(_ARGON_OLD_ROOT)
    new_root = base64.b64decode(_ARGON_ROOT)
    assert verify_consistency(_ARGON_OLD_SIZE, _ARGON_SIZE, old_root, new_root, proof)
    assert not verify_consistency(_ARGON_OLD_SIZE + 1, _ARGON_SIZE, old_root, new_root, proof)
    assert not verify_consistency(_ARGON_OLD_SIZE, _ARGON_SIZE, new_root, new_root, proof)
    # The plan for these sizes names as many hashes as the log sent.
    assert len(consistency_plan(_ARGON_OLD_SIZE, _ARGON_SIZE)) == len(proof)
    assert len(inclusion_plan(10000, _ARGON_SIZE)) == len(_hashes(_ARGON_AUDIT_PATH))
