"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs, and structures for appends at scale.

Hashing (RFC 9162 section 2.1.1)::

    leaf hash = SHA-256(0x00 || entry bytes)
    node hash = SHA-256(0x01 || left || right)
    MTH({})   = SHA-256("")
    MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

Every hash a proof needs is the hash of a *complete subtree*: 2**level leaves starting at leaf
``index * 2**level`` (written ``Node(level, index)``), or the fold of a few of them along the
ragged right edge of the tree. So a log that keeps the hash of every complete subtree (about
two hashes per leaf, written once, never updated) answers any root, inclusion or consistency
question for any past size with O(log n) look-ups:

* ``root_plan`` / ``inclusion_plan`` / ``consistency_plan`` say which nodes are needed (pure
  arithmetic; a database adapter fetches them in one query), ``assemble`` folds them;
* ``SubtreeHashes`` is the one-method read port (``hash_at``), ``MemoryTree`` an in-memory
  store, ``Frontier`` the O(log n) right edge a writer keeps to append and to know its root.

The list functions (``root``, ``inclusion_proof``, ``consistency_proof``) take all leaf hashes
and cost O(n); they are the reference for the stored-subtree path and fine for small trees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# A proof for a tree of at most 2**64 leaves has at most 64 hashes (consistency: 64 + 1).
MAX_PROOF_LENGTH = 65


@dataclass(frozen=True, slots=True)
class Node:
    """A complete subtree: ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int


# One proof element: the fold of these complete subtrees (left to right), see ``fold``.
ProofPlan = list[tuple[Node, ...]]


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """Largest power of two strictly smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _pieces(start: int, end: int) -> tuple[Node, ...]:
    """Decompose [start, end) into the complete subtrees RFC 6962 hashes it from, left first.

    Valid for the ranges RFC 6962 recursion produces: ``start`` is a multiple of the largest
    power of two not above ``end - start``, so every piece is aligned.
    """
    pieces: list[Node] = []
    size = end - start
    while size > 0:
        level = size.bit_length() - 1
        pieces.append(Node(level, start >> level))
        start += 1 << level
        size -= 1 << level
    return tuple(pieces)


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its complete-subtree pieces (largest first), folded from the right."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_plan(size: int) -> tuple[Node, ...]:
    """Complete subtrees whose fold is the root of a tree of ``size`` leaves (empty for 0)."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    return _pieces(0, size)


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """Nodes making up the RFC 9162 inclusion proof PATH(index, D[size]), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    plan: ProofPlan = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            plan.append(_pieces(start + k, end))
            end = start + k
        else:
            plan.append(_pieces(start, start + k))
            start += k
    plan.reverse()
    return plan


def consistency_plan(old_size: int, new_size: int) -> ProofPlan:
    """Nodes making up the RFC 9162 consistency proof PROOF(old_size, D[new_size])."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"need 0 <= old size <= new size, got {old_size} and {new_size}")
    if old_size in (0, new_size):
        return []
    plan: ProofPlan = []
    m, start, end = old_size, 0, new_size
    whole_old_tree = True  # RFC 9162 SUBPROOF's flag b
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            plan.append(_pieces(start + k, end))
            end = start + k
        else:
            plan.append(_pieces(start, start + k))
            m -= k
            start += k
            whole_old_tree = False
    if not whole_old_tree:
        plan.append(_pieces(start, end))
    plan.reverse()
    return plan


def plan_nodes(plan: Iterable[tuple[Node, ...]]) -> set[Node]:
    """Every distinct node a plan needs, e.g. to fetch them from a database in one query."""
    return {node for element in plan for node in element}


def assemble(plan: Iterable[tuple[Node, ...]], hashes: Mapping[Node, bytes]) -> list[bytes]:
    """Turn a proof plan into proof hashes, given the hash of every node it names."""
    return [fold([hashes[node] for node in element]) for element in plan]


class SubtreeHashes(Protocol):
    """Read access to the stored hashes of complete subtrees of one log."""

    def hash_at(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``Node(level, index)``; LookupError if not stored."""
        ...


def _fetch(store: SubtreeHashes, plan: ProofPlan) -> list[bytes]:
    return assemble(
        plan, {node: store.hash_at(node.level, node.index) for node in plan_nodes(plan)}
    )


def root_from(store: SubtreeHashes, size: int) -> bytes:
    """Root hash of the first ``size`` leaves of a stored tree, in O(log n) look-ups."""
    return fold([store.hash_at(node.level, node.index) for node in root_plan(size)])


def inclusion_proof_from(store: SubtreeHashes, index: int, size: int) -> list[bytes]:
    """Inclusion proof for leaf ``index`` in the tree of ``size`` leaves of a stored tree."""
    return _fetch(store, inclusion_plan(index, size))


def consistency_proof_from(store: SubtreeHashes, old_size: int, new_size: int) -> list[bytes]:
    """Consistency proof from ``old_size`` to ``new_size`` leaves of a stored tree."""
    return _fetch(store, consistency_plan(old_size, new_size))


