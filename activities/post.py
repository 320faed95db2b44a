"""Home delivery of results by the public postal service (Decision 45/2016/QĐ-TTg).

The post office is reached through `PostalService`: ``dispatch`` hands over a shipment and gets
its tracking number, ``attempt`` reports what one delivery attempt came to. `SimulatedPostOffice`
behaves like the real one for the demo, the tests and the simulations: tracking numbers in the
national post's shape, attempts that fail (recipient absent, address not found) at configured
rates, drawn from a seed and the tracking number so a run is reproducible; a real adapter
implements the same two methods against the operator's API.

Activities (one-stop queue; each idempotent by business key, so a retry finds its own work):

- ``post.dispatch``: the ``deliveries`` row (dossier, return step) with its tracking number; the
  address is read here from the encrypted contact and never enters the workflow's history.
- ``post.attempt-delivery``: one attempt, recorded once per (tracking number, attempt).
- ``post.return-to-desk``: attempts exhausted; the shipment goes back to the desk and the
  applicant is told once (e-mail when on file, else the desk calls them).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notify import (
    NotificationChannel,
    OutgoingMessage,
    as_vn,
    checked_dossier_code,
    message_id,
    with_heartbeats,
)
from engine.settings import Settings
from forms.render import render_text
from store import sms
from store.letters import get_contact
from store.models import (
    DeliveryAttemptRecord,
    DeliveryOutcome,
    DeliveryRecord,
    DeliveryStatus,
)


class Attempt(BaseModel):
    """What the post office says of one delivery attempt."""

    outcome: DeliveryOutcome
    received_by: str | None = None  # who signed for it (personal data: stays in the registry)
    note_vi: str = ""


class PostalService(Protocol):
    """The postal operator's interface."""

    async def dispatch(self, dossier_code: str, step: str, address: str) -> str:
        """Hand over a shipment; its tracking number (the same for the same shipment)."""
        ...

    async def attempt(self, tracking_number: str, attempt: int, address: str) -> Attempt:
        """Try to deliver; what happened."""
        ...


class SimulatedPostOffice:
    """A post office that loses nothing but sometimes finds nobody home.

    Args:
        absent_rate: chance the recipient is out on an attempt.
        not_found_rate: chance the carrier cannot find the address on an attempt.
        seed: with the tracking number and the attempt, fixes every outcome (reproducible runs).
        script: instead of the rates, the outcomes of the 1st, 2nd, ... attempt of every
            shipment (a scenario: "nobody is home twice"); attempts beyond it are delivered.
    """

    def __init__(
        self,
        absent_rate: float = 0.1,
        not_found_rate: float = 0.02,
        seed: int = 2016,
        script: Sequence[DeliveryOutcome] = (),
    ) -> None:
        if not (0 <= absent_rate <= 1 and 0 <= not_found_rate <= 1):
            raise ValueError("delivery failure rates must be between 0 and 1")
        self._absent = absent_rate
        self._not_found = not_found_rate
        self._seed = seed
        self._script = tuple(script)

    async def dispatch(self, dossier_code: str, step: str, address: str) -> str:
        """``EB`` + 9 digits + ``VN`` (the UPU S10 shape of the national post's numbers)."""
        digest = hashlib.sha256(f"{self._seed}:{dossier_code}:{step}".encode()).digest()
        return f"EB{int.from_bytes(digest[:8], 'big') % 10**9:09d}VN"

    async def attempt(self, tracking_number: str, attempt: int, address: str) -> Attempt:
        """Delivered, or absent / not found at the configured rates (or as scripted)."""
        if self._script:
            outcome = (
                self._script[attempt - 1]
                if attempt <= len(self._script)
                else DeliveryOutcome.DELIVERED
            )
        else:
            draw = random.Random(f"{self._seed}:{tracking_number}:{attempt}").random()
            outcome = (
                DeliveryOutcome.ADDRESS_NOT_FOUND
                if draw < self._not_found
                else DeliveryOutcome.RECIPIENT_ABSENT
                if draw < self._not_found + self._absent
                else DeliveryOutcome.DELIVERED
            )
        return _REPORTS[outcome]


_REPORTS = {
    DeliveryOutcome.DELIVERED: Attempt(
        outcome=DeliveryOutcome.DELIVERED, received_by="người nhận tại địa chỉ"
    ),
    DeliveryOutcome.RECIPIENT_ABSENT: Attempt(
        outcome=DeliveryOutcome.RECIPIENT_ABSENT,
        note_vi="Người nhận vắng nhà; bưu tá để lại giấy báo.",
    ),
    DeliveryOutcome.ADDRESS_NOT_FOUND: Attempt(
        outcome=DeliveryOutcome.ADDRESS_NOT_FOUND,
        note_vi="Bưu tá không tìm thấy địa chỉ người nhận.",
    ),
}


class DispatchInput(BaseModel):
    """A result to send home: the dossier and the return step it belongs to."""

    dossier_code: str
    step: str
    procedure_name_vi: str
    at: datetime  # when the desk hands it over (the workflow's time)


class DispatchResult(BaseModel):
    """The shipment's tracking number (the address stays in the registry)."""

    tracking_number: str


class AttemptInput(BaseModel):
    """One delivery attempt of a shipment."""

    dossier_code: str
    step: str
    tracking_number: str
    attempt: int
    at: datetime  # when the carrier tries (the workflow's time)


class AttemptResult(BaseModel):
    """What the attempt came to (who signed stays in the registry)."""

    outcome: DeliveryOutcome
    note_vi: str = ""


