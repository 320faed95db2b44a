"""Citizens' second factor: what opens a dossier to its applicant, the shared dependencies of
the citizens' routes and the one-time code.

Every route under ``/dossiers/{code}`` needs a second factor besides the code, in a header (never
the URL): the receipt's tracking secret (``X-Tracking-Secret``), a one-time code sent to the
applicant (``X-One-Time-Code``) or the last 4 digits of the applicant's phone
(``X-Phone-Last4``, enough to read, not to change). Attempts are limited (`api.limits`). A
wrong or missing factor gets exactly the answer an
unknown code gets, so a stranger who guesses codes learns nothing.

The citizens' routes, by resource: `api.uploads`, `api.submission`, `api.tracking` (with the
receipt and QR), `api.supplements` (supplements, withdrawal, delivery address),
`api.citizen_payments` (with the provider's callback) and `api.rating`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request

from activities.notify import OutgoingMessage, channel_from_settings, mask_address, message_id
from api import schemas as s
from api.auth import tracking_secret_matches
from api.context import ApiContext, Ctx, DossierCode
from api.errors import FieldError
from api.limits import begin_factor, client_key, end_factor, lift_dossier_lock, take_write
from api.workflow import NOT_FOUND
from store.applicants import drop_one_time_code, one_time_code_of, replace_one_time_code
from store.letters import contact_phone_ends_with, get_contact

router = APIRouter(prefix="/api/v1", tags=["citizens"])


# -- the second factor ------------------------------------------------------------------------

# What opened the dossier: the receipt's secret and a one-time code sent to the applicant are
# strong enough to change it; the phone's last 4 digits only to read it.
Factor = Literal["secret", "one_time_code", "phone"]
STRONG_FACTORS: frozenset[str] = frozenset({"secret", "one_time_code"})
# Secrets travel in headers, never in a URL (URLs end up in access logs, histories, referrers).
_FACTOR_HEADERS = {
    "secret": "X-Tracking-Secret",
    "phone_last4": "X-Phone-Last4",
    "one_time_code": "X-One-Time-Code",
}


@dataclass(frozen=True)
class Proof:
    """What a caller shows to open a dossier, and from where (a digest of its address).

    Built by the `proof` dependency from the request's headers; pages that call the routes'
    shared functions (`authorise`, `api.supplements.supplement_dossier`, `withdraw_dossier`,
    `api.citizen_payments.pay_dossier`, `send_one_time_code`) build one the same way, and get
    the same checks and limits.
    """

    client: str
    secret: str | None = None
    phone_last4: str | None = None
    one_time_code: str | None = None


def proof(
    request: Request,
    ctx: Ctx,
    x_tracking_secret: Annotated[
        str | None, Header(max_length=64, description="the receipt's tracking secret")
    ] = None,
    x_phone_last4: Annotated[
        str | None, Header(max_length=8, description="last 4 digits of the applicant's phone")
    ] = None,
    x_one_time_code: Annotated[
        str | None, Header(max_length=12, description="a one-time code sent to the applicant")
    ] = None,
) -> Proof:
    """The caller's proof from its headers (a FastAPI dependency).

    Raises:
        FieldError: 400 when a factor is given in the URL's query instead of a header.
    """
    for name, header in _FACTOR_HEADERS.items():
        if name in request.query_params:
            raise FieldError(
                name,
                "secret_in_url",
                f"send it in the {header} header: URLs are written to logs",
                400,
            )
    return proof_for(
        ctx,
        request,
        secret=x_tracking_secret,
        phone_last4=x_phone_last4,
        one_time_code=x_one_time_code,
    )


def proof_for(
    ctx: ApiContext,
    request: Request,
    *,
    secret: str | None = None,
    phone_last4: str | None = None,
    one_time_code: str | None = None,
) -> Proof:
    """A `Proof` of factors a page received (in a form's body, say) from this request's client."""
    return Proof(
        client=client_of(request, ctx),
        secret=secret,
        phone_last4=phone_last4,
        one_time_code=one_time_code,
    )


ApplicantProof = Annotated[Proof, Depends(proof)]


def _code_digest(ctx: ApiContext, code: str, one_time_code: str) -> str:
    message = f"one-time-code:{code}:{one_time_code.strip()}".encode()
    return hmac.new(ctx.token_secret.encode(), message, hashlib.sha256).hexdigest()


async def _one_time_code_matches(ctx: ApiContext, code: str, given: str) -> bool:
    async with ctx.sessions() as session:
        row = await one_time_code_of(session, code)
    if row is None or s.stored_utc(row.expires_at) <= datetime.now(UTC):
        return False
    return hmac.compare_digest(row.digest, _code_digest(ctx, code, given))


async def authorise(ctx: ApiContext, code: str, given: Proof, *, change: bool = False) -> Factor:
    """Check the proof for a dossier, within the limits; the factor that opened it.

    The receipt's secret is checked first and always opens (80 bits cannot be guessed; it also
    lifts a lock). Any other attempt is counted (`api.limits`) before it is checked.

    Args:
        change: the caller wants to change the dossier: only a strong factor will do.

    Raises:
        TooManyRequests: 429, too many failures on this dossier or from this client.
        HTTPException: 404, the same as for an unknown code, when the proof fails.
        FieldError: 403 when the phone's digits opened the dossier but ``change`` needs more.
    """
    if given.secret and tracking_secret_matches(ctx.token_secret, code, given.secret):
        await lift_dossier_lock(ctx, code)
        return "secret"
    await begin_factor(ctx, code, given.client)
    factor: Factor | None = None
    try:
        if given.one_time_code and await _one_time_code_matches(ctx, code, given.one_time_code):
            factor = "one_time_code"
        elif given.phone_last4 and given.phone_last4.isdigit() and len(given.phone_last4) == 4:
            async with ctx.sessions() as session:
                if await contact_phone_ends_with(session, code, given.phone_last4):
                    factor = "phone"
    finally:
        await end_factor(ctx, code, given.client, passed=factor is not None)
    if factor is None:
        raise HTTPException(404, NOT_FOUND)
    if change and factor not in STRONG_FACTORS:
        raise FieldError(
            "X-Tracking-Secret",
            "change_needs_secret",
            "changing a dossier needs the receipt's secret or a one-time code "
            f"(POST /api/v1/dossiers/{code}/one-time-code sends one to the applicant)",
            403,
        )
    if change and factor == "one_time_code":
        async with ctx.sessions() as session:  # one act per code
            await drop_one_time_code(session, code)
            await session.commit()
    return factor


async def authorise_change(ctx: ApiContext, code: str, given: Proof) -> Factor:
    """Check a strong factor for a change of the dossier (`authorise`) and count the change
    against the client's and the dossier's write quotas."""
    factor = await authorise(ctx, code, given, change=True)
    await take_write(ctx, given.client, code)
    return factor


async def applicant(
    ctx: Ctx,
    code: DossierCode,
    given: ApplicantProof,
) -> Factor:
    """The factor that opens the dossier for reading (a FastAPI dependency, `authorise`)."""
    return await authorise(ctx, code, given)


Authorised = Annotated[Factor, Depends(applicant)]


def client_of(request: Request, ctx: Ctx) -> str:
    """The keyed digest naming the request's client address (`api.limits.client_key`)."""
    return client_key(ctx.token_secret, request.client.host if request.client else None)


