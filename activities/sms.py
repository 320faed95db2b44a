"""Text messages to applicants, next to e-mail: receipt, papers asked for, refusal, apology with
the new date, processing stopped, result ready, out for delivery.

The messages are queued in the SMS outbox with what they tell of (`store.sms`) and sent by
``sms.push-pending`` on the SMS gateway's own queue (``ext-sms``) through `SmsGateway`; the relay
(`workflows.relay`, id ``sms-relay``) calls it in rounds and backs off while the gateway is down.
The applicant chooses text messages at submission (``notify_by_sms``); the number is read from
the encrypted contact when the message is sent and never stored elsewhere.

Each text fits one SMS: Vietnamese without diacritics, as brand-name SMS in Vietnam is usually
sent, is GSM-7 (at most 160 characters); a text that needs UCS-2 may have at most 70. It names
the dossier code and a date or a tracking number, and links to the tracking page, which asks
for the receipt's secret: no name, address or result is in a text message.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.outbox import MessageRefused, SystemUnavailable, push_round
from domain.clock import VN_TZ
from domain.outbox import PushRequest, PushResult
from engine.settings import Settings
from store.letters import get_contact
from store.models import SimulatedSmsRecord, SmsKind, SmsOutboxRecord

# GSM 03.38's basic character set (one septet each); its extension table costs two.
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")
GSM7_LIMIT, UCS2_LIMIT = 160, 70


def sms_length(text: str) -> tuple[str, int]:
    """The encoding a text needs (``GSM-7`` or ``UCS-2``) and its length in that encoding."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        return "GSM-7", sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
    return "UCS-2", len(text.encode("utf-16-le")) // 2


def fits_one_sms(text: str) -> bool:
    """Whether the text is one SMS: 160 GSM-7 characters, or 70 UCS-2 ones."""
    encoding, length = sms_length(text)
    return length <= (GSM7_LIMIT if encoding == "GSM-7" else UCS2_LIMIT)


def without_diacritics(text: str) -> str:
    """Vietnamese letters folded to ASCII (``Đống Đa`` -> ``Dong Da``)."""
    folded = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


_TEMPLATES = {
    SmsKind.RECEIPT: "{desk}: Da tiep nhan ho so {code}. Hen tra ket qua {appointment}. Xem: {url}",
    SmsKind.SUPPLEMENT: "{desk}: Ho so {code} can bo sung giay to. Xem yeu cau: {url}",
    SmsKind.REFUSAL: "{desk}: Ho so {code} khong du dieu kien giai quyet. Xem ly do: {url}",
    SmsKind.APOLOGY: "{desk}: Xin loi, ho so {code} tre hen. Hen tra moi {new_appointment}. "
    "Xem: {url}",
    SmsKind.RESULT_READY: "{desk}: Ho so {code} da co ket qua. Cach nhan ket qua: {url}",
    SmsKind.OUT_FOR_DELIVERY: "{desk}: Ket qua ho so {code} da gui buu dien, so hieu "
    "{tracking_number}. Xem: {url}",
    SmsKind.STOPPED: "{desk}: Ho so {code} da dung xu ly vi het thoi han bo sung giay to. "
    "Xem: {url}",
}


def _day(value: Any) -> str:
    if not value:
        return "(xem tren trang tra cuu)"
    return f"{datetime.fromisoformat(str(value)).astimezone(VN_TZ):%d/%m/%Y}"


def render_sms(settings: Settings, kind: SmsKind, dossier_code: str, params: dict[str, Any]) -> str:
    """The text of one message (GSM-7, no personal data)."""
    text = _TEMPLATES[kind].format(
        desk=f"Mot cua {settings.desk_code}",
        code=dossier_code,
        url=settings.tracking_url(dossier_code),
        appointment=_day(params.get("appointment")),
        new_appointment=_day(params.get("new_appointment")),
        tracking_number=params.get("tracking_number", ""),
    )
    return without_diacritics(text)


