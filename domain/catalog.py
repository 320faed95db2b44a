"""The versioned procedure catalog: models, a loader and its validation.

The catalog is data: ``catalog/agencies.yaml``, one file per procedure under
``catalog/procedures/`` and one per combined ("liên thông") bundle under ``catalog/combined/``.
Each procedure file lists the versions of one procedure code; a dossier is pinned to the version
in force on its receipt date (``Catalog.version_on``), because the rules change over time (Decree
101/2024 → Decree 151/2025, districts abolished on 2025-07-01).

Everything here is pure except ``load_catalog``, which reads the files. Workflows must not call
``load_catalog`` themselves: the catalog can change between code versions, so workflows receive
the pinned ``ProcedureVersion`` from an activity and its answer is recorded in history.

A catalog that breaks a rule does not load: ``CatalogError`` lists every problem as
``<file>: <procedure>@<version>: <field>: <problem>``.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain.clock import DEFAULT_OFFICE_HOURS

__all__ = [
    "ACTIVITY_FACTS",
    "CLOSING_OF_WORKING_DAY",
    "ENDING_WARNING_DAYS",
    "STANDARD_WORKING_DAY",
    "TWO_TIER_REFORM",
    "Agency",
    "Budget",
    "BuildingCase",
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "CatalogProblem",
    "CombinedProcedure",
    "CrossDependency",
    "Document",
    "DocumentForm",
    "DossierFact",
    "EndingSoon",
    "Exemption",
    "Fee",
    "Level",
    "NotInForce",
    "ProcedureVersion",
    "Step",
    "StepKind",
    "SupplementPolicy",
    "UnknownAgency",
    "UnknownProcedure",
    "UnknownStep",
    "default_catalog",
    "exemption_answer_vi",
    "facts_needed",
    "load_catalog",
]

# The catalog compares budgets of mixed units (a limit in days, steps in hours) on one scale: the
# Labour Code's normal 8-hour working day. Callers with other office hours pass their own.
STANDARD_WORKING_DAY = timedelta(hours=8)

# Two-tier local government: districts abolished, wards/communes merged into new communes.
TWO_TIER_REFORM = date(2025, 7, 1)

ENDING_WARNING_DAYS = 30
"""How many calendar days before a procedure's last version ends, with no successor, to warn."""

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "catalog"

_KEBAB = r"[a-z0-9]+(?:-[a-z0-9]+)*"
# Errors raised by our own rules inside model validators carry this type and a "field" context,
# so the loader can report the exact field instead of the model as a whole.
_RULE = "catalog_rule"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogProblem:
    """One broken rule in the catalog data.

    Attributes:
        file: The data file, relative to the catalog root's parent (``catalog/...``).
        subject: What the problem is about: ``code@version``, or ``agency 'code'``.
        field: Path of the offending field inside the subject, e.g. ``steps[3].depends_on``.
        message: What is wrong.
    """

    file: str
    subject: str
    field: str
    message: str

    def __str__(self) -> str:
        return ": ".join(
            part for part in (self.file, self.subject, self.field, self.message) if part
        )


class CatalogError(Exception):
    """The catalog data breaks a rule; nothing is loaded.

    Attributes:
        problems: Every problem found, in file order.
    """

    def __init__(self, problems: Sequence[CatalogProblem]) -> None:
        self.problems = tuple(problems)
        lines = [str(problem) for problem in self.problems]
        if len(lines) == 1:
            text = lines[0]
        else:
            text = f"{len(lines)} problems in the catalog:\n" + "\n".join(lines)
        super().__init__(text)


class UnknownProcedure(LookupError):
    """No procedure (or combined procedure) has this code."""


class NotInForce(LookupError):
    """The procedure exists, but no version of it is in force on the asked day."""


class UnknownAgency(LookupError):
    """No agency has this code."""


class UnknownStep(LookupError):
    """The procedure version has no step with this id."""


def _rule(field: str, problem: str) -> PydanticCustomError:
    """Build a validation error for one of our rules, naming the field relative to the model."""
    return PydanticCustomError(_RULE, "{problem}", {"field": field, "problem": problem})


# --------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------


def _invalid(message: str) -> PydanticCustomError:
    """Build a plain validation error (pydantic would prefix a ValueError with "Value error")."""
    return PydanticCustomError("catalog_value", message)


def _vietnamese_text(value: str) -> str:
    # Editors (notably on macOS) may save decomposed diacritics; letters, search and equality
    # all assume NFC, so normalise once at the boundary.
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise _invalid("must not be blank")
    return text


def _matching(pattern: str, expected: str) -> AfterValidator:
    """Check a string against ``pattern``, saying in words what was expected."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise _invalid(f"{value!r} is not {expected}")
        return value

    return AfterValidator(check)


Code = Annotated[str, _matching(_KEBAB, "kebab-case (like 'land-registration')")]
"""A kebab-case identifier: ``land-first-certificate``, ``check-parcel``."""

ActivityName = Annotated[
    str, _matching(rf"{_KEBAB}(?:\.{_KEBAB})+", "a dotted name (like 'land.check-parcel')")
]
"""A dotted name of an automated check an agency worker runs: ``land.check-parcel``."""

VersionLabel = Annotated[
    str, _matching(r"[0-9]{4}-[0-9]{2}(?:-[a-z0-9-]+)?", "a version label (like '2024-08')")
]
"""A version label: the month it took effect, ``2024-08``, with an optional suffix."""

Text = Annotated[str, AfterValidator(_vietnamese_text)]
StrictBool = Annotated[bool, Field(strict=True)]


class _Frozen(BaseModel):
    # extra="forbid": a misspelt key in a data file must be an error, not silently ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Level(StrEnum):
    """Tier of government a procedure is decided at."""

    DISTRICT = "district"  # pre-2025 tier (quận/huyện), abolished on TWO_TIER_REFORM
    WARD = "ward"  # pre-2025 lowest tier (phường/xã/thị trấn)
    PROVINCE = "province"
    COMMUNE = "commune"  # post-2025 lowest tier (xã/phường/đặc khu)


# Tiers that exist only on one side of the reform; used to catch a version left in force
# across 2025-07-01 with the wrong level.
_PRE_REFORM_LEVELS = frozenset({Level.DISTRICT, Level.WARD})
_POST_REFORM_LEVELS = frozenset({Level.COMMUNE})


class StepKind(StrEnum):
    """What kind of work a step is, which decides how the engine runs it."""

    AUTOMATED_CHECK = "automated_check"  # an agency worker runs `activity` without a person
    OFFICER_DECISION = "officer_decision"  # an officer reviews and decides (approve/refuse/...)
    SIGNATURE = "signature"  # the head of the agency signs the result
    PAYMENT = "payment"  # the applicant pays a financial obligation
    PUBLIC_NOTICE = "public_notice"  # a statutory posting period; the clock is paused
    RETURN_RESULT = "return_result"  # the one-stop desk hands over the result


class DocumentForm(StrEnum):
    """In what form the applicant supplies a document."""

    ORIGINAL = "original"  # bản chính
    COPY = "copy"  # bản sao / bản chụp
    CERTIFIED_COPY = "certified_copy"  # bản sao có chứng thực
    ORIGINAL_OR_COPY = "original_or_copy"  # bản chính, or a copy shown with the original


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


CLOSING_OF_WORKING_DAY = "closing_of_working_day"
"""A limit unit: done by the closing time of the n-th working day the clock runs on (1: the same
day). Decree 23/2015 art. 21's "trong ngày ... hoặc trong ngày làm việc tiếp theo nếu tiếp nhận
yêu cầu sau 15 giờ" is ``{amount: 1, unit: closing_of_working_day}`` with a 15:00 cut-off."""


