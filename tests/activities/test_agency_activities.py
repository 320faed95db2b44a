"""The agencies' automated checks, run as Temporal activities against real registers.

PostgreSQL tests run inside the per-test transaction of ``db_session`` (each activity's commit
is a savepoint), on the reference rows of `store.seed`; the SQLite test follows the demo path.
"""

from __future__ import annotations

import asyncio
import sqlite3
import unicodedata
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.activity import _Definition
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import build_activities
from activities.civil_status import CivilStatusActivities
from activities.health_insurance import HealthInsuranceActivities
from activities.land import LandActivities
from activities.one_stop import OneStopActivities
from activities.residence import ResidenceActivities
from activities.tax import TaxActivities
from domain.catalog import default_catalog
from domain.dossier import AutomatedCheckInput, DossierFacts, ParcelRef, SubmittedDocument
from store.db import async_engine, session_factory
from store.migrate import alembic_config, upgrade
from store.models import (
    Base,
    CivilRegistration,
    HealthInsuranceCard,
    LandParcel,
    LandPrice,
    ResidenceRegistration,
)
from store.seed import (
    CERTIFIED_PARCEL,
    DEMO_PARCEL,
    DISPUTED_PARCEL,
    DIVORCED_PERSON,
    GARDEN_PARCEL,
    LEVY_PARCEL,
    MARRIED_PARTNER,
    MARRIED_PERSON,
    seed_reference_data,
)

# Statutory names of the documents, as the catalog spells them.
LAND_APPLICATION = "Đơn đăng ký đất đai, tài sản gắn liền với đất"
BIRTH_FORM = (
    "Tờ khai điện tử liên thông đăng ký khai sinh, đăng ký thường trú, cấp thẻ bảo hiểm y tế"
)
BIRTH_CERTIFICATE = "Giấy chứng sinh (bản chụp, bản sao điện tử)"
IDENTITY_PAPER = "Giấy tờ tùy thân còn giá trị sử dụng (căn cước công dân, hộ chiếu)"
DOCUMENT_TO_SIGN = "Giấy tờ, văn bản sẽ ký"


def check(
    procedure: str,
    version: str,
    step: str,
    *,
    received: str = "251201",
    parcel: ParcelRef | None = None,
    documents: tuple[str, ...] = (),
    subject_ref: str | None = None,
    dossier_code: str | None = None,
) -> AutomatedCheckInput:
    """An automated-check input for a dossier received on ``received`` (yyMMdd)."""
    return AutomatedCheckInput(
        dossier_code=dossier_code or new_dossier_code(received),
        procedure=procedure,
        procedure_version=version,
        step=step,
        facts=DossierFacts(
            parcel=parcel,
            documents=[SubmittedDocument(name_vi=name) for name in documents],
            subject_ref=subject_ref,
        ),
    )


def land_check(parcel: ParcelRef | None, received: str = "251201") -> AutomatedCheckInput:
    version = "2025-07" if received >= "250701" else "2024-08"
    return check(
        "land-first-certificate", version, "check-parcel", parcel=parcel, received=received
    )


def birth_check(
    step: str, dossier_code: str, subject_ref: str | None = None
) -> AutomatedCheckInput:
    return check(
        "birth-residence-insurance",
        "2025-07",
        step,
        dossier_code=dossier_code,
        subject_ref=subject_ref,
    )


def new_dossier_code(received: str = "251201") -> str:
    """A dossier code no other test uses (a random desk), received on ``received``."""
    return f"T{uuid.uuid4().hex[:8].upper()}-{received}-0001"


