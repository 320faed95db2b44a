"""A core-engine run shared between processes, with the result of one process.

Dossiers meet in a run only where they share officers: a step is decided by a pool
(`sim.events.Oracle`: the desk that received the dossier, the agency's one office, a pooled
agency, or an agency's district-wide capacity), and a pool's day has room for so many
decisions. Everything else a dossier meets is its own: every draw comes from a generator seeded
with its code, the post's tracking numbers and outcomes from its code and step, its registry
rows are keyed by its code. So the dossiers fall into groups that share no pool (at Đống Đa,
the district desk with the land and economic offices, and each ward's desk), each group is
played by a `CoreEngine` of its own, and a process plays a shard of whole groups. SimPy keeps
the order of one group's events whatever else runs beside them, so each dossier goes through
the same moments as in one process, and the reports, read from the merged registry, are the
same, byte for byte (`tests/sim/test_parallel.py`).

What differs: the agencies' own registers (civil, residence, health insurance) number their
entries per register and year in each process. They stay in the shards' registries, which go
with the run; nothing in a run's result reads them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, make_url

from domain.catalog import STANDARD_WORKING_DAY, Catalog
from domain.clock import VN_TZ
from engine.crypto import KeyRing
from sim.events import Oracle, SimDossier
from sim.runner import DossierOutcome, Progress, RunOptions
from store.models import Base, CivilRegistration, HealthInsuranceCard, ResidenceRegistration

if TYPE_CHECKING:
    from sim.core import Play

MIN_SHARD = 1500
"""Fewer dossiers than this per process are played in one: starting a process (importing the
engine, ~2 s) would cost more than it saves."""

# The agencies' registers: numbered per process, not merged (see the module docstring).
_AGENCY_REGISTERS = {
    model.__tablename__ for model in (CivilRegistration, ResidenceRegistration, HealthInsuranceCard)
}


def usable_cpus() -> int:
    """The processors this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# ---- which dossiers run together -----------------------------------------------------------


def groups(
    dossiers: list[SimDossier], oracle: Oracle, catalog: Catalog
) -> list[tuple[list[SimDossier], int]]:
    """The dossiers in groups that share no officers' pool, each in submission order, with
    its work (`_agencies_and_work`); groups in the order of their first dossier."""
    parent: dict[object, object] = {}

    def root(node: object) -> object:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    facts: dict[tuple[str, date], tuple[tuple[str, ...], int]] = {}
    work: dict[int, int] = {}
    for dossier in dossiers:
        day = dossier.submit_at.astimezone(VN_TZ).date()
        known = facts.get((dossier.procedure, day))
        if known is None:
            known = facts[(dossier.procedure, day)] = _agencies_and_work(catalog, dossier, day)
        agencies, work[dossier.index] = known
        mine = root(("dossier", dossier.index))
        for agency in agencies:
            pool = oracle.pool_of(agency, dossier.desk)
            if pool is not None:
                parent[mine] = root(("pool", pool))
                mine = root(mine)
    by_root: dict[object, list[SimDossier]] = {}
    for dossier in dossiers:
        by_root.setdefault(root(("dossier", dossier.index)), []).append(dossier)
    return [(group, sum(work[d.index] for d in group)) for group in by_root.values()]