class _LeafList:
    """Complete-subtree hashes computed on demand from a plain list of leaf hashes."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._leaves = leaf_hashes

    def hash_at(self, level: int, index: int) -> bytes:
        start = index << level
        layer = list(self._leaves[start : start + (1 << level)])
        if len(layer) != 1 << level:
            raise LookupError(f"subtree {Node(level, index)} is not complete")
        while len(layer) > 1:
            layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
        return layer[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash (MTH) of a list of leaf hashes; SHA-256("") for an empty list."""
    return root_from(_LeafList(leaf_hashes), len(leaf_hashes))


def inclusion_proof(leaf_index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Inclusion proof for one leaf in the tree made of all of ``leaf_hashes``."""
    return inclusion_proof_from(_LeafList(leaf_hashes), leaf_index, len(leaf_hashes))


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Consistency proof from the first ``old_size`` leaves to all of ``leaf_hashes``."""
    return consistency_proof_from(_LeafList(leaf_hashes), old_size, len(leaf_hashes))


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def root_from_inclusion_proof(
    leaf_hash: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """Root implied by an inclusion proof (RFC 9162 section 2.1.3.2), or None if ill-formed."""
    if not 0 <= leaf_index < tree_size or len(proof) > MAX_PROOF_LENGTH:
        return None
    if not _well_formed(leaf_hash, *proof):
        return None
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an RFC 9162 inclusion proof of ``leaf_hash`` at ``index`` against ``root``."""
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    return computed is not None and _well_formed(root) and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check an RFC 9162 consistency proof (section 2.1.4.2) between two tree heads."""
    if not 0 <= old_size <= new_size or len(proof) > MAX_PROOF_LENGTH:
        return False
    if not _well_formed(old_root, new_root, *proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty one; there is nothing to prove.
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class NewNode(NamedTuple):
    """A complete subtree hash that became known on an append; persist it as written."""

    node: Node
    hash: bytes


class Frontier:
    """The right edge of a growing tree: O(log n) state, O(log n) appends, cheap current root.

    It holds one complete-subtree hash per set bit of the size (largest first). ``append``
    returns every complete subtree the new leaf closes (the leaf itself included), which is
    exactly what a store must add to keep answering ``hash_at``.
    """

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        if size < 0 or len(edge) != size.bit_count() or not _well_formed(*edge):
            raise ValueError("a frontier needs one 32-byte hash per set bit of its size")
        self._size = size
        self._edge = list(edge)

    @classmethod
    def from_store(cls, store: SubtreeHashes, size: int) -> Frontier:
        """Rebuild the frontier of the first ``size`` leaves from stored subtree hashes."""
        return cls(size, [store.hash_at(node.level, node.index) for node in root_plan(size)])

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def edge(self) -> tuple[bytes, ...]:
        """The complete-subtree hashes along the right edge, largest subtree first."""
        return tuple(self._edge)

    def append(self, leaf_hash: bytes) -> list[NewNode]:
        """Add one leaf hash; return the complete subtrees (leaf first) it closes."""
        if not _well_formed(leaf_hash):
            raise ValueError("a leaf hash is 32 bytes")
        index = self._size
        h = leaf_hash
        created = [NewNode(Node(0, index), h)]
        level = 0
        while index & 1:
            h = node_hash(self._edge.pop(), h)
            index >>= 1
            level += 1
            created.append(NewNode(Node(level, index), h))
        self._edge.append(h)
        self._size += 1
        return created

    def root(self) -> bytes:
        """Root hash of the tree at its current size."""
        return fold(self._edge)


class MemoryTree:
    """An in-memory log tree keeping every complete subtree hash (about 2n hashes).

    The reference ``SubtreeHashes`` store: a database adapter persists the same
    ``(level, index, hash)`` rows that ``append`` produces and reads them back by ``hash_at``.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        self._frontier = Frontier()
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        """Number of leaves in the tree."""
        return self._frontier.size

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash and return its leaf index."""
        for new in self._frontier.append(leaf_hash):
            if new.node.level == len(self._levels):
                self._levels.append([])
            self._levels[new.node.level].append(new.hash)
        return self._frontier.size - 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for h in leaf_hashes:
            self.append(h)

    def hash_at(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``Node(level, index)``; LookupError if not complete."""
        if 0 <= level < len(self._levels) and 0 <= index < len(self._levels[level]):
            return self._levels[level][index]
        raise LookupError(f"subtree {Node(level, index)} is not complete in this tree")

    def root(self, size: int | None = None) -> bytes:
        """Root hash at ``size`` leaves (default: the current size)."""
        if size is None:
            return self._frontier.root()
        self._check_size(size)
        return root_from(self, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of leaf ``index`` in the tree at ``size`` (default: current)."""
        size = self.size if size is None else self._check_size(size)
        return inclusion_proof_from(self, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof from ``old_size`` to ``new_size`` leaves (default: current)."""
        new_size = self.size if new_size is None else self._check_size(new_size)
        return consistency_proof_from(self, old_size, new_size)

    def _check_size(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside 0..{self.size}")
        return size
