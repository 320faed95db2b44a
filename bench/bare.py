"""The baseline of the overhead benchmark: bare Temporal in the shape of a dossier.

`BareWorkflow` does nothing but what Temporal does for a dossier: given a `Shape` counted from a
finished dossier's history (activities per task queue, local activities, timers fired and
cancelled, updates and signals accepted, child workflows and their own shapes), it schedules as
many no-op activities on the same task queues (prefixed ``bare-``), runs as many no-op local
activities, starts and cancels as many timers, waits for as many updates and signals as a driver
sends it (the tracking query says which act it waits for), and starts as many children, each a
`BareWorkflow` of its own shape. No registry, no catalog, no legal clock, no payload codec:
payloads go through the plain pydantic converter.

The work is split into stages, one per act plus one: each stage runs its share of local
activities, activities and short timers one after another, then waits for its act. Each
cancelled timer is armed before an activity (or a wait for an act) and cancelled when that
completes, as the dossier's deadline timer is re-armed whenever something changes. Everything
runs in one line, where a combined dossier runs its two procedures side by side: alone, a bare
workflow takes longer than a dossier; many at once, a round is bound by CPU, not by that latency.

`count_shape` reads the same counts from any workflow's history, so the baseline's own history
can be checked against the dossier's.

`FloorWorkflow` is the sustained-load benchmark's floor: one update, then one no-op activity,
served by its own process (`serve_floor`) in the engine's environment.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from engine.names import ORCHESTRATION_TASK_QUEUE

PREFIX = "bare-"
ORCHESTRATION_QUEUE = PREFIX + ORCHESTRATION_TASK_QUEUE
NOOP = "bare.noop"
ACTIVITY_TIMEOUT = timedelta(minutes=2)
FIRED_TIMER = timedelta(milliseconds=10)  # a timer that fires; its length is not the point
CANCELLED_TIMER = timedelta(days=1)  # a deadline far away, cancelled long before


class Shape(BaseModel):
    """What a workflow execution asked of Temporal, counted from its history."""

    activities: dict[str, int] = {}  # task queue (without the ``bare-`` prefix) -> scheduled
    local_activities: int = 0
    timers_fired: int = 0
    timers_cancelled: int = 0
    timers_left: int = 0  # started, still pending when the workflow closed
    updates: int = 0
    signals: int = 0
    children: list[Shape] = []

    def totals(self) -> dict[str, int]:
        """Counts of this execution and its children added up, activities per queue included."""
        totals: Counter[str] = Counter()
        for queue, count in self.activities.items():
            totals[f"activities on {queue}"] += count
        totals["activities"] += sum(self.activities.values())
        totals["local activities"] += self.local_activities
        totals["child workflows"] += len(self.children)
        totals["timers fired"] += self.timers_fired
        totals["timers cancelled"] += self.timers_cancelled
        totals["timers left running"] += self.timers_left
        totals["updates"] += self.updates
        totals["signals"] += self.signals
        for child in self.children:
            totals.update(child.totals())
        return dict(totals)


class Stage(BaseModel):
    """One stretch of work between two acts of the driver."""

    local_activities: int = 0
    activities: list[str] = []  # task queues, in order
    timers: int = 0  # timers that fire
    act: str | None = None  # "update" or "signal" to wait for at the end


class OpenAct(BaseModel):
    """An act the workflow waits for."""

    key: str
    kind: str  # "update" or "signal"


class BareTracking(BaseModel):
    """What the driver sees: the act awaited now, and the children to look at too."""

    open: list[OpenAct]
    children: list[str]
    done: bool


def _spread(count: int, slots: int) -> list[int]:
    """``count`` split over ``slots`` as evenly as possible, the larger shares first."""
    base, extra = divmod(count, slots)
    return [base + (1 if index < extra else 0) for index in range(slots)]


def plan_stages(shape: Shape) -> list[Stage]:
    """The shape's work in stages: one per act (updates, then signals in the middle) plus one."""
    acts = ["update"] * shape.updates
    middle = len(acts) // 2
    acts[middle:middle] = ["signal"] * shape.signals
    slots = len(acts) + 1
    queues = [queue for queue, count in sorted(shape.activities.items()) for _ in range(count)]
    locals_ = _spread(shape.local_activities, slots)
    timers = _spread(shape.timers_fired, slots)
    per_stage = _spread(len(queues), slots)
    stages: list[Stage] = []
    taken = 0
    for index in range(slots):
        stages.append(
            Stage(
                local_activities=locals_[index],
                activities=queues[taken : taken + per_stage[index]],
                timers=timers[index],
                act=acts[index] if index < len(acts) else None,
            )
        )
        taken += per_stage[index]
    return stages