Client = Annotated[str, Depends(client_of)]


async def write_quota(ctx: Ctx, client: Client) -> None:
    """Count a submission or upload against the client's quota of writes (a FastAPI
    dependency); a submission's own quotas count new dossiers only (`api.submission`)."""
    await take_write(ctx, client, None)


WriteQuota = Depends(write_quota)


# -- the one-time code ----------------------------------------------------------------------


async def send_one_time_code(ctx: ApiContext, code: str, given: Proof) -> s.OneTimeCodeSent:
    """Send a fresh one-time code to the applicant's e-mail on file (any factor opens this).

    The code replaces any earlier one; only its keyed digest is stored.

    Raises:
        FieldError: 409 when the applicant left no e-mail address.
    """
    await authorise(ctx, code, given)
    await take_write(ctx, given.client, code)
    async with ctx.sessions() as session:
        contact = await get_contact(session, code)
    if contact is None or not contact.email:
        raise FieldError(
            "email", "no_email", "no e-mail address on file: use the receipt's secret", 409
        )
    one_time = f"{secrets.randbelow(10**6):06d}"
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=ctx.settings.api_one_time_code_minutes)
    async with ctx.sessions() as session:
        await replace_one_time_code(session, code, _code_digest(ctx, code, one_time), expires)
        await session.commit()
    minutes = ctx.settings.api_one_time_code_minutes
    await channel_from_settings(ctx.settings).send(
        OutgoingMessage(
            message_id=message_id(f"{code}-otp-{uuid.uuid4().hex}", ctx.settings.desk_code),
            sender=ctx.settings.sender_address,
            to=contact.email,
            subject=f"Mã xác nhận hồ sơ {code} / One-time code for dossier {code}",
            text=(
                f"Mã xác nhận dùng một lần cho hồ sơ {code}: {one_time}\n"
                f"Mã có hiệu lực trong {minutes} phút. Không chia sẻ mã này với người khác.\n\n"
                f"One-time code for dossier {code}: {one_time} (valid {minutes} minutes).\n"
            ),
            date=now,
        )
    )
    return s.OneTimeCodeSent(sent_to=mask_address(contact.email), expires_at=expires)


@router.post(
    "/dossiers/{code}/one-time-code",
    status_code=202,
    summary="Send a one-time code to the applicant's e-mail (to act without the receipt)",
)
async def one_time_code(
    code: DossierCode,
    given: ApplicantProof,
    ctx: Ctx,
) -> s.OneTimeCodeSent:
    """Send the code; it goes in the ``X-One-Time-Code`` header of the act that needs it."""
    return await send_one_time_code(ctx, code, given)
