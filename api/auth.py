"""Agency tokens and the receipts' tracking secrets, both HMAC-SHA256 with the API's secret.

An agency token is ``<payload>.<signature>``, both base64url without padding; the payload is the
JSON ``{"agency": ..., "officer": ..., "exp": <unix seconds>}``. It is a bearer token: whoever
holds it acts as that officer of that agency until it expires, so it is issued per officer with
a short life (`python -m api issue-token`).

A dossier's tracking secret is derived from its code (nothing to store, the same on every retry
of the submission): printed on the receipt, it is the second factor that lets the applicant
track the dossier. Changing the API secret invalidates the outstanding tokens and secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

_TRACKING = b"tracking-secret:"
_AGENCY = b"agency-token:"
# Agency and officer ids as the catalog and the registry write them.
_ID = re.compile(r"[a-z0-9][a-z0-9.\-_]{0,79}")


class InvalidToken(ValueError):
    """The token is malformed, forged or expired; the message says which (never the token)."""


class AgencyClaims(BaseModel):
    """Who a valid token speaks for."""

    agency: str
    officer: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, purpose: bytes, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), purpose + message, hashlib.sha256).digest()


def issue_token(
    secret: str, *, agency: str, officer: str, valid_for: timedelta, now: datetime | None = None
) -> str:
    """A signed token for an officer of an agency.

    Raises:
        ValueError: the agency or officer id is not a plain lower-case id.
    """
    for name, value in (("agency", agency), ("officer", officer)):
        if not _ID.fullmatch(value):
            raise ValueError(f"{name} must be a lower-case id (a-z, 0-9, '.', '-', '_')")
    expires = (now or datetime.now(UTC)) + valid_for
    payload = json.dumps(
        {"agency": agency, "officer": officer, "exp": int(expires.timestamp())},
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_sign(secret, _AGENCY, payload))}"


def verify_token(secret: str, token: str, now: datetime | None = None) -> AgencyClaims:
    """The claims of a valid token.

    Raises:
        InvalidToken: malformed, bad signature, or expired.
    """
    head, dot, tail = token.strip().partition(".")
    if not dot or not head or not tail:
        raise InvalidToken("malformed token")
    try:
        payload, signature = _unb64(head), _unb64(tail)
    except (ValueError, TypeError):
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(signature, _sign(secret, _AGENCY, payload)):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(payload)
        agency, officer, exp = claims["agency"], claims["officer"], claims["exp"]
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("malformed token") from None
    if not (isinstance(agency, str) and isinstance(officer, str) and isinstance(exp, int)):
        raise InvalidToken("malformed token")
    expires = datetime.fromtimestamp(exp, UTC)
    if expires <= (now or datetime.now(UTC)):
        raise InvalidToken("token expired")
    return AgencyClaims(agency=agency, officer=officer, expires_at=expires)


def tracking_secret(secret: str, dossier_code: str) -> str:
    """The receipt's tracking secret of a dossier: 16 characters, about 80 bits."""
    digest = _sign(secret, _TRACKING, dossier_code.encode("utf-8"))
    return base64.b32encode(digest).decode("ascii")[:16]


def tracking_secret_matches(secret: str, dossier_code: str, given: str) -> bool:
    """Whether ``given`` is the dossier's tracking secret (case and spaces ignored)."""
    expected = tracking_secret(secret, dossier_code)
    candidate = re.sub(r"[\s-]", "", given).upper()
    return hmac.compare_digest(expected.encode("ascii"), candidate.encode("utf-8", "replace"))
