"""Run a scenario on Temporal's time-skipping test server with the engine's real workers.

Wiring (as `worker.py` and the tests wire it): a throwaway SQLite registry (or the URL given),
migrated and seeded; every agency's activity worker and the orchestration worker with
`DossierWorkflow`; plus the simulation's own worker with `sim.driver.SimDriverWorkflow` and its
local activities. One driver per dossier is started at once; each sleeps until its dossier's
submission. The runner then awaits the drivers in submission order: while a result is awaited
the test server skips time whenever nothing is running.

The server's clock starts at the real "now" and cannot go back, so a scenario whose ``start``
is not in the future is refused (`ScenarioError`): shifting it would move its dates onto other
weekdays and holidays and change what it means.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import make_url, select, text
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities import build_activities
from activities.post import SimulatedPostOffice
from domain.calendar import default_calendar
from domain.catalog import Catalog, default_catalog
from domain.clock import VN_TZ, LegalClock
from engine.crypto import KeyRing
from engine.keys import use_key_ring
from engine.settings import Settings
from engine.temporal import (
    data_converter,
    quiet_runtime,
    register_search_attributes,
    test_server_path,
)
from sim.driver import (
    DRIVER_TASK_QUEUE,
    DriverActivities,
    DriverInput,
    DriverResult,
    SimDriverWorkflow,
)
from sim.events import Oracle, SimDossier, expand
from sim.scenario import Scenario, ScenarioError
from store.db import async_engine, session_factory, sync_engine
from store.migrate import upgrade
from store.models import DeliveryAttemptRecord, DeliveryRecord, DossierRecord
from store.reports import ReportBy, ReportResult, report_input, run_report
from store.seed import seed_reference_data
from worker import in_process_workers
from workflows.dossier import DossierResult, DossierWorkflow, TrackingState

Progress = Callable[[int, int, datetime], None]
_START_BATCH = 200
# Open dossiers and their drivers kept in memory: an evicted workflow replays its whole history
# on its next task (a district year has thousands open at once; each takes ~100 kB).
_WORKFLOW_CACHE = 20_000


class Attempt(BaseModel):
    """One delivery attempt of a shipment."""

    at: datetime
    outcome: str


class Shipment(BaseModel):
    """A result sent home by post (the address stays in the registry, encrypted)."""

    step: str
    tracking_number: str
    status: str
    attempts: list[Attempt] = []


class DossierOutcome(BaseModel):
    """How one simulated dossier ended (or stood when the horizon was reached)."""

    dossier: SimDossier
    finished: bool
    wedged: bool = False  # terminated: the test server kept failing its workflow task
    result: DossierResult | None = None  # the workflow's result when it finished
    tracking: TrackingState | None = None  # its state when it did not
    appointment: datetime | None = None
    finished_at: datetime | None = None
    shipments: list[Shipment] = []


class SimulationResult(BaseModel):
    """Everything a run produced: each dossier's end and the registry's reports."""

    scenario: Scenario
    outcomes: list[DossierOutcome]
    report_by_month: ReportResult
    report_by_agency: ReportResult
    report_by_desk: ReportResult
    ended_on: date
    wall_seconds: float = 0.0


def scenario_start(scenario: Scenario) -> datetime:
    """The scenario's first moment: midnight of ``start``, Vietnam time."""
    return datetime.combine(scenario.start, time(0), VN_TZ)


@dataclass(frozen=True)
class RunOptions:
    """How to run a scenario, besides the scenario itself: what both engines take
    (`run_scenario` here, `sim.core.run_scenario_core`), so that `sim.profile.scenario_runner`
    can hand either to the same caller.

    Attributes:
        catalog: the procedure catalog (the shipped one by default).
        database_url: the registry to write; a throwaway SQLite file by default.
        progress: called with (dossiers done, dossiers in all, simulated now).
        capacities: decisions per working day per agency (profiles); unlimited by default.
        keep_details: keep each dossier's ledger (off for large profiles: reports only).
        dossiers: the dossiers to submit, if already expanded (profiles).
    """

    catalog: Catalog | None = None
    database_url: str | None = None
    progress: Progress | None = None
    capacities: dict[str, float] | None = None
    keep_details: bool = True
    dossiers: list[SimDossier] | None = None


DEFAULT_RUN = RunOptions()