def check_templates(settings: Settings) -> None:
    """Every message, at its longest, fits one SMS with this desk's code and public address.

    Raises:
        ValueError: one does not; names the message and its length.
    """
    code = f"{settings.desk_code}-261231-9999"
    longest = {
        "appointment": "2026-12-31T09:00:00+07:00",
        "new_appointment": "2026-12-31T09:00:00+07:00",
        "tracking_number": "EB123456789VN",
    }
    for kind in SmsKind:
        text = render_sms(settings, kind, code, longest)
        if not fits_one_sms(text):
            encoding, length = sms_length(text)
            raise ValueError(
                f"the {kind.value} text message is {length} {encoding} characters with "
                f"LIENTHONG_PUBLIC_BASE_URL={settings.public_base_url}; one SMS holds "
                f"{GSM7_LIMIT if encoding == 'GSM-7' else UCS2_LIMIT}: use a shorter address"
            )


def mask_phone(phone: str) -> str:
    """``+84912345678`` -> ``+84*******78``."""
    head = 3 if phone.startswith("+") else 2
    return phone[:head] + "*" * max(len(phone) - head - 2, 0) + phone[-2:]


class SmsGateway(Protocol):
    """An SMS gateway (a telecom's brand-name SMS service)."""

    async def send(self, to: str, text: str, key: str) -> str:
        """Send once per ``key``; the gateway's message id (the same for the same key).

        Raises:
            SystemUnavailable: the gateway did not take it; try later.
            MessageRefused: the number or the text is not acceptable.
        """
        ...


class SimulatedSmsGateway:
    """A gateway that fails now and then and records what it sent (``sim_sms_sent``: the text
    and a masked number)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        failure_rate: float = 0.0,
        seed: int = 160,
    ) -> None:
        if not 0 <= failure_rate <= 1:
            raise ValueError("the SMS failure rate must be between 0 and 1")
        self._sessions = sessions
        self._failure_rate = failure_rate
        self._seed = seed
        self._tries: dict[str, int] = {}

    async def send(self, to: str, text: str, key: str) -> str:
        """Record the message once by its key; refuse at the failure rate."""
        self._tries[key] = self._tries.get(key, 0) + 1
        if random.Random(f"{self._seed}:{key}:{self._tries[key]}").random() < self._failure_rate:
            raise SystemUnavailable("tổng đài SMS không trả lời (timeout)")
        if not re.fullmatch(r"(\+84|0)\d{9}", to):
            raise MessageRefused("số điện thoại không hợp lệ")
        if not fits_one_sms(text):
            raise MessageRefused("tin nhắn dài quá một SMS")
        gateway_id = "SIM" + hashlib.sha256(f"{self._seed}:{key}".encode()).hexdigest()[:16]
        async with self._sessions() as session:
            row = await session.get(SimulatedSmsRecord, key, with_for_update=True)
            if row is not None:
                row.deliveries += 1
            else:
                session.add(
                    SimulatedSmsRecord(
                        key=key,
                        gateway_id=gateway_id,
                        to_masked=mask_phone(to),
                        text=text,
                        encoding=sms_length(text)[0],
                        sent_at=datetime.now(VN_TZ),
                        deliveries=1,
                    )
                )
            await session.commit()
        return gateway_id


class SmsActivities:
    """The SMS relay's side: each queued message to the applicant's phone, once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        gateway: SmsGateway,
        settings: Settings,
    ) -> None:
        check_templates(settings)
        self._sessions = sessions
        self._gateway = gateway
        self._settings = settings

    @activity.defn(name="sms.push-pending")
    async def push_pending(self, request: PushRequest) -> PushResult:
        """Send the waiting messages in order (`activities.outbox.push_round`); a message for
        an applicant with no phone on file, or who chose no text messages, is closed unsent."""

        async def deliver(row: SmsOutboxRecord) -> dict[str, Any]:
            async with self._sessions() as session:
                contact = await get_contact(session, row.dossier_code)
            if contact is None or not contact.phone:
                return {"skipped": "no phone number on file"}
            if not contact.sms_opt_in:
                return {"skipped": "the applicant chose no text messages"}
            text = render_sms(
                self._settings, SmsKind(row.kind), row.dossier_code, json.loads(row.params)
            )
            return {"gateway_id": await self._gateway.send(contact.phone, text, row.key)}

        return await push_round(self._sessions, SmsOutboxRecord, request, deliver)
