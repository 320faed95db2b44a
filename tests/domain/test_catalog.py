"""Tests for the versioned procedure catalog (domain/catalog.py and catalog/*.yaml)."""

from __future__ import annotations

import copy
import itertools
import unicodedata
from collections.abc import Callable
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.catalog import (
    ACTIVITY_FACTS,
    DEFAULT_ROOT,
    Budget,
    BuildingCase,
    Catalog,
    CatalogError,
    CombinedProcedure,
    DossierFact,
    NotInForce,
    ProcedureVersion,
    StepKind,
    UnknownAgency,
    UnknownProcedure,
    UnknownStep,
    default_catalog,
    load_catalog,
)

# --------------------------------------------------------------------------------------------
# The shipped catalog
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def all_versions(catalog: Catalog) -> list[ProcedureVersion]:
    return [
        version
        for code in catalog.codes()
        if not catalog.is_combined(code)
        for version in catalog.versions(code)
    ]


def all_bundles(catalog: Catalog) -> list[CombinedProcedure]:
    return [
        bundle
        for code in catalog.codes()
        if catalog.is_combined(code)
        for bundle in catalog.combined_versions(code)
    ]


def test_shipped_catalog_loads_every_procedure_and_bundle(catalog: Catalog) -> None:
    assert set(catalog.codes()) >= {
        "land-first-certificate",
        "house-building-permit",
        "land-and-permit",
        "birth-residence-insurance",
        "certified-copy",
        "signature-certification",
        "marital-status-confirmation",
    }
    assert catalog.is_combined("land-and-permit")
    assert not catalog.is_combined("land-first-certificate")
    assert default_catalog() is default_catalog()


def test_land_certificate_received_on_last_pre_reform_day_uses_decree_101_district_version(
    catalog: Catalog,
) -> None:
    version = catalog.version_on("land-first-certificate", date(2025, 6, 30))
    assert version.version == "2024-08"
    assert version.limit == Budget(amount=23, unit="working_days")
    assert "Nghị định 101/2024/NĐ-CP" in version.legal_basis
    assert [step.agency for step in version.steps_of_kind(StepKind.SIGNATURE)] == [
        "district-committee"
    ]


def test_land_certificate_received_on_reform_day_uses_decree_151_commune_version(
    catalog: Catalog,
) -> None:
    version = catalog.version_on("land-first-certificate", date(2025, 7, 1))
    assert version.version == "2025-07"
    assert version.limit == Budget(amount=20, unit="working_days")
    assert "Nghị định 151/2025/NĐ-CP" in version.legal_basis
    assert [step.agency for step in version.steps_of_kind(StepKind.SIGNATURE)] == [
        "commune-committee"
    ]
    assert catalog.agency("commune-committee").head_title_vi == "Chủ tịch"


def test_land_certificate_after_decree_151_ends_is_refused_naming_the_gap(
    catalog: Catalog,
) -> None:
    assert catalog.version_on("land-first-certificate", date(2027, 2, 28)).version == "2025-08"
    with pytest.raises(NotInForce) as info:
        catalog.version_on("land-first-certificate", date(2027, 3, 1))
    message = str(info.value)
    assert "không tiếp nhận được ngày 01/03/2027" in message
    assert "hết hiệu lực sau ngày 28/02/2027" in message
    assert "after the last version, 2025-08, ended on 2027-02-28" in message
    assert "2025-07 (2025-07-01 to 2025-08-14)" in message
    with pytest.raises(NotInForce, match="28/02/2027"):
        catalog.combined_on("land-and-permit", date(2027, 3, 1))


def test_the_article_s_year_has_its_own_land_and_bundle_versions(catalog: Catalog) -> None:
    with pytest.raises(NotInForce, match="phiên bản đầu tiên \\(2021-02\\)"):
        catalog.version_on("land-first-certificate", date(2021, 2, 7))
    first = catalog.version_on("land-first-certificate", date(2021, 2, 8))
    assert (first.version, first.limit, first.level) == ("2021-02", days_budget(20), "district")
    assert "Luật Đất đai số 45/2013/QH13" in first.legal_basis
    last, after = (catalog.version_on("land-first-certificate", d) for d in (AUG_1 - ONE, AUG_1))
    assert (last.version, last.limit) == ("2021-02", days_budget(20))
    assert (after.version, after.limit) == ("2024-08", days_budget(23))
    with pytest.raises(NotInForce):
        catalog.combined_on("land-and-permit", date(2022, 12, 31))
    pilot = catalog.combined_on("land-and-permit", date(2023, 1, 1))
    assert (pilot.version, pilot.limit) == ("2023-01", days_budget(24))
    assert catalog.combined_on("land-and-permit", AUG_1 - ONE).version == "2023-01"
    assert catalog.combined_on("land-and-permit", AUG_1).limit == days_budget(27)
    path, total = catalog.combined_critical_path("land-and-permit", date(2023, 6, 1))
    assert total <= pilot.limit.working_time()
    assert path[-1] == ("house-building-permit", "return")


