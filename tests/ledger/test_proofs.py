"""Inclusion and consistency proofs: published vectors, corruption, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic.ledger.merkle import (
    CompactRange,
    NodeKey,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)
from clinic.ledger.standalone import VerificationError, verify_consistency, verify_inclusion
from tests.ledger.test_merkle import LEAVES, ROOTS

h = bytes.fromhex

# transparency-dev/merkle testonly/reference_test.go (RFC 6962 paths, 0-based index).
INCLUSION = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
# RFC 6962 / certificate-transparency consistency vectors.
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def build(leaves: list[bytes]) -> tuple[dict[NodeKey, bytes], list[bytes]]:
    """Stored nodes and the root after each append."""
    compact, nodes, roots = CompactRange(), {}, []
    for leaf in leaves:
        nodes.update(compact.append(leaf_hash(leaf)))
        roots.append(compact.root())
    return nodes, roots


def loader(nodes: dict[NodeKey, bytes]):  # type: ignore[no-untyped-def]
    return lambda keys: {key: nodes[key] for key in keys}


NODES, _ = build(LEAVES)


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_known_answers(index: int, size: int, expected: list[str]) -> None:
    proof = inclusion_proof(index, size, loader(NODES))
    assert [p.hex() for p in proof] == expected
    verify_inclusion(index, size, leaf_hash(LEAVES[index]), proof, h(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_consistency_known_answers(old: int, new: int, expected: list[str]) -> None:
    proof = consistency_proof(old, new, loader(NODES))
    assert [p.hex() for p in proof] == expected
    verify_consistency(old, new, proof, h(ROOTS[old]), h(ROOTS[new]))


def _corruptions(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):  # type: ignore[no-untyped-def]
    """The corruption probes of transparency-dev/merkle's verify tests."""
    some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    yield index - 1, size, proof, root, leaf
    yield index + 1, size, proof, root, leaf
    yield index ^ 2, size, proof, root, leaf
    yield index, size * 2, proof, root, leaf
    yield index, size // 2, proof, root, leaf
    yield index, size, proof, root, b"WrongLeaf"
    yield index, size, proof, h(ROOTS[0]), leaf
    yield index, size, proof, some, leaf
    yield index, size, [*proof, b""], root, leaf
    yield index, size, [*proof, root], root, leaf
    yield index, size, [b"", *proof], root, leaf
    yield index, size, [root, *proof], root, leaf
    for position in range(len(proof)):
        flipped = list(proof)
        flipped[position] = bytes([proof[position][0] ^ 8]) + proof[position][1:]
        yield index, size, flipped, root, leaf
    if proof:
        yield index, size, proof[:-1], root, leaf
    if len(proof) > 1:
        yield index, size, [proof[0], some, *proof[1:]], root, leaf


@pytest.mark.parametrize(("index", "size", "expected"), [v for v in INCLUSION if v[1] > 1])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, expected: list[str]) -> None:
    proof = [h(x) for x in expected]
    for bad in _corruptions(index, size, proof, h(ROOTS[size]), leaf_hash(LEAVES[index])):
        with pytest.raises(VerificationError):
            verify_inclusion(bad[0], bad[1], bad[4], bad[2], bad[3])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=120), st.data())
def test_every_proof_of_any_log_verifies_and_any_changed_byte_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    nodes, roots = build(leaves)
    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, size, loader(nodes))
    verify_inclusion(index, size, leaf_hash(leaves[index]), proof, roots[size - 1])
    old = data.draw(st.integers(1, size), label="old")
    consistency = consistency_proof(old, size, loader(nodes))
    verify_consistency(old, size, consistency, roots[old - 1], roots[size - 1])
    for hashes, check in ((proof, "inclusion"), (consistency, "consistency")):
        if not hashes:
            continue
        position = data.draw(st.integers(0, len(hashes) - 1))
        byte = data.draw(st.integers(0, 31))
        changed = list(hashes)
        changed[position] = (
            changed[position][:byte]
            + bytes([changed[position][byte] ^ 0x01])
            + changed[position][byte + 1 :]
        )
        if check == "inclusion":
            with pytest.raises(VerificationError):
                verify_inclusion(index, size, leaf_hash(leaves[index]), changed, roots[size - 1])
        else:
            with pytest.raises(VerificationError):
                verify_consistency(old, size, changed, roots[old - 1], roots[size - 1])