async def run_scenario(scenario: Scenario, options: RunOptions = DEFAULT_RUN) -> SimulationResult:
    """Run the scenario to its end and return every dossier's outcome and the reports.

    Raises:
        ScenarioError: ``start`` is not in the future of the test server's clock.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    catalog = options.catalog or default_catalog()
    clock = LegalClock(default_calendar())
    dossiers = options.dossiers if options.dossiers is not None else expand(scenario, clock)
    oracle = Oracle(scenario, catalog, clock, options.capacities)
    scratch = Path(tempfile.mkdtemp(prefix="lienthong-sim-"))
    url = options.database_url or f"sqlite:///{scratch / 'registry.db'}"
    ring = KeyRing.generate("sim")  # this run's data keys: nothing outlives it
    try:
        with use_key_ring(ring):
            await asyncio.to_thread(_prepare_database, url)
            async with await WorkflowEnvironment.start_time_skipping(
                data_converter=data_converter(ring),
                test_server_existing_path=test_server_path(),
                runtime=quiet_runtime(),
            ) as env:
                now = await env.get_current_time()
                if scenario_start(scenario) <= now:
                    raise ScenarioError(
                        f"scenario start {scenario.start} is not in the future: the "
                        f"time-skipping server starts at the real now ({now:%Y-%m-%d}) and "
                        "cannot go back; move the scenario to a later date"
                    )
                await register_search_attributes(env.client)
                outcomes = await _run(
                    env, scenario, dossiers, oracle, catalog, clock, url, scratch,
                    options.progress, options.keep_details,
                )  # fmt: skip
        result = await _result(scenario, outcomes, url, catalog, began)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def _prepare_database(url: str) -> None:
    fresh = _fresh_sqlite_file(url)
    if fresh is None:
        upgrade(url)
    else:
        shutil.copyfile(_migrated_template(), fresh)
    if url.startswith("sqlite"):
        engine = sync_engine(url)
        try:
            with engine.connect() as connection:
                # Many activities write at once: WAL lets readers through while one writes.
                connection.execute(text("PRAGMA journal_mode=WAL"))
        finally:
            engine.dispose()


def _fresh_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite registry not created yet (a run's scratch), else None."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or Path(database).exists():
        return None
    return Path(database)


_template_lock = threading.Lock()
_template: Path | None = None


def _migrated_template() -> Path:
    """An empty registry migrated to the newest revision, made once per process: each fresh
    scratch registry is a copy of it, so a process that runs many simulations (the staffing
    planner, what-ifs, the benchmarks) runs the migrations once, not once per run."""
    global _template
    with _template_lock:
        if _template is None:
            folder = Path(tempfile.mkdtemp(prefix="lienthong-sim-template-"))
            atexit.register(shutil.rmtree, folder, True)
            path = folder / "registry.db"
            upgrade(f"sqlite:///{path}")
            _template = path
        return _template


async def _run(
    env: WorkflowEnvironment,
    scenario: Scenario,
    dossiers: list[SimDossier],
    oracle: Oracle,
    catalog: Catalog,
    clock: LegalClock,
    url: str,
    scratch: Path,
    progress: Progress | None,
    keep_details: bool,
) -> list[DossierOutcome]:
    client = env.client
    engine = async_engine(url)
    sessions = session_factory(engine)
    await seed_reference_data(sessions)
    queue = f"sim-dossiers-{uuid.uuid4().hex[:8]}"
    post = SimulatedPostOffice(
        absent_rate=scenario.post.absent_rate,
        not_found_rate=scenario.post.not_found_rate,
        seed=scenario.seed,
        script=scenario.post.script,
    )
    settings = Settings(data_dir=scratch, smtp_host="")  # letters to the scratch outbox
    activities = build_activities(
        sessions, catalog=catalog, clock=clock, settings=settings, post=post
    )
    workers = in_process_workers(
        client,
        activities,
        catalog=catalog,
        orchestration_queue=queue,
        max_cached_workflows=_WORKFLOW_CACHE,
    )
    actors = DriverActivities(client, dossiers, oracle, catalog, sessions, queue)
    workers.append(
        Worker(
            client,
            task_queue=DRIVER_TASK_QUEUE,
            workflows=[SimDriverWorkflow],
            activities=[actors.submit, actors.tick],
            graceful_shutdown_timeout=timedelta(seconds=1),
            max_cached_workflows=_WORKFLOW_CACHE,
            # The driver's code is a loop of sleeps and activities, nothing else: re-importing
            # it into a sandbox for each of thousands of drivers cost more than all it does.
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
    )
    try:
        async with contextlib.AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            drivers: list[WorkflowHandle[SimDriverWorkflow, DriverResult]] = []
            for first in range(0, len(dossiers), _START_BATCH):
                drivers += await asyncio.gather(
                    *(
                        client.start_workflow(
                            SimDriverWorkflow.run,
                            DriverInput(index=d.index, code=d.code, submit_at=d.submit_at),
                            id=f"sim-{d.code}",
                            task_queue=DRIVER_TASK_QUEUE,
                        )
                        for d in dossiers[first : first + _START_BATCH]
                    )
                )
            shown = asyncio.create_task(_show_progress(env, actors, len(dossiers), progress))
            try:
                ends = [await handle.result() for handle in drivers]
            finally:
                shown.cancel()
            if progress is not None:
                progress(len(ends), len(dossiers), await env.get_current_time())
            outcomes = []
            for dossier, end in zip(dossiers, ends, strict=True):
                outcomes.append(await _outcome(env, dossier, end, keep_details))
    finally:
        await engine.dispose()
    await _registry_details(url, outcomes, keep_details)
    for outcome in outcomes:
        outcome.finished_at = outcome.finished_at or actors.finished_at.get(outcome.dossier.code)
    return outcomes


async def _show_progress(
    env: WorkflowEnvironment, actors: DriverActivities, total: int, progress: Progress | None
) -> None:
    """Every second: how many dossiers have ended (in any order) and the simulated now."""
    if progress is None:
        return
    while True:
        await asyncio.sleep(1.0)
        with contextlib.suppress(RPCError):
            progress(actors.ended, total, await env.get_current_time())


async def _outcome(
    env: WorkflowEnvironment, dossier: SimDossier, end: DriverResult, keep_details: bool
) -> DossierOutcome:
    handle: WorkflowHandle[DossierWorkflow, Any] = env.client.get_workflow_handle_for(
        DossierWorkflow.run, dossier.code
    )
    if end.finished:
        result = await handle.result()
        if not keep_details:
            result = result.model_copy(update={"ledger": [], "documents": []})
        return DossierOutcome(dossier=dossier, finished=True, result=result)
    try:
        tracking = await handle.query(DossierWorkflow.tracking)
    except (WorkflowQueryFailedError, RPCError):
        tracking = None  # a terminated dossier may not replay to an answer
    return DossierOutcome(dossier=dossier, finished=False, wedged=end.wedged, tracking=tracking)


async def _registry_details(url: str, outcomes: list[DossierOutcome], shipments: bool) -> None:
    """The promised appointment and the end moment of each dossier, and (``shipments``) what
    the post did, from the registry (never the delivery address)."""
    engine = async_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = (
                await session.execute(
                    select(
                        DossierRecord.code, DossierRecord.appointment_at, DossierRecord.finished_at
                    )
                )
            ).all()
            sent = (
                (
                    await session.execute(
                        select(
                            DeliveryRecord.dossier_code,
                            DeliveryRecord.step,
                            DeliveryRecord.tracking_number,
                            DeliveryRecord.status,
                        ).order_by(DeliveryRecord.dossier_code, DeliveryRecord.step)
                    )
                ).all()
                if shipments
                else []
            )
            tries = (
                (
                    await session.execute(
                        select(
                            DeliveryAttemptRecord.tracking_number,
                            DeliveryAttemptRecord.at,
                            DeliveryAttemptRecord.outcome,
                        ).order_by(
                            DeliveryAttemptRecord.tracking_number, DeliveryAttemptRecord.attempt
                        )
                    )
                ).all()
                if shipments
                else []
            )
    finally:
        await engine.dispose()
    by_code = {row.code: row for row in rows}
    attempts: dict[str, list[Attempt]] = {}
    for attempt in tries:
        attempts.setdefault(attempt.tracking_number, []).append(
            Attempt(at=_aware(attempt.at), outcome=str(attempt.outcome))
        )
    parcels: dict[str, list[Shipment]] = {}
    for shipment in sent:
        parcels.setdefault(shipment.dossier_code, []).append(
            Shipment(
                step=shipment.step,
                tracking_number=shipment.tracking_number,
                status=str(shipment.status),
                attempts=attempts.get(shipment.tracking_number, []),
            )
        )
    for outcome in outcomes:
        row = by_code.get(outcome.dossier.code)
        if row is not None:
            outcome.appointment = _aware(row.appointment_at)
            outcome.finished_at = _aware(row.finished_at) if row.finished_at else None
        outcome.shipments = parcels.get(outcome.dossier.code, [])


def _aware(moment: datetime) -> datetime:
    # SQLite gives naive datetimes back; the registry stores UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _result(
    scenario: Scenario, outcomes: list[DossierOutcome], url: str, catalog: Catalog, began: float
) -> SimulationResult:
    """The run's result: its outcomes, the last day anything happened, and the registry's
    reports (by month, agency and desk) over the run (both engines)."""
    ended = max(
        [o.finished_at.astimezone(VN_TZ).date() for o in outcomes if o.finished_at]
        + [o.dossier.submit_at.astimezone(VN_TZ).date() for o in outcomes]
        + [scenario.start]
    )
    reports = await asyncio.to_thread(_reports, url, scenario.start, ended, catalog)
    return SimulationResult(
        scenario=scenario,
        outcomes=outcomes,
        report_by_month=reports[0],
        report_by_agency=reports[1],
        report_by_desk=reports[2],
        ended_on=ended,
        wall_seconds=asyncio.get_running_loop().time() - began,
    )


def _reports(
    url: str, start: date, end: date, catalog: Catalog
) -> tuple[ReportResult, ReportResult, ReportResult]:
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            return (
                run_report(
                    connection, report_input(start, end, catalog=catalog, by=ReportBy.MONTH)
                ),
                run_report(
                    connection, report_input(start, end, catalog=catalog, by=ReportBy.AGENCY)
                ),
                run_report(connection, report_input(start, end, catalog=catalog, by=ReportBy.DESK)),
            )
    finally:
        engine.dispose()
