"""Agency tokens and the receipts' tracking secrets, both HMAC-SHA256 with the API's secret.

An agency token is ``<payload>.<signature>``, both base64url without padding; the payload is the
JSON ``{"agency": ..., "officer": ..., "role": "officer"|"head", "jti": ..., "exp": <unix
seconds>}``. It is a bearer token: whoever holds it acts as that officer of that agency until it
expires or is revoked (`revoke`, `python -m api revoke-token`, or the officer's sign-out), so it
is issued per officer with a short life (`python -m api issue-token`). Tokens issued before
roles existed have no role and no id: they are an officer's, and expire on their own.

Who verifies a token is pluggable (`TokenVerifier`): `SignedTokens` verifies ours; a province
with its own single sign-on plugs in `OidcVerifier` (OpenID Connect ID or access tokens, JWT
signed RS256 by its identity provider), see docs/security.md. Either way the app checks the
revocation list (`authenticate`).

Public and stable (the officer desk pages sign in through them): `issue_token`, `verify_token`,
`AgencyClaims`, `InvalidToken`, `TokenVerifier`, `SignedTokens`, `OidcVerifier`, `authenticate`,
`revoke`, `tracking_secret`, `tracking_secret_matches`.

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
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.tokens import is_revoked, revoke_token

_TRACKING = b"tracking-secret:"
_AGENCY = b"agency-token:"
# Agency and officer ids as the catalog and the registry write them.
_ID = re.compile(r"[a-z0-9][a-z0-9.\-_]{0,79}")


class InvalidToken(ValueError):
    """The token is malformed, forged or expired; the message says which (never the token)."""


Role = Literal["officer", "head"]


class AgencyClaims(BaseModel):
    """Who a valid token speaks for: an officer, or the head, of an agency."""

    agency: str
    officer: str
    expires_at: datetime
    role: Role = "officer"
    token_id: str | None = None  # what `revoke` names; None for tokens that predate it

    @property
    def is_head(self) -> bool:
        """The head of the agency: reassigns steps, sees escalations."""
        return self.role == "head"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, purpose: bytes, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), purpose + message, hashlib.sha256).digest()


def issue_token(
    secret: str,
    *,
    agency: str,
    officer: str,
    valid_for: timedelta,
    now: datetime | None = None,
    role: Role = "officer",
) -> str:
    """A signed token for an officer (or the head) of an agency, with an id of its own.

    Raises:
        ValueError: the agency or officer id is not a plain lower-case id, or an unknown role.
    """
    for name, value in (("agency", agency), ("officer", officer)):
        if not _ID.fullmatch(value):
            raise ValueError(f"{name} must be a lower-case id (a-z, 0-9, '.', '-', '_')")
    if role not in ("officer", "head"):
        raise ValueError("role must be officer or head")
    expires = (now or datetime.now(UTC)) + valid_for
    payload = json.dumps(
        {
            "agency": agency,
            "officer": officer,
            "role": role,
            "jti": uuid.uuid4().hex,
            "exp": int(expires.timestamp()),
        },
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
        role, token_id = claims.get("role", "officer"), claims.get("jti")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidToken("malformed token") from None
    if not (isinstance(agency, str) and isinstance(officer, str) and isinstance(exp, int)):
        raise InvalidToken("malformed token")
    if role not in ("officer", "head") or not isinstance(token_id, str | None):
        raise InvalidToken("malformed token")
    expires = datetime.fromtimestamp(exp, UTC)
    if expires <= (now or datetime.now(UTC)):
        raise InvalidToken("token expired")
    return AgencyClaims(
        agency=agency, officer=officer, expires_at=expires, role=role, token_id=token_id
    )


class TokenVerifier(Protocol):
    """What turns a bearer token into an officer's claims (ours, or a province's SSO)."""

    def verify(self, token: str) -> AgencyClaims:
        """The claims of a valid token.

        Raises:
            InvalidToken: malformed, forged, expired, or not meant for this API.
        """
        ...


class SignedTokens:
    """This API's own tokens (`issue_token`), HMAC-signed with ``LIENTHONG_API_TOKEN_SECRET``."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def verify(self, token: str) -> AgencyClaims:
        """`verify_token` with the API's secret."""
        return verify_token(self._secret, token)