class Budget(_Frozen):
    """An amount of working time: a statutory limit or a step's share of it.

    A limit may also be ``closing_of_working_day``: not an amount of working time but "by the
    closing of the n-th working day"; how much working time that leaves depends on when the
    clock starts (`plan.limit_working_time`).
    """

    amount: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
    unit: Literal["working_days", "working_hours", "closing_of_working_day"]

    @model_validator(mode="after")
    def _whole_days_to_a_closing(self) -> Budget:
        if self.unit == CLOSING_OF_WORKING_DAY and self.amount != int(self.amount):
            raise _rule("amount", "a closing_of_working_day limit counts whole working days")
        return self

    @property
    def to_closing(self) -> bool:
        """Whether this is a "by the closing of the n-th working day" limit."""
        return self.unit == CLOSING_OF_WORKING_DAY

    def working_time(self, hours_per_day: timedelta = STANDARD_WORKING_DAY) -> timedelta:
        """Convert the budget to working time.

        Args:
            hours_per_day: Length of one working day (office hours, lunch excluded).

        Returns:
            The budget as working time; a calendar converts it to an appointment date. For a
            ``closing_of_working_day`` limit, the most it can be (a clock started at opening).
        """
        if self.unit == "working_hours":
            return timedelta(hours=self.amount)
        return hours_per_day * self.amount

    def __str__(self) -> str:
        if self.to_closing:
            return (
                "same working day"
                if self.amount == 1
                else f"by closing of working day {self.amount:g}"
            )
        return f"{self.amount:g} {self.unit.replace('_', ' ')}"


class Agency(_Frozen):
    """An agency that owns steps; its workers poll their own task queue.

    ``active_from``/``active_to`` (inclusive) bound the agency's existence, so a version in
    force after the 2025 reform cannot hand a step to a district office that no longer exists.
    """

    code: Code
    name_vi: Text
    name_en: Text
    head_title_vi: Text  # who signs the agency's letters (apology form 04), e.g. "Giám đốc"
    levels: tuple[Level, ...] = Field(min_length=1)
    active_from: date | None = None
    active_to: date | None = None

    @property
    def task_queue(self) -> str:
        """The Temporal task queue this agency's workers poll."""
        return f"agency-{self.code}"

    def active_on(self, day: date) -> bool:
        """Tell whether the agency exists on ``day``."""
        return (self.active_from is None or self.active_from <= day) and (
            self.active_to is None or day <= self.active_to
        )

    @model_validator(mode="after")
    def _range(self) -> Agency:
        if self.active_from and self.active_to and self.active_to < self.active_from:
            raise _rule("active_to", f"{self.active_to} is before active_from {self.active_from}")
        return self


class Step(_Frozen):
    """One unit of work in a procedure, owned by one agency.

    ``budget`` is the step's share of the statutory limit. For a step that does not count
    toward the limit (a public notice, waiting for the applicant to pay) it is the expected
    duration, for planning estimates and reminders; it is not a statutory time.

    A ``public_notice`` step also has ``notice_days``: the calendar days the notice stays
    posted, during which the dossier's clock is paused; its budget is the working time to post
    the notice and record objections afterwards. An ``optional`` step (a consultation "if
    needed") may be skipped by the officer, but stays in the budget because the appointment
    date is fixed at receipt.
    """

    id: Code
    name_vi: Text
    agency: Code
    kind: StepKind
    budget: Budget
    depends_on: tuple[Code, ...] = ()
    counts_toward_limit: StrictBool = True
    activity: ActivityName | None = None  # required for automated_check steps, only for them
    notice_days: Annotated[int, Field(strict=True, gt=0)] | None = None  # calendar days posted
    optional: StrictBool = False  # skipped when the dossier does not need it (a consultation)

    @model_validator(mode="after")
    def _kind_rules(self) -> Step:
        if self.budget.to_closing:
            raise _rule("budget.unit", "only a limit may run to a closing time; give working time")
        if self.kind is StepKind.PUBLIC_NOTICE:
            if self.counts_toward_limit:
                raise _rule(
                    "counts_toward_limit",
                    "a public_notice step must not count toward the limit (posting time is "
                    "not counted); set counts_toward_limit: false",
                )
            if self.notice_days is None:
                raise _rule("notice_days", "a public_notice step needs notice_days")
        elif self.notice_days is not None:
            raise _rule("notice_days", "only a public_notice step has notice_days")
        if self.kind is StepKind.PAYMENT and "counts_toward_limit" not in self.model_fields_set:
            # Whether the applicant's time to pay counts is a policy choice; make the data say it.
            raise _rule(
                "counts_toward_limit", "a payment step must state counts_toward_limit explicitly"
            )
        if self.kind is StepKind.AUTOMATED_CHECK and self.activity is None:
            raise _rule("activity", "an automated_check step needs an activity name")
        if self.kind is not StepKind.AUTOMATED_CHECK and self.activity is not None:
            raise _rule("activity", f"only automated_check steps have an activity, not {self.kind}")
        return self


class DossierFact(StrEnum):
    """A fact of the dossier (`domain.dossier.DossierFacts`) an automated step cannot do without.

    A channel that takes dossiers (the API) asks for the facts its procedure's steps need, so
    that a dossier is refused at submission rather than by an agency days later.
    """

    PARCEL = "parcel"  # ``facts.parcel``: the land parcel
    SUBJECT = "subject"  # ``facts.subject_ref``: the applicant, as the person an agency looks up


# The facts each automated step's activity reads and fails without (see `activities/`). An
# activity not listed needs none beyond the documents (the one-stop checks read those, and
# ``one-stop.check-identity`` takes an identity paper as well as a subject).
ACTIVITY_FACTS: Mapping[str, frozenset[DossierFact]] = {
    "land.check-parcel": frozenset({DossierFact.PARCEL}),
    "tax.compute-obligation": frozenset({DossierFact.PARCEL}),
    "justice.check-marital-status": frozenset({DossierFact.SUBJECT}),
}


def facts_needed(versions: Iterable[ProcedureVersion]) -> frozenset[DossierFact]:
    """The facts the automated steps of these procedure versions (a bundle's components) need."""
    return frozenset(
        fact
        for version in versions
        for step in version.steps
        if step.activity is not None
        for fact in ACTIVITY_FACTS.get(step.activity, ())
    )


class Document(_Frozen):
    """A document the applicant supplies."""

    name_vi: Text
    copies: Annotated[int, Field(strict=True, ge=1)] = 1
    form: DocumentForm
    optional: StrictBool = False  # "nếu có": only when the applicant's case needs it
    template: Text | None = None  # the official form, e.g. "Mẫu số 04/ĐK"


