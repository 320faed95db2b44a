"""What a dossier carries into the engine, and the contract of every automated step.

Automated steps of the catalog (``Step.activity``, e.g. ``land.check-parcel``) are Temporal
activities registered under exactly that name on the owning agency's task queue; the dossier
workflow calls them by name with `AutomatedCheckInput` and gets an `AutomatedCheckResult`, so a
new procedure needs no new workflow code, only (at most) a new agency activity.

No personal data here: the person concerned is an opaque ``subject_ref``; names, ID numbers,
phones and addresses stay in the registry's protected tables.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class DossierStatus(StrEnum):
    """Statuses of the national public-service portal model (codes 1-10)."""

    NEW = "new"  # 1
    ACCEPTED = "accepted"  # 2
    REFUSED = "refused"  # 3
    IN_PROGRESS = "in_progress"  # 4
    SUPPLEMENT_REQUESTED = "supplement_requested"  # 5
    FINANCIAL_OBLIGATION = "financial_obligation"  # 6
    WITHDRAWN = "withdrawn"  # 7
    STOPPED = "stopped"  # 8
    DECIDED = "decided"  # 9
    RETURNED = "returned"  # 10


class ParcelRef(BaseModel):
    """A land parcel as the land register names it: map sheet and parcel number in a commune."""

    commune: str = Field(description="code of the ward/commune, e.g. 'phuong-lien'")
    map_sheet: int = Field(ge=1, description="tờ bản đồ số")
    parcel_number: int = Field(ge=1, description="thửa đất số")

    @property
    def key(self) -> str:
        """``commune/sheet/parcel``, how logs and letters name the parcel."""
        return f"{self.commune}/{self.map_sheet}/{self.parcel_number}"


class SubmittedDocument(BaseModel):
    """One document handed in, named as in the catalog's required documents."""

    name_vi: str
    sha256: str | None = None  # digest of the stored file, when uploaded


class DossierFacts(BaseModel):
    """The facts of a dossier that agencies' automated checks need."""

    parcel: ParcelRef | None = None
    documents: list[SubmittedDocument] = []
    subject_ref: str | None = None  # opaque id of the person concerned (no personal data)
    # The applicant asked for the result by post (the address is in the registry, encrypted).
    home_delivery: bool = False


class AutomatedCheckInput(BaseModel):
    """Input of every automated step: which dossier, which step, under which rules."""

    dossier_code: str
    procedure: str
    procedure_version: str
    step: str
    facts: DossierFacts


class AutomatedCheckResult(BaseModel):
    """Outcome of an automated step.

    ``passed`` False means the agency's system refuses the step with ``summary_vi`` as the
    reason, or (with ``missing_documents``) that the applicant must supplement.
    """

    passed: bool
    summary_vi: str
    missing_documents: list[str] = []
    amount_due_vnd: int | None = None  # a financial obligation computed by this step
    reference: str | None = None  # a number issued by the agency (registration number, ...)
    findings: dict[str, str] = {}
