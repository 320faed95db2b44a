"""The history-cost benchmark (bench/history.py), small: its counting and one real dossier.

The counting is checked exactly on a made-up history; a live dossier's counts move a little
from run to run (activities and workflow tasks batch differently), so only their shape is
checked. Nothing here measures time or the baseline's worktree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.history.v1 import HistoryEvent

from bench.history import FIRST_RECEIPT, count_events, measure_dossier, receipt_moment
from domain.clock import VN_TZ


def event(attributes: str, **fields: Any) -> HistoryEvent:
    """An event whose ``<attributes>_event_attributes`` hold ``fields``."""
    given: dict[str, Any] = {f"{attributes}_event_attributes": fields}
    return HistoryEvent(**given)


def scheduled(activity_type: str) -> HistoryEvent:
    return event("activity_task_scheduled", activity_type={"name": activity_type})


def test_a_history_is_counted_by_kind_and_activity_type() -> None:
    events = [
        event("workflow_execution_started", attempt=1),
        event("workflow_task_completed", identity="w"),
        scheduled("clock.step-due"),
        scheduled("registry.sync"),
        scheduled("clock.step-due"),
        event("activity_task_completed", scheduled_event_id=3),
        event("timer_started", timer_id="1"),
        event("timer_fired", timer_id="1"),
        event("timer_started", timer_id="2"),
        event("timer_canceled", timer_id="2"),
        event("workflow_execution_update_accepted", protocol_instance_id="u"),
        event("workflow_execution_signaled", signal_name="payment_received"),
        event("upsert_workflow_search_attributes", workflow_task_completed_event_id=2),
        event("marker_recorded", marker_name="core_local_activity"),
        event("start_child_workflow_execution_initiated", workflow_id="child-1"),
        event("workflow_task_completed", identity="w"),
    ]
    counts, children = count_events("certified-copy", events)
    assert counts.events == 16 and counts.workflow_tasks == 2
    assert counts.activities == 3
    assert counts.activities_by_type == {"clock.step-due": 2, "registry.sync": 1}
    assert (counts.timers_started, counts.timers_fired, counts.timers_cancelled) == (2, 1, 1)
    assert (counts.updates_accepted, counts.signals) == (1, 1)
    assert (counts.search_attribute_upserts, counts.markers) == (1, 1)
    assert counts.child_workflows == 1 and children == ["child-1"]


def test_the_receipt_is_a_monday_at_nine_in_vietnam_ahead_of_now() -> None:
    now = datetime(2026, 12, 4, 15, tzinfo=UTC)
    moment = receipt_moment(now)
    local = moment.astimezone(VN_TZ)
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    assert moment > now and moment - timedelta(weeks=52) < now + timedelta(days=1)
    assert receipt_moment(FIRST_RECEIPT - timedelta(days=2)) == FIRST_RECEIPT


async def test_one_certified_copy_dossier_is_counted_whole() -> None:
    counts = await measure_dossier("certified-copy", receipt_moment(datetime.now(UTC)), bound=60.0)
    assert counts.outcome == "ok", counts.error
    assert counts.status == "returned"
    assert counts.events > 0 and counts.workflow_tasks > 0
    assert counts.activities > 0
    assert sum(counts.activities_by_type.values()) == counts.activities
    assert counts.updates_accepted > 0
    assert counts.timers_started >= counts.timers_fired + counts.timers_cancelled
