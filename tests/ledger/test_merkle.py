"""RFC 6962 Merkle hashing against the published test vectors, and by property."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from clinic.ledger.merkle import EMPTY_ROOT, CompactRange, leaf_hash, node_hash, tree_root

# The certificate-transparency reference test vectors (RFC 6962 trees of 0..8 leaves).
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_known_answers_for_every_tree_size() -> None:
    compact = CompactRange()
    assert compact.root().hex() == ROOTS[0] == EMPTY_ROOT.hex()
    for size, leaf in enumerate(LEAVES, start=1):
        compact.append(leaf_hash(leaf))
        assert compact.size == size
        assert compact.root().hex() == ROOTS[size]


def _reference_root(hashes: list[bytes]) -> bytes:
    """MTH as RFC 6962 section 2.1 defines it, recursively."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    split = 1
    while split * 2 < len(hashes):
        split *= 2
    return node_hash(_reference_root(hashes[:split]), _reference_root(hashes[split:]))


@given(st.lists(st.binary(max_size=40), max_size=70))
def test_compact_range_equals_the_recursive_definition(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(leaf) for leaf in leaves]
    assert tree_root(hashes) == _reference_root(hashes)


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=40), st.data())
def test_the_compact_range_survives_serialisation(leaves: list[bytes], data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(leaves)))
    first = CompactRange()
    for leaf in leaves[:cut]:
        first.append(leaf_hash(leaf))
    resumed = CompactRange.from_json(first.to_json())
    for leaf in leaves[cut:]:
        resumed.append(leaf_hash(leaf))
    assert resumed.root() == tree_root(leaf_hash(leaf) for leaf in leaves)
