"""The scenario file: what is submitted when, and what officers, applicants, the payer and the
post office do and when. YAML or JSON; the schema is documented in docs/simulation.md.

Two ways to say what happens, usable together:

- ``dossiers``: an explicit list, each with its procedure, submission moment and scripted acts;
- ``rules``: arrivals per procedure over a period, and per agency how long officers take and
  how often they ask for a supplement or refuse, from which every event is drawn with ``seed``.

`load_scenario` raises `ScenarioError` with one line: the file, the place in the document
(``dossiers[2].officers[0].after_days``) and what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.catalog import Catalog, default_catalog
from domain.clock import VN_TZ
from store.models import DeliveryOutcome

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Days = Annotated[float, Field(ge=0.0, le=400.0)]
_DESK = r"^[A-Z0-9.]{2,20}$"


class ScenarioError(ValueError):
    """A scenario (or profile) file is unreadable or invalid; the message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Span(_Strict):
    """A range ``[low, high]`` from which a value is drawn uniformly (written as a 2-list)."""

    low: float = Field(ge=0.0)
    high: float = Field(ge=0.0)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            return {"low": value, "high": value}
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError("a range is written [low, high]")
            return {"low": value[0], "high": value[1]}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.high < self.low:
            raise ValueError(f"the range [{self.low:g}, {self.high:g}] is reversed")
        return self


class OfficerAct(_Strict):
    """One scripted decision of an officer on a step of an explicit dossier.

    The acts for one step are used in order: the first when the step opens, the next when it is
    actionable again (after the applicant answered a supplement request, or when a result that
    the post could not deliver is back at the desk).
    """

    step: str = Field(description="PROCEDURE:STEP, or STEP when the dossier has one procedure")
    action: Literal["approve", "request_supplement", "refuse", "send_back"] = "approve"
    after_days: Days | None = Field(
        default=None,
        description="working days after the step became actionable; default: half its budget",
    )
    reason: str = ""
    missing: list[str] = Field(default=[], description="request_supplement: documents missing")
    send_back_to: str | None = Field(
        default=None, description="send_back: the earlier step (STEP or PROCEDURE:STEP) to redo"
    )

    @model_validator(mode="after")
    def _reason(self) -> OfficerAct:
        if self.action in ("refuse", "send_back") and not self.reason.strip():
            raise ValueError(
                f"{'a refusal' if self.action == 'refuse' else 'a send-back'} needs a reason"
            )
        if (self.action == "send_back") != (self.send_back_to is not None):
            raise ValueError("send_back_to goes with action send_back, and only with it")
        return self


class ApplicantSpec(_Strict):
    """What the applicant does: answer supplement requests, or withdraw."""

    supplement_after_days: Days = 1.0
    withdraw_after_days: Days | None = Field(
        default=None, description="working days after submission; none: never withdraws"
    )


class PayerSpec(_Strict):
    """The payment side: pays the financial obligation this long after it is asked."""

    pay_after_days: Days | None = Field(default=1.0, description="none: never pays")


class DossierSpec(_Strict):
    """One dossier of the scenario, submitted at ``submit_at``."""

    label: str | None = Field(default=None, max_length=60)
    procedure: str
    submit_at: datetime = Field(description="ISO date-time; without an offset: Vietnam time")
    desk: str | None = Field(default=None, pattern=_DESK)
    home_delivery: bool = False
    officers: list[OfficerAct] = []
    officer_share: Rate = Field(
        default=0.5, description="steps without a scripted act: decided after this share"
    )
    applicant: ApplicantSpec = ApplicantSpec()
    payer: PayerSpec = PayerSpec()

    @field_validator("submit_at")
    @classmethod
    def _vietnam_time(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=VN_TZ)


OTHER_DESKS = "*"  # in `Staffing.desks`: each desk not listed, with that many officers


class StaffChange(_Strict):
    """From a day on, a desk (``*``: the agency's one office) has ``officers`` officers fewer
    (a what-if: officers lost)."""

    start: date = Field(alias="from")
    desk: str = Field(default=OTHER_DESKS, pattern=r"^([A-Z0-9.]{2,20}|\*)$")
    officers: int = Field(ge=1)


