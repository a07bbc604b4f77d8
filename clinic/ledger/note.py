"""Signing side of c2sp.org/signed-note with Ed25519; verification is in standalone.py.

Private keys use the signed-note signer key format,
`PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || 32-byte seed)>`, and live in
files readable only by their owner.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clinic.ledger.standalone import (
    ED25519,
    EM_DASH,
    VerificationError,
    VerifierKey,
    check_key_name,
    key_id,
)


@dataclass(frozen=True)
class Signer:
    name: str
    private_key: Ed25519PrivateKey

    @property
    def verifier(self) -> VerifierKey:
        public = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, key_id(self.name, public), public)

    def signature_line(self, text: str) -> str:
        signature = self.private_key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"

    def to_private_key_text(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"


def generate_signer(name: str) -> Signer:
    check_key_name(name)
    return Signer(name, Ed25519PrivateKey.generate())


def parse_signer(text: str) -> Signer:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise VerificationError("not a signed-note private key")
    name, hex_id, encoded = parts[2], parts[3], parts[4]
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) != 33 or raw[0] != ED25519:
        raise VerificationError("not an Ed25519 signed-note private key")
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.verifier.key_id.hex() != hex_id:
        raise VerificationError("the private key's id does not match its key")
    return signer


def sign_note(text: str, signers: list[Signer]) -> str:
    if not text.endswith("\n"):
        raise ValueError("a note's text ends with a newline")
    return text + "\n" + "".join(signer.signature_line(text) for signer in signers)


def write_private_key(path: Path, signer: Signer) -> None:
    """Create the key file with mode 0600; never overwrite an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(signer.to_private_key_text() + "\n")
