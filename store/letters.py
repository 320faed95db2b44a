"""Queries and writes of the letters and notifications tables (revision 0003).

Each row is written once per business key (a letter per dossier and sequence, a notice per
dossier, kind, step and sequence): `record_apology` and `record_notice` insert with
``ON CONFLICT DO NOTHING`` and read back whichever row stands, so a retried activity finds the
row its earlier attempt wrote. The ``lock_*`` reads take the row lock (``SELECT ... FOR
UPDATE`` on PostgreSQL) that makes "send only if not sent yet" safe when two attempts of one
activity overlap: the second waits until the first commits, then sees ``sent_at``. A worker
killed while holding it loses its connection, and PostgreSQL releases the lock.

Applicant contacts are personal data, encrypted at rest (`store.types.EncryptedText`); they are
found by value only through keyed blind indexes (national ID number, last 4 phone digits), see
docs/personal-data.md. Nothing here logs them.

Callers own the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Text, select, type_coerce
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession

from engine.crypto import key_id_of
from engine.keys import get_key_ring
from store.db import dialect_insert, insert_new, locked_row
from store.models import ApologyLetterRecord, ApplicantContact, NotificationRecord

# Purposes of the blind indexes: the same digits index differently as an ID and as a phone.
NATIONAL_ID = "national_id"
PHONE_LAST4 = "phone_last4"
# The person an agency register names (``subject_ref``): indexed apart from the contacts'
# national ID index, so a reference seen in a workflow history cannot be matched to a contact.
SUBJECT = "subject"


def normalise_national_id(value: str) -> str:
    """A national ID number as stored and indexed: no spaces, dots or dashes; upper case."""
    return re.sub(r"[\s.\-]", "", value).upper()


def phone_last4(phone: str) -> str | None:
    """The last 4 digits of a phone number, or None when it has fewer than 4."""
    digits = re.sub(r"\D", "", phone)
    return digits[-4:] if len(digits) >= 4 else None


def subject_ref(national_id: str) -> str:
    """The opaque reference of the person with this national ID number (``subject_ref``).

    A blind index under the active key (``<kid>:<base64url(mac)>``, at most 60 characters): the
    same person gets the same reference in every dossier, so the agency registers, which name
    persons by it, find them; without the key it reveals nothing of the number. After a key
    rotation new dossiers get a new reference (docs/personal-data.md).
    """
    return get_key_ring().blind_index(normalise_national_id(national_id), SUBJECT)


async def save_contact(
    session: AsyncSession,
    dossier_code: str,
    *,
    full_name: str,
    email: str | None = None,
    phone: str | None = None,
    national_id: str | None = None,
    address: str | None = None,
    sms_opt_in: bool = True,
) -> None:
    """Record how to reach a dossier's applicant, replacing what was on file (idempotent).

    ``sms_opt_in``: the applicant wants text messages as well as e-mail (`activities.sms`).

    The values are encrypted by the column type; the blind indexes of the national ID number
    and of the phone's last 4 digits are computed here with the process's key ring.
    """
    ring = get_key_ring()
    national = normalise_national_id(national_id) if national_id else None
    last4 = phone_last4(phone) if phone else None
    values = {
        "full_name": full_name,
        "email": email,
        "phone": phone,
        "national_id": national or None,
        "address": address,
        "sms_opt_in": sms_opt_in,
        "national_id_index": ring.blind_index(national, NATIONAL_ID) if national else None,
        "phone_last4_index": ring.blind_index(last4, PHONE_LAST4) if last4 else None,
    }
    stmt = dialect_insert(session, ApplicantContact).values(dossier_code=dossier_code, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[ApplicantContact.dossier_code], set_=values)
    await session.execute(stmt)


async def get_contact(session: AsyncSession, dossier_code: str) -> ApplicantContact | None:
    """The applicant's contact for a dossier, or None when the registry has none."""
    return await session.get(ApplicantContact, dossier_code)


async def find_dossiers_by_national_id(session: AsyncSession, national_id: str) -> list[str]:
    """The codes of the dossiers whose applicant has this national ID number (sorted).

    Matches through the blind index under every key of the ring, so rows written before a key
    rotation are found too.
    """
    candidates = get_key_ring().blind_index_candidates(
        normalise_national_id(national_id), NATIONAL_ID
    )
    rows = await session.execute(
        select(ApplicantContact.dossier_code)
        .where(ApplicantContact.national_id_index.in_(candidates))
        .order_by(ApplicantContact.dossier_code)
    )
    return list(rows.scalars())


async def contact_phone_ends_with(session: AsyncSession, dossier_code: str, last4: str) -> bool:
    """Whether the applicant's phone on file for the dossier ends with these 4 digits."""
    digits = phone_last4(last4)
    if digits is None or len(re.sub(r"\D", "", last4)) != 4:
        return False
    candidates = get_key_ring().blind_index_candidates(digits, PHONE_LAST4)
    found = await session.execute(
        select(ApplicantContact.dossier_code).where(
            ApplicantContact.dossier_code == dossier_code,
            ApplicantContact.phone_last4_index.in_(candidates),
        )
    )
    return found.first() is not None


