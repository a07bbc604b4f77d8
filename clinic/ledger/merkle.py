"""RFC 6962 / RFC 9162 Merkle trees: hashing, the compact range, and proofs.

A tree of size n is the list of perfect subtrees that the binary digits of n
describe, left to right. Appending one leaf is O(log n) and needs only that list;
the root follows from it without reading any leaf. Every perfect subtree an
append completes is reported, so that it can be stored and proofs built from
O(log n) stored hashes instead of rehashing the log.

Verification lives in `standalone.py`, which third parties run on their own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat

from clinic.ledger.standalone import leaf_hash, node_hash

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "NodeKey",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "parent_level",
    "perfect_nodes",
    "subtree_hash",
    "tree_root",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()

# (level, index): the perfect subtree of 2**level leaves starting at index * 2**level.
NodeKey = tuple[int, int]


# Whole levels hashed with no Python function called per hash (a comprehension,
# or map() over C callables): that call, not SHA-256, is most of what a per-node
# loop costs. The digest method is taken unbound from the hash type itself (a
# methodcaller looks it up by name on every hash).
_sha256 = hashlib.sha256
_digest = type(_sha256()).digest


def leaf_hashes(leaves: Iterable[bytes]) -> list[bytes]:
    """`leaf_hash` of each leaf, in order."""
    return [_sha256(b"\x00" + leaf).digest() for leaf in leaves]


def parent_level(level: Sequence[bytes]) -> list[bytes]:
    """`node_hash` of each pair of neighbours (0 and 1, 2 and 3, ...): the level
    above in a perfect tree. An odd last hash has no parent at this level."""
    pairs = iter(level)
    return list(map(_digest, map(_sha256, map(b"".join, zip(repeat(b"\x01"), pairs, pairs)))))


class CompactRange:
    """The perfect subtrees of a tree, as (height, hash), tallest (leftmost) first."""

    def __init__(self, subtrees: Iterable[tuple[int, bytes]] = ()) -> None:
        self.subtrees: list[tuple[int, bytes]] = list(subtrees)

    @property
    def size(self) -> int:
        return sum(1 << height for height, _ in self.subtrees)

    def append(self, hashed_leaf: bytes) -> list[tuple[NodeKey, bytes]]:
        """Add a leaf; return every perfect subtree this completes, leaf first."""
        index = self.size
        height, digest = 0, hashed_leaf
        completed = [((0, index), hashed_leaf)]
        while self.subtrees and self.subtrees[-1][0] == height:
            _, left = self.subtrees.pop()
            digest = node_hash(left, digest)
            height += 1
            completed.append(((height, index >> height), digest))
        self.subtrees.append((height, digest))
        return completed

    def root(self) -> bytes:
        if not self.subtrees:
            return EMPTY_ROOT
        digest = self.subtrees[-1][1]
        for _, left in reversed(self.subtrees[:-1]):
            digest = node_hash(left, digest)
        return digest

    def to_json(self) -> list[list[int | str]]:
        return [[height, digest.hex()] for height, digest in self.subtrees]

    @classmethod
    def from_json(cls, data: list[list[int | str]]) -> CompactRange:
        return cls((int(height), bytes.fromhex(str(digest))) for height, digest in data)


def tree_root(hashed_leaves: Iterable[bytes]) -> bytes:
    """The root of the tree of these leaf hashes (RFC 6962 MTH)."""
    compact = CompactRange()
    for hashed in hashed_leaves:
        compact.append(hashed)
    return compact.root()


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[NodeKey]:
    """The stored perfect subtrees whose hashes make up MTH(D[start:end]), for a
    range that starts on a boundary the tree's shape gives (as proofs' do)."""
    size = end - start
    if size <= 0:
        raise ValueError("empty range")
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return [(level, start >> level)]
    k = _split(size)
    return perfect_nodes(start, start + k) + perfect_nodes(start + k, end)


def subtree_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    size = end - start
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return nodes[(level, start >> level)]
    k = _split(size)
    return node_hash(subtree_hash(start, start + k, nodes), subtree_hash(start + k, end, nodes))


Ranges = list[tuple[int, int]]


def inclusion_ranges(index: int, size: int) -> Ranges:
    """RFC 9162 PATH(index, D[0:size]) as the leaf ranges of its hashes, leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")

    def path(m: int, start: int, end: int) -> Ranges:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, start, start + k), (start + k, end)]
        return [*path(m - k, start + k, end), (start, start + k)]

    return path(index, 0, size)


def consistency_ranges(old_size: int, new_size: int) -> Ranges:
    """RFC 9162 PROOF(old_size, D[0:new_size]) as leaf ranges."""
    if not 0 <= old_size <= new_size:
        raise ValueError("sizes out of order")
    if old_size in (0, new_size):
        return []

    def sub(m: int, start: int, end: int, complete: bool) -> Ranges:
        n = end - start
        if m == n:
            return [] if complete else [(start, end)]
        k = _split(n)
        if m <= k:
            return [*sub(m, start, start + k, complete), (start + k, end)]
        return [*sub(m - k, start + k, end, False), (start, start + k)]

    return sub(old_size, 0, new_size, True)


NodeLoader = Callable[[set[NodeKey]], Mapping[NodeKey, bytes]]


def _hashes(ranges: Ranges, load: NodeLoader) -> list[bytes]:
    needed = {key for start, end in ranges for key in perfect_nodes(start, end)}
    nodes = load(needed)
    return [subtree_hash(start, end, nodes) for start, end in ranges]


def inclusion_proof(index: int, size: int, load: NodeLoader) -> list[bytes]:
    return _hashes(inclusion_ranges(index, size), load)


def consistency_proof(old_size: int, new_size: int, load: NodeLoader) -> list[bytes]:
    return _hashes(consistency_ranges(old_size, new_size), load)
