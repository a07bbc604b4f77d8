"""Offline verification of the clinic's transparency-log proofs.

This file is self-contained: it needs only the Python standard library,
`cryptography` and `rfc8785`, so it can be copied out and run by anyone holding
a proof (police, a court, an expert) without access to the clinic:

    python standalone.py --key clinic.example/audit.vkey event.json event.tlog-proof
    python standalone.py consistency --key keys.txt old.checkpoint new.checkpoint proof

It checks, and says exactly why when something does not hold:

* the event's leaf hash (RFC 6962: SHA-256(0x00 || RFC 8785 canonical JSON));
* the inclusion proof (RFC 9162 section 2.1.3.2) up to the checkpoint's root;
* the checkpoint (c2sp.org/tlog-checkpoint), signed as a c2sp.org/signed-note by
  the clinic's Ed25519 key, whose verifier key you obtained from the clinic;
* with `consistency`: that a newer checkpoint extends one you kept earlier (RFC
  9162 section 2.1.4.2), so the log was only appended to, never rewritten.

Formats: c2sp.org/tlog-proof@v1, c2sp.org/tlog-checkpoint, c2sp.org/signed-note.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
ED25519 = 0x01
EM_DASH = "\u2014"


class VerificationError(Exception):
    """Something does not verify; the message says what."""


# -- RFC 6962 / 9162 hashing and proofs ------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(
    index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """RFC 9162 section 2.1.3.2: the root that the proof leads to, or an error."""
    if not 0 <= index < size:
        raise VerificationError(f"index {index} is outside a tree of size {size}")
    fn, sn, result = index, size - 1, hashed_leaf
    for sibling in proof:
        if len(sibling) != 32:
            raise VerificationError("a proof hash is not 32 bytes")
        if sn == 0:
            raise VerificationError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the inclusion proof is shorter than the tree is deep")
    return result


def verify_inclusion(
    index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    if root_from_inclusion_proof(index, size, hashed_leaf, proof) != root:
        raise VerificationError("the inclusion proof does not lead to the checkpoint's root hash")


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 section 2.1.4.2: the tree of `old_size` is a prefix of `new_size`."""
    if not 0 <= old_size <= new_size:
        raise VerificationError(f"sizes {old_size} and {new_size} are not in order")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise VerificationError("equal sizes need an empty proof and equal roots")
        return
    if old_size == 0:
        if proof:
            raise VerificationError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise VerificationError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for component in path[1:]:
        if sn == 0:
            raise VerificationError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            first = node_hash(component, first)
            second = node_hash(component, second)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            second = node_hash(second, component)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the consistency proof is too short")
    if first != old_root:
        raise VerificationError("the consistency proof does not lead to the older root")
    if second != new_root:
        raise VerificationError("the consistency proof does not lead to the newer root")


# -- signed notes -----------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes  # 4 bytes
    public_key: bytes  # 32 bytes, Ed25519

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


