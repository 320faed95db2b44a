"""Operators find dossiers in the Web UI by our search attributes (real dev server).

Overdue needs real time to pass on the dev server, so this test runs a small catalog of its
own (steps of a few seconds) on a clock whose office is always open; everything else is the
production code: the workflow, the workers, the activities.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.calendar import CalendarOverride, WorkingCalendar
from domain.catalog import DEFAULT_ROOT, Catalog, load_catalog
from domain.clock import VN_TZ, LegalClock, OfficeHours
from domain.dossier import DossierFacts, SubmittedDocument
from tests.harness import running_engine, submit
from workflows.dossier import DossierWorkflow, WithdrawInput

pytestmark = [pytest.mark.devserver, pytest.mark.postgres]

PROCEDURE = """\
code: {code}
versions:
  - version: "2025-07"
    name_vi: Thủ tục thử nghiệm {code}
    name_en: Test procedure {code}
    level: commune
    legal_basis: [test]
    effective_from: 2025-07-01
    limit: {{amount: 2, unit: working_hours}}
    required_documents:
      - name_vi: Đơn
        form: original
    result_document_vi: Kết quả
    supplement_policy: {{max_requests: 0}}
    steps:
      - id: examine
        name_vi: Xem xét
        agency: {agency}
        kind: officer_decision
        budget: {{amount: {hours}, unit: working_hours}}
      - id: return
        name_vi: Trả kết quả
        agency: one-stop
        kind: return_result
        budget: {{amount: 0.01, unit: working_hours}}
        depends_on: [examine]
"""


def always_open_clock() -> LegalClock:
    today = date.today()
    overrides = [
        CalendarOverride(
            day=today + timedelta(days=n), kind="working_day", reason="test", source="test"
        )
        for n in range(-1, 3)
    ]
    hours = OfficeHours(sessions=((time(0, 0), time(23, 59, 59)),))
    return LegalClock(WorkingCalendar(overrides), hours)


def quick_catalog(root: Path) -> Catalog:
    shutil.copy(DEFAULT_ROOT / "agencies.yaml", root / "agencies.yaml")
    (root / "procedures").mkdir()
    for code, agency, hours in [
        ("quick-land", "land-registration", 0.002),
        ("quick-tax", "tax", 0.002),
        ("slow-land", "land-registration", 1),
    ]:
        (root / "procedures" / f"{code}.yaml").write_text(
            PROCEDURE.format(code=code, agency=agency, hours=hours)
        )
    return load_catalog(root)


async def test_one_list_filter_finds_exactly_the_dossiers_overdue_at_the_land_office(
    dev_env: WorkflowEnvironment, task_queue: str, pg_url: str, tmp_path: Path
) -> None:
    catalog = quick_catalog(tmp_path)
    client = dev_env.client
    facts = DossierFacts(documents=[SubmittedDocument(name_vi="Đơn")])
    async with running_engine(
        client, task_queue, pg_url, catalog=catalog, clock=always_open_clock()
    ):
        now = (await dev_env.get_current_time()).astimezone(VN_TZ)
        desk = f"Q{uuid.uuid4().hex[:8].upper()}"
        handles = {
            code: await submit(
                dev_env, task_queue, code, received=now, facts=facts,
                code=f"{desk}-{now:%y%m%d}-{n:04d}",
            )
            for n, code in enumerate(("quick-land", "quick-tax", "slow-land"), 1)
        }  # fmt: skip
        ids = {code: handle.id for code, handle in handles.items()}

        async def listed(query: str) -> set[str]:
            return {e.id async for e in client.list_workflows(f"Desk = '{desk}' AND {query}")}

        # What an operator types in the UI's List Filter (plus this test's desk):
        overdue_at_land = "OverdueAgencies = 'land-registration'"
        found: set[str] = set()
        for _ in range(100):  # the 7 s budgets run out, then visibility catches up
            found = await listed(overdue_at_land)
            if found:
                break
            await asyncio.sleep(0.3)
        assert found == {ids["quick-land"]}
        assert await listed("Overdue = true") == {ids["quick-land"], ids["quick-tax"]}
        assert await listed("CurrentAgencies = 'land-registration'") == {
            ids["quick-land"],
            ids["slow-land"],
        }
        for handle in handles.values():
            await handle.execute_update(DossierWorkflow.withdraw, WithdrawInput(reason="test over"))
            await handle.result()
