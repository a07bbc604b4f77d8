"""A small software WebAuthn authenticator for tests: real EC P-256 keys
(`cryptography`), real CBOR authenticator data and attestation ("none"), answers
in the JSON form browsers' scripts send (base64url). Every part of an answer can be
bent (origin, RP ID, flags, counter, challenge) to play an attacker or a broken
device."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def page_options(page: str) -> dict[str, Any]:
    """The options a page gives static/passkey.js (its data-passkey-options)."""
    found = re.search(r'data-passkey-options="([^"]*)"', page)
    assert found, "no passkey options on the page"
    options: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return options


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    origin: str = "http://localhost"
    rp_id: str = "localhost"
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        verified: bool = True,
        challenge: str | None = None,
    ) -> str:
        """navigator.credentials.create: a new key pair for `options`' user."""
        key = ec.generate_private_key(ec.SECP256R1())
        credential = Credential(os.urandom(16), key, unb64url(options["user"]["id"]))
        self.credentials[credential.id] = credential
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = bytes(16) + struct.pack(">H", len(credential.id)) + credential.id + cose
        auth_data = self._auth_data(rp_id, UP | AT | (UV if verified else 0), 0) + attested
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64url(credential.id),
                "rawId": b64url(credential.id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation),
                    "transports": ["internal"],
                },
            }
        )

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        verified: bool = True,
        sign_count: int | None = None,
        challenge: str | None = None,
    ) -> str:
        """navigator.credentials.get: an assertion by one of the keys it holds (the
        first the options allow, or `credential_id`); the counter grows by one."""
        if credential_id is None:
            allowed = [unb64url(c["id"]) for c in options.get("allowCredentials", [])]
            credential_id = next(c for c in allowed if c in self.credentials)
        credential = self.credentials[credential_id]
        credential.sign_count = credential.sign_count + 1 if sign_count is None else sign_count
        auth_data = self._auth_data(rp_id, UP | (UV if verified else 0), credential.sign_count)
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": b64url(credential.id),
                "rawId": b64url(credential.id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": b64url(credential.user_handle),
                },
            }
        )

    def _auth_data(self, rp_id: str | None, flags: int, count: int) -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", count)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        ).encode()