def test_a_gap_between_two_versions_names_both(tmp_path: Path) -> None:
    data = base_data()
    later = copy.deepcopy(demo_version())
    later.update(version="2025-03", effective_from=date(2025, 3, 1), effective_to=date(2025, 6, 30))
    data["procedures"]["demo"].append(later)
    data["procedures"]["demo"][0]["effective_to"] = date(2025, 1, 31)
    data["combined"] = {}
    catalog = load_catalog(write_catalog(tmp_path, data))
    with pytest.raises(NotInForce) as info:
        catalog.version_on("demo", date(2025, 2, 10))
    assert "khoảng trống giữa phiên bản 2024-08 (hết hiệu lực 31/01/2025)" in str(info.value)
    assert "in the gap between 2024-08 (ended 2025-01-31) and 2025-03" in str(info.value)
    with pytest.raises(NotInForce, match="phiên bản đầu tiên \\(2024-08\\)"):
        catalog.version_on("demo", date(2024, 7, 1))


def test_a_procedure_ending_with_no_successor_is_warned_30_days_ahead(catalog: Catalog) -> None:
    assert catalog.ending_soon(date(2027, 1, 28)) == []
    warned = catalog.ending_soon(date(2027, 1, 29))
    assert [(w.code, w.version, w.last_day, w.days_left) for w in warned] == [
        ("land-and-permit", "2026-07", date(2027, 2, 28), 30),
        ("land-first-certificate", "2025-08", date(2027, 2, 28), 30),
    ]
    assert "28/02/2027" in str(warned[1]) and "chưa có phiên bản thay thế" in str(warned[1])
    assert catalog.ending_soon(date(2027, 3, 1)) == []  # ended: refused, no longer "ending"
    # A version followed by a successor is not warned about (2025-07 → 2025-08).
    assert catalog.ending_soon(date(2025, 8, 1)) == []


def test_each_new_version_pins_its_limit_on_both_sides_of_its_start(catalog: Catalog) -> None:
    for code, last_day, before, after, limit in (
        ("land-first-certificate", date(2025, 8, 14), "2025-07", "2025-08", days_budget(20)),
        ("house-building-permit", date(2026, 6, 30), "2025-07", "2026-07", days_budget(15)),
    ):
        old, new = catalog.version_on(code, last_day), catalog.version_on(code, last_day + ONE)
        assert (old.version, old.limit, new.version, new.limit) == (before, limit, after, limit)
    bundle_old = catalog.combined_on("land-and-permit", date(2026, 6, 30))
    bundle_new = catalog.combined_on("land-and-permit", date(2026, 7, 1))
    assert (bundle_old.version, bundle_new.version) == ("2025-07", "2026-07")
    assert bundle_old.limit == bundle_new.limit == days_budget(24)
    assert "Luật Xây dựng năm 2025" in bundle_new.legal_basis[-1]


def test_under_decree_151_the_tax_authority_s_time_is_not_counted(catalog: Catalog) -> None:
    assert (
        catalog.version_on("land-first-certificate", date(2025, 6, 30))
        .step("compute-obligation")
        .counts_toward_limit
    )
    for day in (date(2025, 7, 1), date(2025, 8, 15)):
        version = catalog.version_on("land-first-certificate", day)
        assert not version.step("compute-obligation").counts_toward_limit
        assert version.critical_path_time() == version.limit.working_time()


def test_a_small_house_outside_urban_plans_needs_no_permit_from_july_2026(
    catalog: Catalog,
) -> None:
    def case(floors: int, area: float, urban: bool = False) -> BuildingCase:
        return BuildingCase(floors=floors, floor_area_m2=area, in_planned_urban_area=urban)

    on = date(2026, 7, 1)
    found = catalog.exemption_on("house-building-permit", on, case(6, 499.9))
    assert found is not None and found[1].id == "small-house-outside-urban-plan"
    for needs_permit in (case(7, 200), case(3, 500), case(3, 200, urban=True)):
        assert catalog.exemption_on("house-building-permit", on, needs_permit) is None
    assert catalog.exemption_on("house-building-permit", on - ONE, case(2, 100)) is None
    bundle = catalog.exemption_on("land-and-permit", on, case(2, 100))
    assert bundle is not None and bundle[0].code == "house-building-permit"
    assert catalog.exemption_on("certified-copy", on, case(2, 100)) is None


def test_unknown_code_lists_known_codes(catalog: Catalog) -> None:
    with pytest.raises(UnknownProcedure, match=r"known codes: .*land-first-certificate"):
        catalog.version_on("land-first-certifcate", date(2025, 1, 1))
    with pytest.raises(UnknownProcedure, match="combined procedure"):
        catalog.version_on("land-and-permit", date(2025, 1, 1))
    with pytest.raises(UnknownProcedure):
        catalog.is_combined("nope")
    with pytest.raises(UnknownAgency, match="known agencies"):
        catalog.agency("post")
    assert issubclass(UnknownProcedure, LookupError) and issubclass(NotInForce, LookupError)