class Staffing(_Strict):
    """An agency's officers as they are: where they sit, what one decides a working day, their
    hours and absences.

    Either ``office``: one office for the district that decides this agency's steps from every
    desk (land registration); or ``desks``: officers at each desk, deciding the steps of the
    dossiers that desk received (``"*"``: each desk not listed has that many of its own). Desks
    do not lend each other officers unless ``pooled`` (then all listed desks are one pool). Each
    officer is away on a share ``absence_rate`` of working days (drawn per officer and day with
    no seed, so every run and both engines see the same absences), and a share
    ``tet_leave_rate`` on the ``tet_leave_days`` working days either side of Tết. See
    `sim.events.DeskCapacity`.
    """

    office: int | None = Field(default=None, ge=1, le=10_000)
    desks: dict[str, Annotated[int, Field(ge=0, le=1000)]] = {}
    per_officer_per_day: float = Field(gt=0.0, le=500.0, description="decisions at scale 1")
    hours: Span = Field(default=Span(low=8, high=17), description="officers' hours, 0..24")
    absence_rate: float = Field(default=0.0, ge=0.0, le=0.9)
    tet_leave_days: int = Field(default=0, ge=0, le=30)
    tet_leave_rate: Rate = 0.0
    pooled: bool = False
    # The run's scale (profiles set it): capacities are multiplied by it, a desk's whole roll
    # deciding at least one a day (a queue served less than daily is no office).
    scale: float = Field(default=1.0, gt=0.0, le=1.0)
    changes: list[StaffChange] = []

    @field_validator("desks")
    @classmethod
    def _desk_codes(cls, desks: dict[str, int]) -> dict[str, int]:
        for code in desks:
            if code != OTHER_DESKS and not re.fullmatch(_DESK, code):
                raise ValueError(f"{code!r} is not a desk code (A-Z, 0-9, '.') nor '*'")
        if desks and not any(desks.values()):
            raise ValueError("no desk has an officer")
        return desks

    @model_validator(mode="after")
    def _shape(self) -> Staffing:
        if (self.office is None) == (not self.desks):
            raise ValueError("give either office (one office's officers) or desks, not both")
        if self.pooled and (self.office is not None or OTHER_DESKS in self.desks):
            raise ValueError("pooled needs every desk listed by name (no '*', no office)")
        if not self.hours.low < self.hours.high <= 24:
            raise ValueError("hours: write [start, end] with start < end <= 24")
        for change in self.changes:
            if self.office is not None and change.desk != OTHER_DESKS:
                raise ValueError(f"changes: {change.desk}: the agency has one office, no desks")
            if self.office is None and change.desk == OTHER_DESKS:
                raise ValueError("changes: name the desk that loses officers")
            if change.officers > self.officers(self.pool(change.desk)):
                raise ValueError(
                    f"changes: {change.desk} has {self.officers(self.pool(change.desk))} "
                    f"officers, cannot lose {change.officers}"
                )
        return self

    def pool(self, desk: str) -> str:
        """Whose officers decide a step of a dossier received at ``desk``: ``""`` for the one
        office or the pool, else the desk itself."""
        return "" if self.office is not None or self.pooled else desk

    def officers(self, pool: str) -> int:
        """Officers of a pool (see `pool`)."""
        if pool == "":
            return self.office if self.office is not None else sum(self.desks.values())
        return self.desks.get(pool, self.desks.get(OTHER_DESKS, 0))

    def lost(self, pool: str, day: date) -> int:
        """Officers of the pool gone by ``day`` (`changes`)."""
        return sum(
            c.officers for c in self.changes if c.start <= day and (pool == "" or c.desk == pool)
        )


class AgencyRule(_Strict):
    """How an agency's officers behave, drawn per step with the seed; ``staff``: who decides
    (per desk, with hours and absences), which limits how many decisions a day are made."""

    officer_days: Span | None = Field(
        default=None, description="working days per step; default: a share of the step's budget"
    )
    budget_share: Span = Span(low=0.2, high=0.8)
    supplement_rate: Rate = 0.0
    refusal_rate: Rate = 0.0
    staff: Staffing | None = None

    @model_validator(mode="after")
    def _rates(self) -> AgencyRule:
        if self.supplement_rate + self.refusal_rate > 1:
            raise ValueError("supplement_rate + refusal_rate is more than 1")
        return self


class ArrivalRule(_Strict):
    """``count`` dossiers of ``procedure`` submitted on working days from ``from`` to ``to``."""

    procedure: str
    count: int = Field(ge=1, le=1_000_000)
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    desk: str | None = Field(default=None, pattern=_DESK)
    home_delivery_rate: Rate = 0.0

    @model_validator(mode="after")
    def _period(self) -> ArrivalRule:
        if self.end < self.start:
            raise ValueError(f"'to' {self.end} is before 'from' {self.start}")
        return self


class Rules(_Strict):
    """Arrivals and behaviour drawn with the scenario's seed."""

    arrivals: list[ArrivalRule] = []
    agencies: dict[str, AgencyRule] = {}
    default: AgencyRule = AgencyRule()
    payment_delay_days: Span = Span(low=1, high=3)
    supplement_reply_days: Span = Span(low=1, high=3)
    # Office hours in which arrivals fall (Vietnam time), e.g. [8, 17].
    arrival_hours: Span = Span(low=8, high=16.5)

    def agency(self, code: str) -> AgencyRule:
        """The rule of an agency, or the default."""
        return self.agencies.get(code, self.default)


