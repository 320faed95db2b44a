"""The process's data key ring: from the settings (``LIENTHONG_DATA_KEYS``), or the embedded
demo's key file; tests and key-rotation tools set their own with `use_key_ring`.

Kept apart from `engine.crypto` (pure: keys, AES-GCM, blind indexes) so that crypto needs no
settings and the settings need only crypto's key parsing (no import circle).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from engine.crypto import (
    CryptoError,
    KeyConfigError,
    KeyRing,
    decode_key,
    new_key_spec,
    new_kid,
)

if TYPE_CHECKING:
    from engine.settings import Settings

log = logging.getLogger(__name__)

DEMO_KEY_FILE = Path("keys") / "data-keys.json"


def demo_key_ring(data_dir: Path) -> KeyRing:
    """The embedded demo's ring: ``<data_dir>/keys/data-keys.json``, created once (0600).

    The file is written under a temporary name and linked into place, so two processes starting
    together agree on one key. It holds ``{"active": kid, "keys": {kid: base64}}``; keys added
    there by hand are read too.
    """
    path = data_dir / DEMO_KEY_FILE
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        kid = new_kid()
        spec = new_key_spec(kid)
        content = json.dumps({"active": kid, "keys": {kid: spec.partition(":")[2]}}, indent=2)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(content + "\n")
            # Fails if another process linked its file first: then both read that one.
            with suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    try:
        stored = json.loads(path.read_text("utf-8"))
        keys = {kid: decode_key(material) for kid, material in stored["keys"].items()}
        return KeyRing(keys, stored.get("active"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = exc if isinstance(exc, CryptoError) else type(exc).__name__
        raise KeyConfigError(f"the demo key file {path} is unreadable: {reason}") from None


def load_key_ring(settings: Settings) -> KeyRing:
    """The ring the settings describe: LIENTHONG_DATA_KEYS, or else the demo key file.

    Without configured keys (the embedded demo) one warning is logged: production must set
    LIENTHONG_DATA_KEYS, or the data is only as safe as the file beside the database.
    """
    spec = settings.data_keys.get_secret_value()
    if spec:
        return KeyRing.from_spec(spec, settings.data_key_id or None)
    ring = demo_key_ring(settings.data_dir)
    log.warning(
        "data_keys_not_configured",
        extra={
            "key_file": str(settings.data_dir / DEMO_KEY_FILE),
            "hint": "production must set LIENTHONG_DATA_KEYS (python -m engine.crypto new-key)",
        },
    )
    return ring


_override: list[KeyRing] = []


@lru_cache(maxsize=1)
def _settings_key_ring() -> KeyRing:
    from engine.settings import get_settings

    return load_key_ring(get_settings())


def get_key_ring() -> KeyRing:
    """The process's key ring, read once from the settings (or the ring `use_key_ring` set)."""
    return _override[-1] if _override else _settings_key_ring()


@contextmanager
def use_key_ring(ring: KeyRing) -> Iterator[KeyRing]:
    """Make ``ring`` the process's key ring inside the block (tests, key rotation tools)."""
    _override.append(ring)
    try:
        yield ring
    finally:
        _override.remove(ring)