def test_topological_order_puts_every_step_after_its_dependencies(catalog: Catalog) -> None:
    for version in all_versions(catalog):
        order = [step.id for step in version.topological_order()]
        assert sorted(order) == sorted(step.id for step in version.steps)
        for step in version.steps:
            for dep in step.depends_on:
                assert order.index(dep) < order.index(step.id), version.label
        assert order[-1] == "return"


def test_land_certificate_order_runs_planning_and_tax_in_parallel(catalog: Catalog) -> None:
    version = catalog.version_on("land-first-certificate", date(2025, 1, 2))
    assert [step.id for step in version.topological_order()] == [
        "receive",
        "confirm-origin",
        "post-notice",
        "check-parcel",
        "prepare-file",
        "planning-opinion",
        "compute-obligation",
        "appraise",
        "pay",
        "print-certificate",
        "sign",
        "return",
    ]
    assert version.step("planning-opinion").depends_on == ("prepare-file",)
    assert version.step("compute-obligation").depends_on == ("prepare-file",)
    with pytest.raises(UnknownStep, match="steps: receive"):
        version.step("issue")


def test_every_shipped_procedure_fits_its_statutory_limit(catalog: Catalog) -> None:
    for version in all_versions(catalog):
        for hours in (timedelta(hours=8), timedelta(hours=7)):
            assert version.critical_path_time(hours) <= version.limit.working_time(hours)


def test_land_certificate_budgets_fill_the_limit_without_notice_or_payment_time(
    catalog: Catalog,
) -> None:
    for day, days in ((date(2025, 6, 30), 23), (date(2025, 7, 1), 20)):
        version = catalog.version_on("land-first-certificate", day)
        path, total = version.critical_path()
        assert total == timedelta(hours=8 * days)
        assert not version.step("post-notice").counts_toward_limit
        assert version.step("post-notice").notice_days == 15
        assert not version.step("pay").counts_toward_limit
        assert [step.id for step in path][-2:] == ["sign", "return"]


def test_birth_bundle_registers_birth_before_residence_and_card_in_parallel(
    catalog: Catalog,
) -> None:
    version = catalog.version_on("birth-residence-insurance", date(2025, 9, 1))
    assert version.limit == Budget(amount=3, unit="working_days")
    assert version.step("register-residence").depends_on == ("register-birth",)
    assert version.step("issue-health-card").depends_on == ("register-birth",)
    assert {"justice", "police", "social-security"} <= set(version.agency_codes())
    assert version.step("register-birth").activity == "justice.register-birth"


def test_certifications_are_due_the_same_working_day_with_a_15h_cutoff(catalog: Catalog) -> None:
    # Decree 23/2015: the same working day, or the next one when received after 15:00. The
    # 2 working hours the catalog used to give are now only the desk's own target.
    for code in ("certified-copy", "signature-certification"):
        for day in (date(2025, 6, 30), date(2025, 7, 1)):
            version = catalog.version_on(code, day)
            assert version.receipt_cutoff == time(15, 0)
            assert version.limit == Budget(amount=1, unit="closing_of_working_day")
            assert version.guaranteed_time() == timedelta(hours=2)
    target = catalog.version_on("certified-copy", date(2026, 1, 5)).service_target
    assert target == Budget(amount=2, unit="working_hours")


def test_land_and_permit_bundle_waits_for_the_land_signature(catalog: Catalog) -> None:
    for day in (date(2025, 6, 30), date(2025, 7, 1)):
        bundle = catalog.combined_on("land-and-permit", day)
        assert bundle.online_only and bundle.home_delivery
        assert [str(dependency) for dependency in bundle.cross_dependencies] == [
            "house-building-permit:decision waits for land-first-certificate:sign"
        ]
        path, total = catalog.combined_critical_path("land-and-permit", day)
        assert total <= bundle.limit.working_time()
        land_sign = path.index(("land-first-certificate", "sign"))
        assert path[land_sign + 1] == ("house-building-permit", "decision")
        components = catalog.components_on("land-and-permit", day)
        assert components == tuple(catalog.version_on(code, day) for code in bundle.components)


def test_list_in_force_gives_one_version_per_code(catalog: Catalog) -> None:
    entries = catalog.list_in_force(date(2026, 11, 30))
    assert [entry.code for entry in entries] == list(catalog.codes())
    assert all(entry.in_force_on(date(2026, 11, 30)) for entry in entries)
    assert all(entry.effective_from >= date(2025, 7, 1) for entry in entries)


def test_agencies_have_their_own_task_queue_and_signing_title(catalog: Catalog) -> None:
    for agency in catalog.agencies:
        assert agency.task_queue == f"agency-{agency.code}"
        assert agency.head_title_vi
    assert catalog.agency("land-registration").task_queue == "agency-land-registration"