@activity.defn(name=NOOP)
async def noop(payload: str) -> str:
    """Does nothing; returns its input."""
    return payload


@workflow.defn
class BareWorkflow:
    """A dossier's shape on bare Temporal; see the module docstring."""

    def __init__(self) -> None:
        self._open: OpenAct | None = None
        self._acted: set[str] = set()
        self._children: list[str] = []
        self._done = False
        self._cancellable = 0  # cancelled timers still to arm
        self._left = 0  # timers still to leave running at the end
        self._pending: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, shape: Shape) -> int:
        """Do the shape's work; return how many acts were received."""
        info = workflow.info()
        self._cancellable = shape.timers_cancelled
        self._left = shape.timers_left
        children = []
        for index, child in enumerate(shape.children):
            child_id = f"{info.workflow_id}-child-{index}"
            self._children.append(child_id)
            children.append(
                workflow.execute_child_workflow(
                    BareWorkflow.run, child, id=child_id, task_queue=info.task_queue
                )
            )
        running = asyncio.gather(*children)
        for number, stage in enumerate(plan_stages(shape)):
            await self._stage(stage, f"act-{number}")
        await self._cancel_the_rest()
        await running
        self._done = True
        return len(self._acted)

    async def _stage(self, stage: Stage, key: str) -> None:
        for _ in range(stage.local_activities):
            await workflow.execute_local_activity(
                noop, "local", start_to_close_timeout=ACTIVITY_TIMEOUT
            )
        for queue in stage.activities:
            timer = self._arm()
            await workflow.execute_activity(
                noop, queue, task_queue=PREFIX + queue, start_to_close_timeout=ACTIVITY_TIMEOUT
            )
            self._disarm(timer)
        for _ in range(stage.timers):
            await workflow.sleep(FIRED_TIMER)
        if stage.act is not None:
            timer = self._arm()
            self._open = OpenAct(key=key, kind=stage.act)
            await workflow.wait_condition(lambda: key in self._acted)
            self._open = None
            self._disarm(timer)

    def _arm(self) -> asyncio.Task[None] | None:
        """A far-away timer, to be cancelled after the next wait (or left running at the end)."""
        if self._cancellable + self._left == 0:
            return None
        timer = asyncio.create_task(workflow.sleep(CANCELLED_TIMER))
        if self._cancellable:
            self._cancellable -= 1
            return timer
        self._left -= 1
        self._pending.append(timer)  # a deadline still ahead when the workflow closes
        return None

    @staticmethod
    def _disarm(timer: asyncio.Task[None] | None) -> None:
        if timer is not None:
            timer.cancel()

    async def _cancel_the_rest(self) -> None:
        """Timers the stages had no wait for: each armed, then cancelled after a short one."""
        while self._cancellable:
            timer = self._arm()
            await workflow.sleep(FIRED_TIMER)
            self._disarm(timer)

    def _expect(self, key: str, kind: str) -> None:
        if self._open is None or self._open.key != key or self._open.kind != kind:
            raise ValueError(f"not waiting for {kind} {key}")

    @workflow.update
    async def act(self, key: str) -> str:
        """The driver's act the workflow waits for; returns when the workflow moved on."""
        self._acted.add(key)
        await workflow.wait_condition(lambda: self._open is None or self._open.key != key)
        return key

    @act.validator
    def _validate_act(self, key: str) -> None:
        self._expect(key, "update")

    @workflow.signal
    def pay(self, key: str) -> None:
        """The driver's signal the workflow waits for."""
        if self._open is not None and self._open.key == key:
            self._acted.add(key)

    @workflow.query
    def tracking(self) -> BareTracking:
        """The act awaited now, the children, and whether the work is done."""
        return BareTracking(
            open=[self._open] if self._open is not None else [],
            children=self._children,
            done=self._done,
        )


