"""The deployment's moving parts, run for real where this machine allows it.

No Docker engine and no Kubernetes here, so:

- the namespace job's script (deploy/temporal/setup-namespace.sh, the very file docker compose
  and the Kubernetes Job run) runs with the real ``temporal`` CLI against the dev server;
- the demo certificates (deploy/tls/gen-certs.sh) are made with openssl and used for real mutual
  TLS: a TLS terminator in this test plays the frontend's ``requireClientAuth`` (the frontend's
  own TLS settings in the temporalio/server image are not run here) in front of the dev server,
  and the land office's worker runs with the environment of deploy/agency/docker-compose.yml;
- the manifests and the compose files are validated offline against the Kubernetes schemas and
  the Compose specification (deploy/check), and their wiring is compared with the code (task
  queues, ports, images, secrets).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    GetSystemInfoRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import worker
from api import __main__ as api_main
from domain.catalog import default_catalog
from engine import codec_server
from engine.names import (
    ORCHESTRATION_TASK_QUEUE,
    OUTSIDE_SYSTEMS,
    SEARCH_ATTRIBUTES,
    agency_task_queue,
    outside_task_queue,
)
from engine.temporal import connect_config, dev_server_path
from tests.deploy.test_compose import interpolate, secret_like

ROOT = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = ROOT / "deploy" / "temporal" / "setup-namespace.sh"
SCHEMA_SCRIPT = ROOT / "deploy" / "temporal" / "setup-schema.sh"
GEN_CERTS = ROOT / "deploy" / "tls" / "gen-certs.sh"
COMPOSE = ROOT / "docker-compose.yml"
AGENCY_COMPOSE = ROOT / "deploy" / "agency" / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
HELM_VALUES = ROOT / "deploy" / "helm" / "temporal-values.yaml"
LAND = "land-registration"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def agency_codes() -> list[str]:
    return sorted(agency.code for agency in default_catalog().agencies)


def type_name(key: Any) -> str:
    kind = key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
    return "".join(part.capitalize() for part in kind.split("_"))


# ---- certificates ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", str(GEN_CERTS), str(directory)], check=True, capture_output=True)
    return directory


def openssl(*args: str) -> str:
    result = subprocess.run(["openssl", *args], check=True, capture_output=True, text=True)
    return result.stdout


def test_every_certificate_chains_to_the_ca_and_the_frontend_has_its_names(certs: Path) -> None:
    pems = sorted(path.name for path in certs.glob("*.pem") if path.name != "ca.pem")
    expected = {"frontend.pem"} | {
        f"client-{name}.pem"
        for name in (
            *(f"worker-{code}" for code in agency_codes()),
            *(f"worker-outside-{system}" for system in OUTSIDE_SYSTEMS),
            "worker-orchestration",
            "api",
            "ui",
            "admin",
            "keda",
        )
    }
    assert set(pems) == expected
    for pem in pems:
        assert (certs / pem.replace(".pem", ".key")).exists(), pem
        assert openssl("verify", "-CAfile", str(certs / "ca.pem"), str(certs / pem)).strip() == (
            f"{certs / pem}: OK"
        )
    names = openssl("x509", "-in", str(certs / "frontend.pem"), "-noout", "-ext", "subjectAltName")
    for name in ("DNS:temporal", "DNS:localhost", "IP Address:127.0.0.1"):
        assert name in names, names
    usage = openssl(
        "x509", "-in", str(certs / "client-admin.pem"), "-noout", "-ext", "extendedKeyUsage"
    )
    assert "TLS Web Client Authentication" in usage and "Server" not in usage


def test_rerunning_gen_certs_rotates_the_certificates_and_keeps_the_ca(tmp_path: Path) -> None:
    subprocess.run(["sh", str(GEN_CERTS), str(tmp_path)], check=True, capture_output=True)

    def digest(name: str) -> str:
        return hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()

    ca, client = digest("ca.pem"), digest(f"client-worker-{LAND}.pem")
    subprocess.run(["sh", str(GEN_CERTS), str(tmp_path)], check=True, capture_output=True)
    assert digest("ca.pem") == ca, "rotation must keep the CA every party trusts"
    assert digest(f"client-worker-{LAND}.pem") != client, "rotation issues a new certificate"
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0, "the CA key is private"


def test_compose_secrets_are_files_gen_certs_makes(certs: Path) -> None:
    made = {path.name for path in certs.iterdir()}
    for compose_file, prefix in ((COMPOSE, "./deploy/tls/certs/"), (AGENCY_COMPOSE, "./certs/")):
        for name, secret in load_yaml(compose_file)["secrets"].items():
            path = secret["file"]
            assert path.startswith(prefix), f"{compose_file.name}: secret {name} from {path}"
            assert path.removeprefix(prefix) in made, f"gen-certs.sh makes no {path}"


# ---- a TLS terminator standing in for the frontend's requireClientAuth ------------------------


class MutualTlsTerminator:
    """Accepts TLS only from clients whose certificate the CA signed, then relays the bytes
    (HTTP/2, gRPC) to a plain-text Temporal frontend. Its own loop runs in a thread, so tests
    may block on subprocesses meanwhile."""

    def __init__(self, certs: Path, upstream: str) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certs / "ca.pem")
        self.context.load_cert_chain(certs / "frontend.pem", certs / "frontend.key")
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.set_alpn_protocols(["h2"])
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        # Stopped: end the open relays inside this loop, so none outlives it.
        server.close()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def __enter__(self) -> MutualTlsTerminator:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of our own: the namespaces these tests create stay out of ``dev_env``."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path()
    ) as environment:
        yield environment


@pytest.fixture(scope="module")
def frontend(certs: Path, dev_server: WorkflowEnvironment) -> Iterator[MutualTlsTerminator]:
    with MutualTlsTerminator(certs, dev_server.client.service_client.config.target_host) as tls:
        yield tls


def secret_files(
    spec: Mapping[str, Any], certs: Path, secrets: Mapping[str, Any]
) -> dict[str, str]:
    """/run/secrets/<target> -> the file compose would mount there (from ``certs``)."""
    mounted: dict[str, str] = {}
    for entry in spec.get("secrets") or []:
        source, target = entry["source"], entry.get("target", entry["source"])
        mounted[f"/run/secrets/{target}"] = str(certs / Path(secrets[source]["file"]).name)
    return mounted


def service_environment(
    compose_file: Path, service: str, certs: Path, values: Mapping[str, str]
) -> dict[str, str]:
    """A compose service's environment, interpolated, its /run/secrets paths made local."""
    data = load_yaml(compose_file)
    spec = data["services"][service]
    files = secret_files(spec, certs, data["secrets"])
    env: dict[str, str] = {}
    for key, value in (spec.get("environment") or {}).items():
        text = interpolate(str(value), values)
        env[str(key)] = files.get(text, text)
    return env


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any Temporal or project settings, plus ``extra``."""
    keep = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEMPORAL_", "LIENTHONG_")) and key != "DATABASE_URL"
    }
    return {**keep, **extra}


async def connect_with(env: Mapping[str, str]) -> Client:
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        config = connect_config()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    client = await Client.connect(**config)
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    return client


@pytest.fixture
def rogue_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A client certificate with the right name, signed by another CA (self-signed)."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(tmp_path / "rogue.key"), "-out", str(tmp_path / "rogue.pem"),
            "-subj", f"/CN=worker-{LAND}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return tmp_path / "rogue.pem", tmp_path / "rogue.key"


async def test_a_worker_dials_temporal_with_its_own_certificate_and_no_other_gets_in(
    certs: Path, frontend: MutualTlsTerminator, rogue_certificate: tuple[Path, Path]
) -> None:
    values = {"TEMPORAL_NAMESPACE": "default", "LIENTHONG_DATA_KEYS": "x", "POSTGRES_PASSWORD": "x"}
    env = service_environment(COMPOSE, f"worker-{LAND}", certs, values)
    temporal_env = {key: value for key, value in env.items() if key.startswith("TEMPORAL_")}
    assert temporal_env["TEMPORAL_TLS_CLIENT_CERT_PATH"].endswith(f"client-worker-{LAND}.pem")
    temporal_env["TEMPORAL_ADDRESS"] = frontend.address
    client = await connect_with(temporal_env)
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version

    no_certificate = {key: value for key, value in temporal_env.items() if "CLIENT" not in key}
    with pytest.raises(RuntimeError):
        await connect_with(no_certificate)

    # A certificate signed by another CA: the terminator refuses it as the frontend would.
    rogue = {
        **temporal_env,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(rogue_certificate[0]),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(rogue_certificate[1]),
    }
    with pytest.raises(RuntimeError):
        await connect_with(rogue)


# ---- the namespace job's script against the dev server -----------------------------------------


def run_setup(env: Mapping[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SETUP_SCRIPT)],
        env=clean_environ(TEMPORAL_CLI=dev_server_path(), **{**env, **extra}),
        capture_output=True,
        text=True,
        timeout=300,
    )


def setup_environment(certs: Path, frontend: MutualTlsTerminator, namespace: str) -> dict[str, str]:
    """The compose temporal-setup service's environment, pointed at the terminator."""
    env = service_environment(COMPOSE, "temporal-setup", certs, {"TEMPORAL_NAMESPACE": namespace})
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"].endswith("client-admin.pem")
    return {**env, "TEMPORAL_ADDRESS": frontend.address}