def key_id(name: str, public_key: bytes) -> bytes:
    """c2sp.org/signed-note: SHA-256(key name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def check_key_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise VerificationError(f"{name!r} is not a valid key name (no spaces or '+')")


def parse_verifier_key(text: str) -> VerifierKey:
    """`<name>+<8 hex digits>+<base64(0x01 || 32-byte Ed25519 key)>`."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise VerificationError("a verifier key is name+keyid+key")
    name, hex_id, encoded = parts
    check_key_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
        claimed = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError) as error:
        raise VerificationError(f"the verifier key is not well formed: {error}") from error
    if len(claimed) != 4 or len(raw) != 33 or raw[0] != ED25519:
        raise VerificationError("the verifier key is not an Ed25519 signed-note key")
    if key_id(name, raw[1:]) != claimed:
        raise VerificationError("the verifier key's id does not match its name and key")
    return VerifierKey(name, claimed, raw[1:])


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The text (with its final newline) and the (name, key id + signature) pairs."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise VerificationError("the note contains control characters")
    if not note.endswith("\n"):
        raise VerificationError("the note does not end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationError("the note has no blank line before its signatures")
    text, signature_block = note[: split + 1], note[split + 2 :]
    signatures = []
    for line in signature_block.rstrip("\n").split("\n"):
        if not line.startswith(f"{EM_DASH} "):
            raise VerificationError(f"not a signature line: {line[:40]!r}")
        fields = line[2:].split(" ")
        if len(fields) != 2:
            raise VerificationError("a signature line has the wrong number of fields")
        try:
            blob = base64.b64decode(fields[1], validate=True)
        except binascii.Error as error:
            raise VerificationError("a signature is not base64") from error
        if len(blob) < 5:
            raise VerificationError("a signature is too short")
        signatures.append((fields[0], blob))
    return text, signatures


def open_note(note: str, keys: Sequence[VerifierKey]) -> str:
    """The note's text, if a signature by one of `keys` verifies. Signatures by
    unknown keys are ignored; a known key's failing signature rejects the note."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text, signatures = split_note(note)
    verified = False
    for name, blob in signatures:
        for key in keys:
            if key.name == name and key.key_id == blob[:4]:
                try:
                    Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                        blob[4:], text.encode()
                    )
                except InvalidSignature as error:
                    raise VerificationError(f"the signature by {name} does not verify") from error
                verified = True
    if not verified:
        raise VerificationError("the note carries no signature by a trusted key")
    return text


# -- checkpoints and proofs -----------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root).decode(),
            *self.extensions,
        ]
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise VerificationError("a checkpoint is at least three non-empty lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not (size_text.isascii() and size_text.isdigit()) or (
        size_text != "0" and size_text.startswith("0")
    ):
        raise VerificationError("the checkpoint's tree size is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as error:
        raise VerificationError("the checkpoint's root hash is not base64") from error
    if len(root) != 32:
        raise VerificationError("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root, tuple(lines[3:-1]))


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None

    def text(self) -> str:
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.hashes]
        return "\n".join(lines) + "\n\n" + self.checkpoint_note


def parse_tlog_proof(text: str) -> TlogProof:
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise VerificationError("the proof has no blank line before its checkpoint")
    lines = head.split("\n")
    if lines[0] != PROOF_HEADER:
        raise VerificationError(f"the proof does not start with {PROOF_HEADER}")
    position = 1
    extra = None
    if position < len(lines) and lines[position].startswith("extra "):
        extra = base64.b64decode(lines[position][6:], validate=True)
        position += 1
    if position >= len(lines) or not lines[position].startswith("index "):
        raise VerificationError("the proof has no index line")
    index_text = lines[position][6:]
    if not (index_text.isascii() and index_text.isdigit()) or (
        index_text != "0" and index_text.startswith("0")
    ):
        raise VerificationError("the proof's index is not a decimal number")
    try:
        hashes = tuple(base64.b64decode(line, validate=True) for line in lines[position + 1 :])
    except binascii.Error as error:
        raise VerificationError("a proof hash is not base64") from error
    return TlogProof(int(index_text), hashes, note, extra)


def verify_entry(
    proof_text: str, entry: bytes, keys: Sequence[VerifierKey], origin: str | None = None
) -> Checkpoint:
    """Check that `entry` (the leaf bytes) is in the log the signed checkpoint
    describes. Returns the checkpoint; raises VerificationError saying why not."""
    proof = parse_tlog_proof(proof_text)
    checkpoint = parse_checkpoint(open_note(proof.checkpoint_note, keys))
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(f"the checkpoint is from log {checkpoint.origin!r}, not {origin!r}")
    verify_inclusion(proof.index, checkpoint.size, leaf_hash(entry), proof.hashes, checkpoint.root)
    return checkpoint


def parse_hash_lines(text: str) -> tuple[bytes, ...]:
    """A proof as one base64 SHA-256 hash a line (blank lines ignored)."""
    hashes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            digest = base64.b64decode(line.strip(), validate=True)
        except binascii.Error as error:
            raise VerificationError(f"line {number} of the proof is not base64") from error
        if len(digest) != 32:
            raise VerificationError(f"line {number} of the proof is not a 32-byte hash")
        hashes.append(digest)
    return tuple(hashes)


def verify_checkpoint_consistency(
    old_note: str,
    new_note: str,
    proof_text: str,
    keys: Sequence[VerifierKey],
    origin: str | None = None,
) -> tuple[Checkpoint, Checkpoint]:
    """Check that the log of the newer signed checkpoint extends the one of the
    older (both signed by a trusted key, same log): proof that nothing the older
    one covers was changed or removed since. Raises VerificationError saying why."""
    try:
        old = parse_checkpoint(open_note(old_note, keys))
    except VerificationError as error:
        raise VerificationError(f"the older checkpoint: {error}") from error
    try:
        new = parse_checkpoint(open_note(new_note, keys))
    except VerificationError as error:
        raise VerificationError(f"the newer checkpoint: {error}") from error
    if old.origin != new.origin:
        raise VerificationError(
            f"the checkpoints are of different logs ({old.origin!r}, {new.origin!r})"
        )
    if origin is not None and old.origin != origin:
        raise VerificationError(f"the checkpoints are from log {old.origin!r}, not {origin!r}")
    if new.size < old.size:
        raise VerificationError(
            f"the newer checkpoint covers {new.size} entries, fewer than the older one's "
            f"{old.size}: the log was truncated or rewritten"
        )
    try:
        verify_consistency(old.size, new.size, parse_hash_lines(proof_text), old.root, new.root)
    except VerificationError as error:
        raise VerificationError(
            f"the log was rewritten, or the proof is not for these checkpoints: {error}"
        ) from error
    return old, new


def canonical_entry(event_file_bytes: bytes) -> bytes:
    """The leaf bytes of an exported event: its RFC 8785 canonical JSON."""
    import rfc8785

    try:
        event = json.loads(event_file_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise VerificationError(f"the event file is not JSON: {error}") from error
    return rfc8785.dumps(event)


# -- release bundles ------------------------------------------------------------------

_SD = "https://forensic-care.org/fhir/StructureDefinition"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _extension(node: dict[str, Any], name: str) -> Any:
    for extension in node.get("extension", []):
        if extension.get("url") == f"{_SD}/{name}":
            return next(v for k, v in extension.items() if k.startswith("value"))
    return None


def _photo_sha256(media: dict[str, Any]) -> str | None:
    value = _extension(media.get("content", {}), "fc-sha256")
    return str(value) if value is not None else None


def verify_release(
    bundle: dict[str, Any],
    keys: Sequence[VerifierKey],
    photos: Sequence[tuple[str, bytes]] = (),
) -> list[str]:
    """Check a release bundle offline: the clinic's signature over its canonical
    form, the SHA-256 of every entry, and every custody event's inclusion in the
    custody log under the bundle's signed checkpoint; a released photograph's
    intake (its SHA-256 and size) likewise. Each downloaded original in `photos`
    (name, bytes) must be one of the bundle's photographs, byte for byte. Returns
    what was checked; raises VerificationError saying what is wrong."""
    import rfc8785
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if bundle.get("resourceType") != "Bundle" or not bundle.get("signature"):
        raise VerificationError("this is not a signed release bundle")
    unsigned = {key: value for key, value in bundle.items() if key != "signature"}
    signature = bundle["signature"]
    if isinstance(signature, list):  # bundles signed before it was one Signature
        signature = signature[0]
    try:
        jws = base64.b64decode(signature["data"], validate=True).decode()
        protected, payload, sig = jws.split(".")
        header = json.loads(_b64url_decode(protected))
    except (KeyError, ValueError, binascii.Error) as error:
        raise VerificationError(f"the signature is not a detached JWS: {error}") from error
    # "Ed25519" (RFC 9864); "EdDSA" on bundles signed before it.
    if payload or header.get("alg") not in ("Ed25519", "EdDSA"):
        raise VerificationError("the signature is not a detached Ed25519 JWS")
    signer = next((key for key in keys if str(key) == header.get("kid")), None)
    if signer is None:
        raise VerificationError("the bundle is not signed by a key you trust")
    signing_input = (
        f"{protected}.{base64.urlsafe_b64encode(rfc8785.dumps(unsigned)).rstrip(b'=').decode()}"
    )
    try:
        Ed25519PublicKey.from_public_bytes(signer.public_key).verify(
            _b64url_decode(sig), signing_input.encode()
        )
    except InvalidSignature as error:
        raise VerificationError("the signature does not verify: the bundle was changed") from error
    checked = [f"signed by {signer.name} ({signer.key_id.hex()})"]
    proofs = 0
    for number, entry in enumerate(bundle.get("entry", []), start=1):
        resource = entry.get("resource")
        claimed = _extension(entry, "fc-sha256")
        if claimed != hashlib.sha256(rfc8785.dumps(resource)).hexdigest():
            raise VerificationError(
                f"entry {number} ({entry.get('fullUrl')}) does not match its SHA-256"
            )
        leaf_text = _extension(entry, "fc-custody-leaf")
        if leaf_text is None:
            continue
        try:
            leaf = base64.b64decode(leaf_text, validate=True)
            event = json.loads(leaf)
        except (binascii.Error, ValueError) as error:
            raise VerificationError(
                f"entry {number}: the custody leaf is not well formed"
            ) from error
        if resource.get("resourceType") == "Media":
            # A photograph's intake: the log holds its SHA-256 and size as taken.
            if (
                event.get("action") != "photographed"
                or event.get("photo") != resource.get("id")
                or event.get("sha256") != _photo_sha256(resource)
                or event.get("size") != resource.get("content", {}).get("size")
            ):
                raise VerificationError(
                    f"entry {number}: the photograph does not match its log leaf"
                )
        else:
            focus = (resource.get("focus") or {}).get("display")
            if (
                event.get("item") != focus
                or event.get("action") != resource["code"]["coding"][0]["code"]
            ):
                raise VerificationError(
                    f"entry {number}: the custody event does not match its log leaf"
                )
        proof_text = _extension(entry, "fc-custody-proof")
        if proof_text is None:
            continue
        # Each proof carries the signed checkpoint it was made against.
        verify_entry(proof_text, leaf, keys)
        proofs += 1
    checked.append(f"{len(bundle.get('entry', []))} entries match their SHA-256")
    checked.append(f"{proofs} custody events proven in the signed custody log")
    released = {
        _photo_sha256(entry["resource"]): entry["resource"]
        for entry in bundle.get("entry", [])
        if entry.get("resource", {}).get("resourceType") == "Media"
    }
    for name, data in photos:
        media = released.get(hashlib.sha256(data).hexdigest())
        if media is None or media.get("content", {}).get("size") != len(data):
            raise VerificationError(
                f"{name} is not one of the photographs of this release (or it was changed)"
            )
        checked.append(f"{name} is Media/{media['id']}, byte for byte as photographed")
    return checked


def _read_keys(key: str) -> list[VerifierKey]:
    key_text = Path(key).read_text() if Path(key).exists() else key
    return [
        parse_verifier_key(line)
        for line in key_text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def consistency_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="clinic-verify consistency",
        description="Check that a newer signed checkpoint of a clinic log extends one you "
        "kept earlier: the log was only appended to, never rewritten.",
    )
    parser.add_argument(
        "--key", required=True, help="the clinic's verifier key, or a file of them (one a line)"
    )
    parser.add_argument(
        "--origin", help="the log's origin you expect (e.g. clinic.example/custody)"
    )
    parser.add_argument("old", type=Path, help="the checkpoint you kept (a signed note)")
    parser.add_argument("new", type=Path, help="the newer checkpoint")
    parser.add_argument("proof", type=Path, help="the consistency proof: one base64 hash a line")
    args = parser.parse_args(argv)
    try:
        old, new = verify_checkpoint_consistency(
            args.old.read_text(),
            args.new.read_text(),
            args.proof.read_text(),
            _read_keys(args.key),
            args.origin,
        )
    except (VerificationError, OSError, UnicodeDecodeError) as error:
        print(f"NOT VALID: {error}")
        return 1
    print(
        f"VALID: {new.origin} at {new.size} entries extends the checkpoint you kept "
        f"at {old.size} entries; both signed by the clinic"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["consistency"]:
        return consistency_main(arguments[1:])
    parser = argparse.ArgumentParser(
        prog="clinic-verify",
        description="Verify that an event is in the clinic's log, offline, with the clinic's "
        "public key. `clinic-verify consistency --help`: check a newer checkpoint against "
        "one you kept.",
    )
    parser.add_argument(
        "--key",
        required=True,
        help="the clinic's verifier key, or a file holding it (one per line)",
    )
    parser.add_argument(
        "--origin", help="the log's origin you expect (e.g. clinic.example/custody)"
    )
    parser.add_argument(
        "event", type=Path, help="the event, as JSON; or, with --release, the release bundle"
    )
    parser.add_argument("proof", type=Path, nargs="?", help="its .tlog-proof file")
    parser.add_argument(
        "--release", action="store_true", help="verify a release bundle downloaded from the clinic"
    )
    parser.add_argument(
        "--photo",
        type=Path,
        action="append",
        default=[],
        help="with --release: a downloaded original to check against the bundle (repeat)",
    )
    args = parser.parse_args(arguments)
    try:
        keys = _read_keys(args.key)
        if args.release:
            try:
                bundle = json.loads(args.event.read_bytes())
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise VerificationError(f"the bundle is not JSON: {error}") from error
            photos = [(path.name, path.read_bytes()) for path in args.photo]
            for line in verify_release(bundle, keys, photos):
                print(f"VALID: {line}")
            return 0
        if args.proof is None:
            raise VerificationError("give the event's .tlog-proof file")
        entry = canonical_entry(args.event.read_bytes())
        checkpoint = verify_entry(args.proof.read_text(), entry, keys, args.origin)
    except (VerificationError, OSError) as error:
        print(f"NOT VALID: {error}")
        return 1
    print(
        f"VALID: the event is entry {parse_tlog_proof(args.proof.read_text()).index} of {checkpoint.origin}, "
        f"in the tree of {checkpoint.size} entries signed by the clinic"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
