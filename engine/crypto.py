"""Encryption of personal data at rest: a ring of AES-256-GCM keys with key ids, and blind indexes.

Personal data (Decree 13/2023/NĐ-CP) is encrypted with the ring's *active* key; every ciphertext
names the key that made it, so any key still in the ring decrypts it and keys can rotate while
old rows stay readable. Two layers:

- bytes: ``encrypt(plaintext, associated_data) -> b"v1:<kid>:" + nonce | ciphertext | tag``
  (also meant for the Temporal payload codec, issue 9);
- str: ``encrypt_str(text, associated_data) -> "v1:<kid>:<base64url(nonce | ciphertext | tag)>"``
  (database columns, see `store.types.EncryptedText`).

The associated data is authenticated, not stored: a ciphertext decrypts only with the same
associated data (the registry uses ``table.column``, so a value copied into another column fails).

A *blind index* lets an exact value (a national ID number) be found without decrypting: an
HMAC-SHA256 under a key derived from a ring key (never the encryption key itself), written as
``<kid>:<base64url(mac)>``. Lookups try every key of the ring, so indexes rotate with the keys.

This module knows nothing of SQLAlchemy or Temporal. Errors name key ids, never plaintext or keys.
Generate a key with ``python -m engine.crypto new-key`` (prints ``kid:base64``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per message
TAG_BYTES = 16
KID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}"
_KID_RE = re.compile(KID_PATTERN)
_TOKEN_RE = re.compile(rf"{VERSION}:({KID_PATTERN}):([A-Za-z0-9_-]+)")
_INDEX_INFO = b"lienthong/blind-index/v1"


class CryptoError(RuntimeError):
    """Base of the errors of this module; messages name key ids, never data or key material."""


class KeyConfigError(CryptoError, ValueError):
    """A key specification is malformed (bad kid, not base64, not 32 bytes, duplicate)."""


class UnknownKeyError(CryptoError):
    """The ciphertext was made with a key id that is not in the ring."""

    def __init__(self, kid: str, known: Sequence[str]) -> None:
        self.kid = kid
        super().__init__(
            f"no data key with id {kid!r} in the key ring (known: {', '.join(known)}); "
            f"add key {kid!r} to LIENTHONG_DATA_KEYS to read data encrypted with it"
        )


class DecryptionError(CryptoError):
    """The ciphertext is malformed, was altered, or belongs to other associated data."""

    def __init__(self, reason: str, kid: str | None = None) -> None:
        self.kid = kid
        super().__init__(
            f"cannot decrypt a value encrypted with data key {kid!r}: {reason}"
            if kid
            else f"cannot decrypt: {reason}"
        )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_key(text: str) -> bytes:
    """The 32 key bytes of a standard or URL-safe base64 text (padding optional).

    Raises:
        KeyConfigError: not base64, or not 32 bytes (the message never echoes the text).
    """
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError("the key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyConfigError(f"the key is {len(key)} bytes, it must be {KEY_BYTES}")
    return key


def parse_data_keys(spec: str) -> dict[str, bytes]:
    """Parse ``kid:base64key,kid:base64key`` into an ordered mapping of key id to key.

    Raises:
        KeyConfigError: an entry is malformed or a key id repeats; the message gives the
            entry's position and key id, never the key.
    """
    keys: dict[str, bytes] = {}
    entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
    if not entries:
        raise KeyConfigError("no key given")
    for position, entry in enumerate(entries, start=1):
        kid, sep, material = entry.partition(":")
        kid = kid.strip()
        if not sep or not _KID_RE.fullmatch(kid):
            raise KeyConfigError(
                f"entry {position} is not kid:base64key with a key id of 1-16 characters "
                "of A-Z, a-z, 0-9, '.', '_' or '-'"
            )
        if kid in keys:
            raise KeyConfigError(f"key id {kid!r} appears twice")
        try:
            keys[kid] = decode_key(material)
        except KeyConfigError as exc:
            raise KeyConfigError(f"entry {position} ({kid!r}): {exc}") from None
    return keys


def new_kid(today: datetime | None = None) -> str:
    """A fresh key id: the day it was made and 4 random hex digits (``k20261201-3fa0``)."""
    day = (today or datetime.now(UTC)).strftime("%Y%m%d")
    return f"k{day}-{secrets.token_hex(2)}"


def new_key_spec(kid: str | None = None) -> str:
    """A new random key as ``kid:base64`` (one entry of LIENTHONG_DATA_KEYS)."""
    kid = kid or new_kid()
    if not _KID_RE.fullmatch(kid):
        raise KeyConfigError("a key id is 1-16 characters of A-Z, a-z, 0-9, '.', '_' or '-'")
    return f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}"


class KeyRing:
    """AES-256-GCM keys by key id: encrypts with the active key, decrypts with any of them.

    Immutable; `rotated` returns a new ring. ``repr`` never shows key material.
    """

    def __init__(self, keys: Mapping[str, bytes], active: str | None = None) -> None:
        """Build a ring.

        Args:
            keys: key id to 32-byte key, oldest or newest first as the operator lists them.
            active: the key id new ciphertexts are made with; the first key by default.

        Raises:
            KeyConfigError: no keys, a bad key id or length, or ``active`` not among them.
        """
        if not keys:
            raise KeyConfigError("a key ring needs at least one key")
        for kid, key in keys.items():
            if not _KID_RE.fullmatch(kid):
                raise KeyConfigError(f"bad key id {kid!r}")
            if len(key) != KEY_BYTES:
                raise KeyConfigError(f"key {kid!r} is {len(key)} bytes, it must be {KEY_BYTES}")
        active = active or next(iter(keys))
        if active not in keys:
            raise KeyConfigError(f"the active key id {active!r} is not in the key ring")
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self._index_keys = {
            kid: HKDF(
                algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_INDEX_INFO
            ).derive(key)
            for kid, key in keys.items()
        }
        self._keys = dict(keys)
        self._active = active

    @classmethod
    def from_spec(cls, spec: str, active: str | None = None) -> KeyRing:
        """A ring from ``kid:base64key,...`` (the LIENTHONG_DATA_KEYS format)."""
        return cls(parse_data_keys(spec), active)

    @classmethod
    def generate(cls, kid: str | None = None) -> KeyRing:
        """A ring of one new random key (tests, the demo key file)."""
        return cls({kid or new_kid(): secrets.token_bytes(KEY_BYTES)})

    @property
    def active_kid(self) -> str:
        """The key id new ciphertexts carry."""
        return self._active

    @property
    def kids(self) -> tuple[str, ...]:
        """Every key id of the ring, in order."""
        return tuple(self._keys)

    def rotated(self, kid: str, key: bytes) -> KeyRing:
        """A ring with ``key`` added and made active; the old keys stay for reading."""
        if kid in self._keys:
            raise KeyConfigError(f"key id {kid!r} is already in the key ring")
        return KeyRing({**self._keys, kid: key}, active=kid)

    def without(self, kid: str) -> KeyRing:
        """A ring with key ``kid`` removed (retired); the active key cannot be removed."""
        if kid == self._active:
            raise KeyConfigError(f"key {kid!r} is the active key; activate another one first")
        return KeyRing({k: v for k, v in self._keys.items() if k != kid}, self._active)

    def __repr__(self) -> str:
        return f"KeyRing(kids={list(self._keys)!r}, active={self._active!r})"

    # -- bytes ---------------------------------------------------------------------------------

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Encrypt with the active key: ``b"v1:<kid>:" + nonce | ciphertext | tag``."""
        header = f"{VERSION}:{self._active}:".encode("ascii")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self._active].encrypt(nonce, plaintext, header + associated_data)
        return header + nonce + sealed

    def decrypt(self, token: bytes, associated_data: bytes = b"") -> bytes:
        """Decrypt a value made by `encrypt` with any key of the ring.

        Raises:
            UnknownKeyError: the value's key id is not in the ring.
            DecryptionError: malformed, altered, or other associated data.
        """
        version, sep1, rest = token.partition(b":")
        kid_bytes, sep2, body = rest.partition(b":")
        if version != VERSION.encode() or not sep1 or not sep2:
            raise DecryptionError(f"not a {VERSION} ciphertext")
        kid = kid_bytes.decode("ascii", errors="replace")
        if not _KID_RE.fullmatch(kid):
            raise DecryptionError(f"not a {VERSION} ciphertext (bad key id)")
        aead = self._aead.get(kid)
        if aead is None:
            raise UnknownKeyError(kid, self.kids)
        if len(body) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError("the ciphertext is truncated", kid)
        header = token[: len(token) - len(body)]
        try:
            return aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], header + associated_data)
        except InvalidTag:
            raise DecryptionError(
                "authentication failed (the value was altered, or it belongs to another "
                "column or context)",
                kid,
            ) from None

    # -- str -----------------------------------------------------------------------------------

    def encrypt_str(self, text: str, associated_data: bytes = b"") -> str:
        """Encrypt text (UTF-8) to ``v1:<kid>:<base64url(nonce | ciphertext | tag)>``."""
        token = self.encrypt(text.encode("utf-8"), associated_data)
        header_length = len(VERSION) + len(self._active) + 2
        return token[:header_length].decode("ascii") + _b64url(token[header_length:])

    def decrypt_str(self, token: str, associated_data: bytes = b"") -> str:
        """Decrypt a value made by `encrypt_str`.

        Raises:
            UnknownKeyError: the value's key id is not in the ring.
            DecryptionError: malformed, altered, or other associated data.
        """
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            raise DecryptionError(f"not a {VERSION} ciphertext")
        kid, body = match.groups()
        try:
            raw = _unb64url(body)
        except (binascii.Error, ValueError):
            raise DecryptionError("the ciphertext is not base64url", kid) from None
        plaintext = self.decrypt(f"{VERSION}:{kid}:".encode("ascii") + raw, associated_data)
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("the plaintext is not UTF-8 text", kid) from None

    # -- blind index ---------------------------------------------------------------------------

    def _mac(self, kid: str, purpose: str, value: str) -> str:
        message = purpose.encode("utf-8") + b"\x00" + value.encode("utf-8")
        digest = hmac.new(self._index_keys[kid], message, hashlib.sha256).digest()
        return f"{kid}:{_b64url(digest)}"

    def blind_index(self, value: str, purpose: str) -> str:
        """The keyed index of an exact value under the active key: ``<kid>:<base64url(mac)>``.

        ``purpose`` separates indexes of different things (``national_id``, ``phone_last4``):
        the same digits give different indexes. At most 60 characters. The caller normalises
        ``value`` first (spaces, case) so that equal values give equal indexes.
        """
        return self._mac(self._active, purpose, value)

    def blind_index_candidates(self, value: str, purpose: str) -> list[str]:
        """The index of ``value`` under every key of the ring, for lookups across a rotation."""
        return [self._mac(kid, purpose, value) for kid in self._keys]