def test_shipped_data_files_are_nfc() -> None:
    for path in DEFAULT_ROOT.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), path


def test_pinned_version_round_trips_through_json_for_activities(catalog: Catalog) -> None:
    # Activities hand the pinned version to workflows through pydantic's JSON converter.
    version = catalog.version_on("certified-copy", date(2026, 1, 5))
    assert ProcedureVersion.model_validate_json(version.model_dump_json()) == version


# --------------------------------------------------------------------------------------------
# Small catalogs in tmp_path, broken one rule at a time
# --------------------------------------------------------------------------------------------

AGENCIES: list[dict[str, Any]] = [
    {
        "code": "one-stop",
        "name_vi": "Bộ phận Một cửa",
        "name_en": "One-stop desk",
        "head_title_vi": "Trưởng Bộ phận Một cửa",
        "levels": ["district", "commune"],
    },
    {
        "code": "office",
        "name_vi": "Phòng chuyên môn",
        "name_en": "Specialist office",
        "head_title_vi": "Trưởng phòng",
        "levels": ["district"],
    },
    {
        "code": "district-committee",
        "name_vi": "Ủy ban nhân dân quận",
        "name_en": "District People's Committee",
        "head_title_vi": "Chủ tịch",
        "levels": ["district"],
        "active_to": date(2025, 6, 30),
    },
]


ONE = timedelta(days=1)
AUG_1 = date(2024, 8, 1)  # the Land Law 2024 and Decree 101/2024


def days_budget(amount: float) -> Budget:
    return Budget(amount=amount, unit="working_days")


def days(amount: float) -> dict[str, Any]:
    return {"amount": amount, "unit": "working_days"}


def demo_version() -> dict[str, Any]:
    return {
        "version": "2024-08",
        "name_vi": "Thủ tục mẫu",
        "name_en": "Demo procedure",
        "level": "district",
        "legal_basis": ["Nghị định 1/2024/NĐ-CP"],
        "effective_from": date(2024, 8, 1),
        "effective_to": date(2025, 6, 30),
        "limit": days(10),
        "required_documents": [{"name_vi": "Đơn đề nghị", "form": "original"}],
        "fees": [{"name_vi": "Lệ phí", "amount_vnd": 50000}],
        "result_document_vi": "Quyết định",
        "supplement_policy": {"max_requests": 1, "within": days(2)},
        "steps": [
            {
                "id": "receive",
                "name_vi": "Tiếp nhận",
                "agency": "one-stop",
                "kind": "automated_check",
                "activity": "one-stop.check-completeness",
                "budget": days(1),
            },
            {
                "id": "review",
                "name_vi": "Thẩm định",
                "agency": "office",
                "kind": "officer_decision",
                "budget": days(4),
                "depends_on": ["receive"],
            },
            {
                "id": "notice",
                "name_vi": "Niêm yết",
                "agency": "office",
                "kind": "public_notice",
                "notice_days": 15,
                "counts_toward_limit": False,
                "budget": days(1),
                "depends_on": ["review"],
            },
            {
                "id": "sign",
                "name_vi": "Ký",
                "agency": "district-committee",
                "kind": "signature",
                "budget": days(1),
                "depends_on": ["notice"],
            },
            {
                "id": "return",
                "name_vi": "Trả kết quả",
                "agency": "one-stop",
                "kind": "return_result",
                "budget": days(0.5),
                "depends_on": ["sign"],
            },
        ],
    }


def other_version() -> dict[str, Any]:
    version = demo_version()
    version["name_en"] = "Other procedure"
    return version


def bundle_version() -> dict[str, Any]:
    return {
        "version": "2024-08",
        "name_vi": "Liên thông mẫu",
        "name_en": "Demo bundle",
        "legal_basis": ["Nghị định 61/2018/NĐ-CP"],
        "effective_from": date(2024, 8, 1),
        "effective_to": date(2025, 6, 30),
        "components": ["demo", "other"],
        "cross_dependencies": [
            {
                "procedure": "other",
                "step": "sign",
                "waits_for_procedure": "demo",
                "waits_for_step": "sign",
            }
        ],
        # demo to its signature 6 + other's signature 1 and return 0.5 = 7.5
        "limit": days(8),
        "online_only": True,
        "home_delivery": True,
    }


Data = dict[str, Any]


def base_data() -> Data:
    return {
        "agencies": copy.deepcopy(AGENCIES),
        "procedures": {"demo": [demo_version()], "other": [other_version()]},
        "combined": {"bundle": [bundle_version()]},
    }


def write_catalog(tmp_path: Path, data: Data) -> Path:
    root = tmp_path / "catalog"
    (root / "procedures").mkdir(parents=True)
    (root / "combined").mkdir()

    def dump(path: Path, content: object) -> None:
        path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), "utf-8")

    dump(root / "agencies.yaml", {"agencies": data["agencies"]})
    for code, versions in data["procedures"].items():
        dump(root / "procedures" / f"{code}.yaml", {"code": code, "versions": versions})
    for code, versions in data["combined"].items():
        dump(root / "combined" / f"{code}.yaml", {"code": code, "versions": versions})
    return root