async def search_attributes(client: Client, namespace: str) -> dict[str, str]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {
        name: IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_")
        for name, kind in listed.custom_attributes.items()
    }


async def retention_hours(client: Client, namespace: str) -> float:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta().total_seconds() / 3600


@pytest.fixture(scope="module")
async def ops_namespace(
    certs: Path, frontend: MutualTlsTerminator, dev_server: WorkflowEnvironment
) -> str:
    """A namespace made by the setup script (admin certificate, through the terminator)."""
    namespace = f"lienthong-{uuid.uuid4().hex[:8]}"
    result = run_setup(setup_environment(certs, frontend, namespace))
    assert result.returncode == 0, result.stderr
    return namespace


async def test_setup_script_creates_the_namespace_retention_and_search_attributes(
    ops_namespace: str, dev_server: WorkflowEnvironment
) -> None:
    client = dev_server.client
    assert await retention_hours(client, ops_namespace) == 720
    expected = {
        key.name: key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
        for key in SEARCH_ATTRIBUTES
    }
    assert await search_attributes(client, ops_namespace) == expected


async def test_setup_script_is_safe_to_rerun_and_updates_the_retention(
    certs: Path, frontend: MutualTlsTerminator, dev_server: WorkflowEnvironment
) -> None:
    namespace = f"lienthong-{uuid.uuid4().hex[:8]}"
    env = setup_environment(certs, frontend, namespace)
    first = run_setup(env)
    assert first.returncode == 0, first.stderr
    again = run_setup(env, TEMPORAL_RETENTION="48h")
    assert again.returncode == 0, again.stderr
    assert f"namespace {namespace} exists; retention set to 48h" in again.stderr
    assert await retention_hours(dev_server.client, namespace) == 48
    assert len(await search_attributes(dev_server.client, namespace)) == len(SEARCH_ATTRIBUTES)


