"""Carrier secrets encrypted at rest (issue "Carrier answers and callers that can't hurt knm").

A copy of knm's database — a backup, a dump attached to a ticket — must not hand over the
operator's carrier credentials. With `KNM_SECRET_KEY` set, every secret setting
(`knm.secrets.is_secret_key`) is stored sealed with AES-256-GCM: an AEAD, so a sealed value
cannot be altered or moved to another setting unnoticed (the setting's scope, category and
name are its associated data). The key given is stretched with HKDF to 256 bits; its short
fingerprint travels with each value, so a wrong key is told apart from a damaged value.
`knm config rotate-key` re-seals everything under a new key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENV = "KNM_SECRET_KEY"
#: a sealed value in the config table: `{"$knm_sealed": "v1:<fingerprint>:<base64>"}`
MARK = "$knm_sealed"
VERSION = "v1"
_NONCE = 12


class SealError(Exception):
    """A sealed value that cannot be opened: no key, another key, or a damaged value."""


class Sealer:
    """Seals and opens values under one key."""

    def __init__(self, key_material: str) -> None:
        if not key_material:
            raise ValueError(f"{ENV} is empty")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"knm-config-v1",
                       info=b"knm carrier secrets").derive(key_material.encode())
        self._aead = AESGCM(derived)
        self.fingerprint = hashlib.sha256(derived).hexdigest()[:8]

    def seal(self, value: Any, context: str) -> dict[str, str]:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, json.dumps(value).encode(), context.encode())
        text = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return {MARK: f"{VERSION}:{self.fingerprint}:{text}"}

    def open(self, sealed: Any, context: str) -> Any:
        version, fingerprint, text = _parts(sealed)
        if version != VERSION:
            raise SealError(f"sealed with an unknown scheme {version!r}")
        if fingerprint != self.fingerprint:
            raise SealError(f"sealed with another key (fingerprint {fingerprint})")
        raw = base64.urlsafe_b64decode(text.encode())
        try:
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode())
        except InvalidTag:
            raise SealError("the sealed value was altered or belongs to another setting") \
                from None
        return json.loads(plain)


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {MARK} and isinstance(value[MARK], str)


def fingerprint_of(sealed: Any) -> str:
    return _parts(sealed)[1]


def _parts(sealed: Any) -> tuple[str, str, str]:
    if not is_sealed(sealed):
        raise SealError("not a sealed value")
    parts = sealed[MARK].split(":", 2)
    if len(parts) != 3:
        raise SealError("damaged sealed value")
    return parts[0], parts[1], parts[2]


def from_env() -> Sealer | None:
    """The sealer of `KNM_SECRET_KEY`, or None when it is not set."""
    material = os.environ.get(ENV, "")
    return Sealer(material) if material else None
