"""``starter.py calendar amend``: the government changes working days after appointments were
given; the amendment is recorded and every open dossier it touches re-plans (real dev server:
the command finds the dossiers with a visibility query)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from clients.dossiers import wait_for_receipt
from domain.calendar import OVERRIDES_FILE, default_calendar, load_overrides
from domain.clock import VN_TZ, LegalClock
from tests.harness import running_engine, submit
from workflows.dossier import DossierWorkflow, TrackingState

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]


async def starter(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "starter.py"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_an_amended_day_off_moves_the_appointment_and_tells_the_applicant(
    dev_env: WorkflowEnvironment, task_queue: str, pg_url: str, tmp_path: Path
) -> None:
    overrides = tmp_path / "calendar-overrides.yaml"
    shutil.copy(OVERRIDES_FILE, overrides)
    async with running_engine(dev_env.client, task_queue, pg_url):
        handle = await submit(dev_env, task_queue, "house-building-permit")
        before = await wait_for_receipt(handle)
        assert before.appointment is not None
        day = before.appointment.astimezone(VN_TZ).date() - timedelta(days=1)
        while not default_calendar().is_working_day(day):
            day -= timedelta(days=1)
        amendment = tmp_path / "amendment.yaml"
        amendment.write_text(
            "announced_by: Thông báo số 01/TB-VPCP (thử nghiệm)\n"
            "overrides:\n"
            f"  - day: {day.isoformat()}\n"
            "    kind: day_off\n"
            "    reason: Nghỉ bù (thử nghiệm)\n"
            "    source: Thông báo số 01/TB-VPCP (thử nghiệm)\n",
            encoding="utf-8",
        )
        address = dev_env.client.service_client.config.target_host
        code, out, err = await starter(
            "calendar", "amend", "--file", str(amendment), "--overrides", str(overrides),
            "--address", address,
        )  # fmt: skip
        assert code == 0, err
        assert f"{day.isoformat()} day_off" in out and "told" in out
        assert day in {o.day for o in load_overrides(overrides)}

        async def amended() -> TrackingState:
            while True:
                state: TrackingState = await handle.query(DossierWorkflow.tracking)
                if state.calendar_changes and state.calendar_changes[0].notified:
                    return state
                await asyncio.sleep(0.1)

        after = await asyncio.wait_for(amended(), 30)
    # One working day fewer before the appointment: it moves one working day later.
    clock = LegalClock(default_calendar())
    assert after.appointment == clock.add(before.appointment, timedelta(hours=8))
    change = after.calendar_changes[0]
    assert change.appointment_before == before.appointment
    assert change.appointment_after == after.appointment
    assert after.apologies == []  # nobody was late
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
    ]
    assert scheduled.count("letters.appointment-moved") == 1
    assert "letters.issue-apology" not in scheduled
    await handle.terminate("test over")


async def test_a_bad_amendment_file_is_refused_and_records_nothing(tmp_path: Path) -> None:
    overrides = tmp_path / "calendar-overrides.yaml"
    shutil.copy(OVERRIDES_FILE, overrides)
    amendment = tmp_path / "amendment.yaml"
    amendment.write_text(
        "announced_by: x\noverrides:\n  - day: 2027-02-30\n    kind: day_off\n"
        "    reason: r\n    source: s\n",
        encoding="utf-8",
    )
    code, _, err = await starter(
        "calendar", "amend", "--file", str(amendment), "--overrides", str(overrides)
    )
    assert code == 2
    assert "overrides[0].day" in err and "2027-02-30" in err
    assert overrides.read_bytes() == OVERRIDES_FILE.read_bytes()