async def test_setup_script_fails_loudly_on_an_attribute_of_another_type(
    certs: Path, frontend: MutualTlsTerminator, dev_server: WorkflowEnvironment
) -> None:
    namespace = f"lienthong-{uuid.uuid4().hex[:8]}"
    client = dev_server.client
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    for _ in range(50):  # the new namespace reaches the frontend's cache
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={"Overdue": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
                )
            )
            break
        except Exception:
            await asyncio.sleep(0.2)
    result = run_setup(
        setup_environment(certs, frontend, namespace), SETUP_ATTEMPTS="2", SETUP_PAUSE_SECONDS="0"
    )
    assert result.returncode != 0
    assert "Overdue (Bool)" in result.stderr, result.stderr


def test_setup_script_cannot_reach_a_frontend_without_the_admin_certificate(
    certs: Path, frontend: MutualTlsTerminator
) -> None:
    env = setup_environment(certs, frontend, "never-created")
    env = {key: value for key, value in env.items() if "CLIENT" not in key}
    result = run_setup(env, SETUP_ATTEMPTS="2", SETUP_PAUSE_SECONDS="0")
    assert result.returncode != 0
    assert "is not serving" in result.stderr, result.stderr


def test_setup_script_lists_the_search_attributes_of_the_code() -> None:
    text = SETUP_SCRIPT.read_text(encoding="utf-8")
    block = re.search(r'SEARCH_ATTRIBUTES="\n(.*?)"\n', text, re.S)
    assert block, "setup-namespace.sh has no SEARCH_ATTRIBUTES block"
    listed = [tuple(line.split()) for line in block.group(1).splitlines() if line.strip()]
    assert sorted(listed) == sorted((key.name, type_name(key)) for key in SEARCH_ATTRIBUTES)


