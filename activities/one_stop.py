"""The one-stop desk's automated checks at receipt: completeness and identity papers.

Runs on the ``agency-one-stop`` task queue. Both checks compare what the applicant handed in
(``facts.documents``, named as in the catalog) with the pinned procedure version, so they read
the catalog here, in an activity, and their answer is recorded in the workflow's history.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.catalog import Catalog, ProcedureVersion
from domain.dossier import AutomatedCheckInput, AutomatedCheckResult, SubmittedDocument

# Words that make a document an identity paper. Both tone placements of "tùy"/"tuỳ" are in use.
IDENTITY_WORDS = (
    "căn cước",
    "giấy tờ tùy thân",
    "giấy tờ tuỳ thân",
    "hộ chiếu",
    "chứng minh nhân dân",
)
# Named when the catalog version lists no identity paper of its own.
DEFAULT_IDENTITY_DOCUMENT = "Giấy tờ tùy thân còn giá trị sử dụng (căn cước công dân, hộ chiếu)"


# Remembered: the same few catalog names come back with every dossier (a simulated year checks
# hundreds of thousands of them), and a name's normal form never changes.
@lru_cache(maxsize=4096)
def normalise_name(text: str) -> str:
    """Compare document names as people type them: NFC, case-insensitive, spaces collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip().casefold()


def is_identity_paper(name: str) -> bool:
    """Tell whether a document name names an identity paper (CCCD, passport, ...)."""
    normalised = normalise_name(name)
    return any(normalise_name(word) in normalised for word in IDENTITY_WORDS)


class OneStopActivities:
    """Automated checks of the one-stop desk (``one-stop.*``)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def _version(self, request: AutomatedCheckInput) -> ProcedureVersion:
        """The procedure version the dossier is pinned to; a wrong pin is a bug, not retried."""
        try:
            versions = self._catalog.versions(request.procedure)
        except LookupError as exc:
            raise ApplicationError(str(exc), type="UnknownProcedure", non_retryable=True) from None
        for version in versions:
            if version.version == request.procedure_version:
                return version
        known = ", ".join(version.version for version in versions)
        raise ApplicationError(
            f"{request.procedure} has no version {request.procedure_version!r}; versions: {known}",
            type="UnknownProcedureVersion",
            non_retryable=True,
        )

    @activity.defn(name="one-stop.check-completeness")
    async def check_completeness(self, request: AutomatedCheckInput) -> AutomatedCheckResult:
        """Check that every non-optional document of the pinned version was handed in.

        Missing documents come back in ``missing_documents`` (catalog spelling, catalog order),
        so the desk can issue one supplement request (form 02) listing them all.
        """
        version = self._version(request)
        received = {normalise_name(document.name_vi) for document in request.facts.documents}
        required = [document for document in version.required_documents if not document.optional]
        missing = [doc.name_vi for doc in required if normalise_name(doc.name_vi) not in received]
        activity.logger.info(
            "completeness_checked",
            extra={"dossier": request.dossier_code, "missing": len(missing)},
        )
        findings = {"required": str(len(required)), "missing": str(len(missing))}
        if missing:
            return AutomatedCheckResult(
                passed=False,
                summary_vi="Hồ sơ còn thiếu: " + "; ".join(missing),
                missing_documents=missing,
                findings=findings,
            )
        return AutomatedCheckResult(
            passed=True,
            summary_vi=f"Hồ sơ đầy đủ thành phần theo quy định ({len(required)} giấy tờ bắt buộc)",
            findings=findings,
        )

    @activity.defn(name="one-stop.check-identity")
    async def check_identity(self, request: AutomatedCheckInput) -> AutomatedCheckResult:
        """Check the applicant's identity: an identity paper handed in, or a known person.

        ``facts.subject_ref`` is set when the applicant was identified through the national
        population database (VNeID login), which stands in for showing the paper.
        """
        version = self._version(request)
        paper = _first_identity_paper(request.facts.documents)
        activity.logger.info(
            "identity_checked",
            extra={"dossier": request.dossier_code, "paper": paper is not None},
        )
        if paper is not None:
            return AutomatedCheckResult(
                passed=True,
                summary_vi=f"Đã kiểm tra giấy tờ tùy thân: {paper}",
                findings={"identified_by": "document"},
            )
        if request.facts.subject_ref is not None:
            return AutomatedCheckResult(
                passed=True,
                summary_vi="Đã xác thực danh tính qua Cơ sở dữ liệu quốc gia về dân cư",
                findings={"identified_by": "population-database"},
            )
        expected = next(
            (doc.name_vi for doc in version.required_documents if is_identity_paper(doc.name_vi)),
            DEFAULT_IDENTITY_DOCUMENT,
        )
        return AutomatedCheckResult(
            passed=False,
            summary_vi=f"Hồ sơ còn thiếu: {expected}",
            missing_documents=[expected],
        )


def _first_identity_paper(documents: list[SubmittedDocument]) -> str | None:
    return next((doc.name_vi for doc in documents if is_identity_paper(doc.name_vi)), None)
