"""Abuse benches: brute force against tracking, a flood of submissions, a slowloris client.

Usage::

    .venv/bin/python -m bench.abuse [--seconds 20] [--attack all|brute-force|flood|slowloris]
        [--citizens 3] [--connections 200] [--json]

Everything is this machine's and goes away at the end: a Temporal dev server in memory, a SQLite
registry in a temporary directory, one ``worker.py`` and one ``python -m api`` process (the API
with its default limits, `api.limits`). Nothing is sent anywhere but 127.0.0.0/8.

Citizens and attackers are told apart by their address, as the API tells them apart: Linux
answers the whole of 127.0.0.0/8 on the loopback, so each honest citizen binds an address of its
own (127.<10 + phase>.<citizen>.<n>, a new one per dossier) and the attacker binds 127.0.0.2
(127.0.0.3 for the slowloris).

Each phase lasts ``--seconds``. In it ``--citizens`` honest citizens, one after another each,
submit a certified copy through the API and play its officers (approving each step as soon as
tracking shows it, with the receipt's secret and officers' tokens): every submission and every
decision is timed from the request to the moment tracking shows the dossier moved on (the next
step open, or the dossier closed). The first phase has no attack: its latencies are the
baseline; each attack phase runs the same citizens while the attack runs, and prints the
median and 90th percentile of its latencies as ratios to the baseline's, with what the attack
got: how many of its requests were answered, checked and refused (429), and whether any guess
opened a dossier.

- brute force: 16 concurrent guessers try phone digits on the dossier codes of the phase (the
  codes are sequential, so an attacker knows them) and on the codes next to them;
- flood: 16 concurrent submitters post valid dossiers as fast as they are answered;
- slowloris: ``--connections`` sockets each send a request line and then one header line every
  2 s, never finishing; counted are those the server closed (`api.protocol`: after 10 s).

Nothing here asserts a time: figures are ratios to the baseline of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from api.auth import issue_token
from bench.cluster import child_env, dev_server_command, free_port, narrator, wait_for_server
from engine.crypto import new_key_spec
from engine.settings import REPO_ROOT
from store.migrate import upgrade
from workflows.dossier import OFFICER_KINDS

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
DOCUMENT = "Bản chính giấy tờ, văn bản làm cơ sở để chứng thực bản sao"
TOKEN_SECRET = "bench-abuse-" + uuid.uuid4().hex
WEBHOOK_SECRET = "bench-abuse-webhook-" + uuid.uuid4().hex
ATTACKER = "127.0.0.2"
SLOW_ATTACKER = "127.0.0.3"
TERMINAL = ("returned", "refused", "withdrawn", "stopped")


class BenchError(RuntimeError):
    """The stack did not come up; the message names the log to read."""


say = narrator("abuse")


def client_from(address: str, base_url: str) -> httpx.AsyncClient:
    """An HTTP client whose connections leave from ``address``."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)


def body(document: str) -> dict[str, Any]:
    return {
        "procedure": "certified-copy",
        "applicant": {
            "full_name": "Công Dân Thử Nghiệm",
            "national_id": "001190099999",
            "phone": "0912 000 111",
            "email": "cong.dan@example.vn",
            "address": "Số 1 Phương Liên, Đống Đa, Hà Nội",
        },
        "documents": [document],
        "delivery": {"method": "desk"},
    }


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    submissions: list[float] = field(default_factory=list)  # seconds to the receipt
    moves: list[float] = field(default_factory=list)  # decision -> tracking moved on
    dossiers: list[str] = field(default_factory=list)
    attack: dict[str, Any] = field(default_factory=dict)


