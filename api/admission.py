"""Back-pressure at intake: refuse a new dossier with 429 when the engine is at its bound.

Overload is refused, not absorbed. A dossier accepted past what the workers can take only
waits in Temporal's queues, and every dossier already inside waits longer with it. So before a
submission allocates a code, `admit` reads the engine's load, and above the configured bound
answers ``429`` with ``Retry-After`` in the API's error shape. Nothing is written for a refused
request: the client retries later with the same ``Idempotency-Key``.

The load, read at most once per ``LIENTHONG_ADMISSION_CACHE_SECONDS`` per API process:
- the **backlog** of the workflow tasks on the orchestration task queue and of the activity
  tasks on the queues of the engine's own work (the one-stop desk's: registry syncs, reception,
  notices; ``LIENTHONG_ADMISSION_ACTIVITY_QUEUES``), through Temporal's ``DescribeTaskQueue``
  (``report_stats``: approximate count and age of the oldest task). It grows as soon as the
  workers fall behind, whatever the cause (CPU, a worker down); its age is the delay a waiting
  dossier's next step is suffering now. The desk's queue matters: an officer's approval reaches
  the next agency's inbox through a ``registry.sync`` there, and the workflow tasks of running
  dossiers go to their workers' sticky queues, which no API can read, so under load the
  orchestration queue alone shows mostly the new dossiers' first tasks.
- optionally, the **dossiers in flight** on that queue, counted through visibility. In
  production a dossier waits days for officers, so this is a bound on what the cluster was
  sized to hold, not on its load: off (0) by default.

Per-client limits (abuse, issue 19: `api.limits`) are a separate concern; this module owns only the
engine's global bound. Settings: `engine.settings.Settings` ``admission_*``; docs/api.md.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import Request
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.context import context
from api.errors import FieldError
from engine.logs import get_logger
from engine.names import agency_task_queue
from engine.settings import Settings

log = get_logger("api.admission")

# The longest wait a refusal asks for: past it a client had better ask again and be told anew.
MAX_RETRY_AFTER_SECONDS = 60


@dataclass(frozen=True)
class Bound:
    """What the engine is allowed to hold before intake refuses (0 turns a bound off).

    Attributes:
        max_backlog: tasks waiting, on the orchestration queue (workflow tasks) and the
            activity queues read.
        max_backlog_age_seconds: age of the oldest of those tasks.
        max_in_flight: running dossier workflows on the orchestration queue (visibility).
        cache_seconds: how long one reading serves every request of this process.
    """

    max_backlog: int = 0
    max_backlog_age_seconds: float = 0.0
    max_in_flight: int = 0
    cache_seconds: float = 1.0

    @property
    def enabled(self) -> bool:
        """Whether any bound is set."""
        return bool(self.max_backlog or self.max_backlog_age_seconds or self.max_in_flight)


@dataclass(frozen=True)
class Load:
    """One reading of the engine's load.

    Attributes:
        backlog: approximate count of tasks waiting on the queues read.
        backlog_age_seconds: age of the oldest of them (0 without a backlog).
        dispatch_rate: tasks handed to workers per second on those queues, as the server
            estimates it.
        in_flight: running dossier workflows, or None when that bound is off.
    """

    backlog: int
    backlog_age_seconds: float
    dispatch_rate: float
    in_flight: int | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether to admit, and if not, why and when to try again."""

    admitted: bool
    reason: str = ""
    retry_after: int = 0


def judge(load: Load, bound: Bound) -> Verdict:
    """The verdict on a reading: refused at or above any bound that is set.

    Retry-After is the time the workers need to drain the backlog at the rate they dispatch
    now (at least 1 s, at most `MAX_RETRY_AFTER_SECONDS`); for the in-flight bound, which
    drains as dossiers close, the cache interval plus a second.
    """
    drain = max(load.backlog_age_seconds, load.backlog / max(load.dispatch_rate, 1.0))
    retry = min(MAX_RETRY_AFTER_SECONDS, max(1, math.ceil(drain)))
    if bound.max_backlog and load.backlog >= bound.max_backlog:
        return Verdict(False, f"{load.backlog} tasks waiting (bound {bound.max_backlog})", retry)
    if bound.max_backlog_age_seconds and load.backlog_age_seconds >= bound.max_backlog_age_seconds:
        return Verdict(
            False,
            f"the oldest task has waited {load.backlog_age_seconds:.1f} s "
            f"(bound {bound.max_backlog_age_seconds:g} s)",
            retry,
        )
    if bound.max_in_flight and load.in_flight is not None and load.in_flight >= bound.max_in_flight:
        wait = min(MAX_RETRY_AFTER_SECONDS, max(1, math.ceil(bound.cache_seconds) + 1))
        return Verdict(
            False, f"{load.in_flight} dossiers in flight (bound {bound.max_in_flight})", wait
        )
    return Verdict(True)


