"""An outbox relay: pushes one outside system's outbox, round after round, for as long as it runs.

One relay per outside system (`engine.names.OUTSIDE_SYSTEMS`; workflow id ``{system}-relay``),
on the orchestration queue; its one activity, ``{system}.push-pending``, runs on the system's
own queue (``ext-{system}``), so the system's worker runs where its connection is. A round
pushes what waits in the outbox, in order. When the system stops answering the relay waits,
doubling the wait up to `RelayConfig.max_backoff`, and tries again; nothing is lost meanwhile,
because the outbox is written with the registry. The relay's details in the Web UI say how many
messages wait and since when the system has not answered, so an outage is visible before
citizens call; ``status`` answers the same as a query. ``nudge`` starts a round at once.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.outbox import PushRequest, PushResult, RelayInput, RelayStatus
    from engine.names import outside_task_queue

# What each system's relay says in the Web UI.
SYSTEM_NAMES_VI = {
    "portal": "Cổng dịch vụ công quốc gia",
    "sms": "tổng đài SMS",
    "einvoice": "hệ thống hóa đơn điện tử của cơ quan thuế",
}


def relay_id(system: str) -> str:
    """The relay's workflow id: ``portal-relay``, ``sms-relay``, ``einvoice-relay``."""
    return f"{system}-relay"


@workflow.defn
class OutboxRelayWorkflow:
    """Pushes an outside system's outbox round after round; continues as new now and then."""

    @workflow.init
    def __init__(self, request: RelayInput) -> None:
        self._status = request.status
        self._nudged = False

    @workflow.run
    async def run(self, request: RelayInput) -> None:
        """Round after round; the wait between them depends on what the last one found."""
        config, system = request.config, request.system
        name = SYSTEM_NAMES_VI.get(system, system)
        backoff = config.min_backoff
        for _ in range(config.rounds_per_run):
            result = await workflow.execute_activity(
                f"{system}.push-pending",
                PushRequest(now=workflow.now(), limit=config.batch),
                result_type=PushResult,
                task_queue=outside_task_queue(system),
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=1),
                # The activity itself reports an unreachable system; a retry here is for a
                # lost worker or database.
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                summary=f"Gửi hàng chờ tới {name}",
            )
            self._record(result, name)
            if result.unavailable:
                wait = backoff
                backoff = min(backoff * 2, config.max_backoff)
            else:
                backoff = config.min_backoff
                if result.pushed and result.waiting:
                    continue  # more is queued: the next round at once
                wait = config.idle_poll
            with suppress(TimeoutError):  # the wait is over: the next round
                await workflow.wait_condition(lambda: self._nudged, timeout=wait)
            self._nudged = False
        workflow.continue_as_new(RelayInput(system=system, config=config, status=self._status))

    def _record(self, result: PushResult, name: str) -> None:
        status = self._status
        now = workflow.now()
        status.waiting = result.waiting
        status.oldest_waiting_since = result.oldest_waiting_since
        status.pushed_total += result.pushed
        status.last_round_at = now
        status.last_error = result.error
        if result.unavailable:
            status.down_since = status.down_since or now
        else:
            status.down_since = None
        state = (
            f"{name} không trả lời từ {status.down_since:%d/%m %H:%M} UTC"
            if status.down_since
            else f"{name} hoạt động"
        )
        workflow.set_current_details(
            f"Chờ gửi: {status.waiting} · {state} · đã gửi {status.pushed_total}"
            + (f" · lỗi gần nhất: {status.last_error}" if status.last_error else "")
        )

    @workflow.signal
    def nudge(self) -> None:
        """Push now (a reconciliation queued re-sends)."""
        self._nudged = True

    @workflow.query
    def status(self) -> RelayStatus:
        """How the relay stands."""
        return self._status