async def citizen(api: str, prefix: str, phase: Phase, until: float) -> None:
    """One honest citizen after another, each from an address of its own under ``prefix``:
    submit, then the officers decide until the dossier ends."""
    number = 0
    while time.monotonic() < until:
        number += 1
        async with client_from(f"{prefix}.{number % 250 + 1}", api) as client:
            upload = await client.post(
                "/api/v1/uploads",
                files={"file": ("a.pdf", PDF, "application/pdf")},
                data={"name": DOCUMENT},
            )
            if upload.status_code != 201:
                raise BenchError(f"an honest upload was refused: {upload.text}")
            started = time.monotonic()
            created = await client.post(
                "/api/v1/dossiers",
                json=body(upload.json()["id"]),
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            if created.status_code != 201:
                raise BenchError(f"an honest submission was refused: {created.text}")
            phase.submissions.append(time.monotonic() - started)
            code, secret = created.json()["dossier_code"], created.json()["tracking_secret"]
            phase.dossiers.append(code)
            await decide_to_the_end(client, code, {"X-Tracking-Secret": secret}, phase)


async def decide_to_the_end(
    client: httpx.AsyncClient, code: str, factor: dict[str, str], phase: Phase
) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = (await client.get(f"/api/v1/dossiers/{code}", headers=factor)).json()
        if view["status"] in TERMINAL:
            return
        steps = [s for s in view["open_steps"] if s["kind"] in {str(k) for k in OFFICER_KINDS}]
        if not steps:
            await asyncio.sleep(0.05)
            continue
        step = steps[0]
        token = issue_token(
            TOKEN_SECRET, agency=step["agency"], officer="bench", valid_for=timedelta(hours=1)
        )
        started = time.monotonic()
        decided = await client.post(
            f"/api/v1/agencies/{step['agency']}/steps/{code}/{step['key']}/decision",
            json={"action": "approve", "reason": "đủ điều kiện"},
            headers={"Authorization": f"Bearer {token}"},
        )
        if decided.status_code != 200:
            await asyncio.sleep(0.05)  # the registry had not caught up; tracking will say
            continue
        while time.monotonic() < deadline:
            after = (await client.get(f"/api/v1/dossiers/{code}", headers=factor)).json()
            if after["status"] in TERMINAL or step["key"] not in {
                s["key"] for s in after["open_steps"]
            }:
                phase.moves.append(time.monotonic() - started)
                break
            await asyncio.sleep(0.01)
    raise BenchError(f"{code} did not end within 120 s")


async def brute_force(api: str, phase: Phase, until: float) -> None:
    """Guess phone digits on the phase's dossier codes and their neighbours."""
    outcome: Counter[str] = Counter()
    opened: set[str] = set()

    async def guesser(n: int, client: httpx.AsyncClient) -> None:
        digits = n * 625
        while time.monotonic() < until:
            known = phase.dossiers or ["DONGDA-000000-0001"]
            code = known[digits % len(known)]
            if digits % 3 == 0:  # walk to the next code
                desk, day, number = code.rsplit("-", 2)
                code = f"{desk}-{day}-{int(number) + 1 + digits % 7:04d}"
            response = await client.get(
                f"/api/v1/dossiers/{code}", headers={"X-Phone-Last4": f"{digits % 10000:04d}"}
            )
            outcome[str(response.status_code)] += 1
            if response.status_code == 200:
                opened.add(code)
            if response.status_code == 429:
                await asyncio.sleep(0.01)
            digits += 1

    async with client_from(ATTACKER, api) as client:
        await asyncio.gather(*(guesser(n, client) for n in range(16)))
    phase.attack = {
        "requests": sum(outcome.values()),
        "by_status": dict(outcome),
        "checked_and_wrong": outcome["404"],
        "refused_429": outcome["429"],
        "dossiers_opened": len(opened),
    }


async def flood(api: str, phase: Phase, until: float) -> None:
    """Submit valid dossiers as fast as they are answered."""
    outcome: Counter[str] = Counter()
    async with client_from(ATTACKER, api) as client:
        upload = await client.post(
            "/api/v1/uploads",
            files={"file": ("a.pdf", PDF, "application/pdf")},
            data={"name": DOCUMENT},
        )
        document = upload.json().get("id", "none") if upload.status_code == 201 else "none"

        async def submitter() -> None:
            while time.monotonic() < until:
                response = await client.post(
                    "/api/v1/dossiers",
                    json=body(document),
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                outcome[str(response.status_code)] += 1
                if response.status_code == 429:
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(submitter() for _ in range(16)))
    phase.attack = {
        "requests": sum(outcome.values()),
        "by_status": dict(outcome),
        "accepted": outcome["201"],
        "refused_429": outcome["429"],
    }


async def slowloris(port: int, connections: int, phase: Phase, until: float) -> None:
    """Hold connections open with a request that never ends."""
    closed = 0
    opened = 0

    async def one(n: int) -> None:
        nonlocal closed, opened
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(SLOW_ATTACKER, 0)
            )
        except OSError:
            closed += 1
            return
        opened += 1
        try:
            writer.write(b"GET /api/v1/procedures HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            await writer.drain()
            while time.monotonic() < until:
                await asyncio.sleep(2)
                writer.write(f"X-Slow-{n}: {int(time.monotonic())}\r\n".encode())
                await writer.drain()
                if reader.at_eof():
                    closed += 1
                    return
        except (ConnectionError, OSError):
            closed += 1
        finally:
            writer.close()

    await asyncio.gather(*(one(n) for n in range(connections)))
    phase.attack = {
        "connections": connections,
        "opened": opened,
        "closed_by_server": closed,
        "held_to_the_end": opened - closed,
    }


async def run_phase(
    name: str, api: str, port: int, number: int, options: argparse.Namespace
) -> Phase:
    phase = Phase(name)
    until = time.monotonic() + options.seconds
    citizens = [
        citizen(api, f"127.{number + 10}.{n}", phase, until) for n in range(options.citizens)
    ]
    attacks = {
        "brute-force": lambda: brute_force(api, phase, until),
        "flood": lambda: flood(api, phase, until),
        "slowloris": lambda: slowloris(port, options.connections, phase, until),
    }
    work = [*citizens, *([attacks[name]()] if name in attacks else [])]
    await asyncio.gather(*work)
    return phase


def summary(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[max(0, int(len(ordered) * 0.9) - 1)] * 1000, 1),
    }


