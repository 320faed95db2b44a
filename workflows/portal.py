"""The portal relay: pushes the portal's outbox to the national portal, for as long as it runs.

One relay per deployment (workflow id ``portal-relay``), on the orchestration queue; its one
activity, ``portal.push-pending``, runs on the portal's own queue. A round pushes what waits in
the outbox, in order. When the portal stops answering the relay waits, doubling the wait up to
`RelayConfig.max_backoff`, and tries again; nothing is lost meanwhile, because the outbox is
written with the registry (`store.portal`). The relay's details in the Web UI say how many
reports wait and since when, so an outage is visible before citizens call; ``status`` answers
the same as a query. ``nudge`` starts a round at once (after a reconciliation queued re-sends).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.portal import PushRequest, PushResult, RelayInput, RelayStatus
    from engine.names import PORTAL_TASK_QUEUE

RELAY_ID = "portal-relay"


@workflow.defn
class PortalRelayWorkflow:
    """Pushes the portal's outbox round after round; continues as new now and then."""

    @workflow.init
    def __init__(self, request: RelayInput) -> None:
        self._status = request.status
        self._nudged = False

    @workflow.run
    async def run(self, request: RelayInput) -> None:
        """Round after round; the wait between them depends on what the last one found."""
        config = request.config
        backoff = config.min_backoff
        for _ in range(config.rounds_per_run):
            result = await workflow.execute_activity(
                "portal.push-pending",
                PushRequest(now=workflow.now(), limit=config.batch),
                result_type=PushResult,
                task_queue=PORTAL_TASK_QUEUE,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(minutes=1),
                # The activity itself reports an unreachable portal; a retry here is for a
                # lost worker or database.
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                summary="Đồng bộ trạng thái lên Cổng dịch vụ công",
            )
            self._record(result)
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
        workflow.continue_as_new(RelayInput(config=config, status=self._status))

    def _record(self, result: PushResult) -> None:
        status = self._status
        now = workflow.now()
        status.waiting = result.waiting
        status.oldest_waiting_since = result.oldest_waiting_since
        status.pushed_total += result.pushed
        status.last_round_at = now
        status.last_error = result.error
        if result.unavailable:
            status.portal_down_since = status.portal_down_since or now
        else:
            status.portal_down_since = None
        state = (
            f"cổng không trả lời từ {status.portal_down_since:%d/%m %H:%M} UTC"
            if status.portal_down_since
            else "cổng hoạt động"
        )
        workflow.set_current_details(
            f"Chờ gửi: {status.waiting} trạng thái · {state} · đã gửi {status.pushed_total}"
            + (f" · lỗi gần nhất: {status.last_error}" if status.last_error else "")
        )

    @workflow.signal
    def nudge(self) -> None:
        """Push now (a reconciliation queued re-sends)."""
        self._nudged = True

    @workflow.query
    def status(self) -> RelayStatus:
        """How the portal sync stands."""
        return self._status