def key_id_of(token: str | bytes) -> str:
    """The key id a ciphertext (str or bytes layer) names, without decrypting it.

    Raises:
        DecryptionError: not a ciphertext of this module.
    """
    text = token if isinstance(token, str) else token[:40].decode("ascii", errors="replace")
    version, _, rest = text.partition(":")
    kid, sep, _ = rest.partition(":")
    if version != VERSION or not sep or not _KID_RE.fullmatch(kid):
        raise DecryptionError(f"not a {VERSION} ciphertext")
    return kid


def is_ciphertext(text: str) -> bool:
    """Whether ``text`` has the shape of an `encrypt_str` value (a clear value never has)."""
    return _TOKEN_RE.fullmatch(text) is not None


class _Parser(argparse.ArgumentParser):
    # One line on stderr for bad input, as starter.py does.
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m engine.crypto new-key [--kid KID]``: print a new ``kid:base64`` key."""
    parser = _Parser(
        prog="python -m engine.crypto", description="Data keys for personal data at rest."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    new_key = commands.add_parser("new-key", help="print a new random key as kid:base64")
    new_key.add_argument("--kid", help="the key id (default: k<yyyymmdd>-<4 hex digits>)")
    args = parser.parse_args(argv)
    try:
        print(new_key_spec(args.kid))
    except KeyConfigError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