def problem_lines(tmp_path: Path, data: Data) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(write_catalog(tmp_path, data))
    return [str(problem) for problem in info.value.problems]


DEMO = "catalog/procedures/demo.yaml: demo@2024-08"
BUNDLE = "catalog/combined/bundle.yaml: bundle@2024-08"


def test_small_base_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(write_catalog(tmp_path, base_data()))
    assert catalog.codes() == ("bundle", "demo", "other")
    assert catalog.combined_critical_path("bundle", date(2025, 1, 1))[1] == timedelta(hours=60)


def demo_steps(data: Data) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = data["procedures"]["demo"][0]["steps"]
    return steps


def set_step(index: int, **changes: Any) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        demo_steps(data)[index].update(changes)

    return mutate


def set_version(**changes: Any) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        data["procedures"]["demo"][0].update(changes)

    return mutate


def drop_version_field(name: str) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        del data["procedures"]["demo"][0][name]

    return mutate


def misspell_budget(data: Data) -> None:
    demo_steps(data)[1]["budgte"] = demo_steps(data)[1].pop("budget")


def add_overlapping_version(data: Data) -> None:
    later = demo_version()
    later["version"] = "2025-06"
    later["effective_from"] = date(2025, 6, 1)
    data["procedures"]["demo"].append(later)


def add_duplicate_step(data: Data) -> None:
    demo_steps(data).insert(2, copy.deepcopy(demo_steps(data)[1]))


def add_post_reform_version_signed_by_district(data: Data) -> None:
    later = demo_version()
    later.update(version="2025-07", level="commune", effective_from=date(2025, 7, 1))
    del later["effective_to"]
    data["procedures"]["demo"].append(later)


def add_dangling_step(data: Data) -> None:
    demo_steps(data).insert(
        2,
        {
            "id": "archive",
            "name_vi": "Lưu trữ",
            "agency": "office",
            "kind": "officer_decision",
            "budget": days(1),
            "depends_on": ["review"],
        },
    )


# (mutation, expected "<file>: <procedure>@<version>: <field>: " prefix, expected text)
PROCEDURE_CASES: dict[str, tuple[Callable[[Data], None], str, str]] = {
    "missing field": (drop_version_field("name_en"), f"{DEMO}: name_en: ", "Field required"),
    "misspelt field": (
        misspell_budget,
        f"{DEMO}: steps[1].budgte: ",
        "Extra inputs are not permitted",
    ),
    "mistyped field": (
        set_step(1, budget={"amount": "four", "unit": "working_days"}),
        f"{DEMO}: steps[1].budget.amount: ",
        "valid number",
    ),
    "bad unit": (
        set_step(1, budget={"amount": 4, "unit": "days"}),
        f"{DEMO}: steps[1].budget.unit: ",
        "working_days",
    ),
    "unquoted cutoff": (
        set_version(receipt_cutoff=900),
        f"{DEMO}: receipt_cutoff: ",
        "quotes",
    ),
    "unknown dependency": (
        set_step(3, depends_on=["foo"]),
        f"{DEMO}: steps[3].depends_on: ",
        "unknown step 'foo'",
    ),
    "cycle": (
        set_step(1, depends_on=["receive", "sign"]),
        f"{DEMO}: steps[1].depends_on: ",
        "dependency cycle: review depends on sign depends on notice depends on review",
    ),
    "self dependency": (
        set_step(1, depends_on=["review"]),
        f"{DEMO}: steps[1].depends_on: ",
        "depends on itself",
    ),
    "duplicate step id": (add_duplicate_step, f"{DEMO}: steps[2].id: ", "duplicate step id"),
    "unknown agency": (
        set_step(1, agency="natural-resourses"),
        f"{DEMO}: steps[1].agency: ",
        "unknown agency 'natural-resourses'",
    ),
    "budgets over limit": (
        set_step(1, budget=days(9)),
        f"{DEMO}: limit: ",
        "10 working days is less than the critical path of counted steps, 11.5 working days",
    ),
    "overlapping versions": (
        add_overlapping_version,
        "catalog/procedures/demo.yaml: demo@2025-06: effective_from: ",
        "overlaps version 2024-08",
    ),
    "effective_to before effective_from": (
        set_version(effective_to=date(2024, 7, 1)),
        f"{DEMO}: effective_to: ",
        "before effective_from",
    ),
    "counted public notice": (
        set_step(2, counts_toward_limit=True),
        f"{DEMO}: steps[2].counts_toward_limit: ",
        "public_notice",
    ),
    "notice without days": (
        set_step(2, notice_days=None),
        f"{DEMO}: steps[2].notice_days: ",
        "needs notice_days",
    ),
    "payment silent on counting": (
        set_step(1, kind="payment"),
        f"{DEMO}: steps[1].counts_toward_limit: ",
        "explicitly",
    ),
    "automated check without activity": (
        set_step(0, activity=None),
        f"{DEMO}: steps[0].activity: ",
        "needs an activity",
    ),
    "activity on a human step": (
        set_step(1, activity="office.review"),
        f"{DEMO}: steps[1].activity: ",
        "only automated_check",
    ),
    "district version left open past the reform": (
        set_version(effective_to=None),
        f"{DEMO}: level: ",
        "district tier ends on 2025-06-30",
    ),
    "agency abolished before the version ends": (
        add_post_reform_version_signed_by_district,
        "catalog/procedures/demo.yaml: demo@2025-07: steps[3].agency: ",
        "exists only",
    ),
    "step leading nowhere": (add_dangling_step, f"{DEMO}: steps[2]: ", "nothing depends on"),
    "same-day limit without a cut-off": (
        set_version(limit={"amount": 8, "unit": "closing_of_working_day"}),
        f"{DEMO}: receipt_cutoff: ",
        "needs a receipt cut-off",
    ),
    "same-day limit too short for the steps": (
        set_version(limit={"amount": 7, "unit": "closing_of_working_day"}, receipt_cutoff="15:00"),
        f"{DEMO}: limit: ",
        "by closing of working day 7 (at least 6.25 working days, received just before the "
        "cut-off) is less than the critical path",
    ),
    "closing limit in part days": (
        set_version(limit={"amount": 1.5, "unit": "closing_of_working_day"}),
        f"{DEMO}: limit.amount: ",
        "whole working days",
    ),
    "a step budget to a closing time": (
        set_step(1, budget={"amount": 1, "unit": "closing_of_working_day"}),
        f"{DEMO}: steps[1].budget.unit: ",
        "only a limit",
    ),
    "a desk target laxer than the law": (
        set_version(service_target=days(11)),
        f"{DEMO}: service_target: ",
        "only be stricter",
    ),
    "fee with neither amount nor computed": (
        set_version(fees=[{"name_vi": "Lệ phí"}]),
        f"{DEMO}: fees[0].amount_vnd: ",
        "either amount_vnd or computed",
    ),
}


