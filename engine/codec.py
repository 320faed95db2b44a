"""Temporal payload codec: every payload leaves the process encrypted with the data key ring.

Whoever reads a workflow history (the Web UI, ``temporal workflow show``, a copy of Temporal's
database) sees ``binary/encrypted`` payloads instead of dossier facts. Each encoded payload
carries:

- metadata ``encoding: binary/encrypted`` and ``encryption-key-id: <kid>``;
- data: `engine.crypto.KeyRing.encrypt` of the whole serialized original ``Payload`` (its
  metadata included, so the JSON encoding and pydantic type survive the round trip), with the
  associated data ``lienthong/temporal-payload/v1`` so a registry column's ciphertext cannot be
  passed off as a payload.

Decoding passes through payloads that are not ``binary/encrypted`` (histories recorded before
the codec existed still replay) and decrypts with whatever key of the ring the payload names,
so keys rotate as they do for the registry (docs/personal-data.md). Errors name key ids only.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from engine.crypto import DecryptionError, KeyRing, key_id_of

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
ASSOCIATED_DATA = b"lienthong/temporal-payload/v1"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload encryption with the ring's active key; decrypts with any ring key."""

    def __init__(self, key_ring: KeyRing) -> None:
        """Build the codec.

        Args:
            key_ring: the data keys; new payloads use its active key.
        """
        super().__init__()
        self._ring = key_ring

    @property
    def key_ring(self) -> KeyRing:
        """The ring this codec encrypts and decrypts with."""
        return self._ring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload (the serialized original) with the active key."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt ``binary/encrypted`` payloads; return the others unchanged.

        Raises:
            engine.crypto.UnknownKeyError: a payload names a key id that is not in the ring.
            engine.crypto.DecryptionError: a payload is malformed or was altered.
        """
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted (the synchronous core of `encode`)."""
        return Payload(
            metadata={
                "encoding": ENCODING,
                KEY_ID_METADATA: self._ring.active_kid.encode("ascii"),
            },
            data=self._ring.encrypt(payload.SerializeToString(), ASSOCIATED_DATA),
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted; a payload that is not ``binary/encrypted`` is returned as is.

        Raises:
            engine.crypto.UnknownKeyError: the payload names a key id not in the ring.
            engine.crypto.DecryptionError: malformed, altered, or its two key ids disagree.
        """
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = key_id_of(payload.data)
        named = payload.metadata.get(KEY_ID_METADATA)
        if named is not None and named.decode("ascii", errors="replace") != kid:
            raise DecryptionError(
                f"the payload's {KEY_ID_METADATA} metadata does not match its ciphertext", kid
            )
        plaintext = self._ring.decrypt(payload.data, ASSOCIATED_DATA)
        try:
            return Payload.FromString(plaintext)
        except DecodeError:
            raise DecryptionError("the decrypted bytes are not a Temporal payload", kid) from None
