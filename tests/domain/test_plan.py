"""The legal plan of a dossier: version pinning, clock start, pauses and the step graph."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain.calendar import default_calendar, default_provisional
from domain.catalog import NotInForce, UnknownProcedure, default_catalog
from domain.clock import VN_TZ, LegalClock, working_days
from domain.plan import DossierPlan, plan_dossier

CLOCK = LegalClock(default_calendar())


def plan(code: str, received: datetime, **kwargs: object) -> DossierPlan:
    return plan_dossier(default_catalog(), CLOCK, code, received, **kwargs)  # type: ignore[arg-type]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


def test_a_dossier_keeps_the_rules_in_force_on_its_receipt_day() -> None:
    before = plan("land-first-certificate", at(2025, 6, 30, 9))
    after = plan("land-first-certificate", at(2025, 7, 1, 9))
    assert (before.version, before.limit_working_hours) == ("2024-08", 23 * 8)
    assert (after.version, after.limit_working_hours) == ("2025-07", 20 * 8)
    assert any(step.agency == "district-committee" for step in before.steps)
    assert any(step.agency == "commune-committee" and step.step == "sign" for step in after.steps)


def test_the_appointment_is_the_limit_plus_the_planned_public_notice() -> None:
    result = plan("land-first-certificate", at(2025, 9, 8, 8))
    notice = next(step for step in result.steps if step.kind == "public_notice")
    expected = CLOCK.add(result.clock_starts, working_days(20), [(notice.starts, notice.due)])
    assert result.appointment == expected
    assert not notice.counted


def test_a_supplement_pause_moves_the_appointment_by_the_paused_working_time() -> None:
    received = at(2026, 3, 2, 8)
    pause = (at(2026, 3, 3, 8), at(2026, 3, 5, 8))  # two working days with the applicant
    plain = plan("house-building-permit", received)
    paused = plan("house-building-permit", received, pauses=[pause])
    assert CLOCK.working_time_between(plain.appointment, paused.appointment) == working_days(2)


def test_the_permit_decision_waits_for_the_land_certificate_signature() -> None:
    result = plan("land-and-permit", at(2026, 3, 2, 8))
    steps = {step.key: step for step in result.steps}
    decision = steps["house-building-permit:decision"]
    assert "land-first-certificate:sign" in decision.depends_on
    assert decision.starts >= steps["land-first-certificate:sign"].due
    assert result.combined
    assert [c.code for c in result.components] == [
        "land-first-certificate",
        "house-building-permit",
    ]


def test_every_counted_step_is_due_by_the_appointment() -> None:
    for code in default_catalog().codes():
        result = plan(code, at(2026, 3, 2, 8))
        late = [s.key for s in result.steps if s.counted and s.due > result.appointment]
        assert not late, f"{code}: {late}"


def test_a_receipt_after_the_cutoff_counts_from_the_next_working_day() -> None:
    before = plan("certified-copy", at(2026, 3, 6, 14, 59))  # a Friday
    after = plan("certified-copy", at(2026, 3, 6, 15, 1))
    assert before.appointment.date() == before.received_at.date()
    assert after.clock_starts == at(2026, 3, 9, 8)


def test_unknown_or_not_yet_in_force_procedures_are_lookup_errors() -> None:
    with pytest.raises(UnknownProcedure):
        plan("no-such-thing", at(2026, 3, 2, 8))
    with pytest.raises(NotInForce):
        plan("land-first-certificate", at(2020, 1, 2, 8))


def test_a_naive_receipt_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="time-zone offset"):
        plan("certified-copy", datetime(2026, 3, 2, 8))


def test_a_certification_is_due_at_closing_the_same_day_or_the_next_after_15h() -> None:
    for code in ("certified-copy", "signature-certification"):
        # Both sides of the 2025-07 version's start, and after it: the same legal rule.
        for received, due in (
            (at(2025, 6, 30, 14, 59), at(2025, 6, 30, 17)),
            (at(2025, 6, 30, 15, 0), at(2025, 7, 1, 17)),
            (at(2025, 7, 1, 9), at(2025, 7, 1, 17)),
            (at(2026, 3, 6, 16, 30), at(2026, 3, 9, 17)),  # Friday afternoon: Monday
            (at(2026, 3, 7, 10), at(2026, 3, 9, 17)),  # a Saturday: the next working day
        ):
            result = plan(code, received)
            assert result.appointment == due, (code, received)
            assert result.limit_working_hours == (
                CLOCK.working_time_between(result.clock_starts, due).total_seconds() / 3600
            )
            assert all(s.due <= result.appointment for s in result.steps if s.counted)


def test_the_desk_target_is_shown_apart_from_the_legal_appointment() -> None:
    result = plan("certified-copy", at(2026, 3, 6, 9))
    assert result.service_target == at(2026, 3, 6, 11)
    assert result.appointment == at(2026, 3, 6, 17)
    assert plan("land-first-certificate", at(2026, 3, 6, 9)).service_target is None


def test_an_appointment_counted_across_a_provisional_period_says_so() -> None:
    periods = default_provisional()
    december = plan("house-building-permit", at(2026, 12, 1, 9), provisional=periods)
    assert december.calendar_notes_vi == []  # 15 working days: still in December 2026
    late = plan("house-building-permit", at(2026, 12, 21, 9), provisional=periods)
    assert late.appointment.year == 2027
    assert late.calendar_notes_vi == [periods[1].reason]
    assert plan("house-building-permit", at(2026, 12, 21, 9)).calendar_notes_vi == []


def test_the_building_permit_keeps_15_days_on_both_sides_of_the_construction_law_2025() -> None:
    before = plan("house-building-permit", at(2026, 6, 30, 9))
    after = plan("house-building-permit", at(2026, 7, 1, 9))
    assert (before.version, after.version) == ("2025-07", "2026-07")
    assert before.limit_working_hours == after.limit_working_hours == 15 * 8
    assert after.appointment == CLOCK.add(after.clock_starts, working_days(15))


def test_the_land_certificate_after_decree_226_and_until_decree_151_ends() -> None:
    before = plan("land-first-certificate", at(2025, 8, 14, 9))
    after = plan("land-first-certificate", at(2025, 8, 15, 9))
    last = plan("land-first-certificate", at(2027, 2, 26, 9))
    assert (before.version, after.version, last.version) == ("2025-07", "2025-08", "2025-08")
    assert before.limit_working_hours == after.limit_working_hours == 20 * 8
    tax = next(s for s in after.steps if s.step == "compute-obligation")
    assert not tax.counted and tax.due >= tax.starts  # planned as no counted time
    with pytest.raises(NotInForce, match="28/02/2027"):
        plan("land-first-certificate", at(2027, 3, 1, 9))