@pytest.mark.parametrize("case", PROCEDURE_CASES, ids=list(PROCEDURE_CASES))
def test_broken_procedure_is_refused_naming_file_procedure_version_and_field(
    tmp_path: Path, case: str
) -> None:
    mutate, prefix, text = PROCEDURE_CASES[case]
    data = base_data()
    del data["combined"]["bundle"]  # keep the report to the procedure's own problem
    mutate(data)
    lines = problem_lines(tmp_path, data)
    assert any(line.startswith(prefix) and text in line for line in lines), lines


def test_unknown_dependency_message_has_the_documented_shape(tmp_path: Path) -> None:
    data = base_data()
    set_step(3, depends_on=["foo"])(data)
    with pytest.raises(CatalogError) as info:
        load_catalog(write_catalog(tmp_path, data))
    assert str(info.value) == (
        "catalog/procedures/demo.yaml: demo@2024-08: steps[3].depends_on: unknown step 'foo'"
    )


def bundle(data: Data) -> dict[str, Any]:
    version: dict[str, Any] = data["combined"]["bundle"][0]
    return version


def set_bundle(**changes: Any) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        bundle(data).update(changes)

    return mutate


def set_cross(**changes: Any) -> Callable[[Data], None]:
    def mutate(data: Data) -> None:
        bundle(data)["cross_dependencies"][0].update(changes)

    return mutate


def add_reverse_cross_dependency(data: Data) -> None:
    bundle(data)["cross_dependencies"].append(
        {
            "procedure": "demo",
            "step": "review",
            "waits_for_procedure": "other",
            "waits_for_step": "sign",
        }
    )


def shorten_other(data: Data) -> None:
    data["procedures"]["other"][0]["effective_to"] = date(2025, 3, 31)


BUNDLE_CASES: dict[str, tuple[Callable[[Data], None], str, str]] = {
    "unknown component": (
        set_bundle(components=["demo", "othr"], cross_dependencies=[]),
        f"{BUNDLE}: components[1]: ",
        "unknown procedure 'othr'",
    ),
    "cross dependency on a procedure outside the bundle": (
        set_cross(waits_for_procedure="land"),
        f"{BUNDLE}: cross_dependencies[0].waits_for_procedure: ",
        "'land' is not a component",
    ),
    "cross dependency on a missing step": (
        set_cross(waits_for_step="issue"),
        f"{BUNDLE}: cross_dependencies[0].waits_for_step: ",
        "demo@2024-08 has no step 'issue'",
    ),
    "limit smaller than the joined critical path": (
        set_bundle(limit=days(7)),
        f"{BUNDLE}: limit: ",
        "7 working days is less than the critical path across components, 7.5 working days",
    ),
    "cycle across procedures": (
        add_reverse_cross_dependency,
        f"{BUNDLE}: cross_dependencies: ",
        "dependency cycle across procedures",
    ),
    "component not in force for the whole bundle": (
        shorten_other,
        f"{BUNDLE}: components[1]: ",
        "no version of 'other' is in force on 2025-04-01",
    ),
    "misspelt field": (
        set_bundle(home_delivry=True),
        f"{BUNDLE}: home_delivry: ",
        "Extra inputs are not permitted",
    ),
}