def test_schema_script_sets_up_both_stores_with_temporal_sql_tool() -> None:
    # temporal-sql-tool is not on this machine: the script's commands are checked, not run.
    text = SCHEMA_SCRIPT.read_text(encoding="utf-8")
    assert "temporal-sql-tool --plugin postgres12" in text
    for line in ('setup "${TEMPORAL_DB:-temporal}" temporal',
                 'setup "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}" visibility'):  # fmt: skip
        assert line in text
    for step in ("create", "setup-schema -v 0.0", 'update-schema -d "$SCHEMA_DIR/$2/versioned"'):
        assert step in text
    subprocess.run(["sh", "-n", str(SCHEMA_SCRIPT)], check=True)
    subprocess.run(["sh", "-n", str(SETUP_SCRIPT)], check=True)


# ---- the land office's worker, from the land office's side -------------------------------------


async def test_land_office_worker_polls_its_queue_with_only_its_own_certificate(
    certs: Path,
    frontend: MutualTlsTerminator,
    ops_namespace: str,
    dev_server: WorkflowEnvironment,
    pg_url: str,
) -> None:
    spec = load_yaml(AGENCY_COMPOSE)
    assert list(spec["services"]) == [f"worker-{LAND}"], "the land office runs one service"
    values = {
        "TEMPORAL_ADDRESS": frontend.address,
        "TEMPORAL_NAMESPACE": ops_namespace,
        "DATABASE_URL": pg_url,
        "LIENTHONG_DATA_KEYS": os.environ["LIENTHONG_DATA_KEYS"],
    }
    env = service_environment(AGENCY_COMPOSE, f"worker-{LAND}", certs, values)
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"] == str(certs / f"client-worker-{LAND}.pem")
    argv = [str(part) for part in spec["services"][f"worker-{LAND}"]["command"]]
    assert argv[:2] == ["python", "worker.py"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv[1:],
        cwd=ROOT,
        env=clean_environ(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        pollers: list[str] = []
        for _ in range(150):
            described = await dev_server.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=ops_namespace,
                    task_queue=TaskQueue(name=agency_task_queue(LAND)),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                )
            )
            pollers = [poller.identity for poller in described.pollers]
            if pollers or process.returncode is not None:
                break
            await asyncio.sleep(0.2)
        assert pollers, f"the land office's worker never polled (exit {process.returncode})"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        raw, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    output = raw.decode()
    assert process.returncode == 0, output
    assert "worker_started" in output and agency_task_queue(LAND) in output


def test_land_office_compose_names_no_province_service_and_inlines_no_secret() -> None:
    spec = load_yaml(AGENCY_COMPOSE)["services"][f"worker-{LAND}"]
    assert "depends_on" not in spec and "ports" not in spec, "nothing of the province runs here"
    env = {str(key): str(value) for key, value in spec["environment"].items()}
    for key, value in env.items():
        if secret_like(key) or key in ("TEMPORAL_ADDRESS", "DATABASE_URL"):
            assert re.fullmatch(r"\$\{([A-Z_]+):\?[^}]*\}", value), f"{key}: {value!r}"
            with pytest.raises(LookupError, match=key):
                interpolate(value, env={})
    args = worker.parse_args([str(part) for part in spec["command"][2:]])
    assert args.agency == [LAND] and not args.orchestration


# ---- Kubernetes --------------------------------------------------------------------------------


