"""The fast engine: every dossier's `DossierCore` in one SimPy discrete-event run, no Temporal.

`sim.runner` runs the real `DossierWorkflow` on the time-skipping server; this module runs the
same pure core the workflow wraps, and does in-process what the workflow's shell and the
simulation's driver do, so that both engines give the same per-dossier results:

- **the shell** (`workflows.dossier.DossierWorkflow`): every effect the core returns is carried
  out by the same activity code the workers run (agency checks, form 04 letters, the post, the
  calendar, the registry), called in an activity context (`ActivityEnvironment`), and its result
  is fed back to the core at the same simulated moment. The shell's one durable timer is kept
  with its rule: armed again only when the core's next moment comes *earlier* (a timer armed
  for a moment that moved later fires early, finds nothing due and is armed again). The
  registry gets each dossier's rows once, when the driver is done with it.
- **the driver** (`sim.driver`): one SimPy process per dossier sleeps until its submission,
  submits, then loops exactly as ``SimDriverWorkflow`` and ``sim.tick`` do: the same `Oracle`
  looks at the same tracking view and says which act is due or when to look again, acts wait
  ``SETTLE`` afterwards, and no act is made within ``TIMER_GUARD`` before the dossier's timer.

SimPy's clock counts whole microseconds from the scenario's first midnight, so moments convert
back to the exact datetimes the core planned. Activities are the only awaits: a process that
needs one yields an event the engine's loop completes after awaiting the activity, before the
simulated clock moves on. Finished dossiers are dropped from memory as soon as their outcome
is taken (``keep_details`` off keeps only status, verdict and moments).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import shutil
import sqlite3
import tempfile
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import simpy
from pydantic import BaseModel
from sqlalchemy import Engine, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from temporalio import activity
from temporalio.common import _CompositeEvent
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import build_activities
from activities.letters import ApologyInput, LetterActivities
from activities.post import SimulatedPostOffice
from activities.reception import CalendarInput, PlanDossierResult
from domain import dossier_views as views
from domain import effects as fx
from domain.calendar import default_calendar
from domain.catalog import Catalog, default_catalog
from domain.clock import LegalClock
from domain.deadlines import ClockSnapshot, snapshot_of
from domain.dossier import (
    AutomatedCheckResult,
    DossierInput,
    Refusal,
)
from domain.dossier_core import DossierCore, calendar_window
from domain.registry import RegistrySnapshot
from engine.crypto import KeyRing, new_key_spec
from engine.keys import use_key_ring
from engine.settings import Settings
from sim import parallel
from sim.driver import (
    MAX_TICKS,
    SIM_ADDRESS,
    SIM_APPLICANT,
    TIMER_GUARD,
    WITHDRAWAL,
    decision_of,
    dossier_facts,
    payment_of,
    supplement_of,
)
from sim.events import SETTLE, Act, Oracle, SimDossier, expand
from sim.runner import (
    DEFAULT_RUN,
    DossierOutcome,
    Progress,
    RunOptions,
    SimulationResult,
    _prepare_database,
    _registry_details,
    _result,
    scenario_start,
)
from sim.scenario import Scenario
from store.db import async_engine, async_url, dialect_insert, sync_engine
from store.letters import save_contact
from store.models import ApologyLetterRecord
from store.read_model import write_snapshots
from store.seed import seed_reference_data
from workflows.dossier import (
    agency_notice_input,
    apology_input,
    applicant_notice_input,
    appointment_moved_input,
    plan_input,
    post_input,
)

_log = logging.getLogger(__name__)
_US = timedelta(microseconds=1)
_RECORD_APOLOGY = "letters.record-apology"  # not an activity: LetterActivities.record
_REGISTRY_BATCH = 2000  # dossiers whose registry rows are written together
_YOUNG_COLLECTION = 50_000  # new containers between two collections during a run (700 by default)
Process = Generator[simpy.Event, Any, Any]


@dataclass(slots=True)
class _Live:
    """One dossier while it runs: its core and the shell's timer."""

    dossier: SimDossier
    core: DossierCore | None = None
    timer_at: datetime | None = None  # the armed timer's moment (None: none pending)
    timer_token: int = 0  # bumped when the timer is cancelled (armed again earlier)
    fired_at: datetime | None = None  # the last timer that fired (for the driver's guard)
    failed: str | None = None  # reception refused the dossier
    pending: deque[fx.Effect] = field(default_factory=deque)


