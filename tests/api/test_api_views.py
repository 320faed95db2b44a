"""The API's views are read from table rows and workflow models (`api.schemas.view_of`)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from api import schemas as s
from domain.clock import VN_TZ


def test_a_view_reads_a_rows_attributes_its_nested_models_and_the_fields_given() -> None:
    naive = datetime(2026, 12, 4, 9, 30)  # as SQLite hands a stored moment back
    shipment = SimpleNamespace(
        step="land:return",
        tracking_number="VN123",
        status="dispatched",
        attempts=1,
        dispatched_at=naive,
        closed_at=None,
        applicant_told_at=None,
        address="12 Hàng Bài",
        received_by="not a field of the view",
    )
    attempt = SimpleNamespace(attempt=1, at=naive, outcome="absent", note_vi="vắng nhà")
    view = s.view_of(s.DeliveryView, shipment, attempt_log=[attempt], address=None)
    assert view.tracking_number == "VN123" and view.attempts == 1
    assert view.dispatched_at == naive.replace(tzinfo=UTC)
    assert view.attempt_log == [
        s.DeliveryAttemptView(
            attempt=1, at=naive.replace(tzinfo=UTC), outcome="absent", note_vi="vắng nhà"
        )
    ]
    # A field given wins over the row's attribute: the address is withheld here.
    assert view.address is None


def test_a_stored_moment_with_its_zone_is_kept_as_it_is() -> None:
    hanoi = datetime(2026, 12, 4, 16, 30, tzinfo=VN_TZ)  # PostgreSQL gives moments zoned
    assert s.stored_utc(hanoi) is hanoi
    assert s.stored_utc(datetime(2026, 12, 4, 9, 30)).tzinfo is UTC
