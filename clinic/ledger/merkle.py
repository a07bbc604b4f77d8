"""RFC 6962 / RFC 9162 Merkle tree hashing with a compact range ("frontier").

A tree of size n is the list of perfect subtrees that the binary digits of n
describe, left to right. Appending one leaf is O(log n) and needs only that list;
the root follows from it without reading any leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class CompactRange:
    """The perfect subtrees of a tree, as (height, hash), tallest (leftmost) first."""

    def __init__(self, subtrees: Iterable[tuple[int, bytes]] = ()) -> None:
        self.subtrees: list[tuple[int, bytes]] = list(subtrees)

    @property
    def size(self) -> int:
        return sum(1 << height for height, _ in self.subtrees)

    def append(self, hashed_leaf: bytes) -> None:
        height, digest = 0, hashed_leaf
        while self.subtrees and self.subtrees[-1][0] == height:
            _, left = self.subtrees.pop()
            digest = node_hash(left, digest)
            height += 1
        self.subtrees.append((height, digest))

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