@pytest.mark.parametrize("case", BUNDLE_CASES, ids=list(BUNDLE_CASES))
def test_broken_bundle_is_refused_naming_file_bundle_version_and_field(
    tmp_path: Path, case: str
) -> None:
    mutate, prefix, text = BUNDLE_CASES[case]
    data = base_data()
    mutate(data)
    lines = problem_lines(tmp_path, data)
    assert any(line.startswith(prefix) and text in line for line in lines), lines


def test_broken_agency_is_refused_naming_the_agencies_file(tmp_path: Path) -> None:
    data = base_data()
    data["agencies"][1]["head_title"] = data["agencies"][1].pop("head_title_vi")
    lines = problem_lines(tmp_path, data)
    assert "catalog/agencies.yaml: agency 'office': head_title_vi: Field required" in lines


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = base_data()
    set_step(3, depends_on=["foo"])(data)
    del data["procedures"]["other"][0]["name_en"]
    with pytest.raises(CatalogError) as info:
        load_catalog(write_catalog(tmp_path, data))
    assert str(info.value).splitlines() == [
        "2 problems in the catalog:",
        "catalog/procedures/demo.yaml: demo@2024-08: steps[3].depends_on: unknown step 'foo'",
        "catalog/procedures/other.yaml: other@2024-08: name_en: Field required",
    ]


def test_duplicate_yaml_key_is_refused_with_the_file_and_line(tmp_path: Path) -> None:
    root = write_catalog(tmp_path, base_data())
    path = root / "procedures" / "demo.yaml"
    path.write_text(path.read_text("utf-8").replace("  limit:", "  limit: 3\n  limit:", 1), "utf-8")
    with pytest.raises(
        CatalogError,
        match=r"^catalog/procedures/demo\.yaml: invalid YAML at line \d+, column 3: "
        r"found duplicate key 'limit'$",
    ):
        load_catalog(root)


def test_file_must_be_named_after_its_code(tmp_path: Path) -> None:
    root = write_catalog(tmp_path, base_data())
    (root / "procedures" / "other.yaml").rename(root / "procedures" / "othre.yaml")
    with pytest.raises(
        CatalogError, match=r"^catalog/procedures/othre\.yaml: other: code: must match"
    ):
        load_catalog(root)


def test_decomposed_vietnamese_is_normalised_to_nfc(tmp_path: Path) -> None:
    data = base_data()
    data["procedures"]["demo"][0]["name_vi"] = unicodedata.normalize("NFD", "Thủ tục mẫu")
    catalog = load_catalog(write_catalog(tmp_path, data))
    assert catalog.versions("demo")[0].name_vi == "Thủ tục mẫu"


# --------------------------------------------------------------------------------------------
# Graph properties on random DAGs
# --------------------------------------------------------------------------------------------


@st.composite
def random_dags(draw: st.DrawFn) -> tuple[list[list[int]], list[int], list[bool]]:
    size = draw(st.integers(min_value=1, max_value=8))
    deps = [
        sorted(draw(st.sets(st.integers(min_value=0, max_value=index - 1)))) if index else []
        for index in range(size)
    ]
    budgets = draw(st.lists(st.integers(1, 5), min_size=size, max_size=size))
    counted = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    return deps, budgets, counted


@given(random_dags())
@settings(max_examples=60, deadline=None)
def test_topological_order_and_critical_path_agree_with_brute_force(
    dag: tuple[list[list[int]], list[int], list[bool]],
) -> None:
    deps, budgets, counted = dag
    needed = {dep for step_deps in deps for dep in step_deps}
    steps: list[dict[str, Any]] = [
        {
            "id": f"s{index}",
            "name_vi": "Bước",
            "agency": "office",
            "kind": "officer_decision",
            "budget": days(budgets[index]),
            "counts_toward_limit": counted[index],
            "depends_on": [f"s{dep}" for dep in deps[index]],
        }
        for index in range(len(deps))
    ]
    steps.append(
        {
            "id": "return",
            "name_vi": "Trả kết quả",
            "agency": "one-stop",
            "kind": "return_result",
            "budget": days(1),
            "depends_on": [f"s{i}" for i in range(len(deps)) if i not in needed],
        }
    )
    # Declared in reverse so the order cannot come from the declaration alone.
    raw = {**demo_version(), "code": "demo", "limit": days(100), "steps": steps[::-1]}
    version = ProcedureVersion.model_validate(raw)

    order = [step.id for step in version.topological_order()]
    for step in version.steps:
        assert all(order.index(dep) < order.index(step.id) for dep in step.depends_on)

    weight = {f"s{i}": budgets[i] if counted[i] else 0 for i in range(len(deps))} | {"return": 1}

    def heaviest(step_id: str) -> int:
        step = version.step(step_id)
        return weight[step_id] + max((heaviest(dep) for dep in step.depends_on), default=0)

    path, total = version.critical_path()
    assert total == timedelta(hours=8 * heaviest("return"))
    assert sum(weight[step.id] for step in path) == heaviest("return")
    for before, after in itertools.pairwise(path):
        assert before.id in after.depends_on