class Fee(_Frozen):
    """A fee or charge: a fixed amount, or ``computed`` (a tax obligation set per dossier)."""

    name_vi: Text
    amount_vnd: Annotated[int, Field(strict=True, ge=0)] | None = None
    per_vi: Text | None = None  # what the amount is charged per: "trang", "bản", "trường hợp"
    computed: StrictBool = False
    # Whether the dossier is received (its clock starts) only once this fee is paid; a fee that
    # does not block is paid after the dossier starts. ``blocks_clock_basis`` names the legal
    # source, or says ``[unverified]``; it is required when the fee blocks.
    blocks_clock: StrictBool = False
    blocks_clock_basis: Text | None = None

    @model_validator(mode="after")
    def _amount_or_computed(self) -> Fee:
        if self.computed == (self.amount_vnd is not None):
            raise _rule("amount_vnd", "give either amount_vnd or computed: true, not both/neither")
        if self.blocks_clock and not self.blocks_clock_basis:
            raise _rule("blocks_clock_basis", "a fee that blocks the clock names its legal basis")
        return self


class BuildingCase(_Frozen):
    """What an applicant says about a planned house, enough to tell whether a permit is needed.

    Attributes:
        floors: Storeys above ground (tầng).
        floor_area_m2: Total floor area (tổng diện tích sàn), square metres.
        in_planned_urban_area: Whether the plot lies in an area with an approved urban plan
            (khu vực đã có quy hoạch đô thị / quy hoạch chi tiết).
    """

    floors: Annotated[int, Field(strict=True, ge=1, le=200)]
    floor_area_m2: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
    in_planned_urban_area: StrictBool


class Exemption(_Frozen):
    """A case the law exempts from a procedure (a house that needs no building permit).

    Every condition given must hold; a condition left out holds for every case. An exempt
    applicant gets this answer, with its legal basis, instead of a dossier.
    """

    id: Code
    name_vi: Text
    legal_basis: Text
    floors_below: Annotated[int, Field(strict=True, ge=2)] | None = None
    floor_area_below_m2: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    in_planned_urban_area: StrictBool | None = None

    def applies(self, case: BuildingCase) -> bool:
        """Tell whether ``case`` meets every condition of the exemption."""
        return (
            (self.floors_below is None or case.floors < self.floors_below)
            and (self.floor_area_below_m2 is None or case.floor_area_m2 < self.floor_area_below_m2)
            and (
                self.in_planned_urban_area is None
                or case.in_planned_urban_area == self.in_planned_urban_area
            )
        )


def exemption_answer_vi(version: ProcedureVersion, exemption: Exemption | None) -> str:
    """The answer given to an applicant who asks whether a case needs ``version``'s procedure."""
    if exemption is None:
        return (
            f"Trường hợp này phải làm thủ tục “{version.name_vi}” ({version.code}@"
            f"{version.version}): nộp hồ sơ tại Bộ phận Một cửa."
        )
    return (
        f"Không cần nộp hồ sơ “{version.name_vi}”: {exemption.name_vi}. "
        f"Căn cứ: {exemption.legal_basis}."
    )


class SupplementPolicy(_Frozen):
    """How often, and how early, the agency may ask the applicant to supplement the dossier."""

    max_requests: Annotated[int, Field(strict=True, ge=0)]
    within: Budget | None = None  # counted from receipt; None: any time before the decision
    # How long the applicant has to hand the documents in, from the request; when it lapses,
    # processing stops. None: the request waits for the applicant indefinitely.
    applicant_time: Budget | None = None

    @model_validator(mode="after")
    def _within_needs_requests(self) -> SupplementPolicy:
        for field in ("within", "applicant_time"):
            budget = getattr(self, field)
            if budget is not None and budget.to_closing:
                raise _rule(f"{field}.unit", "only a limit may run to a closing time")
        if self.within is not None and self.max_requests == 0:
            raise _rule("within", "no supplement request is allowed, so 'within' means nothing")
        if self.applicant_time is not None and self.max_requests == 0:
            raise _rule(
                "applicant_time",
                "no supplement request is allowed, so 'applicant_time' means nothing",
            )
        return self


