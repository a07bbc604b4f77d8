"""Signed notes and checkpoints against published examples and keys."""

from __future__ import annotations

import pytest

from clinic.ledger.note import generate_signer, parse_signer, sign_note
from clinic.ledger.standalone import (
    Checkpoint,
    VerificationError,
    open_note,
    parse_checkpoint,
    parse_tlog_proof,
    parse_verifier_key,
)

# golang.org/x/mod/sumdb/note (note_test.go and its package documentation).
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_LINE = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_LINE = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
# c2sp.org/signed-note, example section.
FOO_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# A checkpoint published by the Go checksum database, and its key (cmd/go/internal/modfetch/key.go).
SUMDB_KEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n49189689\nftjbAOzaupaIvaPo/G+Dk63nxOZ2s1OPOKIaPtXs7S4=\n\n"
    "\u2014 sum.golang.org Az3grlKZssqRoMNPpZfKt0TphbbcF+pzXqElURJKRNFKfaUAgqeI5k2AORH0QAhg/ebRwyIqD/OqP4oLtLnNumvOBAM=\n"
)


def test_signing_reproduces_the_published_go_note_byte_for_byte() -> None:
    signer = parse_signer(PETER_SIGNER)
    assert str(signer.verifier) == PETER_KEY
    assert sign_note(GO_TEXT, [signer]) == GO_TEXT + "\n" + PETER_LINE


@pytest.mark.parametrize(
    ("note", "keys", "text"),
    [
        (GO_TEXT + "\n" + PETER_LINE + ENOCH_LINE, [PETER_KEY], GO_TEXT),
        (GO_TEXT + "\n" + PETER_LINE + ENOCH_LINE, [ENOCH_KEY], GO_TEXT),
        (FOO_NOTE, [FOO_KEY], "This is an example message.\n"),
        (
            SUMDB_CHECKPOINT,
            [SUMDB_KEY],
            "go.sum database tree\n49189689\nftjbAOzaupaIvaPo/G+Dk63nxOZ2s1OPOKIaPtXs7S4=\n",
        ),
    ],
)
def test_published_notes_verify(note: str, keys: list[str], text: str) -> None:
    assert open_note(note, [parse_verifier_key(k) for k in keys]) == text


def test_the_published_checkpoint_parses() -> None:
    body = parse_checkpoint(open_note(SUMDB_CHECKPOINT, [parse_verifier_key(SUMDB_KEY)]))
    assert (body.origin, body.size, body.root.hex()[:8]) == (
        "go.sum database tree",
        49189689,
        "7ed8db00",
    )


@pytest.mark.parametrize(
    ("note", "keys", "message"),
    [
        (SUMDB_CHECKPOINT.replace("49189689", "49189690"), [SUMDB_KEY], "does not verify"),
        (FOO_NOTE.replace("example message", "exemple message"), [FOO_KEY], "does not verify"),
        (FOO_NOTE, [PETER_KEY], "no signature by a trusted key"),
        (FOO_NOTE.replace("\n\n", "\n"), [FOO_KEY], "no blank line"),
        (FOO_NOTE.replace("\u2014", "-"), [FOO_KEY], "not a signature line"),
        (FOO_NOTE.rstrip("\n"), [FOO_KEY], "does not end with a newline"),
        ("text\x07\n\n" + FOO_NOTE.split("\n\n")[1], [FOO_KEY], "control characters"),
    ],
)
def test_altered_or_untrusted_notes_are_refused(note: str, keys: list[str], message: str) -> None:
    with pytest.raises(VerificationError) as refused:
        open_note(note, [parse_verifier_key(k) for k in keys])
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "key",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+AhpcfQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    ],
)
def test_malformed_verifier_keys_are_refused(key: str) -> None:
    with pytest.raises(VerificationError):
        parse_verifier_key(key)


def test_a_fresh_key_signs_a_checkpoint_that_round_trips() -> None:
    signer = generate_signer("clinic.example/custody")
    checkpoint = Checkpoint("clinic.example/custody", 12, bytes(range(32)))
    note = sign_note(checkpoint.text(), [signer])
    assert (
        parse_checkpoint(open_note(note, [parse_verifier_key(str(signer.verifier))])) == checkpoint
    )
    assert parse_signer(signer.to_private_key_text()).verifier == signer.verifier


@pytest.mark.parametrize(
    "text",
    [
        "origin\n12\n",
        "origin\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "origin\n12\nnot base64!\n",
        "origin\n12\nAAEC\n",
        "origin\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\nextra\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(VerificationError):
        parse_checkpoint(text)


def test_tlog_proof_format_round_trips() -> None:
    from clinic.ledger.standalone import TlogProof

    proof = TlogProof(73894, (bytes(32), bytes(range(32))), SUMDB_CHECKPOINT, extra=b"context")
    text = proof.text()
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra Y29udGV4dA==\nindex 73894\n")
    assert parse_tlog_proof(text) == proof
    for broken in (
        text.replace("index 73894", "index 073894"),
        text.replace("@v1", "@v2"),
        text.replace("\n\n", "\n"),
    ):
        with pytest.raises(VerificationError):
            parse_tlog_proof(broken)
