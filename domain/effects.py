"""The effects: what the dossier core asks its shell to carry out.

`domain.dossier_core.DossierCore` returns these from every transition, in order; the shells
dispatch on their types and feed each outcome back to the core. There are two shells, and they
read this one module: the workflow (`workflows.dossier.DossierWorkflow`, which turns them into
activities and timers) and the simulator's core engine (`sim.core`, which plays them without
Temporal). An effect is plain data: adding a field changes no history, but adding a type asks
both shells to handle it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from domain.dossier import ApplicantNoticeKind

NoticeKind = Literal["due_soon", "overdue", "escalation", "withdrawn"]


@dataclass(frozen=True)
class RunCheck:
    """Run the automated check of step ``key`` on its agency's queue (run number ``run``)."""

    key: str
    run: int


@dataclass(frozen=True)
class CancelCheck:
    """The check of step ``key`` is no longer wanted (its procedure ended, or it was sent back)."""

    key: str


@dataclass(frozen=True)
class SendApology:
    """Issue form 04 for apology number ``sequence``."""

    sequence: int


@dataclass(frozen=True)
class NotifyAgency:
    """Tell an agency (or its head, for an escalation) about one of its steps; once each."""

    kind: NoticeKind
    step: str
    agency: str
    due: datetime | None
    sequence: int


@dataclass(frozen=True)
class NotifyAppointmentMoved:
    """Tell the applicant that a calendar amendment moved the appointment (not an apology)."""

    change: int  # index into `DossierState.calendar_changes`


@dataclass(frozen=True)
class NotifyApplicant:
    """Tell the applicant by e-mail: a supplement request, its reminder, that processing stopped
    (``sequence``: the supplement request, from 1), or a refusal (``sequence``: its ledger row)."""

    kind: ApplicantNoticeKind
    sequence: int


@dataclass(frozen=True)
class PostEffect:
    """Something for the post to do with the result of return step ``step`` (the shells hand
    each of these to the post's activities)."""

    step: str


@dataclass(frozen=True)
class Dispatch(PostEffect):
    """Hand the result of return step ``step`` to the post."""


@dataclass(frozen=True)
class AttemptDelivery(PostEffect):
    """The postman's attempt number ``attempt`` to deliver ``step``'s result."""

    attempt: int


@dataclass(frozen=True)
class ReturnToDesk(PostEffect):
    """The post gives up: the result goes back to the one-stop desk."""


@dataclass(frozen=True)
class ExtendCalendar:
    """The dossier is about to outlive its calendar snapshot: ask for ``[first, last]``."""

    first: date
    last: date


Effect = (
    RunCheck
    | CancelCheck
    | SendApology
    | NotifyAgency
    | NotifyAppointmentMoved
    | NotifyApplicant
    | Dispatch
    | AttemptDelivery
    | ReturnToDesk
    | ExtendCalendar
)