def test_the_facts_a_dossier_needs_come_from_its_steps_activities() -> None:
    catalog, day = default_catalog(), date(2025, 8, 1)
    assert catalog.facts_needed_on("land-first-certificate", day) == {DossierFact.PARCEL}
    assert catalog.facts_needed_on("land-and-permit", day) == {DossierFact.PARCEL}
    assert catalog.facts_needed_on("marital-status-confirmation", day) == {DossierFact.SUBJECT}
    for code in (
        "certified-copy",
        "signature-certification",
        "house-building-permit",
        "birth-residence-insurance",
    ):
        assert catalog.facts_needed_on(code, day) == frozenset(), code
    used = {
        step.activity
        for code in catalog.codes()
        if not catalog.is_combined(code)
        for version in catalog.versions(code)
        for step in version.steps
    }
    assert set(ACTIVITY_FACTS) <= used  # no stale activity name


# The 30 most-filed commune procedures (issue 18): each one's limit, pinned on both sides of
# its start (nothing before the two-tier reform catalogued for them; the limit from 2025-07-01).
SAME_DAY = Budget(amount=1, unit="closing_of_working_day")
COMMUNE_PROCEDURES: dict[str, tuple[str, Budget]] = {
    # civil status (hộ tịch)
    "birth-registration": ("justice", SAME_DAY),
    "marriage-registration": ("justice", SAME_DAY),
    "death-registration": ("justice", SAME_DAY),
    "birth-re-registration": ("justice", days_budget(5)),
    "civil-status-change": ("justice", days_budget(3)),
    "parent-child-recognition": ("justice", days_budget(3)),
    "birth-and-recognition": ("justice", days_budget(3)),
    "guardianship-registration": ("justice", days_budget(3)),
    "guardianship-end": ("justice", days_budget(2)),
    "marriage-re-registration": ("justice", days_budget(5)),
    "death-re-registration": ("justice", days_budget(5)),
    "civil-status-extract": ("justice", SAME_DAY),
    # certification (chứng thực)
    "contract-certification": ("justice", days_budget(2)),
    "contract-amendment-certification": ("justice", days_budget(2)),
    "contract-error-correction": ("justice", SAME_DAY),
    "inheritance-agreement-certification": ("justice", days_budget(2)),
    "will-certification": ("justice", days_budget(2)),
    "copy-from-master-register": ("justice", SAME_DAY),
    # residence (cư trú)
    "permanent-residence-registration": ("police", days_budget(7)),
    "temporary-residence-registration": ("police", days_budget(3)),
    "temporary-residence-extension": ("police", days_budget(3)),
    "permanent-residence-deletion": ("police", days_budget(1)),
    "temporary-absence-declaration": ("police", days_budget(1)),
    "residence-confirmation": ("police", days_budget(1)),
    "residence-data-adjustment": ("police", days_budget(3)),
    "household-separation": ("police", days_budget(3)),
    "stay-notification": ("police", SAME_DAY),
    # social protection (bảo trợ xã hội)
    "monthly-social-allowance": ("commune-committee", days_budget(15)),
    "funeral-allowance": ("commune-committee", days_budget(3)),
    "disability-certification": ("commune-committee", days_budget(25)),
}


@pytest.mark.parametrize("code", COMMUNE_PROCEDURES)
def test_a_commune_procedure_has_its_limit_from_the_reform_on(catalog: Catalog, code: str) -> None:
    agency, limit = COMMUNE_PROCEDURES[code]
    with pytest.raises(NotInForce, match="phiên bản đầu tiên \\(2025-07\\)"):
        catalog.version_on(code, date(2025, 6, 30))
    version = catalog.version_on(code, date(2025, 7, 1))
    assert (version.level, version.limit) == ("commune", limit)
    assert version.step("process").agency == agency
    assert version.step("process").kind is StepKind.OFFICER_DECISION
    # Only activities the agencies' workers run: the one-stop desk's completeness check.
    assert {s.activity for s in version.steps if s.activity} == {"one-stop.check-completeness"}
    if limit.to_closing:
        assert version.receipt_cutoff == time(15, 0)


def test_thirty_commune_procedures_are_catalogued(catalog: Catalog) -> None:
    assert len(COMMUNE_PROCEDURES) == 30
    assert set(COMMUNE_PROCEDURES) <= set(catalog.codes())