def manifests() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return documents


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def containers(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def test_deploy_check_validates_the_manifests_offline_and_rejects_a_bad_one(tmp_path: Path) -> None:
    env = clean_environ(PYTHON=sys.executable)
    result = subprocess.run(
        [str(ROOT / "deploy" / "check")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 compose file(s) valid against the Compose specification" in result.stdout
    assert "valid against Kubernetes" in result.stdout
    broken = tmp_path / "broken.yaml"
    worker_doc = of_kind("Deployment")[f"worker-{LAND}"]
    worker_doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"  # typo
    broken.write_text(yaml.safe_dump(worker_doc), encoding="utf-8")
    result = subprocess.run(
        [str(ROOT / "deploy" / "check"), str(broken)], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "imagePullPolcy" in result.stdout + result.stderr


def test_deploy_check_validates_the_compose_files_against_the_compose_spec(tmp_path: Path) -> None:
    env = clean_environ(PYTHON=sys.executable)
    broken = tmp_path / "docker-compose.yml"
    text = AGENCY_COMPOSE.read_text(encoding="utf-8")
    broken.write_text(text.replace("stop_grace_period:", "stop_grace_priod:"), encoding="utf-8")
    result = subprocess.run(
        [str(ROOT / "deploy" / "check"), str(broken)], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "stop_grace_priod" in result.stdout + result.stderr


def test_generated_manifests_are_up_to_date() -> None:
    sys.path.insert(0, str(K8S))
    try:
        import render  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(K8S))
    for name in render.documents():
        assert (K8S / name).read_text(encoding="utf-8") == render.render(name), (
            f"deploy/k8s/{name} is stale: run python deploy/k8s/render.py"
        )


def test_one_worker_deployment_per_task_queue_each_with_its_certificate_and_scaler() -> None:
    deployments = of_kind("Deployment")
    scalers = of_kind("ScaledObject")
    queues = (
        {"worker-orchestration": ORCHESTRATION_TASK_QUEUE}
        | {f"worker-{code}": agency_task_queue(code) for code in agency_codes()}
        | {f"worker-outside-{system}": outside_task_queue(system) for system in OUTSIDE_SYSTEMS}
    )
    workers = {name: doc for name, doc in deployments.items() if name.startswith("worker-")}
    assert set(workers) == set(queues)
    for name, doc in workers.items():
        (container,) = containers(doc)
        args = worker.parse_args(container["command"][2:])
        served = [agency_task_queue(code) for code in args.agency or []]
        served += [outside_task_queue(system) for system in args.outside or []]
        if args.orchestration:
            served.append(ORCHESTRATION_TASK_QUEUE)
        assert served == [queues[name]], f"{name} serves {served}"
        assert doc["metadata"]["annotations"]["lienthong.gov.vn/task-queue"] == queues[name]
        volumes = {v["name"]: v for v in doc["spec"]["template"]["spec"]["volumes"]}
        assert volumes["temporal-tls"]["secret"]["secretName"] == f"temporal-client-{name}"
        assert "replicas" not in doc["spec"], f"{name}: KEDA owns the replica count"
        trigger = scalers[name]["spec"]["triggers"][0]
        assert scalers[name]["spec"]["scaleTargetRef"]["name"] == name
        assert trigger["type"] == "temporal"
        assert trigger["metadata"]["taskQueue"] == queues[name]
        kind = "workflow" if name == "worker-orchestration" else "activity"
        assert trigger["metadata"]["queueTypes"] == kind
        assert scalers[name]["spec"]["minReplicaCount"] >= 1
    auth = of_kind("TriggerAuthentication")["temporal-keda"]
    assert {ref["name"] for ref in auth["spec"]["secretTargetRef"]} == {"temporal-client-keda"}


def test_every_image_is_pinned_and_temporal_matches_compose() -> None:
    compose = load_yaml(COMPOSE)["services"]
    values = load_yaml(HELM_VALUES)
    images = [
        c["image"] for d in manifests() if d["kind"] in ("Deployment", "Job") for c in containers(d)
    ]
    for image in images:
        repository, _, tag = image.rpartition(":")
        assert repository and re.match(r"^\d+\.\d+\.\d+$", tag), f"{image} is not pinned"
    assert f"temporalio/server:{values['server']['image']['tag']}" == compose["temporal"]["image"]
    admin = f"temporalio/admin-tools:{values['admintools']['image']['tag']}"
    assert admin == compose["temporal-setup"]["image"] == compose["temporal-schema"]["image"]
    assert admin in images, "the k8s setup Job runs the same admin-tools release"
    assert f"temporalio/ui:{values['web']['image']['tag']}" == compose["temporal-ui"]["image"]
    assert {image for image in images if image.startswith("lienthong:")} == {
        compose["migrate"]["image"]
    }


def test_secrets_are_referenced_never_written_in_manifests() -> None:
    assert not of_kind("Secret"), "Secrets come from the platform's store, not from this repo"
    for doc in manifests():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in containers(doc):
            for variable in container.get("env") or []:
                if secret_like(variable["name"]):
                    assert "valueFrom" in variable and "value" not in variable, (
                        f"{doc['metadata']['name']}: {variable['name']} must come from a Secret"
                    )
    config = of_kind("ConfigMap")["lienthong-config"]["data"]
    assert not [key for key in config if secret_like(key)], config


def test_the_setup_job_runs_the_compose_script_in_the_namespace_the_engine_uses() -> None:
    script = of_kind("ConfigMap")["temporal-setup-script"]["data"]["setup-namespace.sh"]
    assert script == SETUP_SCRIPT.read_text(encoding="utf-8")
    (container,) = containers(of_kind("Job")["temporal-setup"])
    env = {v["name"]: v["value"] for v in container["env"]}
    config = of_kind("ConfigMap")["lienthong-config"]["data"]
    assert env["TEMPORAL_NAMESPACE"] == config["TEMPORAL_NAMESPACE"]
    assert env["TEMPORAL_ADDRESS"] == config["TEMPORAL_ADDRESS"]
    values = load_yaml(HELM_VALUES)
    ui_env = {v["name"]: v["value"] for v in values["web"]["additionalEnv"]}
    assert ui_env["TEMPORAL_DEFAULT_NAMESPACE"] == config["TEMPORAL_NAMESPACE"]
    host = values["server"]["tls"]["frontend"]["serverName"]
    assert config["TEMPORAL_TLS_SERVER_NAME"] == host == env["TEMPORAL_TLS_SERVER_NAME"]
    assert config["TEMPORAL_ADDRESS"].split(":")[0] == host


def test_services_and_probes_agree_with_the_processes_ports() -> None:
    services = of_kind("Service")
    parsers: list[tuple[str, Callable[[list[str]], argparse.Namespace]]] = [
        ("api", lambda argv: api_main.build_parser().parse_args(argv[3:])),
        ("codec-server", lambda argv: codec_server.parse_args(argv[3:])),
    ]
    for name, parse in parsers:
        (container,) = containers(of_kind("Deployment")[name])
        args = parse(container["command"])
        assert args.host == "0.0.0.0"
        assert [p["containerPort"] for p in container["ports"]] == [args.port]
        assert container["readinessProbe"]["httpGet"]["port"] == args.port
        assert [p["targetPort"] for p in services[name]["spec"]["ports"]] == [args.port]
        selector = services[name]["spec"]["selector"]
        labels = of_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()


def test_migrations_run_as_a_job() -> None:
    jobs = [doc for name, doc in of_kind("Job").items() if name.startswith("migrate")]
    assert len(jobs) == 1
    (container,) = containers(jobs[0])
    assert container["command"] == ["python", "starter.py", "db", "upgrade"]


def test_helm_values_use_postgresql_tls_and_a_read_only_ui_behind_sign_in() -> None:
    values = load_yaml(HELM_VALUES)
    persistence = values["server"]["config"]["persistence"]
    for store in ("default", "visibility"):
        sql = persistence["datastores"][store]["sql"]
        assert sql["pluginName"] == "postgres12"
        assert "password" not in sql and sql["existingSecret"]
    assert persistence["numHistoryShards"] == int(
        interpolate(load_yaml(COMPOSE)["services"]["temporal"]["environment"]["NUM_HISTORY_SHARDS"])
    ), "compose and the cluster must agree: the shard count never changes after the first start"
    assert values["server"]["tls"]["frontend"]["requireClientAuth"] is True
    ui_env = {v["name"]: v["value"] for v in values["web"]["additionalEnv"]}
    compose_ui = load_yaml(COMPOSE)["services"]["temporal-ui"]["environment"]
    for key, value in compose_ui.items():
        if key.endswith("_DISABLED") or key.startswith("TEMPORAL_DISABLE"):
            assert ui_env.get(key) == value == "true", key
    assert ui_env["TEMPORAL_AUTH_ENABLED"] == "true"
    assert "TEMPORAL_AUTH_CLIENT_SECRET" not in ui_env, "from the Secret temporal-ui-oidc"
    codec = containers(of_kind("Deployment")["codec-server"])[0]
    origins = {v["name"]: v.get("value") for v in codec["env"]}["LIENTHONG_CODEC_CORS_ORIGINS"]
    callback = ui_env["TEMPORAL_AUTH_CALLBACK_URL"]
    assert callback.startswith(origins + "/"), "the codec server must allow the UI's origin"