class CoreEngine:
    """One run of a scenario's dossiers on the dossier core (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        dossiers: list[SimDossier],
        oracle: Oracle,
        catalog: Catalog,
        clock: LegalClock,
        sessions: async_sessionmaker[AsyncSession],
        activities: dict[str, Callable[..., Any]],  # coroutines, or answers at once
        progress: Progress | None,
        keep_details: bool,
        registry: Engine,
        paperwork: bool = True,
    ) -> None:
        self.env = simpy.Environment()
        self._registry_url = registry
        self._registry: list[RegistrySnapshot] = []
        self._paperwork = paperwork
        self.notices = 0  # warnings, escalations and withdrawal notices to agencies
        self.applicant_notices = 0  # forms 02, 03, 05 and the reminder, to the applicant
        self._origin = scenario_start(scenario).astimezone(UTC)  # as workflow.now() gives
        self._dossiers = dossiers
        self._oracle = oracle
        self._catalog = catalog
        self._clock = clock
        self._sessions = sessions
        self._activities = activities
        self._progress = progress
        self._keep_details = keep_details
        self._info = ActivityEnvironment.default_info()
        self._info_now = self._info
        self._context = _activity_context(lambda: self._info_now)
        self._io: deque[tuple[simpy.Event, Callable[[], Awaitable[Any]]]] = deque()
        # The receipt day's calendar snapshot. Only the latest is kept: dossiers are submitted
        # in time order, and an older one (and its clock's memos) goes with its last dossier.
        self._snapshot: tuple[tuple[date, date], ClockSnapshot] | None = None
        # Outcomes in the order the dossiers were given (a shard's are any subset of a run's).
        self.outcomes: list[DossierOutcome | None] = [None] * len(dossiers)
        self._slot = {dossier.index: slot for slot, dossier in enumerate(dossiers)}
        # Without paperwork, form 04 letters are only recorded: their rows wait here and are
        # written with the registry's (`_record_apology`). The dossiers with a contact saved
        # (what the letter's addressee is read from).
        self._letters: list[dict[str, Any]] = []
        self._contacts: set[str] = set()
        if not paperwork:
            letters = getattr(activities["letters.issue-apology"], "__self__", None)
            assert isinstance(letters, LetterActivities)
            self._letter_rows = letters
            self._activities = {**activities, _RECORD_APOLOGY: self._record_apology}
        self.ended = 0

    # ---- the clock -------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulated now (exact: SimPy counts whole microseconds)."""
        return self._origin + self.env.now * _US

    def _sleep_until(self, moment: datetime) -> simpy.Event:
        return self.env.timeout(max(0, (moment - self._origin) // _US - self.env.now))

    def _sleep(self, delay: timedelta) -> simpy.Event:
        return self.env.timeout(max(0, delay // _US))

    # ---- the loop ----------------------------------------------------------------------------

    async def run(self) -> list[DossierOutcome]:
        """Run every dossier to its end (or the horizon); outcomes in submission order."""
        with few_collections():
            return await self._run()

    async def _run(self) -> list[DossierOutcome]:
        for dossier in self._dossiers:
            self.env.process(self._driver(_Live(dossier)))
        shown = -1
        step = self.env.step
        peek = self.env.peek
        io = self._io
        while True:
            while io:
                event, call = io.popleft()
                try:
                    event.succeed(await call())
                except Exception as err:  # the process that asked handles it
                    event.fail(err)
            if peek() == float("inf"):
                break
            step()
            if self._progress is not None and self.ended != shown and self.ended % 500 == 0:
                shown = self.ended
                self._progress(self.ended, len(self._dossiers), self.now())
        self.flush_registry()
        if self._progress is not None:
            self._progress(self.ended, len(self._dossiers), self.now())
        outcomes = [o for o in self.outcomes if o is not None]
        assert len(outcomes) == len(self._dossiers), "a dossier's driver never ended"
        return outcomes

    def _call(self, name: str, request: BaseModel) -> simpy.Event:
        """Run the activity ``name`` (as its worker would) before the clock moves on."""
        event = self.env.event()
        function = self._activities[name]
        # What a worker's activity knows of its schedule: letters are dated with it.
        info = replace(
            self._info,
            activity_type=name,
            scheduled_time=self.now(),
            current_attempt_scheduled_time=self.now(),
            started_time=self.now(),
        )

        def call() -> Awaitable[Any]:
            self._info_now = info
            return self._run_activity(function, request)

        self._io.append((event, call))
        return event

    async def _run_activity(self, function: Callable[..., Any], request: BaseModel) -> Any:
        """The activity in its context, awaited in place: not in a task of its own as a worker
        (or `ActivityEnvironment`) would, which cost a turn of the event loop per call."""
        token = activity._Context.set(self._context)
        try:
            result = function(request)
            return await result if inspect.isawaitable(result) else result
        finally:
            activity._Context.reset(token)

    def _await(self, call: Callable[[], Awaitable[Any]]) -> simpy.Event:
        event = self.env.event()
        self._io.append((event, call))
        return event

    # ---- the driver (sim.driver.SimDriverWorkflow + DriverActivities.tick) -------------------

    def _driver(self, live: _Live) -> Process:
        dossier = live.dossier
        yield self._sleep_until(dossier.submit_at)
        yield from self._submit(live)
        for _ in range(MAX_TICKS):
            now = self.now()
            core = live.core
            if live.failed is not None or core is None:
                self._end(live, now)
                return
            step = self._oracle.next(dossier, views.tracking(core), now)
            if step.done:
                self._end(live, now)
                return
            if step.act is None:
                wake = step.wake_at or now
                yield self._sleep(max(wake - now, timedelta(seconds=1)))
                continue
            due = self._timer_due_within(live, now)
            if due is not None:
                yield self._sleep(max(due + SETTLE - now, timedelta(seconds=1)))
                continue
            yield from self._perform(live, step.act)
            yield self._sleep(SETTLE)
        self._end(live, self.now())

    def _timer_due_within(self, live: _Live, now: datetime) -> datetime | None:
        """As `sim.driver._timer_due_within`: the pending timer due within the guard, or one
        that fired at this very moment."""
        soon = []
        if live.fired_at is not None and live.fired_at >= now:
            soon.append(live.fired_at)
        if live.timer_at is not None and live.timer_at <= now + TIMER_GUARD:
            soon.append(live.timer_at)
        return max(soon) if soon else None

    def _submit(self, live: _Live) -> Process:
        dossier = live.dossier
        if dossier.home_delivery:

            async def contact() -> None:
                async with self._sessions() as session:
                    await save_contact(
                        session, dossier.code, full_name=SIM_APPLICANT, address=SIM_ADDRESS
                    )
                    await session.commit()

            yield self._await(contact)
            self._contacts.add(dossier.code)
        request = DossierInput(
            dossier_code=dossier.code,
            desk_code=dossier.desk,
            procedure_code=dossier.procedure,
            received_at=dossier.submit_at,
            facts=dossier_facts(self._catalog, dossier),
        )
        core = live.core = DossierCore(request)
        window = calendar_window(dossier.submit_at)
        if self._snapshot is None or self._snapshot[0] != window:
            # What the desk's reception pins: one per receipt day.
            self._snapshot = (window, snapshot_of(self._clock, *window))
        snapshot = self._snapshot[1]
        try:
            planned: PlanDossierResult = yield self._call(
                "reception.plan-dossier", plan_input(request, snapshot)
            )
        except ApplicationError as err:
            live.failed = err.message
            return
        self._oracle.remember_plan(dossier, planned.plan)
        yield from self._apply(live, core.receive(planned.plan, planned.calendar, self.now()))

    def _perform(self, live: _Live, act: Act) -> Process:
        """The act through the core's validator, as the workflow's update handlers do; a
        refusal goes back to the oracle (`DriverActivities._perform`)."""
        core = live.core
        assert core is not None
        now = self.now()
        update_id = f"sim-{live.dossier.code}-{act.kind}-{act.step or ''}-{act.occurrence}"
        try:
            if act.kind == "decide":
                decision = decision_of(act)
                core.check_decision(decision, now)
                effects = core.decide(decision, update_id, now)
            elif act.kind == "supplement":
                supplement = supplement_of(act)
                core.check_supplement(supplement.documents)
                effects = core.provide_supplement(supplement.documents, update_id, now)
            elif act.kind == "withdraw":
                core.check_withdraw()
                effects = core.withdraw(WITHDRAWAL.reason, update_id, now)
            else:
                effects = core.payment_received(payment_of(act), now)
        except Refusal:
            self._oracle.refused(live.dossier, act)
            return
        yield from self._apply(live, effects)

    def _end(self, live: _Live, now: datetime) -> None:
        """The driver is done: the registry gets the dossier's rows, the outcome is taken and
        the core dropped."""
        dossier = live.dossier
        self.ended += 1
        self._oracle.forget(dossier)
        core = live.core
        live.core = None
        live.timer_token += 1
        if core is None or not core.received:
            outcome = DossierOutcome(dossier=dossier, finished=False)
            self.outcomes[self._slot[dossier.index]] = outcome
            return
        snapshot = views.registry_rows(core)
        snapshot.revision = 1
        self._registry.append(snapshot)
        if len(self._registry) >= _REGISTRY_BATCH:
            self.flush_registry()
        if core.finished:
            result = core.close(now)
            if not self._keep_details:
                result = result.model_copy(update={"ledger": [], "documents": []})
            outcome = DossierOutcome(
                dossier=dossier, finished=True, result=result, finished_at=core.state.finished_at
            )
        else:
            outcome = DossierOutcome(dossier=dossier, finished=False, tracking=views.tracking(core))
        self.outcomes[self._slot[dossier.index]] = outcome

    def flush_registry(self) -> None:
        """Write the registry rows of the dossiers ended since the last flush (what
        ``registry.sync`` writes, with the same row code, a table at a time), and the letters
        recorded since, in the order they were."""
        if not self._registry and not self._letters:
            return
        with self._registry_url.begin() as connection:
            if self._registry:
                write_snapshots(connection, self._registry)
            if self._letters:
                connection.execute(
                    dialect_insert(connection, ApologyLetterRecord).on_conflict_do_nothing(
                        index_elements=["dossier_code", "sequence"]
                    ),
                    self._letters,
                )
        self._registry = []
        self._letters = []

    def _record_apology(self, request: ApologyInput) -> str:
        """`LetterActivities.record` without its round trip to the database: the same row,
        written with the next flush (nothing reads a letter during a run without paperwork)."""
        addressee = SIM_APPLICANT if request.dossier_code in self._contacts else None
        fields = self._letter_rows.apology_fields(request, addressee)
        self._letters.append(fields)
        return str(fields["letter_id"])

    # ---- the shell (workflows.dossier.DossierWorkflow) ---------------------------------------

    def _apply(self, live: _Live, effects: list[fx.Effect]) -> Process:
        """Carry out the effects in order, each result fed back at once; the timer is armed
        after every transition, as the shell's ``_apply`` does."""
        core = live.core
        if core is None:
            return
        if core.received:
            self._arm(live, core.next_wakeup())
        for effect in effects:
            if live.core is not core:
                return
            yield from self._effect(live, core, effect)

    def _arm(self, live: _Live, at: datetime | None) -> None:
        """`workflows.dossier.WakeTimer.arm`."""
        if at is None or (live.timer_at is not None and live.timer_at <= at):
            return
        live.timer_token += 1
        live.timer_at = at
        self.env.process(self._timer(live, live.timer_token, at))

    def _timer(self, live: _Live, token: int, at: datetime) -> Process:
        real = at > self.now()  # an already due moment is no timer, just the next turn
        yield self._sleep_until(at)
        if token != live.timer_token:
            return  # cancelled: armed again for an earlier moment, or the dossier ended
        live.timer_at = None
        if real:
            live.fired_at = at
        core = live.core
        if core is None:
            return
        yield from self._apply(live, core.tick(self.now()))

    def _effect(self, live: _Live, core: DossierCore, effect: fx.Effect) -> Process:
        if isinstance(effect, fx.RunCheck):
            planned = core.planned(effect.key)
            assert planned.activity is not None
            try:
                result: AutomatedCheckResult = yield self._call(
                    planned.activity, core.check_input(effect.key)
                )
            except ApplicationError as err:
                _log.error("check %s failed for good: %s", effect.key, err)
                return
            done = core.check_done(effect.key, effect.run, result, self.now())
            yield from self._apply(live, done)
        elif isinstance(effect, fx.CancelCheck):
            return  # checks answer at once here: nothing is in flight
        elif isinstance(effect, fx.SendApology):
            letter = yield self._call(
                "letters.issue-apology" if self._paperwork else _RECORD_APOLOGY,
                apology_input(core, effect.sequence),
            )
            if isinstance(letter, str):  # recorded only (no paperwork)
                core.apology_sent(effect.sequence, letter, False)
            else:
                core.apology_sent(effect.sequence, letter.letter_id, letter.sent)
        elif isinstance(effect, fx.NotifyAgency):
            self.notices += 1
            if not self._paperwork:
                return
            yield self._call("notify.agency", agency_notice_input(core, effect))
        elif isinstance(effect, fx.NotifyApplicant):
            self.applicant_notices += 1
            if not self._paperwork:
                return
            yield self._call("letters.applicant-notice", applicant_notice_input(core, effect))
        elif isinstance(effect, fx.NotifyAppointmentMoved):
            yield self._call(
                "letters.appointment-moved",
                appointment_moved_input(core, effect.change),
            )
            core.applicant_notified(effect.change)
        elif isinstance(effect, fx.ExtendCalendar):
            calendar = yield self._call(
                "reception.calendar", CalendarInput(first=effect.first, last=effect.last)
            )
            yield from self._apply(live, core.calendar_extended(calendar, self.now()))
        else:
            yield from self._post(live, core, effect)

    def _post(self, live: _Live, core: DossierCore, effect: fx.PostEffect) -> Process:
        now = self.now()
        request = post_input(core, effect, now)
        if isinstance(effect, fx.Dispatch):
            try:
                dispatched = yield self._call("post.dispatch", request)
            except ApplicationError as err:
                if not err.non_retryable:
                    raise
                yield from self._apply(live, core.dispatch_refused(effect.step, err.message, now))
                return
            yield from self._apply(
                live, core.dispatched(effect.step, dispatched.tracking_number, now)
            )
        elif isinstance(effect, fx.AttemptDelivery):
            attempt = yield self._call("post.attempt-delivery", request)
            yield from self._apply(live, core.delivery_attempted(effect.step, attempt.outcome, now))
        else:
            yield self._call("post.return-to-desk", request)
            yield from self._apply(live, core.returned_to_desk(effect.step, now))


def _activity_context(info: Callable[[], activity.Info]) -> activity._Context:
    """What `ActivityEnvironment` gives an activity it runs (its info, a heartbeat that goes
    nowhere, never cancelled), built once for the whole run instead of once per call."""
    environment = ActivityEnvironment()

    def never() -> _CompositeEvent:
        return _CompositeEvent(thread_event=threading.Event(), async_event=asyncio.Event())

    return activity._Context(
        info=info,
        heartbeat=lambda *details: None,
        cancelled_event=never(),
        worker_shutdown_event=never(),
        shield_thread_cancel_exception=None,
        payload_converter_class_or_instance=environment.payload_converter,
        runtime_metric_meter=environment.metric_meter,
        client=None,
        cancellation_details=activity._ActivityCancellationDetailsHolder(),
    )


def _registry_sync_engine(url: str) -> Engine:
    engine = sync_engine(url)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _unsynced(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

    return engine


def few_collections() -> AbstractContextManager[None]:
    """Python's cyclic garbage collector run less often during a run (`_FewCollections`)."""
    return _FEW_COLLECTIONS


class _FewCollections:
    """Python's cyclic garbage collector run less often while in use. By default it runs every
    700 new containers, and every hundredth run walks everything alive (the catalog, the clock's
    memos, the run's dossiers and outcomes): 4.8 s of a ×0.2 run's ~40 s, and most of the time
    the parent of a shared run took to unpickle its shards' outcomes. Nearly all of a run's
    garbage is freed by reference counting; the rest (cycles of a dossier dropped at its end) is
    still collected, in larger batches, so memory stays as it was. What lived before is set
    aside (`gc.freeze`), and the thresholds are restored when the outermost use ends."""

    def __init__(self) -> None:
        self._depth = 0
        self._thresholds = gc.get_threshold()

    def __enter__(self) -> None:
        self._depth += 1
        if self._depth == 1:
            self._thresholds = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(_YOUNG_COLLECTION, *self._thresholds[1:])

    def __exit__(self, *_: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            gc.set_threshold(*self._thresholds)
            gc.unfreeze()


_FEW_COLLECTIONS = _FewCollections()


class _AtOnce:
    """aiosqlite's queue to its connection's thread, run at once in the caller's thread: the
    engine awaits each query before anything else happens, so the thread bought nothing and its
    hop (two thread switches per query, slow on a loaded machine) was most of a query's cost."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as err:  # handed to the awaiting caller, as aiosqlite does
            if future is not None and not future.done():
                future.set_exception(err)
            return
        if future is not None and not future.done():
            future.set_result(result)


class _SQLiteInline(aiosqlite.Connection):
    """An aiosqlite connection whose calls run in the event loop's thread (see `_AtOnce`)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _AtOnce()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no thread to start

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A call on the connection, at once: not through `_AtOnce` with a future to await
        (nothing to wait for), which cost more than most of SQLite's statements."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")  # as aiosqlite says it
        return fn(*args, **kwargs)


def _registry_engine(url: str) -> AsyncEngine:
    """The registry's engine for one process that writes alone: no ping before each use, and a
    throwaway SQLite file is not synced to disk at each commit (a crash loses only the run).
    SQLite runs in the engine's own thread (`_SQLiteInline`)."""
    if not url.startswith("sqlite"):
        return async_engine(url)
    path = make_url(url).database or ""

    async def connect() -> aiosqlite.Connection:
        return await _SQLiteInline(lambda: sqlite3.connect(path, timeout=30))

    engine = create_async_engine(async_url(url), async_creator=connect)

    @event.listens_for(engine.sync_engine, "connect")
    def _unsynced(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    return engine


class _ClosedInPlace(AsyncSession):
    """A session closed in the caller's task when its ``async with`` ends. SQLAlchemy closes it
    in a task of its own, so that a cancellation cannot abandon the close half-way: a turn of
    the event loop per session, and nothing cancels the engine's activities."""

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.close()


def _sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """The activities' sessions, all on the one connection the run keeps: the engine calls one
    activity at a time, so each session would only take the same connection from the pool and
    give it back (with a rollback to reset it). A session still begins, commits or rolls back
    its own transaction on it, as on a pooled one (`store.db.session_factory`)."""
    return async_sessionmaker(connection, expire_on_commit=False, class_=_ClosedInPlace)


def activity_table(callables: list[Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The activities by the names the workflow schedules them under."""
    table = {}
    for function in callables:
        definition = activity._Definition.from_callable(function)
        assert definition is not None and definition.name is not None
        table[definition.name] = function
    letters = getattr(table["letters.issue-apology"], "__self__", None)
    assert isinstance(letters, LetterActivities)
    table[_RECORD_APOLOGY] = letters.record  # its first part: the letter's row, no PDF
    return table


async def run_scenario_core(
    scenario: Scenario,
    options: RunOptions = DEFAULT_RUN,
    *,
    paperwork: bool = True,
    clock: LegalClock | None = None,
    schedules: dict[str, tuple[tuple[date, float], ...]] | None = None,
    workers: int = 1,
) -> SimulationResult:
    """`sim.runner.run_scenario` on the dossier core: the same options, the same result.

    The scenario may start in the past here (no server clock to respect). What only this engine
    takes: ``paperwork`` off (profiles): warnings and escalations to agencies are counted, not
    written to the throwaway outbox, and form 04 letters are recorded in the registry (the
    reports count them) but not rendered to PDF nor sent; nothing in a profile's report reads
    either. ``clock``: the working calendar of the run (a what-if's extra holiday);
    ``schedules``: capacity changes by agency from a day on (`sim.events.Capacity`).
    ``workers``: processes to share the dossiers between (`sim.parallel`: dossiers that share
    no officers run apart, with the same result as in one process) on a SQLite registry; the
    agencies' registers are then not in the registry (only the dossiers' rows are merged).
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    catalog = options.catalog or default_catalog()
    clock = clock or LegalClock(default_calendar())
    dossiers = options.dossiers if options.dossiers is not None else expand(scenario, clock)
    scratch = Path(tempfile.mkdtemp(prefix="lienthong-sim-core-"))
    url = options.database_url or f"sqlite:///{scratch / 'registry.db'}"
    play = Play(scenario, catalog, clock, options.capacities, schedules, paperwork)
    try:
        with few_collections():
            result = await _run_scenario(play, dossiers, options, url, scratch, workers, began)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


async def _run_scenario(
    play: Play,
    dossiers: list[SimDossier],
    options: RunOptions,
    url: str,
    scratch: Path,
    workers: int,
    began: float,
) -> SimulationResult:
    """`run_scenario_core`'s run, its registry prepared at ``url``: in one process or shared."""
    await asyncio.to_thread(_prepare_database, url)
    catalog = play.catalog
    shards = (
        parallel.shards(dossiers, play.oracle(), catalog, workers)
        if url.startswith("sqlite")
        else [dossiers]
    )
    if len(shards) > 1:
        outcomes = await parallel.run_shards(
            play, shards, options, url, scratch, new_key_spec("sim")
        )
    else:
        outcomes = await play.run(
            dossiers, url, scratch, KeyRing.generate("sim"), options.progress,
            options.keep_details,
        )  # fmt: skip
    await _registry_details(url, outcomes, options.keep_details)
    return await _result(play.scenario, outcomes, url, catalog, began)


@dataclass(frozen=True)
class Play:
    """What every part of a run plays with: the scenario, catalog and calendar, the officers'
    capacities. Picklable, so that a process of `sim.parallel` plays its share with it."""

    scenario: Scenario
    catalog: Catalog
    clock: LegalClock
    capacities: dict[str, float] | None
    schedules: dict[str, tuple[tuple[date, float], ...]] | None
    paperwork: bool

    def oracle(self) -> Oracle:
        """A fresh oracle: what the run's officers, applicants and payers will do."""
        return Oracle(self.scenario, self.catalog, self.clock, self.capacities, self.schedules)

    async def run(
        self,
        dossiers: list[SimDossier],
        url: str,
        scratch: Path,
        ring: KeyRing,
        progress: Progress | None,
        keep_details: bool,
    ) -> list[DossierOutcome]:
        """Play ``dossiers`` to their ends against the prepared registry at ``url``; their
        outcomes, in the order given."""
        scenario = self.scenario
        with use_key_ring(ring):
            engine = _registry_engine(url)
            connection = await engine.connect()
            try:
                sessions = _sessions(connection)
                await seed_reference_data(sessions)
                post = SimulatedPostOffice(
                    absent_rate=scenario.post.absent_rate,
                    not_found_rate=scenario.post.not_found_rate,
                    seed=scenario.seed,
                    script=scenario.post.script,
                )
                settings = Settings(data_dir=scratch, smtp_host="")
                table = activity_table(
                    build_activities(
                        sessions, catalog=self.catalog, clock=self.clock, settings=settings,
                        post=post,
                    )
                )  # fmt: skip
                registry = _registry_sync_engine(url)
                runner = CoreEngine(
                    scenario, dossiers, self.oracle(), self.catalog, self.clock, sessions,
                    table, progress, keep_details, registry, self.paperwork,
                )  # fmt: skip
                try:
                    return await runner.run()
                finally:
                    registry.dispose()
            finally:
                await connection.close()
                await engine.dispose()
