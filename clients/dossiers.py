"""Client-side operations on dossiers, shared by the starter, the demo and (later) the API.

Submitting allocates the dossier code in the registry and starts `DossierWorkflow` with the
code as workflow id; a second start with the same code is refused by Temporal, so one code can
never run twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.catalog import Catalog, NotInForce, UnknownProcedure, default_catalog
from domain.clock import VN_TZ
from domain.dossier import DossierFacts, SubmissionChannel
from engine.names import ORCHESTRATION_TASK_QUEUE
from store.db import async_engine, session_factory
from store.dossier_codes import allocate_dossier_code
from workflows.dossier import CONTINUING_AS_NEW, DossierInput, DossierWorkflow, TrackingState


async def allocate_code(database_url: str, desk_code: str, received: datetime) -> str:
    """Allocate the next dossier code of the desk for the receipt's Vietnam date."""
    engine = async_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            code = await allocate_dossier_code(
                session, desk_code, received.astimezone(VN_TZ).date()
            )
            await session.commit()
            return code
    finally:
        await engine.dispose()


class OnlineOnly(ValueError):
    """An online-only procedure handed in at the counter."""


def check_channel(
    catalog: Catalog, procedure_code: str, received_at: datetime, facts: DossierFacts
) -> None:
    """Refuse a dossier of an online-only procedure (or bundle) handed in at the counter.

    The desk may still file it through the online channel on the applicant's behalf: the
    facts then say ``channel=online`` and name the officer (``filed_online_by``), which the
    dossier's audit log records.

    Raises:
        OnlineOnly: the procedure in force on the receipt day is online only and the channel
            is the counter.
        UnknownProcedure, NotInForce: from the catalog.
    """
    if facts.filed_online_by is not None and facts.channel is not SubmissionChannel.ONLINE:
        raise OnlineOnly(
            "a dossier filed for the applicant by the desk goes through the online channel"
        )
    if facts.channel is not SubmissionChannel.COUNTER:
        return
    day = received_at.astimezone(VN_TZ).date()
    if catalog.is_combined(procedure_code):
        bundle = catalog.combined_on(procedure_code, day)
        online_only = bundle.online_only or any(
            v.online_only for v in catalog.components_on(procedure_code, day)
        )
        name_vi = bundle.name_vi
    else:
        version = catalog.version_on(procedure_code, day)
        online_only, name_vi = version.online_only, version.name_vi
    if online_only:
        raise OnlineOnly(
            f"{procedure_code} ({name_vi}) is filed online only (catalog: online_only); at the "
            "counter, the desk files it through the online channel on the applicant's behalf "
            "(starter.py submit --online-for-applicant OFFICER), which is recorded"
        )


async def start_dossier(
    client: Client,
    *,
    code: str,
    desk_code: str,
    procedure_code: str,
    received_at: datetime,
    facts: DossierFacts,
    task_queue: str = ORCHESTRATION_TASK_QUEUE,
    catalog: Catalog | None = None,
    desk_url: str | None = None,
) -> WorkflowHandle[DossierWorkflow, object]:
    """Start the dossier's workflow; raises WorkflowAlreadyStartedError for a used code, and
    `OnlineOnly` (before anything starts) for an online-only procedure at the counter.

    The Web UI's summary names the procedure in Vietnamese; ``desk_url``, the dossier's page on
    the officers' desk (`Settings.desk_url`), becomes a link in its details.
    """
    catalog = catalog or default_catalog()
    check_channel(catalog, procedure_code, received_at, facts)
    return await client.start_workflow(
        DossierWorkflow.run,
        DossierInput(
            dossier_code=code,
            desk_code=desk_code,
            procedure_code=procedure_code,
            received_at=received_at,
            facts=facts,
        ),
        id=code,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        static_summary=f"Hồ sơ {code}: {procedure_name_vi(procedure_code, received_at)}",
        static_details=(
            f"[Mở hồ sơ {code} trên bàn làm việc cán bộ]({desk_url})" if desk_url else None
        ),
    )


def procedure_name_vi(code: str, received_at: datetime) -> str:
    """The procedure's (or bundle's) Vietnamese name in the catalog on the day; else its code."""
    catalog = default_catalog()
    day = received_at.astimezone(VN_TZ).date()
    try:
        if catalog.is_combined(code):
            return catalog.combined_on(code, day).name_vi
        return catalog.version_on(code, day).name_vi
    except (UnknownProcedure, NotInForce):
        return code


async def wait_for_receipt(
    handle: WorkflowHandle[DossierWorkflow, object], within: float = 30.0
) -> TrackingState:
    """Poll the tracking query until the dossier is planned (it has an appointment)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = await handle.query(DossierWorkflow.tracking)
        if state.appointment is not None:
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"dossier {handle.id} was not received within {within:.0f} s")
        await asyncio.sleep(0.2)


async def update_dossier(
    handle: WorkflowHandle[Any, Any],
    update: Any,
    arg: Any,
    attempts: int = 5,
) -> Any:
    """Execute an update, retrying while the dossier is between runs (continue-as-new).

    An update that reaches a run as it continues as new is refused, by the server with
    FAILED_PRECONDITION ("workflow not ready") or by the workflow's validator with a
    ``ContinuingAsNew`` error; the next run takes it. Any other refusal is not retried.
    """
    for attempt in range(attempts):
        try:
            return await handle.execute_update(update, arg)
        except RPCError as err:
            if err.status != RPCStatusCode.FAILED_PRECONDITION or attempt == attempts - 1:
                raise
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            between_runs = isinstance(cause, ApplicationError) and cause.type == CONTINUING_AS_NEW
            if not between_runs or attempt == attempts - 1:
                raise
        await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def ensure_relay(
    client: Client, system: str, task_queue: str = ORCHESTRATION_TASK_QUEUE
) -> str:
    """Start an outside system's outbox relay unless it runs already; its run id."""
    from domain.outbox import RelayInput
    from workflows.relay import SYSTEM_NAMES_VI, OutboxRelayWorkflow, relay_id

    handle = await client.start_workflow(
        OutboxRelayWorkflow.run,
        RelayInput(system=system),
        id=relay_id(system),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Hàng chờ gửi tới {SYSTEM_NAMES_VI.get(system, system)}",
    )
    return handle.result_run_id or ""