_COUNTED = {
    EventType.EVENT_TYPE_MARKER_RECORDED: "local_activities",
    EventType.EVENT_TYPE_TIMER_FIRED: "timers_fired",
    EventType.EVENT_TYPE_TIMER_CANCELED: "timers_cancelled",
    EventType.EVENT_TYPE_TIMER_STARTED: "timers_started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals",
}


def history_counts(history: WorkflowHistory) -> tuple[Counter[str], Counter[str], list[str]]:
    """Per-kind event counts, activities per task queue and child workflow ids of one history."""
    counts: Counter[str] = Counter()
    queues: Counter[str] = Counter()
    children: list[str] = []
    for event in history.events:
        kind = _COUNTED.get(event.event_type)
        if kind is not None:
            counts[kind] += 1
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            queue = event.activity_task_scheduled_event_attributes.task_queue.name
            queues[queue.removeprefix(PREFIX)] += 1
        elif event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            children.append(
                event.start_child_workflow_execution_initiated_event_attributes.workflow_id
            )
    counts["events"] = len(history.events)
    counts["workflow tasks"] = sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    return counts, queues, children


async def count_shape(client: Client, workflow_id: str) -> tuple[Shape, Counter[str]]:
    """The shape of a closed execution and its children, and their events and workflow tasks."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    counts, queues, child_ids = history_counts(history)
    children = [await count_shape(client, child_id) for child_id in child_ids]
    sizes = Counter({"events": counts["events"], "workflow tasks": counts["workflow tasks"]})
    for _, child_sizes in children:
        sizes.update(child_sizes)
    fired, cancelled = counts["timers_fired"], counts["timers_cancelled"]
    shape = Shape(
        activities=dict(sorted(queues.items())),
        local_activities=counts["local_activities"],
        timers_fired=fired,
        timers_cancelled=cancelled,
        timers_left=counts["timers_started"] - fired - cancelled,
        updates=counts["updates"],
        signals=counts["signals"],
        children=[child for child, _ in children],
    )
    return shape, sizes


def build_bare_workers(
    client: Client, queues: Sequence[str], grace: timedelta = timedelta(seconds=5)
) -> list[Worker]:
    """One worker per bare task queue and one for the workflows, as `worker.build_workers` lays
    out the engine's: each agency's queue its own worker, local activities beside the
    workflows."""
    workers = [
        Worker(
            client,
            task_queue=PREFIX + queue,
            activities=[noop],
            graceful_shutdown_timeout=grace,
        )
        for queue in queues
    ]
    workers.append(
        Worker(
            client,
            task_queue=ORCHESTRATION_QUEUE,
            workflows=[BareWorkflow],
            activities=[noop],
            graceful_shutdown_timeout=grace,
        )
    )
    return workers


@workflow.defn(name="FloorWorkflow", sandboxed=False)
class FloorWorkflow:
    """The floor: waits for one update, then starts one no-op activity.

    Unsandboxed (it touches nothing outside itself): the figure is a floor, the server's and the
    SDK's own round trip, not a like-for-like dossier step.
    """

    def __init__(self) -> None:
        self._poked = False

    @workflow.run
    async def run(self) -> None:
        """Wait for the update, run the activity, end."""
        await workflow.wait_condition(lambda: self._poked)
        await workflow.execute_activity(noop, "floor", start_to_close_timeout=timedelta(seconds=30))

    @workflow.update
    async def poke(self) -> None:
        """The trivial update."""
        self._poked = True


FLOOR_READY = "floor worker ready"


def serve_floor(task_queue: str) -> None:
    """Entry point of the floor's worker process: `FloorWorkflow` on ``task_queue``, with the
    engine's data converter and key ring (``LIENTHONG_DATA_KEYS``), until SIGINT/SIGTERM."""
    # Here, not at the top: the sandbox imports this module for `BareWorkflow`.
    import os

    from bench.cluster import serve_until_stopped
    from engine.crypto import KeyRing
    from engine.temporal import connect_config, data_converter, exit_process

    async def serve() -> int:
        ring = KeyRing.from_spec(os.environ["LIENTHONG_DATA_KEYS"])
        client = await Client.connect(**connect_config(), data_converter=data_converter(ring))
        # Not eager: the dossier's activities run on other queues, so they are always dispatched.
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[FloorWorkflow],
            activities=[noop],
            disable_eager_activity_execution=True,
        )
        await serve_until_stopped([worker], FLOOR_READY)
        return 0

    exit_process(asyncio.run(serve()))
