"""Column types of the registry: `EncryptedText` for personal data at rest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from engine.keys import get_key_ring


class PersonalText(str):
    """A decrypted value: an ordinary str whose ``repr`` hides it.

    So a ``%r`` in a log call, an object's repr, or SQLAlchemy's debug echo of result rows never
    prints the value; ``str()``, formatting and comparison give the value as usual.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<personal data>'"


class EncryptedText(TypeDecorator[str]):
    """Text stored encrypted (AES-256-GCM, `engine.crypto`), read back in clear by the ORM.

    The database holds ``v1:<kid>:<base64url>``; reads give a `PersonalText`. The key ring is
    the process's (`engine.keys.get_key_ring`; tests override it with ``use_key_ring``).
    ``context`` is authenticated with every value: give ``"<table>.<column>"`` so a ciphertext
    copied into another column fails to decrypt instead of reading as that column's data.
    Equality in SQL on these columns never matches (every encryption differs); look values up
    through a blind index column instead.
    """

    impl = Text
    cache_ok = True

    def __init__(self, context: str, **kwargs: Any) -> None:
        """A column type whose values are bound to ``context`` (``"table.column"``)."""
        super().__init__(**kwargs)
        self.context = context

    @property
    def associated_data(self) -> bytes:
        """The bytes authenticated with every value of the column."""
        return self.context.encode("utf-8")

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Encrypt with the ring's active key (None stays NULL)."""
        if value is None:
            return None
        return get_key_ring().encrypt_str(value, self.associated_data)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        """Decrypt with the key the value names.

        Raises:
            engine.crypto.UnknownKeyError: the key is not in the ring (message names its id).
            engine.crypto.DecryptionError: altered, from another column, or not encrypted.
        """
        if value is None:
            return None
        return PersonalText(get_key_ring().decrypt_str(str(value), self.associated_data))

    @property
    def python_type(self) -> type[str]:
        """Values are str."""
        return str