class ProcedureVersion(_Frozen):
    """One version of a catalogued procedure, in force from ``effective_from`` to ``effective_to``.

    Steps form a DAG through ``depends_on``; steps whose dependencies are done run in parallel.
    A valid version has unique step ids, known dependencies, no cycle, exactly one
    ``return_result`` step that every other step leads to, and a critical path (over the steps
    that count toward the limit) that fits ``limit``.
    """

    code: Code
    version: VersionLabel
    name_vi: Text
    name_en: Text
    level: Level
    legal_basis: tuple[Text, ...] = Field(min_length=1)
    effective_from: date
    effective_to: date | None = None  # inclusive; None: still in force
    limit: Budget
    receipt_cutoff: time | None = None  # received after this, the clock starts next working day
    # The desk's own service target (e.g. 2 working hours for a certified copy), stricter than
    # the law; shown on the receipt as a target, never used for on-time verdicts.
    service_target: Budget | None = None
    required_documents: tuple[Document, ...] = Field(min_length=1)
    fees: tuple[Fee, ...] = ()
    result_document_vi: Text
    online_only: StrictBool = False
    home_delivery: StrictBool = False
    supplement_policy: SupplementPolicy
    refusal_ends_dossier: StrictBool = True
    steps: tuple[Step, ...] = Field(min_length=1)
    exemptions: tuple[Exemption, ...] = ()  # cases that need no dossier at all

    def exemption_for(self, case: BuildingCase) -> Exemption | None:
        """The first exemption that covers ``case``, or None: a dossier is needed."""
        return next((exemption for exemption in self.exemptions if exemption.applies(case)), None)

    @field_validator("receipt_cutoff", mode="before")
    @classmethod
    def _cutoff_is_a_clock_time(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 15:00 as the base-60 integer 900, which pydantic would
        # silently accept as 00:15 UTC.
        if isinstance(value, int | float):
            raise _invalid("write the time in quotes, e.g. '15:00' (unquoted, YAML reads a number)")
        return value

    @field_validator("receipt_cutoff")
    @classmethod
    def _cutoff_is_local(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise _invalid("give a local office time (Asia/Ho_Chi_Minh) without a zone")
        return value

    @model_validator(mode="after")
    def _rules(self) -> ProcedureVersion:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise _rule(
                "effective_to",
                f"{self.effective_to} is before effective_from {self.effective_from}",
            )
        if self.level in _PRE_REFORM_LEVELS and (
            self.effective_to is None or self.effective_to >= TWO_TIER_REFORM
        ):
            raise _rule(
                "level",
                f"the {self.level} tier ends on {TWO_TIER_REFORM - timedelta(days=1)}; "
                f"set effective_to on or before it and add a post-reform version",
            )
        if self.level in _POST_REFORM_LEVELS and self.effective_from < TWO_TIER_REFORM:
            raise _rule("level", f"the {self.level} tier starts on {TWO_TIER_REFORM}")
        _check_steps(self.steps)
        path, needed = self.critical_path(STANDARD_WORKING_DAY)
        allowed = self.guaranteed_time()
        if needed > allowed:
            shown = str(self.limit)
            if self.limit.to_closing:
                shown += f" (at least {_in_days(allowed)}, received just before the cut-off)"
            raise _rule(
                "limit",
                f"{shown} is less than the critical path of counted steps, "
                f"{_in_days(needed)} ({' -> '.join(step.id for step in path)})",
            )
        if self.service_target is not None:
            if self.service_target.to_closing:
                raise _rule("service_target.unit", "give the desk's target as working time")
            if self.service_target.working_time() > allowed:
                raise _rule(
                    "service_target",
                    f"the desk's target {self.service_target} is longer than the legal limit "
                    f"{self.limit}: a target may only be stricter",
                )
        return self

    def guaranteed_time(self) -> timedelta:
        """The least working time the limit leaves, on the standard office hours.

        A working-time limit is itself. A ``closing_of_working_day`` limit leaves, at worst,
        the time from the receipt cut-off to the closing (a receipt just before the cut-off)
        plus the later whole days; without a cut-off nothing is guaranteed (a receipt a minute
        before closing), so such a limit needs ``receipt_cutoff``.

        A validated version always has it; the rule is checked here, during validation.
        """
        if not self.limit.to_closing:
            return self.limit.working_time(STANDARD_WORKING_DAY)
        if self.receipt_cutoff is None:
            raise _rule(
                "receipt_cutoff",
                "a closing_of_working_day limit needs a receipt cut-off (e.g. '15:00'): "
                "otherwise a receipt just before closing leaves no time at all",
            )
        first_day = DEFAULT_OFFICE_HOURS.time_after(self.receipt_cutoff)
        return first_day + DEFAULT_OFFICE_HOURS.hours_per_day * (self.limit.amount - 1)

    @property
    def label(self) -> str:
        """``code@version``, the way errors and logs name a version."""
        return f"{self.code}@{self.version}"

    def in_force_on(self, day: date) -> bool:
        """Tell whether this version applies to a dossier received on ``day``."""
        return _in_range(day, self.effective_from, self.effective_to)

    def step(self, step_id: str) -> Step:
        """Return the step with this id.

        Raises:
            UnknownStep: No such step; the message lists the step ids.
        """
        for step in self.steps:
            if step.id == step_id:
                return step
        known = ", ".join(step.id for step in self.steps)
        raise UnknownStep(f"{self.label} has no step {step_id!r}; steps: {known}")

    def steps_of_kind(self, kind: StepKind) -> tuple[Step, ...]:
        """Return the steps of one kind, in declaration order."""
        return tuple(step for step in self.steps if step.kind is kind)

    def agency_codes(self) -> tuple[str, ...]:
        """Return the codes of the agencies that own steps, in topological order, once each."""
        return tuple(dict.fromkeys(step.agency for step in self.topological_order()))

    def topological_order(self) -> tuple[Step, ...]:
        """Return the steps so that every step comes after the steps it depends on.

        Steps that become ready together keep their declaration order, so the order is stable.
        """
        by_id = {step.id: step for step in self.steps}
        order = _topological([step.id for step in self.steps], _step_deps(self.steps))
        return tuple(by_id[step_id] for step_id in order)

    def critical_path(
        self, hours_per_day: timedelta = STANDARD_WORKING_DAY
    ) -> tuple[tuple[Step, ...], timedelta]:
        """Return the longest chain of dependent steps and its working time.

        Only steps that count toward the limit add time; the others (a public notice, the
        applicant paying) still link the chain.

        Args:
            hours_per_day: Length of a working day, to convert day budgets.

        Returns:
            The steps on the critical path, first to last, and its total working time.
        """
        by_id = {step.id: step for step in self.steps}
        path, total = _longest_path(
            _topological([step.id for step in self.steps], _step_deps(self.steps)),
            _step_deps(self.steps),
            lambda step_id: _counted_time(by_id[step_id], hours_per_day),
        )
        return tuple(by_id[step_id] for step_id in path), total

    def critical_path_time(self, hours_per_day: timedelta = STANDARD_WORKING_DAY) -> timedelta:
        """Return the working time of the critical path (see ``critical_path``)."""
        return self.critical_path(hours_per_day)[1]


class CrossDependency(_Frozen):
    """In a combined procedure, ``procedure``'s ``step`` waits for another procedure's step."""

    procedure: Code
    step: Code
    waits_for_procedure: Code
    waits_for_step: Code

    def __str__(self) -> str:
        waited = f"{self.waits_for_procedure}:{self.waits_for_step}"
        return f"{self.procedure}:{self.step} waits for {waited}"


class CombinedProcedure(_Frozen):
    """A liên thông bundle: several procedures filed as one dossier with one limit.

    Components are procedure codes; each resolves to the component version in force on the
    dossier's receipt date. Cross dependencies join the components' step graphs.
    """

    code: Code
    version: VersionLabel
    name_vi: Text
    name_en: Text
    legal_basis: tuple[Text, ...] = Field(min_length=1)
    effective_from: date
    effective_to: date | None = None  # inclusive
    components: tuple[Code, ...] = Field(min_length=2)
    cross_dependencies: tuple[CrossDependency, ...] = ()
    limit: Budget
    online_only: StrictBool = False
    home_delivery: StrictBool = False

    @model_validator(mode="after")
    def _rules(self) -> CombinedProcedure:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise _rule(
                "effective_to",
                f"{self.effective_to} is before effective_from {self.effective_from}",
            )
        if self.limit.to_closing:
            raise _rule("limit.unit", "a combined procedure's limit is working time")
        seen: set[str] = set()
        for index, component in enumerate(self.components):
            if component in seen:
                raise _rule(f"components[{index}]", f"duplicate component {component!r}")
            seen.add(component)
        for index, dependency in enumerate(self.cross_dependencies):
            for field in ("procedure", "waits_for_procedure"):
                named = getattr(dependency, field)
                if named not in seen:
                    raise _rule(
                        f"cross_dependencies[{index}].{field}",
                        f"{named!r} is not a component ({', '.join(self.components)})",
                    )
            if dependency.procedure == dependency.waits_for_procedure:
                raise _rule(
                    f"cross_dependencies[{index}]",
                    "a step waiting for a step of its own procedure belongs in its depends_on",
                )
        return self

    @property
    def label(self) -> str:
        """``code@version``, the way errors and logs name a version."""
        return f"{self.code}@{self.version}"

    def in_force_on(self, day: date) -> bool:
        """Tell whether this version applies to a dossier received on ``day``."""
        return _in_range(day, self.effective_from, self.effective_to)


CatalogEntry: TypeAlias = ProcedureVersion | CombinedProcedure
"""Anything a dossier can be filed under."""

_Versioned = TypeVar("_Versioned", ProcedureVersion, CombinedProcedure)


# --------------------------------------------------------------------------------------------
# Graph helpers (generic over node keys: step ids, or (procedure, step) pairs)
# --------------------------------------------------------------------------------------------

_N = TypeVar("_N", bound=Hashable)


def _find_cycle(nodes: Sequence[_N], deps: Mapping[_N, Sequence[_N]]) -> list[_N] | None:
    """Return one dependency cycle as ``[a, b, ..., a]`` (a depends on b ...), or None."""
    done: set[_N] = set()
    stack: list[_N] = []
    on_stack: set[_N] = set()

    def visit(node: _N) -> list[_N] | None:
        stack.append(node)
        on_stack.add(node)
        for dep in deps.get(node, ()):
            if dep in on_stack:
                return [*stack[stack.index(dep) :], dep]
            if dep not in done:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for node in nodes:
        if node not in done:
            found = visit(node)
            if found:
                return found
    return None


def _topological(nodes: Sequence[_N], deps: Mapping[_N, Sequence[_N]]) -> list[_N]:
    """Order nodes after their dependencies, wave by wave, keeping declaration order in a wave."""
    waiting = {node: set(deps.get(node, ())) for node in nodes}
    order: list[_N] = []
    while waiting:
        ready = [node for node in nodes if node in waiting and not waiting[node]]
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(map(str, waiting))}")
        for node in ready:
            del waiting[node]
        for pending in waiting.values():
            pending.difference_update(ready)
        order.extend(ready)
    return order


def _longest_path(
    order: Sequence[_N], deps: Mapping[_N, Sequence[_N]], weight: Callable[[_N], timedelta]
) -> tuple[list[_N], timedelta]:
    """Return the heaviest dependency chain of a DAG given in topological ``order``."""
    best: dict[_N, timedelta] = {}
    previous: dict[_N, _N | None] = {}
    for node in order:
        before: _N | None = None
        for dep in deps.get(node, ()):
            if before is None or best[dep] > best[before]:
                before = dep
        best[node] = weight(node) + (best[before] if before is not None else timedelta())
        previous[node] = before
    if not best:
        return [], timedelta()
    end: _N | None = max(order, key=lambda node: best[node])
    total = best[end] if end is not None else timedelta()
    path: list[_N] = []
    while end is not None:
        path.append(end)
        end = previous[end]
    return path[::-1], total


def _step_deps(steps: Sequence[Step]) -> dict[str, tuple[str, ...]]:
    return {step.id: step.depends_on for step in steps}


def _counted_time(step: Step, hours_per_day: timedelta) -> timedelta:
    return step.budget.working_time(hours_per_day) if step.counts_toward_limit else timedelta()


def _in_days(working: timedelta, hours_per_day: timedelta = STANDARD_WORKING_DAY) -> str:
    return f"{working / hours_per_day:g} working days"


def _in_range(day: date, start: date, end: date | None) -> bool:
    return start <= day and (end is None or day <= end)


def _range_text(start: date, end: date | None) -> str:
    return f"{start} to {end if end is not None else 'open'}"


def _check_steps(steps: Sequence[Step]) -> None:
    """Check a step graph: unique ids, known dependencies, no cycle, one final return step."""
    first_index: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.id in first_index:
            raise _rule(
                f"steps[{index}].id",
                f"duplicate step id {step.id!r} (also steps[{first_index[step.id]}])",
            )
        first_index[step.id] = index
    for index, step in enumerate(steps):
        for dep in step.depends_on:
            if dep == step.id:
                raise _rule(f"steps[{index}].depends_on", f"step {dep!r} depends on itself")
            if dep not in first_index:
                raise _rule(f"steps[{index}].depends_on", f"unknown step {dep!r}")
    deps = _step_deps(steps)
    cycle = _find_cycle([step.id for step in steps], deps)
    if cycle:
        raise _rule(
            f"steps[{first_index[cycle[0]]}].depends_on",
            "dependency cycle: " + " depends on ".join(cycle),
        )
    returns = [index for index, step in enumerate(steps) if step.kind is StepKind.RETURN_RESULT]
    if len(returns) != 1:
        raise _rule("steps", f"need exactly one return_result step, found {len(returns)}")
    needed = {dep for step in steps for dep in step.depends_on}
    for index, step in enumerate(steps):
        if step.id not in needed and step.kind is not StepKind.RETURN_RESULT:
            raise _rule(
                f"steps[{index}]",
                f"nothing depends on step {step.id!r}: every step must lead to the return step",
            )


# --------------------------------------------------------------------------------------------
# The catalog
# --------------------------------------------------------------------------------------------


class Catalog:
    """All agencies, procedure versions and combined procedures, validated together.

    Construction runs every cross-file rule (agencies exist and are active, versions of one
    code do not overlap, combined bundles resolve and fit their limit) and raises
    ``CatalogError`` listing every problem.
    """

    def __init__(
        self,
        agencies: Iterable[Agency],
        procedures: Iterable[ProcedureVersion],
        combined: Iterable[CombinedProcedure] = (),
        *,
        files: Mapping[str, str] | None = None,
        combined_files: Mapping[str, str] | None = None,
        agencies_file: str = "agencies",
    ) -> None:
        """Build and validate a catalog.

        Args:
            agencies: Every agency that owns a step.
            procedures: Every version of every procedure.
            combined: Every version of every combined procedure.
            files: The data file each procedure code came from, for messages.
            combined_files: The data file each combined procedure code came from.
            agencies_file: The file the agencies came from, for messages.

        Raises:
            CatalogError: A rule is broken; the message lists every problem.
        """
        agency_list = tuple(agencies)
        self._agencies = {agency.code: agency for agency in agency_list}
        self._procedures = _group(procedures)
        self._combined = _group(combined)
        report = _Reporter(files or {}, combined_files or {}, agencies_file)
        _cross_file_problems(agency_list, self._procedures, self._combined, report)
        problems = report.problems
        if problems:
            raise CatalogError(problems)

    # -- agencies ----------------------------------------------------------------------------

    def agency(self, code: str) -> Agency:
        """Return the agency with this code.

        Raises:
            UnknownAgency: No such agency; the message lists the known codes.
        """
        try:
            return self._agencies[code]
        except KeyError:
            known = ", ".join(sorted(self._agencies))
            raise UnknownAgency(f"unknown agency {code!r}; known agencies: {known}") from None

    @property
    def agencies(self) -> tuple[Agency, ...]:
        """Every agency, sorted by code."""
        return tuple(self._agencies[code] for code in sorted(self._agencies))

    # -- lookup by code and day --------------------------------------------------------------

    def codes(self) -> tuple[str, ...]:
        """Return every procedure and combined procedure code, sorted."""
        return tuple(sorted({*self._procedures, *self._combined}))

    def is_combined(self, code: str) -> bool:
        """Tell whether ``code`` names a combined procedure (rather than a single one).

        Raises:
            UnknownProcedure: No procedure of either kind has this code.
        """
        if code in self._combined:
            return True
        if code in self._procedures:
            return False
        raise self._unknown(code)

    def versions(self, code: str) -> tuple[ProcedureVersion, ...]:
        """Return every version of a procedure, oldest first.

        Raises:
            UnknownProcedure: No (single) procedure has this code.
        """
        if code not in self._procedures:
            raise self._unknown(code, hint_combined=code in self._combined)
        return self._procedures[code]

    def version_on(self, code: str, day: date) -> ProcedureVersion:
        """Return the version of a procedure in force on ``day`` (a dossier's receipt date).

        Raises:
            UnknownProcedure: No (single) procedure has this code.
            NotInForce: No version is in force on ``day``; the message lists the ranges.
        """
        return _on(self.versions(code), code, day)

    def combined_versions(self, code: str) -> tuple[CombinedProcedure, ...]:
        """Return every version of a combined procedure, oldest first.

        Raises:
            UnknownProcedure: No combined procedure has this code.
        """
        if code not in self._combined:
            raise self._unknown(code)
        return self._combined[code]

    def combined_on(self, code: str, day: date) -> CombinedProcedure:
        """Return the version of a combined procedure in force on ``day``.

        Raises:
            UnknownProcedure: No combined procedure has this code.
            NotInForce: No version is in force on ``day``.
        """
        return _on(self.combined_versions(code), code, day)

    def components_on(self, code: str, day: date) -> tuple[ProcedureVersion, ...]:
        """Return the component versions of a combined procedure in force on ``day``.

        Raises:
            UnknownProcedure: No combined procedure has this code.
            NotInForce: The bundle is not in force on ``day``.
        """
        bundle = self.combined_on(code, day)
        return tuple(self.version_on(component, day) for component in bundle.components)

    def facts_needed_on(self, code: str, day: date) -> frozenset[DossierFact]:
        """The facts a dossier of ``code`` (a procedure or a bundle) received on ``day`` needs.

        Raises:
            UnknownProcedure: No procedure of either kind has this code.
            NotInForce: No version is in force on ``day``.
        """
        if self.is_combined(code):
            return facts_needed(self.components_on(code, day))
        return facts_needed((self.version_on(code, day),))

    def exemption_on(
        self, code: str, day: date, case: BuildingCase
    ) -> tuple[ProcedureVersion, Exemption] | None:
        """The exemption covering ``case`` for a dossier of ``code`` received on ``day``, if any.

        For a combined procedure, the first component with an exemption that applies: the
        applicant then files the other components on their own.

        Raises:
            UnknownProcedure: No procedure of either kind has this code.
            NotInForce: No version is in force on ``day``.
        """
        versions = (
            self.components_on(code, day)
            if self.is_combined(code)
            else (self.version_on(code, day),)
        )
        for version in versions:
            exemption = version.exemption_for(case)
            if exemption is not None:
                return version, exemption
        return None

    def combined_critical_path(
        self, code: str, day: date, hours_per_day: timedelta = STANDARD_WORKING_DAY
    ) -> tuple[tuple[tuple[str, str], ...], timedelta]:
        """Return the critical path of a combined procedure across its components.

        Args:
            code: The combined procedure's code.
            day: The receipt date, which pins the bundle and component versions.
            hours_per_day: Length of a working day, to convert day budgets.

        Returns:
            ``(procedure, step)`` pairs first to last, and the path's working time.
        """
        bundle = self.combined_on(code, day)
        graph = _merged_graph(bundle, self.components_on(code, day))
        path, total = _longest_path(
            _topological(graph.nodes, graph.deps),
            graph.deps,
            lambda node: _counted_time(graph.steps[node], hours_per_day),
        )
        return tuple(path), total

    def ending_soon(self, day: date, within_days: int = ENDING_WARNING_DAYS) -> list[EndingSoon]:
        """Procedures whose last version ends within ``within_days`` of ``day``, no successor.

        A dossier received after that day would be refused (``NotInForce``): the desk and the
        administrator are warned this many days ahead, until a successor version is added.

        Returns:
            One warning per code, sorted by code; empty when nothing ends soon.
        """
        warnings = []
        for code in self.codes():
            group: Sequence[CatalogEntry] = self._procedures.get(code) or self._combined[code]
            last = group[-1]
            if last.effective_to is None or not last.in_force_on(day):
                continue
            left = (last.effective_to - day).days
            if left <= within_days:
                warnings.append(
                    EndingSoon(code, last.version, last.name_vi, last.effective_to, left)
                )
        return warnings

    def list_in_force(self, day: date) -> tuple[CatalogEntry, ...]:
        """Return every procedure and combined procedure a dossier can be filed under on ``day``.

        Returns:
            One version per code in force on ``day``, sorted by code.
        """
        entries: list[CatalogEntry] = []
        for code in self.codes():
            group: Sequence[CatalogEntry] = self._procedures.get(code) or self._combined[code]
            entries.extend(entry for entry in group if entry.in_force_on(day))
        return tuple(entries)

    def _unknown(self, code: str, *, hint_combined: bool = False) -> UnknownProcedure:
        if hint_combined:
            return UnknownProcedure(
                f"{code!r} is a combined procedure: use combined_on/combined_versions"
            )
        return UnknownProcedure(
            f"unknown procedure {code!r}; known codes: {', '.join(self.codes())}"
        )


def _group(entries: Iterable[_Versioned]) -> dict[str, tuple[_Versioned, ...]]:
    grouped: dict[str, list[_Versioned]] = {}
    for entry in entries:
        grouped.setdefault(entry.code, []).append(entry)
    return {
        code: tuple(sorted(group, key=lambda entry: entry.effective_from))
        for code, group in grouped.items()
    }


def _on(group: Sequence[_Versioned], code: str, day: date) -> _Versioned:
    for entry in group:
        if entry.in_force_on(day):
            return entry
    ranges = "; ".join(
        f"{entry.version} ({_range_text(entry.effective_from, entry.effective_to)})"
        for entry in group
    )
    gap_vi, gap_en = _gap_texts(group, day)
    raise NotInForce(
        f"{gap_vi}. No version of {code!r} is in force on {day}: {gap_en}; versions: {ranges}"
    )


def _neighbours(
    group: Sequence[_Versioned], day: date
) -> tuple[_Versioned | None, _Versioned | None]:
    """The last version that ended before ``day`` and the first that starts after it."""
    before = [e for e in group if e.effective_to is not None and e.effective_to < day]
    after = [e for e in group if e.effective_from > day]
    return (before[-1] if before else None), (after[0] if after else None)


def _gap_texts(group: Sequence[_Versioned], day: date) -> tuple[str, str]:
    """The gap ``day`` falls in: in Vietnamese, for the person at the desk or the applicant,
    and in English, for the log."""
    previous, following = _neighbours(group, day)
    name = (previous or following or group[0]).name_vi
    when = f"ngày {day:%d/%m/%Y}"
    if previous is None and following is not None:
        return (
            f"Thủ tục “{name}” chưa có quy định áp dụng cho hồ sơ tiếp nhận {when}: phiên bản "
            f"đầu tiên ({following.version}) có hiệu lực từ {following.effective_from:%d/%m/%Y}",
            f"before the first version, {following.version}, takes effect on "
            f"{following.effective_from}",
        )
    if previous is not None and following is None:
        return (
            f"Thủ tục “{name}” không tiếp nhận được {when}: căn cứ pháp lý của phiên bản "
            f"{previous.version} hết hiệu lực sau ngày {previous.effective_to:%d/%m/%Y} và chưa "
            f"có quy định thay thế được công bố",
            f"after the last version, {previous.version}, ended on {previous.effective_to}, "
            "with no successor published",
        )
    assert previous is not None and following is not None
    return (
        f"Thủ tục “{name}” không tiếp nhận được {when}: khoảng trống giữa phiên bản "
        f"{previous.version} (hết hiệu lực {previous.effective_to:%d/%m/%Y}) và phiên bản "
        f"{following.version} (hiệu lực từ {following.effective_from:%d/%m/%Y})",
        f"in the gap between {previous.version} (ended {previous.effective_to}) and "
        f"{following.version} (from {following.effective_from})",
    )


@dataclass(frozen=True)
class EndingSoon:
    """A procedure whose last version ends soon with no successor: new dossiers will be refused.

    Attributes:
        code: The procedure or combined procedure code.
        version: Its last version's label.
        name_vi: Its Vietnamese name.
        last_day: The last day a dossier can be received (the version's ``effective_to``).
        days_left: Calendar days from the asked day to ``last_day``.
    """

    code: str
    version: str
    name_vi: str
    last_day: date
    days_left: int

    def __str__(self) -> str:
        return (
            f"Cảnh báo: thủ tục “{self.name_vi}” ({self.code}@{self.version}) chỉ tiếp nhận hồ sơ "
            f"đến hết ngày {self.last_day:%d/%m/%Y} (còn {self.days_left} ngày) và chưa có phiên "
            f"bản thay thế / warning: {self.code} can be received until {self.last_day} "
            f"({self.days_left} days left) and no later version is published"
        )


# --------------------------------------------------------------------------------------------
# Cross-file validation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MergedGraph:
    nodes: list[tuple[str, str]]
    deps: dict[tuple[str, str], list[tuple[str, str]]]
    steps: dict[tuple[str, str], Step]


def _merged_graph(bundle: CombinedProcedure, versions: Sequence[ProcedureVersion]) -> _MergedGraph:
    """Join the components' step graphs with the bundle's cross dependencies."""
    nodes: list[tuple[str, str]] = []
    deps: dict[tuple[str, str], list[tuple[str, str]]] = {}
    steps: dict[tuple[str, str], Step] = {}
    for version in versions:
        for step in version.steps:
            node = (version.code, step.id)
            nodes.append(node)
            steps[node] = step
            deps[node] = [(version.code, dep) for dep in step.depends_on]
    for dependency in bundle.cross_dependencies:
        deps.setdefault((dependency.procedure, dependency.step), []).append(
            (dependency.waits_for_procedure, dependency.waits_for_step)
        )
    return _MergedGraph(nodes, deps, steps)


class _Reporter:
    """Collects problems, naming the file each subject came from."""

    def __init__(
        self, files: Mapping[str, str], combined_files: Mapping[str, str], agencies_file: str
    ) -> None:
        self.problems: list[CatalogProblem] = []
        self._files = files
        self._combined_files = combined_files
        self._agencies_file = agencies_file

    def version(self, entry: CatalogEntry, field: str, message: str) -> None:
        files = self._combined_files if isinstance(entry, CombinedProcedure) else self._files
        file = files.get(entry.code, f"<{entry.code}>")
        self.problems.append(CatalogProblem(file, entry.label, field, message))

    def agency(self, code: str, field: str, message: str) -> None:
        self.problems.append(
            CatalogProblem(self._agencies_file, f"agency {code!r}", field, message)
        )


def _cross_file_problems(
    agencies: Sequence[Agency],
    procedures: Mapping[str, Sequence[ProcedureVersion]],
    combined: Mapping[str, Sequence[CombinedProcedure]],
    report: _Reporter,
) -> None:
    known_agencies: dict[str, Agency] = {}
    for agency in agencies:
        if agency.code in known_agencies:
            report.agency(agency.code, "code", "duplicate agency code")
        known_agencies[agency.code] = agency

    for group in procedures.values():
        _check_versions_apart(group, report)
        for version in group:
            _check_step_agencies(version, known_agencies, report)

    for code, bundles in combined.items():
        _check_versions_apart(bundles, report)
        if code in procedures:
            for bundle in bundles:
                report.version(bundle, "code", "a single procedure already has this code")
        for bundle in bundles:
            _check_bundle(bundle, procedures, report)


def _check_versions_apart(group: Sequence[CatalogEntry], report: _Reporter) -> None:
    """Two versions of one code must never be in force on the same day."""
    seen: dict[str, CatalogEntry] = {}
    for entry in group:
        if entry.version in seen:
            report.version(entry, "version", "duplicate version label")
        seen[entry.version] = entry
    # group is sorted by effective_from, so comparing neighbours finds every overlap.
    for earlier, later in itertools.pairwise(group):
        if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
            report.version(
                later,
                "effective_from",
                f"overlaps version {earlier.version} "
                f"({_range_text(earlier.effective_from, earlier.effective_to)}): "
                "two versions would be in force on the same day",
            )


def _check_step_agencies(
    version: ProcedureVersion, agencies: Mapping[str, Agency], report: _Reporter
) -> None:
    for index, step in enumerate(version.steps):
        agency = agencies.get(step.agency)
        if agency is None:
            report.version(
                version,
                f"steps[{index}].agency",
                f"unknown agency {step.agency!r}; known agencies: {', '.join(sorted(agencies))}",
            )
            continue
        starts_late = agency.active_from is not None and agency.active_from > version.effective_from
        ends_early = agency.active_to is not None and (
            version.effective_to is None or agency.active_to < version.effective_to
        )
        if starts_late or ends_early:
            report.version(
                version,
                f"steps[{index}].agency",
                f"agency {agency.code!r} exists only "
                f"{_range_text(agency.active_from or date.min, agency.active_to)}, not throughout "
                f"the version ({_range_text(version.effective_from, version.effective_to)})",
            )


def _first_uncovered_day(
    group: Sequence[ProcedureVersion], start: date, end: date | None
) -> date | None:
    """Return the first day in ``[start, end]`` with no version in force, or None."""
    day = start
    for version in group:  # sorted by effective_from
        if version.effective_to is not None and version.effective_to < day:
            continue
        if version.effective_from > day:
            return day
        if version.effective_to is None:
            return None
        day = version.effective_to + timedelta(days=1)
        if end is not None and day > end:
            return None
    return day


def _check_bundle(
    bundle: CombinedProcedure,
    procedures: Mapping[str, Sequence[ProcedureVersion]],
    report: _Reporter,
) -> None:
    resolvable = True
    for index, component in enumerate(bundle.components):
        group = procedures.get(component)
        if group is None:
            report.version(
                bundle,
                f"components[{index}]",
                f"unknown procedure {component!r}; known codes: {', '.join(sorted(procedures))}",
            )
            resolvable = False
            continue
        gap = _first_uncovered_day(group, bundle.effective_from, bundle.effective_to)
        if gap is not None:
            report.version(
                bundle,
                f"components[{index}]",
                f"no version of {component!r} is in force on {gap}, inside the bundle's range "
                f"({_range_text(bundle.effective_from, bundle.effective_to)})",
            )
            resolvable = False
    if not resolvable:
        return

    # Component versions change at their own dates; check every combination the bundle spans.
    starts = {bundle.effective_from}
    for component in bundle.components:
        for version in procedures[component]:
            starts.add(version.effective_from)
            if version.effective_to is not None:
                starts.add(version.effective_to + timedelta(days=1))
    checked: set[tuple[str, ...]] = set()
    for day in sorted(starts):
        if not bundle.in_force_on(day):
            continue
        versions = tuple(
            next(v for v in procedures[component] if v.in_force_on(day))
            for component in bundle.components
        )
        key = tuple(version.label for version in versions)
        if key not in checked:
            checked.add(key)
            _check_bundle_with(bundle, versions, report)


def _check_bundle_with(
    bundle: CombinedProcedure, versions: Sequence[ProcedureVersion], report: _Reporter
) -> None:
    by_code = {version.code: version for version in versions}
    with_versions = f"with {', '.join(version.label for version in versions)}"
    ok = True
    for index, dependency in enumerate(bundle.cross_dependencies):
        for proc_field, step_field in (
            ("procedure", "step"),
            ("waits_for_procedure", "waits_for_step"),
        ):
            version = by_code[getattr(dependency, proc_field)]
            step_id = getattr(dependency, step_field)
            if step_id not in {step.id for step in version.steps}:
                report.version(
                    bundle,
                    f"cross_dependencies[{index}].{step_field}",
                    f"{version.label} has no step {step_id!r} ({with_versions})",
                )
                ok = False
    if not ok:
        return
    graph = _merged_graph(bundle, versions)
    cycle = _find_cycle(graph.nodes, graph.deps)
    if cycle:
        report.version(
            bundle,
            "cross_dependencies",
            "dependency cycle across procedures: "
            + " depends on ".join(f"{code}:{step}" for code, step in cycle)
            + f" ({with_versions})",
        )
        return
    path, needed = _longest_path(
        _topological(graph.nodes, graph.deps),
        graph.deps,
        lambda node: _counted_time(graph.steps[node], STANDARD_WORKING_DAY),
    )
    if needed > bundle.limit.working_time(STANDARD_WORKING_DAY):
        report.version(
            bundle,
            "limit",
            f"{bundle.limit} is less than the critical path across components, "
            f"{_in_days(needed)} ({' -> '.join(f'{c}:{s}' for c, s in path)}; {with_versions})",
        )


# --------------------------------------------------------------------------------------------
# Loading from YAML
# --------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (PyYAML keeps the last one silently)."""


# The same loader on libyaml's parser, when PyYAML was built with it: the catalog's files load
# several times faster (most of a command's start). Only the parser differs (the constructor and
# the resolver are the same Python classes), so it builds the same documents; a file it rejects
# is read again with `_StrictLoader`, whose message is the one we report.
_FastStrictLoader: Any = _StrictLoader
if hasattr(yaml, "CSafeLoader"):

    class _CStrictLoader(yaml.CSafeLoader):
        """`_StrictLoader` on libyaml's parser."""

    _FastStrictLoader = _CStrictLoader


def _mapping_without_duplicates(
    loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            # `<<: *anchor` copies another version's fields; keys given here override them.
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


for _loader in (_StrictLoader, _FastStrictLoader):
    _loader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
    )


def _field_path(loc: Sequence[int | str], extra: str = "") -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if extra:
        path += extra if extra.startswith("[") or not path else f".{extra}"
    return path


def _pydantic_problems(
    error: ValidationError, file: str, subject: str, prefix: Sequence[int | str] = ()
) -> list[CatalogProblem]:
    problems = []
    for detail in error.errors(include_url=False):
        extra = str(detail.get("ctx", {}).get("field", "")) if detail["type"] == _RULE else ""
        field = _field_path([*prefix, *detail["loc"]], extra)
        problems.append(CatalogProblem(file, subject, field, detail["msg"]))
    return problems


def _read_yaml(path: Path, shown: str) -> object:
    try:
        text = path.read_text(encoding="utf-8")
        try:
            return yaml.load(text, Loader=_FastStrictLoader)  # a SafeLoader subclass
        except yaml.YAMLError:
            return yaml.load(text, Loader=_StrictLoader)  # the reference, and its message
    except yaml.YAMLError as error:
        where = ""
        if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
            mark = error.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(error, "problem", None) or str(error)
        raise CatalogError(
            [CatalogProblem(shown, "", "", f"invalid YAML{where}: {problem}")]
        ) from None
    except OSError as error:
        raise CatalogError([CatalogProblem(shown, "", "", f"cannot read: {error}")]) from None


def _versions_in_file(
    path: Path, shown: str, model: type[_Versioned], problems: list[CatalogProblem]
) -> tuple[str | None, list[_Versioned]]:
    """Parse one ``{code, versions: [...]}`` file; append problems rather than raising."""
    data = _read_yaml(path, shown)
    if not isinstance(data, dict) or set(data) != {"code", "versions"}:
        problems.append(
            CatalogProblem(
                shown, "", "", "expected exactly the top-level keys 'code' and 'versions'"
            )
        )
        return None, []
    code = data["code"]
    if code != path.stem:
        problems.append(
            CatalogProblem(shown, str(code), "code", f"must match the file name {path.stem!r}")
        )
        return None, []
    raw_versions = data["versions"]
    if not isinstance(raw_versions, list) or not raw_versions:
        problems.append(CatalogProblem(shown, code, "versions", "expected a non-empty list"))
        return code, []
    parsed: list[_Versioned] = []
    for index, raw in enumerate(raw_versions):
        label = raw.get("version") if isinstance(raw, dict) else None
        subject = f"{code}@{label}" if isinstance(label, str) else f"{code} versions[{index}]"
        if not isinstance(raw, dict):
            problems.append(CatalogProblem(shown, subject, "", "expected a mapping"))
            continue
        if "code" in raw:
            problems.append(
                CatalogProblem(shown, subject, "code", "give the code once, at the top of the file")
            )
            continue
        try:
            parsed.append(model.model_validate({**raw, "code": code}))
        except ValidationError as error:
            problems.extend(_pydantic_problems(error, shown, subject))
    return code, parsed


def load_catalog(root: Path | None = None) -> Catalog:
    """Read and validate the catalog under ``root``.

    Layout: ``agencies.yaml`` (``agencies: [...]``), ``procedures/<code>.yaml`` and
    ``combined/<code>.yaml`` (each ``code: <code>`` and ``versions: [...]``). Other files under
    ``root`` (the calendar overrides) are not read.

    Args:
        root: The catalog directory; defaults to the repository's ``catalog/``.

    Returns:
        The validated catalog.

    Raises:
        CatalogError: The data breaks a rule; the message lists every problem found.
    """
    root = (root or DEFAULT_ROOT).resolve()

    def shown(path: Path) -> str:
        return path.relative_to(root.parent).as_posix()

    problems: list[CatalogProblem] = []
    agencies_path = root / "agencies.yaml"
    agencies_file = shown(agencies_path)
    agencies: list[Agency] = []
    data = _read_yaml(agencies_path, agencies_file)
    if (
        not isinstance(data, dict)
        or set(data) != {"agencies"}
        or not isinstance(data["agencies"], list)
    ):
        problems.append(CatalogProblem(agencies_file, "", "", "expected 'agencies:' with a list"))
    else:
        for index, raw in enumerate(data["agencies"]):
            code = raw.get("code") if isinstance(raw, dict) else None
            subject = f"agency {code!r}" if isinstance(code, str) else f"agencies[{index}]"
            try:
                agencies.append(Agency.model_validate(raw))
            except ValidationError as error:
                problems.extend(_pydantic_problems(error, agencies_file, subject))

    files: dict[str, str] = {}
    combined_files: dict[str, str] = {}
    procedures: list[ProcedureVersion] = []
    combined: list[CombinedProcedure] = []
    for path in sorted((root / "procedures").glob("*.yaml")):
        code, versions = _versions_in_file(path, shown(path), ProcedureVersion, problems)
        if code is not None:
            files[code] = shown(path)
        procedures.extend(versions)
    for path in sorted((root / "combined").glob("*.yaml")):
        code, bundles = _versions_in_file(path, shown(path), CombinedProcedure, problems)
        if code is not None:
            combined_files[code] = shown(path)
        combined.extend(bundles)

    # Schema problems first: cross-file rules on half-parsed data would only add noise.
    if problems:
        raise CatalogError(problems)
    return Catalog(
        agencies,
        procedures,
        combined,
        files=files,
        combined_files=combined_files,
        agencies_file=agencies_file,
    )


@functools.cache
def default_catalog() -> Catalog:
    """Return the repository's catalog, loaded and validated once per process.

    Raises:
        CatalogError: The shipped data breaks a rule.
    """
    return load_catalog()