class Admission:
    """The engine's load as this API process last read it, and the verdict on a new dossier.

    One reading serves every request for ``bound.cache_seconds``; concurrent requests that find
    it stale wait for one read instead of each asking Temporal.
    """

    def __init__(
        self,
        client: Client,
        task_queue: str,
        bound: Bound,
        *,
        activity_queues: Sequence[str] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Read the workflow tasks of ``task_queue`` and the activity tasks of
        ``activity_queues`` through ``client``, judged against ``bound``."""
        self.client, self.task_queue, self.bound = client, task_queue, bound
        self.activity_queues = tuple(activity_queues)
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._load: Load | None = None
        self._read_at = -math.inf

    async def read(self) -> Load:
        """The engine's load now: one RPC per queue, at once (and the count of running
        dossiers with the in-flight bound).

        Raises:
            temporalio.service.RPCError: Temporal cannot answer.
        """
        queues = [(self.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)]
        queues += [(name, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY) for name in self.activity_queues]
        described = await asyncio.gather(
            *(
                self.client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=self.client.namespace,
                        task_queue=TaskQueue(name=name),
                        task_queue_type=kind,
                        report_stats=True,
                    )
                )
                for name, kind in queues
            )
        )
        stats = [answer.stats for answer in described]
        in_flight = None
        if self.bound.max_in_flight:
            counted = await self.client.count_workflows(
                f"WorkflowType = 'DossierWorkflow' AND ExecutionStatus = 'Running' "
                f"AND TaskQueue = '{self.task_queue}'"
            )
            in_flight = counted.count
        return Load(
            backlog=sum(s.approximate_backlog_count for s in stats),
            backlog_age_seconds=max(
                s.approximate_backlog_age.ToTimedelta().total_seconds() for s in stats
            ),
            dispatch_rate=sum(s.tasks_dispatch_rate for s in stats),
            in_flight=in_flight,
        )

    async def load(self) -> Load | None:
        """The cached reading, read anew when older than the cache interval.

        None when Temporal could not be read: intake then goes on, and the workflow's start
        answers for the engine (503 if it is down). A failed read is cached like a good one,
        so a Temporal outage does not double every submission's calls.
        """
        if self._monotonic() - self._read_at < self.bound.cache_seconds:
            return self._load
        async with self._lock:
            if self._monotonic() - self._read_at < self.bound.cache_seconds:
                return self._load
            try:
                self._load = await self.read()
            except Exception as exc:  # advisory: a failed reading never refuses anyone
                log.warning("admission_reading_failed", error=repr(exc))
                self._load = None
            self._read_at = self._monotonic()
            return self._load

    async def verdict(self) -> Verdict:
        """Admit, or refuse with the reason and the Retry-After."""
        if not self.bound.enabled:
            return Verdict(True)
        load = await self.load()
        return Verdict(True) if load is None else judge(load, self.bound)


def bound_of(settings: Settings) -> Bound:
    """The bound the settings give (``LIENTHONG_ADMISSION_*``)."""
    return Bound(
        max_backlog=settings.admission_max_backlog,
        max_backlog_age_seconds=settings.admission_max_backlog_age_seconds,
        max_in_flight=settings.admission_max_in_flight,
        cache_seconds=settings.admission_cache_seconds,
    )


def activity_queues_of(settings: Settings) -> list[str]:
    """The activity task queues read: those of ``LIENTHONG_ADMISSION_ACTIVITY_QUEUES``."""
    codes = [code.strip() for code in settings.admission_activity_queues.split(",")]
    return [agency_task_queue(code) for code in codes if code]


def admission_of(request: Request) -> Admission:
    """The app's `Admission`, made on first use from its context (one per API process)."""
    gate = getattr(request.app.state, "admission", None)
    if gate is None:
        ctx = context(request)
        settings = ctx.settings
        gate = Admission(
            ctx.temporal,
            ctx.task_queue,
            bound_of(settings),
            activity_queues=activity_queues_of(settings),
        )
        request.app.state.admission = gate
    assert isinstance(gate, Admission)
    return gate


async def admit(request: Request) -> None:
    """Refuse a new dossier while the engine is at its bound (a FastAPI dependency).

    Raises:
        FieldError: 429 ``overloaded`` with ``Retry-After``, in the API's error shape.
    """
    verdict = await admission_of(request).verdict()
    if not verdict.admitted:
        log.info("submission_refused", reason=verdict.reason, retry_after=verdict.retry_after)
        raise FieldError(
            "body",
            "overloaded",
            f"the engine is at capacity ({verdict.reason}); retry after "
            f"{verdict.retry_after} s with the same Idempotency-Key",
            429,
            headers={"Retry-After": str(verdict.retry_after)},
        )