def ratios(phase: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for what in ("submission", "next_step"):
        mine, base = phase.get(what), baseline.get(what)
        for stat in ("median_ms", "p90_ms"):
            ok = mine and base and base[stat]
            out[f"{what}_{stat.removesuffix('_ms')}"] = (
                round(mine[stat] / base[stat], 2) if ok else None  # type: ignore[index]
            )
    return out


class Stack:
    """The dev server, a worker and the API, as subprocesses with logs in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: list[subprocess.Popen[bytes]] = []
        self.names: list[str] = []
        self.api_port = free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"

    def start(self, name: str, command: list[str], env: dict[str, str] | None) -> None:
        self.names.append(name)
        with (self.root / f"{name}.log").open("ab") as log:
            self.processes.append(
                subprocess.Popen(
                    command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )

    async def up(self) -> None:
        address = f"127.0.0.1:{free_port()}"
        self.start("temporal", dev_server_command(address), None)

        class Server:
            log = self.root / "temporal.log"
            alive = staticmethod(lambda: self.processes[0].poll() is None)

        await wait_for_server(Server(), address, BenchError)
        database = f"sqlite:///{self.root / 'registry.db'}"
        upgrade(database)
        env = child_env(self.root, database, address, new_key_spec("bench"))
        env.update(
            LIENTHONG_API_TOKEN_SECRET=TOKEN_SECRET,
            LIENTHONG_PAYMENT_WEBHOOK_SECRET=WEBHOOK_SECRET,
            LIENTHONG_LOG_LEVEL="warning",
        )
        self.start("worker", [sys.executable, "worker.py"], env)
        self.start("api", [sys.executable, "-m", "api", "--port", str(self.api_port)], env)
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                for name, process in zip(self.names, self.processes, strict=True):
                    if process.poll() is not None:
                        tail = (self.root / f"{name}.log").read_text(errors="replace")
                        raise BenchError(f"{name} exited:\n{tail[-2000:]}")
                try:
                    if (await client.get(f"{self.api}/api/v1/procedures")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
        raise BenchError(f"the API did not answer within 90 s; see {self.root / 'api.log'}")

    def down(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


async def run(options: argparse.Namespace) -> dict[str, Any]:
    attacks = ["brute-force", "flood", "slowloris"] if options.attack == "all" else [options.attack]
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as root:
        stack = Stack(Path(root))
        try:
            say("starting the dev server, a worker and the API")
            await stack.up()
            phases = []
            for number, name in enumerate(["baseline", *attacks], start=1):
                say(f"{name}: {options.seconds:g} s")
                phases.append(await run_phase(name, stack.api, stack.api_port, number, options))
        finally:
            stack.down()
    figures: dict[str, Any] = {}
    for phase in phases:
        figures[phase.name] = {
            "dossiers": len(phase.dossiers),
            "submission": summary(phase.submissions),
            "next_step": summary(phase.moves),
            **({"attack": phase.attack} if phase.attack else {}),
        }
    for name in attacks:
        figures[name]["ratio_to_baseline"] = ratios(figures[name], figures["baseline"])
    return {
        "seconds_per_phase": options.seconds,
        "citizens": options.citizens,
        "cpus": os.cpu_count(),
        "phases": figures,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['citizens']} honest citizens per phase, {result['seconds_per_phase']:g} s "
        f"per phase; latencies: median / p90 in ms (ratio to the baseline)"
    ]
    for name, phase in result["phases"].items():
        ratio = phase.get("ratio_to_baseline", {})

        def cell(what: str, phase: dict[str, Any] = phase, ratio: dict[str, Any] = ratio) -> str:
            figures = phase[what]
            if figures is None:
                return "—"
            text = f"{figures['median_ms']} / {figures['p90_ms']} (n={figures['count']})"
            if ratio:
                text += f" x{ratio[f'{what}_median']} / x{ratio[f'{what}_p90']}"
            return text

        lines.append(
            f"{name:<12} dossiers {phase['dossiers']:>3}  submission {cell('submission')}  "
            f"next step {cell('next_step')}"
        )
        if "attack" in phase:
            lines.append(f"{'':<12} attack: {json.dumps(phase['attack'], sort_keys=True)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.abuse", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument(
        "--attack", choices=("all", "brute-force", "flood", "slowloris"), default="all"
    )
    parser.add_argument("--citizens", type=int, default=3, help="honest citizens at a time")
    parser.add_argument("--connections", type=int, default=200, help="slowloris sockets")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(argv)
    if not (0 < options.seconds <= 600 and 0 < options.citizens <= 20):
        parser.error("--seconds must be in (0, 600] and --citizens in 1-20")
    if not 0 < options.connections <= 2000:
        parser.error("--connections must be 1-2000")
    try:
        result = asyncio.run(run(options))
    except BenchError as exc:
        print(f"python -m bench.abuse: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if options.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
