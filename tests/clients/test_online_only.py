"""Online-only procedures: refused at the counter with a clear error; the desk may file them
online on the applicant's behalf, which the dossier records."""

from __future__ import annotations

from datetime import datetime

import pytest

from clients.dossiers import OnlineOnly, check_channel
from domain.catalog import default_catalog
from domain.clock import VN_TZ
from domain.dossier import DossierFacts, SubmissionChannel

CATALOG = default_catalog()
RECEIVED = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)


@pytest.mark.parametrize("procedure", ["land-and-permit", "birth-residence-insurance"])
def test_an_online_only_procedure_is_refused_at_the_counter(procedure: str) -> None:
    with pytest.raises(OnlineOnly) as refused:
        check_channel(CATALOG, procedure, RECEIVED, DossierFacts(channel=SubmissionChannel.COUNTER))
    assert procedure in str(refused.value) and "online only" in str(refused.value)


@pytest.mark.parametrize("procedure", ["land-and-permit", "birth-residence-insurance"])
def test_online_or_filed_online_by_the_desk_is_accepted(procedure: str) -> None:
    check_channel(CATALOG, procedure, RECEIVED, DossierFacts(channel=SubmissionChannel.ONLINE))
    on_behalf = DossierFacts(channel=SubmissionChannel.ONLINE, filed_online_by="nguyen.van.a")
    check_channel(CATALOG, procedure, RECEIVED, on_behalf)


def test_a_counter_procedure_is_accepted_at_the_counter() -> None:
    facts = DossierFacts(channel=SubmissionChannel.COUNTER)
    check_channel(CATALOG, "house-building-permit", RECEIVED, facts)


def test_the_desk_cannot_file_for_the_applicant_at_the_counter() -> None:
    facts = DossierFacts(channel=SubmissionChannel.COUNTER, filed_online_by="nguyen.van.a")
    with pytest.raises(OnlineOnly):
        check_channel(CATALOG, "house-building-permit", RECEIVED, facts)
