"""The payment provider interface, and a fake provider that behaves like a real one.

A real provider (a bank gateway, a national payment platform) is used in two halves: the engine
creates a payment and sends the citizen to the provider's page; later, asynchronously, the
provider calls the engine back (``POST /api/v1/payments/callback``) with the outcome, the body
signed with a shared secret (HMAC-SHA256, hex, header ``X-Signature``), and retries the
callback until the engine answers 2xx. `FakePaymentProvider` does exactly that over HTTP, with
a configurable decline rule, so the whole path (signature, idempotency, retries, declines) runs
in tests and in the demo.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Collection
from typing import Literal, Protocol

import httpx
import structlog
from pydantic import BaseModel, Field

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Signature"
# Test payment methods, as real providers name theirs: this one is always declined.
DECLINED_METHOD = "tok_chargeDeclined"
APPROVED_METHOD = "tok_visa"


class PaymentRequest(BaseModel):
    """What the engine asks the provider to collect."""

    payment_id: str
    dossier_code: str
    amount_vnd: int = Field(gt=0)
    description: str
    method: str = APPROVED_METHOD  # the citizen's card or wallet, as the provider tokenised it


class PaymentCreated(BaseModel):
    """The provider accepted the request; the citizen goes to ``redirect_url`` to pay."""

    payment_id: str
    redirect_url: str


class PaymentCallback(BaseModel):
    """The body of the provider's callback."""

    payment_id: str = Field(max_length=64)
    status: Literal["succeeded", "declined"]
    amount_vnd: int
    reason: str | None = Field(default=None, max_length=500)


class RefundRequest(BaseModel):
    """Give back (part of) a payment that succeeded; ``idempotency_key`` names the refund."""

    payment_id: str
    amount_vnd: int = Field(gt=0)
    idempotency_key: str = Field(min_length=8, max_length=120)
    reason: str = Field(max_length=500)


class RefundDone(BaseModel):
    """The provider refunded: the same ``refund_id`` for every call with the same key."""

    refund_id: str
    payment_id: str
    amount_vnd: int


class RefundRefused(Exception):
    """The provider will not refund (unknown payment, or more than was paid)."""


class ProviderUnavailable(Exception):
    """The provider did not answer; the same request may be retried with the same key."""