class PostSpec(_Strict):
    """The simulated post office (`activities.post.SimulatedPostOffice`)."""

    absent_rate: Rate = 0.1
    not_found_rate: Rate = 0.02
    script: list[DeliveryOutcome] = Field(
        default=[], description="outcomes of the 1st, 2nd, ... attempt of every shipment"
    )


class Scenario(_Strict):
    """A whole scenario file."""

    start: date = Field(description="first day simulated (Vietnam time); must be in the future")
    seed: int = 0
    desk: str = Field(default="SIM", pattern=_DESK)
    horizon_days: int = Field(
        default=400, ge=1, le=3660, description="calendar days after start the run may last"
    )
    post: PostSpec = PostSpec()
    dossiers: list[DossierSpec] = []
    rules: Rules | None = None
    name: str | None = Field(default=None, max_length=80)


# ---- loading ---------------------------------------------------------------------------------


def _where(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def read_document(path: Path) -> object:
    """Parse a YAML or JSON file.

    Raises:
        ScenarioError: unreadable, or not YAML/JSON.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: line {exc.lineno}: not JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{path}: {line}not YAML: {problem}") from None


def validation_message(path: Path, error: ValidationError) -> str:
    """The first problem of a validation error as one line: file, place, what is wrong."""
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    more = len(error.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {_where(first['loc'])}: {message}{tail}"


def load_scenario(path: Path, catalog: Catalog | None = None) -> Scenario:
    """Read, validate and check a scenario against the catalog.

    Raises:
        ScenarioError: one line naming the file, the place in the document and the problem.
    """
    document = read_document(path)
    if not isinstance(document, dict):
        raise ScenarioError(f"{path}: (top level): expected a mapping with 'start' and 'dossiers'")
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(validation_message(path, exc)) from None
    problem = check_against_catalog(scenario, catalog or default_catalog())
    if problem is not None:
        raise ScenarioError(f"{path}: {problem}")
    return scenario


def _versions(catalog: Catalog, procedure: str, day: date) -> list[Any]:
    if catalog.is_combined(procedure):
        return list(catalog.components_on(procedure, day))
    return [catalog.version_on(procedure, day)]


def check_against_catalog(scenario: Scenario, catalog: Catalog) -> str | None:
    """The first place where the scenario names something the catalog does not know, or None."""
    agencies = {agency.code for agency in catalog.agencies}
    start = datetime.combine(scenario.start, time(0), VN_TZ)
    if not scenario.dossiers and (scenario.rules is None or not scenario.rules.arrivals):
        return "(top level): the scenario submits nothing: give 'dossiers' or 'rules.arrivals'"
    for index, spec in enumerate(scenario.dossiers):
        where = f"dossiers[{index}]"
        if spec.submit_at < start:
            return f"{where}.submit_at: {spec.submit_at.isoformat()} is before start {start:%F}"
        day = spec.submit_at.astimezone(VN_TZ).date()
        try:
            versions = _versions(catalog, spec.procedure, day)
        except LookupError as exc:
            return f"{where}.procedure: {exc.args[0] if exc.args else exc}"
        keys = {f"{v.code}:{s.id}" for v in versions for s in v.steps}
        for number, act in enumerate(spec.officers):
            key = act.step if ":" in act.step else f"{versions[0].code}:{act.step}"
            if ":" not in act.step and len(versions) > 1:
                return (
                    f"{where}.officers[{number}].step: {spec.procedure} bundles several "
                    f"procedures; write PROCEDURE:STEP"
                )
            if key not in keys:
                return (
                    f"{where}.officers[{number}].step: no step {act.step!r} in "
                    f"{spec.procedure}; steps: {', '.join(sorted(keys))}"
                )
            target = act.send_back_to
            if (
                target is not None
                and (target if ":" in target else f"{versions[0].code}:{target}") not in keys
            ):
                return (
                    f"{where}.officers[{number}].send_back_to: no step {target!r} in "
                    f"{spec.procedure}; steps: {', '.join(sorted(keys))}"
                )
    if scenario.rules is not None:
        for index, rule in enumerate(scenario.rules.arrivals):
            where = f"rules.arrivals[{index}]"
            if rule.start < scenario.start:
                return f"{where}.from: {rule.start} is before start {scenario.start}"
            try:
                _versions(catalog, rule.procedure, rule.start)
            except LookupError as exc:
                return f"{where}.procedure: {exc.args[0] if exc.args else exc}"
        for code in scenario.rules.agencies:
            if code not in agencies:
                return (
                    f"rules.agencies.{code}: unknown agency; known: {', '.join(sorted(agencies))}"
                )
    return None