@pytest.fixture
def sessions(db_session: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's connection: each activity's commit is a savepoint, rolled back."""
    return async_sessionmaker(
        bind=db_session.bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def seeded(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    await seed_reference_data(sessions)
    return sessions


@pytest.fixture
def run() -> ActivityEnvironment:
    return ActivityEnvironment()


async def count(
    sessions: async_sessionmaker[AsyncSession], model: type[Base], **where: object
) -> int:
    async with sessions() as session:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return (await session.execute(stmt)).scalar_one()


# -- wiring -------------------------------------------------------------------------------------


async def test_every_automated_step_of_the_catalog_has_an_activity_of_that_name() -> None:
    engine = async_engine("sqlite:///:memory:")  # never connected: only the wiring is read
    try:
        registered = [
            definition.name
            for fn in build_activities(session_factory(engine))
            if (definition := _Definition.from_callable(fn)) is not None and definition.name
        ]
    finally:
        await engine.dispose()
    catalog = default_catalog()
    named = {
        step.activity
        for code in catalog.codes()
        if not catalog.is_combined(code)
        for version in catalog.versions(code)
        for step in version.steps
        if step.activity is not None
    }
    assert len(registered) == len(set(registered)), "an activity name is registered twice"
    assert named <= set(registered), f"no activity for {sorted(named - set(registered))}"
    assert named == {
        "one-stop.check-completeness",
        "one-stop.check-identity",
        "land.check-parcel",
        "tax.compute-obligation",
        "justice.register-birth",
        "justice.check-marital-status",
        "police.register-residence",
        "social-security.issue-health-card",
    }


# -- one-stop desk ------------------------------------------------------------------------------


async def test_complete_land_dossier_passes_whatever_the_spelling_of_the_names(
    run: ActivityEnvironment,
) -> None:
    desk = OneStopActivities(default_catalog())
    # Decomposed diacritics (macOS), capitals and stray spaces still name the same document.
    typed = "  " + unicodedata.normalize("NFD", LAND_APPLICATION.upper()).replace(" ", "   ")
    result = await run.run(
        desk.check_completeness,
        check("land-first-certificate", "2025-07", "receive", documents=(typed,)),
    )
    assert result.passed, result.summary_vi
    assert result.missing_documents == []
    assert result.summary_vi.startswith("Hồ sơ đầy đủ")


async def test_incomplete_birth_dossier_lists_every_missing_required_document(
    run: ActivityEnvironment,
) -> None:
    desk = OneStopActivities(default_catalog())
    result = await run.run(
        desk.check_completeness,
        check(
            "birth-residence-insurance", "2024-07", "receive", documents=("Ảnh chụp sổ hộ khẩu",)
        ),
    )
    assert not result.passed
    # Optional documents ("nếu có") are never asked for.
    assert result.missing_documents == [BIRTH_FORM, BIRTH_CERTIFICATE]
    assert result.summary_vi == f"Hồ sơ còn thiếu: {BIRTH_FORM}; {BIRTH_CERTIFICATE}"


async def test_a_dossier_pinned_to_an_unknown_version_fails_without_retry(
    run: ActivityEnvironment,
) -> None:
    desk = OneStopActivities(default_catalog())
    with pytest.raises(ApplicationError, match="no version '1999-01'") as error:
        await run.run(desk.check_completeness, check("certified-copy", "1999-01", "receive"))
    assert error.value.non_retryable


async def test_identity_passes_with_an_identity_paper_or_a_population_database_login(
    run: ActivityEnvironment,
) -> None:
    desk = OneStopActivities(default_catalog())
    for paper in (IDENTITY_PAPER, "Căn cước công dân", "HỘ CHIẾU", "Giấy tờ tuỳ thân"):
        with_paper = check(
            "signature-certification", "2025-07", "receive", documents=(paper, DOCUMENT_TO_SIGN)
        )
        result = await run.run(desk.check_identity, with_paper)
        assert result.passed, paper
        assert result.findings["identified_by"] == "document"
    logged_in = check("signature-certification", "2025-07", "receive", subject_ref="person-42")
    result = await run.run(desk.check_identity, logged_in)
    assert result.passed
    assert result.findings["identified_by"] == "population-database"


async def test_identity_without_paper_or_login_asks_for_the_catalogs_identity_paper(
    run: ActivityEnvironment,
) -> None:
    desk = OneStopActivities(default_catalog())
    result = await run.run(
        desk.check_identity,
        check("signature-certification", "2015-04", "receive", documents=(DOCUMENT_TO_SIGN,)),
    )
    assert not result.passed
    assert result.missing_documents == [IDENTITY_PAPER]
    assert result.summary_vi == f"Hồ sơ còn thiếu: {IDENTITY_PAPER}"


# -- land registration office -------------------------------------------------------------------


@pytest.mark.postgres
async def test_registered_undisputed_uncertified_parcel_passes_with_its_area_and_use(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    result = await run.run(LandActivities(seeded).check_parcel, land_check(DEMO_PARCEL))
    assert result.passed, result.summary_vi
    assert result.findings["area_m2"] == "72.50"
    assert result.findings["land_use"] == "ODT"
    assert "diện tích 72,5 m², đất ở tại đô thị (ODT)" in result.summary_vi


@pytest.mark.postgres
async def test_parcel_missing_from_the_cadastral_book_is_refused(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    unknown = ParcelRef(commune="phuong-lien", map_sheet=99, parcel_number=1)
    result = await run.run(LandActivities(seeded).check_parcel, land_check(unknown))
    assert not result.passed
    assert result.summary_vi == (
        "Thửa đất số 1, tờ bản đồ số 99 (phuong-lien) không có trong sổ địa chính"
    )


@pytest.mark.postgres
async def test_disputed_or_already_certified_parcel_is_refused_with_the_reason(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    land = LandActivities(seeded)
    disputed = await run.run(land.check_parcel, land_check(DISPUTED_PARCEL))
    assert not disputed.passed
    assert disputed.summary_vi.startswith("Thửa đất đang có tranh chấp")
    certified = await run.run(land.check_parcel, land_check(CERTIFIED_PARCEL))
    assert not certified.passed
    assert certified.summary_vi.startswith("Thửa đất đã được cấp Giấy chứng nhận")


@pytest.mark.postgres
async def test_land_dossier_without_a_parcel_is_refused(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    result = await run.run(LandActivities(seeded).check_parcel, land_check(None))
    assert not result.passed
    assert "không ghi thửa đất" in result.summary_vi


# -- tax authority ------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_obligation_of_land_in_use_before_1993_is_the_registration_fee_only(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    result = await run.run(TaxActivities(seeded).compute_obligation, land_check(DEMO_PARCEL))
    # 72.5 m² × 78,000,000 đ/m² (2025-07 price) = 5,655,000,000 đ; fee 0.5% = 28,275,000 đ.
    assert result.passed, result.summary_vi
    assert result.amount_due_vnd == 28_275_000
    assert result.findings["land_value_vnd"] == "5655000000"
    assert result.findings["registration_fee_vnd"] == "28275000"
    assert result.findings["land_use_levy_vnd"] == "0"
    assert result.findings["price_effective_from"] == "2025-07-01"
    assert result.summary_vi == (
        "Nghĩa vụ tài chính: 28.275.000 đồng (lệ phí trước bạ 28.275.000 đồng; "
        "tiền sử dụng đất 0 đồng)"
    )


@pytest.mark.postgres
async def test_residential_land_first_used_after_1993_also_pays_the_land_use_levy(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    result = await run.run(TaxActivities(seeded).compute_obligation, land_check(LEVY_PARCEL))
    # 58.3 m² × 78,000,000 = 4,547,400,000 đ; fee 0.5% = 22,737,000; levy 50% = 2,273,700,000.
    assert result.amount_due_vnd == 22_737_000 + 2_273_700_000 == 2_296_437_000
    assert result.findings["land_use_levy_vnd"] == "2273700000"
    assert result.findings["land_use_levy_basis_vi"] == (
        "Sử dụng ổn định từ 15/03/2001, không trước mốc 15/10/1993: thu 50% giá trị đất"
    )


@pytest.mark.postgres
async def test_price_is_the_one_in_force_on_the_receipt_date_and_rounded_to_the_dong(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    tax = TaxActivities(seeded)
    last_old_day = await run.run(tax.compute_obligation, land_check(DEMO_PARCEL, "250630"))
    # 72.5 × 32,000,000 (2024 price, in force until 2025-06-30) = 2,320,000,000; 0.5% = 11,600,000.
    assert last_old_day.amount_due_vnd == 11_600_000
    assert last_old_day.findings["price_effective_from"] == "2024-01-01"
    garden = await run.run(tax.compute_obligation, land_check(GARDEN_PARCEL, "240915"))
    # 310.07 m² × 252,000 = 78,137,640 đ; 0.5% = 390,688.2 → 390,688 đ; no levy on CLN land.
    assert garden.amount_due_vnd == 390_688
    assert garden.findings["land_use_levy_vnd"] == "0"


@pytest.mark.postgres
async def test_obligation_is_refused_for_an_unknown_parcel_or_a_day_without_a_price(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    tax = TaxActivities(seeded)
    unknown = ParcelRef(commune="phuong-lien", map_sheet=99, parcel_number=1)
    not_found = await run.run(tax.compute_obligation, land_check(unknown))
    assert not not_found.passed
    assert "không có trong sổ địa chính" in not_found.summary_vi
    assert not_found.amount_due_vnd is None
    # The seeded price table starts on 2024-01-01.
    no_price = await run.run(
        tax.compute_obligation,
        check(
            "land-first-certificate",
            "2024-08",
            "compute-obligation",
            parcel=DEMO_PARCEL,
            received="231115",
        ),
    )
    assert not no_price.passed
    assert no_price.summary_vi.startswith(
        "Bảng giá đất chưa có giá đất ở tại đô thị (ODT) tại phuong-lien áp dụng ngày 15/11/2023"
    )


@pytest.mark.postgres
async def test_a_malformed_dossier_code_fails_the_tax_step_without_retry(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    request = land_check(DEMO_PARCEL).model_copy(update={"dossier_code": "not-a-code"})
    with pytest.raises(ApplicationError, match="not a dossier code") as error:
        await run.run(TaxActivities(seeded).compute_obligation, request)
    assert error.value.non_retryable


# -- justice: civil status ----------------------------------------------------------------------


@pytest.mark.postgres
async def test_birth_registration_gets_a_yearly_number_and_a_retry_gets_the_same_one(
    sessions: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    justice = CivilStatusActivities(sessions)
    code = new_dossier_code("251201")
    first = await run.run(justice.register_birth, birth_check("register-birth", code))
    retried = await run.run(justice.register_birth, birth_check("register-birth", code))
    assert first.passed
    assert first.reference is not None
    assert first.reference.startswith("KS-2025-")
    assert len(first.reference) == len("KS-2025-000001")
    assert retried.reference == first.reference
    assert await count(sessions, CivilRegistration, dossier_code=code) == 1
    other = await run.run(justice.register_birth, birth_check("register-birth", new_dossier_code()))
    assert other.reference is not None
    assert int(other.reference[-6:]) == int(first.reference[-6:]) + 1


@pytest.mark.postgres
async def test_concurrent_attempts_for_one_birth_leave_one_entry_and_one_number(
    pg_url: str,
) -> None:
    engine = async_engine(pg_url)
    justice = CivilStatusActivities(session_factory(engine))
    code = new_dossier_code("301105")
    try:
        results = await asyncio.gather(
            *(
                ActivityEnvironment().run(
                    justice.register_birth, birth_check("register-birth", code)
                )
                for _ in range(8)
            )
        )
        assert len({result.reference for result in results}) == 1
        assert await count(session_factory(engine), CivilRegistration, dossier_code=code) == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_marital_status_states_single_married_or_ended(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    justice = CivilStatusActivities(seeded)

    async def status_of(person: str) -> tuple[bool, str, dict[str, str]]:
        request = check(
            "marital-status-confirmation", "2025-07", "check-civil-status", subject_ref=person
        )
        result = await run.run(justice.check_marital_status, request)
        return result.passed, result.summary_vi, result.findings

    assert await status_of("person-never-married") == (
        True,
        "Chưa đăng ký kết hôn",
        {"marital_status": "single"},
    )
    for spouse in (MARRIED_PERSON, MARRIED_PARTNER):
        passed, summary, findings = await status_of(spouse)
        assert passed
        assert summary == "Đã đăng ký kết hôn từ ngày 09/05/2015 (số đăng ký KH-2015-000123)"
        assert findings == {"marital_status": "married", "married_since": "2015-05-09"}
    passed, summary, findings = await status_of(DIVORCED_PERSON)
    assert passed
    assert "đã chấm dứt ngày 18/03/2019" in summary
    assert findings["marital_status"] == "no_longer_married"


@pytest.mark.postgres
async def test_marital_status_needs_a_person_to_look_up(
    seeded: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    request = check("marital-status-confirmation", "2025-07", "check-civil-status")
    result = await run.run(CivilStatusActivities(seeded).check_marital_status, request)
    assert not result.passed
    assert "không có mã định danh" in result.summary_vi


# -- police and social security -----------------------------------------------------------------


@pytest.mark.postgres
async def test_residence_and_health_card_are_refused_before_the_birth_is_registered(
    sessions: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    code = new_dossier_code()
    residence = await run.run(
        ResidenceActivities(sessions).register_residence, birth_check("register-residence", code)
    )
    card = await run.run(
        HealthInsuranceActivities(sessions).issue_health_card,
        birth_check("issue-health-card", code),
    )
    assert not residence.passed
    assert residence.summary_vi.startswith("Chưa có đăng ký khai sinh")
    assert not card.passed
    assert card.summary_vi.startswith("Chưa có đăng ký khai sinh")
    assert await count(sessions, ResidenceRegistration, dossier_code=code) == 0
    assert await count(sessions, HealthInsuranceCard, dossier_code=code) == 0


@pytest.mark.postgres
async def test_residence_and_health_card_follow_the_birth_once_each_even_when_retried(
    sessions: async_sessionmaker[AsyncSession], run: ActivityEnvironment
) -> None:
    code = new_dossier_code("251201")
    birth = await run.run(
        CivilStatusActivities(sessions).register_birth,
        birth_check("register-birth", code, subject_ref="child-7"),
    )
    police = ResidenceActivities(sessions)
    social_security = HealthInsuranceActivities(sessions)
    residence = [
        await run.run(police.register_residence, birth_check("register-residence", code))
        for _ in range(2)
    ]
    cards = [
        await run.run(social_security.issue_health_card, birth_check("issue-health-card", code))
        for _ in range(2)
    ]
    assert residence[0].passed
    assert residence[0].reference is not None
    assert residence[0].reference.startswith("TT-2025-")
    assert residence[1].reference == residence[0].reference
    assert residence[0].findings["birth_registration_number"] == birth.reference
    assert cards[0].passed
    assert cards[0].reference is not None
    assert cards[0].reference.startswith("TE10125")
    assert len(cards[0].reference) == 15
    assert cards[1].reference == cards[0].reference
    assert await count(sessions, ResidenceRegistration, dossier_code=code) == 1
    assert await count(sessions, HealthInsuranceCard, dossier_code=code) == 1
    async with sessions() as session:
        card = (
            await session.execute(
                select(HealthInsuranceCard).where(HealthInsuranceCard.dossier_code == code)
            )
        ).scalar_one()
    assert card.subject_ref == "child-7"  # taken from the birth entry when the input has none


def test_a_province_code_must_be_two_digits() -> None:
    with pytest.raises(ValueError, match="two digits"):
        HealthInsuranceActivities(async_sessionmaker(), province_code="1")


# -- seed and migrations ------------------------------------------------------------------------


@pytest.mark.postgres
async def test_seeding_twice_adds_nothing_the_second_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed_reference_data(sessions)
    once = [await count(sessions, model) for model in (LandParcel, LandPrice, CivilRegistration)]
    await seed_reference_data(sessions)
    twice = [await count(sessions, model) for model in (LandParcel, LandPrice, CivilRegistration)]
    assert once == twice
    assert await count(sessions, LandParcel, commune="phuong-lien") == 12
    assert await count(sessions, LandParcel, disputed=True) == 1
    assert await count(sessions, LandParcel, certificate_issued=True) == 1
    assert await count(sessions, LandPrice, commune="phuong-lien", land_use="ODT") == 2


@pytest.mark.postgres
def test_the_migrations_create_exactly_the_tables_the_models_describe(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


async def test_the_sqlite_demo_registry_reaches_the_head_and_serves_the_land_checks(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert (
        await asyncio.to_thread(upgrade, url)
        == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    )
    with sqlite3.connect(tmp_path / "demo.db") as connection:
        tables = {
            row[0]
            for row in connection.execute("select name from sqlite_master where type='table'")
        }
    assert {
        "land_parcels",
        "land_prices",
        "civil_registrations",
        "residence_registrations",
        "health_insurance_cards",
        "register_counters",
    } <= tables
    engine = async_engine(url)
    sessions = session_factory(engine)
    try:
        await seed_reference_data(sessions)
        await seed_reference_data(sessions)
        run = ActivityEnvironment()
        parcel = await run.run(LandActivities(sessions).check_parcel, land_check(DEMO_PARCEL))
        tax = await run.run(TaxActivities(sessions).compute_obligation, land_check(DEMO_PARCEL))
        code = new_dossier_code()
        justice = CivilStatusActivities(sessions)
        births = [
            await run.run(justice.register_birth, birth_check("register-birth", code))
            for _ in range(2)
        ]
        parcels = await count(sessions, LandParcel)
    finally:
        await engine.dispose()
    assert parcel.passed
    assert tax.amount_due_vnd == 28_275_000
    assert births[0].reference == births[1].reference == "KS-2025-000001"
    assert parcels == 12
