"""The outbox relays' contract: one round of pushing an outbox, and how a relay stands.

Each outside system (the national portal, the SMS gateway) has an outbox written with the
registry and a relay (`workflows.relay`) that pushes it through the system's
``{system}.push-pending`` activity on the system's own queue. Shared by the workflow and the
activities, so neither imports the other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel


class PushRequest(BaseModel):
    """Push up to ``limit`` waiting reports; ``now`` is the relay's time."""

    now: datetime
    limit: int = 200


class PushResult(BaseModel):
    """What one push round did, and what still waits."""

    pushed: int = 0
    rejected: int = 0  # reports the portal refused for their content (they stay queued)
    unavailable: bool = False  # the portal stopped answering: back off
    error: str | None = None
    waiting: int = 0  # messages still queued after this round
    oldest_waiting_since: datetime | None = None


class RelayConfig(BaseModel):
    """How the relay paces itself."""

    batch: int = 200  # reports per round
    idle_poll: timedelta = timedelta(seconds=30)  # between rounds when nothing waits
    min_backoff: timedelta = timedelta(seconds=30)  # after the portal stops answering...
    max_backoff: timedelta = timedelta(minutes=30)  # ...doubling up to this
    rounds_per_run: int = 500  # then continue as new, so the history stays short


class RelayStatus(BaseModel):
    """What the relay knows after its last round (its query, and its details in the Web UI)."""

    waiting: int = 0
    oldest_waiting_since: datetime | None = None
    down_since: datetime | None = None
    last_error: str | None = None
    pushed_total: int = 0
    last_round_at: datetime | None = None


class RelayInput(BaseModel):
    """A relay's start: its system, its pacing, and what it knew before it continued as new."""

    system: str  # one of `engine.names.OUTSIDE_SYSTEMS`
    config: RelayConfig = RelayConfig()
    status: RelayStatus = RelayStatus()