_SEALED = (
    ApplicantContact.full_name,
    ApplicantContact.email,
    ApplicantContact.phone,
    ApplicantContact.national_id,
    ApplicantContact.address,
)
_INDEXES = (ApplicantContact.national_id_index, ApplicantContact.phone_last4_index)


async def reencrypt_contacts(
    session: AsyncSession, dossier_codes: Sequence[str] | None = None
) -> int:
    """Rewrite every contact not entirely under the active key (after a key rotation).

    Afterwards no row needs the older keys, which can then leave LIENTHONG_DATA_KEYS.

    Args:
        session: The registry (the caller commits).
        dossier_codes: Only these dossiers' contacts; every contact by default.

    Returns:
        How many contacts were rewritten.
    """
    active = get_key_ring().active_kid
    query = select(
        ApplicantContact.dossier_code,
        *(type_coerce(column, Text) for column in _SEALED),
        *_INDEXES,
    )
    if dossier_codes is not None:
        query = query.where(ApplicantContact.dossier_code.in_(dossier_codes))
    raw = await session.execute(query)
    stale = []
    for code, *values in raw:
        sealed, indexes = values[: len(_SEALED)], values[len(_SEALED) :]
        if any(value is not None and key_id_of(value) != active for value in sealed) or any(
            value is not None and value.partition(":")[0] != active for value in indexes
        ):
            stale.append(code)
    for code in stale:
        contact = await get_contact(session, code)
        assert contact is not None
        # The values read in clear, written back: save_contact seals them and recomputes the
        # blind indexes under the active key.
        clear = {column.key: getattr(contact, column.key) for column in _SEALED}
        await save_contact(session, code, **clear, sms_opt_in=contact.sms_opt_in)
    return len(stale)


async def record_apology(
    session: AsyncSession, *, dossier_code: str, sequence: int, **fields: Any
) -> tuple[ApologyLetterRecord, bool]:
    """Record a letter's fields, or return the letter already recorded for this key.

    The first recording wins: a retry never changes a letter's printed fields, so a document
    rendered again is the same document.

    Returns:
        The row, and whether this call created it.
    """
    inserted = await insert_new(
        session,
        ApologyLetterRecord,
        (ApologyLetterRecord.dossier_code, ApologyLetterRecord.sequence),
        dossier_code=dossier_code,
        sequence=sequence,
        **fields,
    )
    row = await get_apology(session, dossier_code, sequence)
    assert row is not None
    return row, inserted


def _apology(dossier_code: str, sequence: int) -> Select[ApologyLetterRecord]:
    # populate_existing: the row is read again even when the session already holds it.
    return (
        select(ApologyLetterRecord)
        .where(
            ApologyLetterRecord.dossier_code == dossier_code,
            ApologyLetterRecord.sequence == sequence,
        )
        .execution_options(populate_existing=True)
    )


async def get_apology(
    session: AsyncSession, dossier_code: str, sequence: int
) -> ApologyLetterRecord | None:
    """The letter of a dossier with this sequence number, or None."""
    return (await session.execute(_apology(dossier_code, sequence))).scalar_one_or_none()


async def rendered_apologies(session: AsyncSession, dossier_code: str) -> set[int]:
    """The sequence numbers of the dossier's letters whose PDF is rendered."""
    result = await session.execute(
        select(ApologyLetterRecord.sequence, ApologyLetterRecord.pdf_path).where(
            ApologyLetterRecord.dossier_code == dossier_code
        )
    )
    return {sequence for sequence, pdf in result.all() if pdf}


async def lock_apology(
    session: AsyncSession, dossier_code: str, sequence: int
) -> ApologyLetterRecord:
    """The letter's row, locked until the transaction ends (it must exist)."""
    return (await session.execute(_apology(dossier_code, sequence).with_for_update())).scalar_one()


def _notice_key(dossier_code: str, kind: str, step: str, sequence: int) -> Any:
    return (
        NotificationRecord.dossier_code == dossier_code,
        NotificationRecord.kind == kind,
        NotificationRecord.step == step,
        NotificationRecord.sequence == sequence,
    )


async def record_notice(
    session: AsyncSession, *, dossier_code: str, kind: str, step: str, sequence: int, **fields: Any
) -> tuple[NotificationRecord, bool]:
    """Record a notice to an agency, or return the one already recorded for this key.

    Returns:
        The row, and whether this call created it.
    """
    key = {"dossier_code": dossier_code, "kind": kind, "step": step, "sequence": sequence}
    inserted = await insert_new(
        session,
        NotificationRecord,
        (
            NotificationRecord.dossier_code,
            NotificationRecord.kind,
            NotificationRecord.step,
            NotificationRecord.sequence,
        ),
        **key,
        **fields,
    )
    row = (
        await session.execute(
            select(NotificationRecord)
            .where(*_notice_key(dossier_code, kind, step, sequence))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return row, inserted


async def lock_notice(
    session: AsyncSession, dossier_code: str, kind: str, step: str, sequence: int
) -> NotificationRecord:
    """The notice's row, locked until the transaction ends (it must exist)."""
    row: NotificationRecord | None = await locked_row(
        session, NotificationRecord, *_notice_key(dossier_code, kind, step, sequence)
    )
    if row is None:
        raise NoResultFound(f"no notice {kind} {step} #{sequence} for {dossier_code}")
    return row