def _agencies_and_work(
    catalog: Catalog, dossier: SimDossier, day: date
) -> tuple[tuple[str, ...], int]:
    """The agencies owning a step of the dossier's procedure as received (the versions in
    force on its day), and its work: eight units a step, and one a working day of its longest
    chain of budgets (a dossier open longer is woken and looked at more). Fitted on the
    Đống Đa profile on 2026-12-05: its district desk's dossiers (land, permits) took 24% more
    CPU a step than the wards' (certifications), 3.95 s against 19.73 s at scale 0.1."""
    versions = (
        catalog.components_on(dossier.procedure, day)
        if catalog.is_combined(dossier.procedure)
        else (catalog.version_on(dossier.procedure, day),)
    )
    agencies = tuple(dict.fromkeys(code for v in versions for code in v.agency_codes()))
    steps = sum(len(v.steps) for v in versions)
    days = sum(v.critical_path_time() // STANDARD_WORKING_DAY for v in versions)
    return agencies, 8 * steps + days


def shards(
    dossiers: list[SimDossier], oracle: Oracle, catalog: Catalog, workers: int
) -> list[list[SimDossier]]:
    """At most ``workers`` shards of whole groups, about even in work (one shard when there is
    too little to share, or one group); each in submission order."""
    workers = min(workers, len(dossiers) // MIN_SHARD)
    if workers < 2:
        return [dossiers]
    found = groups(dossiers, oracle, catalog)
    if len(found) < 2:
        return [dossiers]
    bins: list[list[SimDossier]] = [[] for _ in range(min(workers, len(found)))]
    loads = [0] * len(bins)
    # The most work first, into the least loaded shard: close to even for many small groups.
    for group, work in sorted(found, key=lambda found: (-found[1], found[0][0].index)):
        lightest = loads.index(min(loads))
        bins[lightest].extend(group)
        loads[lightest] += work
    # The lighter shard first: its registry is merged while the heavier one still plays.
    order = sorted(range(len(bins)), key=lambda n: loads[n])
    return [sorted(bins[n], key=lambda d: d.index) for n in order]


# ---- running the shards ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    play: Play
    dossiers: list[SimDossier]
    url: str
    scratch: Path
    key_spec: str
    keep_details: bool
    shard: int


# In each process of the pool: where it counts its ended dossiers and its simulated now.
_ended: Any = None
_moments: Any = None


def _init(ended: Any, moments: Any) -> None:
    global _ended, _moments
    _ended, _moments = ended, moments


def _play_shard(job: _Job) -> bytes:
    """In a process of the pool: play one shard against its own scratch registry (a copy of
    the run's, prepared and empty); its outcomes, pickled here with the collector held back as
    during the run (the pool would pickle them after, walking the whole heap many times)."""
    from sim.core import few_collections

    def progress(ended: int, _total: int, now: datetime) -> None:
        _ended[job.shard] = ended
        _moments[job.shard] = now.timestamp()

    with few_collections():
        outcomes = asyncio.run(
            job.play.run(
                job.dossiers, job.url, job.scratch, KeyRing.from_spec(job.key_spec), progress,
                job.keep_details,
            )
        )  # fmt: skip
        return pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)


async def run_shards(
    play: Play,
    parts: list[list[SimDossier]],
    options: RunOptions,
    url: str,
    scratch: Path,
    key_spec: str,
) -> list[DossierOutcome]:
    """Play each shard in a process of its own, merge their registries into ``url`` (a prepared
    SQLite registry) and return every outcome in submission order."""
    context = multiprocessing.get_context("spawn")  # not fork: this process runs an event loop
    ended = context.Array("q", len(parts), lock=False)
    moments = context.Array("d", len(parts), lock=False)
    total = sum(len(part) for part in parts)
    paths = [scratch / f"shard-{n}.db" for n in range(len(parts))]
    jobs = [
        _Job(play, part, f"sqlite:///{path}", scratch, key_spec, options.keep_details, n)
        for n, (part, path) in enumerate(zip(parts, paths, strict=True))
    ]
    for path in paths:
        shutil.copyfile(make_url(url).database or "", path)
    pool = context.Pool(len(parts), initializer=_init, initargs=(ended, moments))
    try:
        running = [pool.apply_async(_play_shard, (job,)) for job in jobs]
        results = []
        # In shard order, each registry merged as soon as its shard is done (while the others
        # still play): the same registry whichever finishes first.
        for path, shard in zip(paths, running, strict=True):
            while not shard.ready():
                await asyncio.sleep(0.5)
                _show(options.progress, ended, moments, total)
            results.append(pickle.loads(shard.get()))
            await asyncio.to_thread(merge_registries, url, [path])
        pool.close()  # the processes exit on their own: nothing waits for them to free memory
    except BaseException:
        pool.terminate()  # a shard failed (or the run was interrupted): stop the others
        raise
    _show(options.progress, ended, moments, total)
    outcomes = [outcome for result in results for outcome in result]
    outcomes.sort(key=lambda outcome: outcome.dossier.index)
    return outcomes


def _show(progress: Progress | None, ended: Any, moments: Any, total: int) -> None:
    if progress is None or not any(moments):
        return
    # The shards' clocks run apart: the run is as far as its slowest shard.
    now = min(moment for moment in moments if moment)
    progress(sum(ended), total, datetime.fromtimestamp(now, UTC))


def merged_tables() -> list[Table]:
    """The tables whose rows belong to one dossier each: what the shards' registries add up to."""
    return [
        table
        for table in Base.metadata.sorted_tables
        if ("dossier_code" in table.c or table.name in ("dossiers", "delivery_attempts"))
        and table.name not in _AGENCY_REGISTERS
    ]


def merge_registries(url: str, paths: Iterable[Path]) -> None:
    """Copy the shards' dossier rows into the registry at ``url``, shard after shard, each
    table's rows in the order written (a serial id is numbered again)."""
    connection = sqlite3.connect(make_url(url).database or "")
    try:
        for path in paths:
            connection.execute("ATTACH DATABASE ? AS shard", (str(path),))
            for table in merged_tables():
                columns = ", ".join(
                    f'"{c.name}"'
                    for c in table.columns
                    if not (c.primary_key and c.autoincrement is True)
                )
                connection.execute(
                    f'INSERT INTO main."{table.name}" ({columns}) '
                    f'SELECT {columns} FROM shard."{table.name}" ORDER BY rowid'
                )
            connection.commit()
            connection.execute("DETACH DATABASE shard")
    finally:
        connection.close()
