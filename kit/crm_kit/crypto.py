"""Field encryption at rest (AES-256-GCM) and keyed hashes (HMAC-SHA256) for exact lookup."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"


class FieldCipher:
    def __init__(self, *, data_key_b64: str, lookup_key_b64: str) -> None:
        self._aead = AESGCM(base64.b64decode(data_key_b64))
        self._lookup_key = base64.b64decode(lookup_key_b64)

    def encrypt(self, plaintext: str, *, field: str) -> str:
        # The field name is bound as associated data so a ciphertext cannot be moved to another field.
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plaintext.encode(), field.encode())
        return _PREFIX + base64.b64encode(nonce + ct).decode()

    def decrypt(self, token: str, *, field: str) -> str:
        if not token.startswith(_PREFIX):
            raise ValueError("unknown ciphertext version")
        raw = base64.b64decode(token[len(_PREFIX) :])
        return self._aead.decrypt(raw[:12], raw[12:], field.encode()).decode()

    def lookup_hash(self, value: str, *, kind: str) -> str:
        return hmac.new(self._lookup_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def new_key_b64() -> str:
    return base64.b64encode(os.urandom(32)).decode()