def _rsa_key(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    def number(name: str) -> int:
        return int.from_bytes(_unb64(str(jwk[name])), "big")

    return rsa.RSAPublicNumbers(number("e"), number("n")).public_key()


class OidcVerifier:
    """A province's OpenID Connect tokens (JWT, RS256) instead of ours.

    The identity provider signs; this checks the signature against its published keys (its
    JWKS, fetched by the operator and given here: nothing is downloaded while serving), the
    issuer, the audience (this API's client id) and the expiry, then maps the token's claims
    to an agency, an officer and a role.

    Args:
        jwks: the provider's JSON Web Key Set (``{"keys": [{"kty": "RSA", "kid", "n", "e"}]}``).
        issuer: the ``iss`` the provider writes (its URL).
        audience: the ``aud`` expected (the client id registered for this API).
        agency_claim / officer_claim / role_claim: where the provider puts each.
        head_roles: values of ``role_claim`` (a string or a list) that make a head.
        leeway: seconds of clock difference tolerated on ``exp`` and ``nbf``.
    """

    def __init__(
        self,
        jwks: Mapping[str, Any],
        *,
        issuer: str,
        audience: str,
        agency_claim: str = "agency",
        officer_claim: str = "preferred_username",
        role_claim: str = "roles",
        head_roles: Sequence[str] = ("head",),
        leeway: float = 60.0,
        now: Any = None,
    ) -> None:
        self._keys = {
            str(jwk.get("kid", "")): _rsa_key(jwk)
            for jwk in jwks.get("keys", [])
            if jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig"
        }
        if not self._keys:
            raise ValueError("the JWKS holds no RSA signing key")
        self._issuer, self._audience = issuer, audience
        self._claims = (agency_claim, officer_claim, role_claim)
        self._head_roles = frozenset(head_roles)
        self._leeway = leeway
        self._now = now or (lambda: datetime.now(UTC))

    def verify(self, token: str) -> AgencyClaims:
        """The claims of a valid token of the province's provider."""
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token")
        try:
            header, claims = (json.loads(_unb64(part)) for part in parts[:2])
            signature = _unb64(parts[2])
        except (ValueError, TypeError):
            raise InvalidToken("malformed token") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise InvalidToken("malformed token")
        if header.get("alg") != "RS256":  # never "none", never an HMAC keyed by a public key
            raise InvalidToken("unsupported signing algorithm")
        key = self._keys.get(str(header.get("kid", "")))
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            key.verify(
                signature,
                f"{parts[0]}.{parts[1]}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise InvalidToken("bad signature") from None
        return self._claims_of(claims)

    def _claims_of(self, claims: dict[str, Any]) -> AgencyClaims:
        now = self._now().timestamp()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != self._issuer or self._audience not in audiences:
            raise InvalidToken("token not issued for this API")
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
            raise InvalidToken("malformed token")
        if exp + self._leeway <= now:
            raise InvalidToken("token expired")
        if nbf - self._leeway > now:
            raise InvalidToken("token not yet valid")
        agency_claim, officer_claim, role_claim = self._claims
        agency, officer = claims.get(agency_claim), claims.get(officer_claim)
        if not (isinstance(agency, str) and _ID.fullmatch(agency)):
            raise InvalidToken(f"no agency in the token's {agency_claim!r} claim")
        if not (isinstance(officer, str) and _ID.fullmatch(officer)):
            raise InvalidToken(f"no officer id in the token's {officer_claim!r} claim")
        roles = claims.get(role_claim, [])
        roles = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        token_id = claims.get("jti")
        return AgencyClaims(
            agency=agency,
            officer=officer,
            expires_at=datetime.fromtimestamp(exp, UTC),
            role="head" if self._head_roles.intersection(map(str, roles)) else "officer",
            token_id=str(token_id) if token_id is not None else None,
        )


async def authenticate(
    verifier: TokenVerifier, sessions: async_sessionmaker[AsyncSession], token: str
) -> AgencyClaims:
    """The claims of a valid token that has not been revoked.

    Raises:
        InvalidToken: the verifier refused it, or it was revoked.
    """
    claims = verifier.verify(token)
    if claims.token_id is not None:
        async with sessions() as session:
            if await is_revoked(session, claims.token_id):
                raise InvalidToken("token revoked")
    return claims


async def revoke(session: AsyncSession, claims: AgencyClaims, reason: str = "") -> bool:
    """Put a token on the revocation list until it expires (the caller commits).

    Returns:
        Whether it was newly revoked (False if already, or if it has no id to revoke).
    """
    if claims.token_id is None:
        return False
    return await revoke_token(
        session,
        claims.token_id,
        agency=claims.agency,
        officer=claims.officer,
        expires_at=claims.expires_at,
        revoked_at=datetime.now(UTC),
        reason=reason,
    )


def tracking_secret(secret: str, dossier_code: str) -> str:
    """The receipt's tracking secret of a dossier: 16 characters, about 80 bits."""
    digest = _sign(secret, _TRACKING, dossier_code.encode("utf-8"))
    return base64.b32encode(digest).decode("ascii")[:16]


def tracking_secret_matches(secret: str, dossier_code: str, given: str) -> bool:
    """Whether ``given`` is the dossier's tracking secret (case and spaces ignored)."""
    expected = tracking_secret(secret, dossier_code)
    candidate = re.sub(r"[\s-]", "", given).upper()
    return hmac.compare_digest(expected.encode("ascii"), candidate.encode("utf-8", "replace"))
