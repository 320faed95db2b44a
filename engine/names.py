"""Names the worker and every client must agree on: task queues and search attributes.

Search attributes are stored unencrypted and shown to every operator: they carry codes, statuses
and dates, never personal data (names, national ID numbers, phones, addresses).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

# Workflows (the orchestration of a dossier) run here; each agency's own work runs on its queue.
ORCHESTRATION_TASK_QUEUE = "dossiers"


# Outside systems, each served from its own queue as an agency is (`workflows.relay`): the
# national public-service portal (status reports), the SMS gateway (citizens' text messages) and
# the tax authority's e-invoice system (electronic fee receipts).
OUTSIDE_SYSTEMS = ("portal", "sms", "einvoice")


def outside_task_queue(system: str) -> str:
    """The task queue an outside system's workers poll, e.g. ``ext-portal``."""
    return f"ext-{system}"


def agency_task_queue(agency_code: str) -> str:
    """The task queue an agency's workers poll, e.g. ``agency-land-registration``."""
    return f"agency-{agency_code}"


DOSSIER_CODE = SearchAttributeKey.for_keyword("DossierCode")
PROCEDURE_CODES = SearchAttributeKey.for_keyword_list("ProcedureCodes")
DOSSIER_STATUS = SearchAttributeKey.for_keyword("DossierStatus")
CURRENT_AGENCIES = SearchAttributeKey.for_keyword_list("CurrentAgencies")
APPOINTMENT_AT = SearchAttributeKey.for_datetime("AppointmentAt")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
# Agencies holding a step past its due moment: "OverdueAgencies = 'land-registration'".
OVERDUE_AGENCIES = SearchAttributeKey.for_keyword_list("OverdueAgencies")
# A step's warning moment (default 1 working day before due) has passed; with CurrentAgencies
# it is the inbox flag ("DueSoon = true AND CurrentAgencies = 'tax'"). A Bool, not a list:
# the SQL visibility stores of Temporal allow only 3 KeywordList attributes.
DUE_SOON = SearchAttributeKey.for_bool("DueSoon")
# How many apology letters (form 04) the dossier has needed.
APOLOGIES = SearchAttributeKey.for_int("Apologies")
DESK = SearchAttributeKey.for_keyword("Desk")

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey, ...] = (  # type: ignore[type-arg]
    DOSSIER_CODE,
    PROCEDURE_CODES,
    DOSSIER_STATUS,
    CURRENT_AGENCIES,
    APPOINTMENT_AT,
    OVERDUE,
    DESK,
    OVERDUE_AGENCIES,
    DUE_SOON,
    APOLOGIES,
)


def search_attribute_flags() -> list[str]:
    """``--search-attribute NAME=Type`` flags for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        kind = key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
        type_name = "".join(part.capitalize() for part in kind.split("_"))
        flags += ["--search-attribute", f"{key.name}={type_name}"]
    return flags