class PaymentProvider(Protocol):
    """What the API needs of a payment provider."""

    async def create(self, request: PaymentRequest) -> PaymentCreated:
        """Register a payment; its outcome arrives later on the callback endpoint."""
        ...

    async def refund(self, request: RefundRequest) -> RefundDone:
        """Refund a succeeded payment, once per idempotency key (`RefundRefused`,
        `ProviderUnavailable`)."""
        ...

    async def aclose(self) -> None:
        """Stop whatever the provider runs in the background."""
        ...


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 signature of a callback body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is the body's signature under ``secret`` (constant time).

    Compared as bytes: `hmac.compare_digest` raises on a ``str`` with a non-ASCII character,
    and a header may carry any byte (it arrives decoded as Latin-1).
    """
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(sign(secret, body).encode("ascii"), given)


class FakePaymentProvider:
    """A provider that completes each payment a little later by calling the engine back.

    Declines a payment whose method is in ``decline_methods`` or whose amount exceeds
    ``max_amount_vnd``; approves the others. Like a real provider it retries a callback the
    engine did not acknowledge (network error or non-2xx), with back-off, a few times.
    """

    def __init__(
        self,
        *,
        secret: str,
        callback_url: str,
        redirect_base_url: str = "https://pay.example.invalid/checkout",
        delay_seconds: float = 0.2,
        decline_methods: Collection[str] = (DECLINED_METHOD,),
        max_amount_vnd: int | None = None,
        attempts: int = 5,
        http: httpx.AsyncClient | None = None,
        refund_outages: int = 0,
    ) -> None:
        """Configure the fake.

        Args:
            secret: the callback signing secret shared with the engine.
            callback_url: the engine's callback endpoint.
            redirect_base_url: where the citizen would pay (the fake serves no page).
            delay_seconds: how long after `create` the callback is sent.
            decline_methods: payment methods always declined.
            max_amount_vnd: amounts above this are declined; None: no limit.
            attempts: how many times a callback is sent before giving up.
            http: the client callbacks go through (tests pass one on the app's ASGI transport).
            refund_outages: how many refund calls fail (`ProviderUnavailable`) before they work,
                as a gateway that times out does.
        """
        self._secret = secret
        self._callback_url = callback_url
        self._redirect = redirect_base_url.rstrip("/")
        self._delay = delay_seconds
        self._decline = frozenset(decline_methods)
        self._max = max_amount_vnd
        self._attempts = attempts
        self._http = http
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered: list[PaymentCallback] = []  # callbacks the engine acknowledged
        self._approved: dict[str, int] = {}  # payment id -> amount it collected
        self.refund_outages = refund_outages
        self.refunds: dict[str, RefundDone] = {}  # by idempotency key: what was given back

    def connect(self, http: httpx.AsyncClient) -> None:
        """Send callbacks through this client from now on."""
        self._http = http

    def outcome(self, request: PaymentRequest) -> PaymentCallback:
        """What the provider decides for a request (the decline rule)."""
        reason = None
        if request.method in self._decline:
            reason = "card_declined"
        elif self._max is not None and request.amount_vnd > self._max:
            reason = "amount_over_limit"
        return PaymentCallback(
            payment_id=request.payment_id,
            status="declined" if reason else "succeeded",
            amount_vnd=request.amount_vnd,
            reason=reason,
        )

    async def create(self, request: PaymentRequest) -> PaymentCreated:
        """Accept the payment and schedule its callback."""
        task = asyncio.create_task(self._complete(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return PaymentCreated(
            payment_id=request.payment_id, redirect_url=f"{self._redirect}/{request.payment_id}"
        )

    async def _complete(self, request: PaymentRequest) -> None:
        await asyncio.sleep(self._delay)
        callback = self.outcome(request)
        body = json.dumps(callback.model_dump(mode="json"), separators=(",", ":")).encode()
        headers = {SIGNATURE_HEADER: sign(self._secret, body), "Content-Type": "application/json"}
        if callback.status == "succeeded":
            self._approved[request.payment_id] = request.amount_vnd
        # Without a client of the caller's, one per callback, closed by this side when done: a
        # connection kept open would be closed by the engine at shutdown, leaving its port in
        # TIME_WAIT.
        http = self._http or httpx.AsyncClient(timeout=10.0)
        try:
            if await self._send(http, request, callback, body, headers):
                return
        finally:
            if http is not self._http:
                await http.aclose()
        log.error("payment_callback_abandoned", payment_id=request.payment_id)

    async def _send(
        self,
        http: httpx.AsyncClient,
        request: PaymentRequest,
        callback: PaymentCallback,
        body: bytes,
        headers: dict[str, str],
    ) -> bool:
        """Post the callback until the engine acknowledges it (True) or attempts run out."""
        for attempt in range(self._attempts):
            try:
                response = await http.post(self._callback_url, content=body, headers=headers)
                if response.is_success:
                    self.delivered.append(callback)
                    return True
                log.warning(
                    "payment_callback_refused",
                    payment_id=request.payment_id,
                    status=response.status_code,
                )
            except httpx.HTTPError as exc:
                log.warning(
                    "payment_callback_failed",
                    payment_id=request.payment_id,
                    error=type(exc).__name__,
                )
            await asyncio.sleep(self._delay * 2 ** (attempt + 1))
        return False

    async def refund(self, request: RefundRequest) -> RefundDone:
        """Give money back once per key; a repeated key gets the first answer, nothing more."""
        if self.refund_outages > 0:
            self.refund_outages -= 1
            raise ProviderUnavailable("the provider timed out")
        done = self.refunds.get(request.idempotency_key)
        if done is not None:
            return done
        collected = self._approved.get(request.payment_id)
        if collected is None:
            raise RefundRefused(f"no succeeded payment {request.payment_id}")
        given_back = sum(
            r.amount_vnd for r in self.refunds.values() if r.payment_id == request.payment_id
        )
        if given_back + request.amount_vnd > collected:
            raise RefundRefused(f"{request.payment_id}: more than was paid")
        done = RefundDone(
            refund_id=f"RF-{len(self.refunds) + 1:06d}",
            payment_id=request.payment_id,
            amount_vnd=request.amount_vnd,
        )
        self.refunds[request.idempotency_key] = done
        return done

    async def drain(self) -> None:
        """Wait until every scheduled callback has been sent (or given up)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the callbacks not sent yet."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
