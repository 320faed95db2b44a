"""A one-activity workflow for the letter crash test: issue one apology letter, retrying fast.

The activity runs on the one-stop desk's queue (served by a separate worker process); the
short heartbeat timeout lets the server notice a killed worker within seconds and retry.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.letters import LETTERS_TASK_QUEUE, ApologyInput, ApologyResult


@workflow.defn
class IssueApologyForTest:
    """Issues the apology of its input and returns the activity's result."""

    @workflow.run
    async def run(self, request: ApologyInput) -> ApologyResult:
        result: ApologyResult = await workflow.execute_activity(
            "letters.issue-apology",
            request,
            result_type=ApologyResult,
            task_queue=LETTERS_TASK_QUEUE,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200),
                backoff_coefficient=1.0,
                maximum_attempts=5,
            ),
        )
        return result