class ReturnToDeskInput(BaseModel):
    """Attempts exhausted: back to the desk, and the applicant is told."""

    dossier_code: str
    step: str
    procedure_name_vi: str
    at: datetime


class ReturnToDeskResult(BaseModel):
    """How the applicant was told: ``email`` or ``desk`` (no e-mail on file: the desk calls)."""

    told_by: str


class PostActivities:
    """The one-stop desk's side of home delivery."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        post: PostalService,
        settings: Settings,
        channel: NotificationChannel,
    ) -> None:
        self._sessions = sessions
        self._post = post
        self._settings = settings
        self._channel = channel

    async def _delivery(self, session: AsyncSession, code: str, step: str) -> DeliveryRecord:
        row = await session.get(DeliveryRecord, (code, step), with_for_update=True)
        if row is None:
            raise ApplicationError(
                f"no shipment of {step} for dossier {code}", type="NoShipment", non_retryable=True
            )
        return row

    @activity.defn(name="post.dispatch")
    async def dispatch(self, request: DispatchInput) -> DispatchResult:
        """Hand the result to the post office once; a retry returns the same tracking number.

        Raises:
            ApplicationError: non-retryable ``NoDeliveryAddress``, the applicant gave none.
        """
        code = checked_dossier_code(request.dossier_code)
        async with self._sessions() as session:
            existing = await session.get(DeliveryRecord, (code, request.step))
            if existing is not None:
                return DispatchResult(tracking_number=existing.tracking_number)
            contact = await get_contact(session, code)
            if contact is None or not contact.address:
                raise ApplicationError(
                    f"dossier {code} has no delivery address on file",
                    type="NoDeliveryAddress",
                    non_retryable=True,
                )
            tracking = await self._post.dispatch(code, request.step, contact.address)
            session.add(
                DeliveryRecord(
                    dossier_code=code,
                    step=request.step,
                    tracking_number=tracking,
                    address=contact.address,
                    status=DeliveryStatus.DISPATCHED,
                    attempts=0,
                    dispatched_at=request.at,
                )
            )
            await sms.queue_dispatch(session, code, request.step, tracking, request.at)
            await session.commit()
        activity.logger.info("result_dispatched", extra={"dossier": code, "tracking": tracking})
        return DispatchResult(tracking_number=tracking)

    @activity.defn(name="post.attempt-delivery")
    async def attempt_delivery(self, request: AttemptInput) -> AttemptResult:
        """Ask the post office about one attempt; recorded once, a retry reads the record."""
        code = checked_dossier_code(request.dossier_code)
        async with self._sessions() as session:
            delivery = await self._delivery(session, code, request.step)
            recorded = await session.get(
                DeliveryAttemptRecord, (request.tracking_number, request.attempt)
            )
            if recorded is not None:
                return AttemptResult(
                    outcome=DeliveryOutcome(recorded.outcome), note_vi=recorded.note_vi
                )
            result = await self._post.attempt(
                request.tracking_number, request.attempt, delivery.address
            )
            now = request.at
            session.add(
                DeliveryAttemptRecord(
                    tracking_number=request.tracking_number,
                    attempt=request.attempt,
                    at=now,
                    outcome=result.outcome,
                    note_vi=result.note_vi,
                )
            )
            delivery.attempts = max(delivery.attempts, request.attempt)
            if result.outcome is DeliveryOutcome.DELIVERED:
                delivery.status = DeliveryStatus.DELIVERED
                delivery.closed_at = now
                delivery.received_by = result.received_by
            await session.commit()
        activity.logger.info(
            "delivery_attempted",
            extra={"dossier": code, "attempt": request.attempt, "outcome": result.outcome.value},
        )
        return AttemptResult(outcome=result.outcome, note_vi=result.note_vi)

    @activity.defn(name="post.return-to-desk")
    async def return_to_desk(self, request: ReturnToDeskInput) -> ReturnToDeskResult:
        """The shipment is back at the desk; tell the applicant once, by e-mail if on file."""
        code = checked_dossier_code(request.dossier_code)
        async with self._sessions() as session:
            delivery = await self._delivery(session, code, request.step)
            contact = await get_contact(session, code)
            told_by = "email" if contact is not None and contact.email else "desk"
            if delivery.applicant_told_at is None:
                if told_by == "email":
                    assert contact is not None and contact.email
                    reference = f"return-{code}-{request.step.replace(':', '-')}"
                    text = render_text(
                        "delivery_returned.txt.j2",
                        dossier_code=code,
                        procedure_name_vi=request.procedure_name_vi,
                        tracking_number=delivery.tracking_number,
                        attempts=delivery.attempts,
                        tracking_url=self._settings.tracking_url(code),
                    )
                    await with_heartbeats(
                        self._channel.send(
                            OutgoingMessage(
                                message_id=message_id(reference, self._settings.desk_code),
                                sender=self._settings.sender_address,
                                to=contact.email,
                                subject=f"Hồ sơ {code}: kết quả chuyển về Bộ phận Một cửa",
                                text=text,
                                date=as_vn(delivery.dispatched_at),
                                headers={"X-Lienthong-Reference": reference},
                            )
                        )
                    )
                delivery.status = DeliveryStatus.RETURNED_TO_DESK
                delivery.closed_at = delivery.applicant_told_at = request.at
                await session.commit()
        activity.logger.info("delivery_returned_to_desk", extra={"dossier": code, "told": told_by})
        return ReturnToDeskResult(told_by=told_by)
