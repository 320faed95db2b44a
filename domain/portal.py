"""The portal sync's contract: a status report, one relay round, and how the relay stands.

Shared by the relay workflow (`workflows.portal`) and its activity (`activities.portal`), so
neither imports the other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel


class PortalUpdate(BaseModel):
    """One status report, as the portal receives it (codes, dates and agencies; no names)."""

    idempotency_key: str  # "{dossier code}:{sequence}"
    dossier_code: str
    sequence: int
    procedure_code: str
    desk_code: str
    status: str
    status_code: int
    changed_at: datetime
    received_at: datetime
    appointment_at: datetime | None = None
    finished_at: datetime | None = None
    agencies: list[str] = []  # the agencies holding the dossier after the change
    sent_at: datetime  # when the relay sends it (the relay workflow's time)


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
    waiting: int = 0  # reports still queued after this round
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
    portal_down_since: datetime | None = None
    last_error: str | None = None
    pushed_total: int = 0
    last_round_at: datetime | None = None


class RelayInput(BaseModel):
    """The relay's start: its pacing, and what it knew before it continued as new."""

    config: RelayConfig = RelayConfig()
    status: RelayStatus = RelayStatus()
