"""docker-compose.yml, Dockerfile and .dockerignore checked against the code, without Docker.

Nothing here starts a container: the files are parsed and compared with what the code says
(agencies of the catalog, settings, search attributes, worker and starter command lines), so a
change on either side that breaks the deployment fails here first.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

import starter
import worker
from api import __main__ as api_main
from domain.catalog import default_catalog
from engine import codec_server
from engine.names import OUTSIDE_SYSTEMS
from engine.settings import ENV_PREFIX, Settings, normalise_database_url

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# What a deployment must set (compose interpolation): the secrets without a default.
FAKE_ENV = {
    "POSTGRES_PASSWORD": "s3cret",
    "LIENTHONG_CODEC_TOKEN": "codec-token-0123456789abcdef",
    "LIENTHONG_API_TOKEN_SECRET": "api-secret-0123456789abcdef",
    "LIENTHONG_PAYMENT_WEBHOOK_SECRET": "webhook-secret-0123456789abcdef",
    "LIENTHONG_DATA_KEYS": "k1:" + "A" * 43 + "=",
    "TEMPORAL_AUTH_PROVIDER_URL": "https://sso.example.vn/realms/lienthong",
    "TEMPORAL_AUTH_CLIENT_ID": "temporal-ui",
    "TEMPORAL_AUTH_CLIENT_SECRET": "oidc-secret-0123456789abcdef",
}

INFRASTRUCTURE = {"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui"}
ONE_SHOTS = {"temporal-schema", "temporal-setup", "migrate", "outside-relays"}
# Every process that dials Temporal, and the name of the client certificate it presents.
TEMPORAL_CLIENTS = {"temporal-setup": "admin", "temporal-ui": "ui", "api": "api"}
# Variable names that hold a secret (a password, token, key or key list, not a path or an id).
_SECRET_NAME = re.compile(r"(PASSWORD|_PWD|SECRET|TOKEN|DATA_KEYS)$")


def secret_like(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret."""
    return bool(_SECRET_NAME.search(name))


ORCHESTRATION_WORKER = "worker-orchestration"
CODEC_SERVER = "codec-server"
API = "api"


# ---- helpers -----------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def service(name: str) -> dict[str, Any]:
    assert name in services(), f"docker-compose.yml has no service {name!r}"
    return services()[name]


def agency_codes() -> list[str]:
    return sorted(agency.code for agency in default_catalog().agencies)


def worker_service_name(code: str) -> str:
    return f"worker-{code}"


def project_image() -> str:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    return f"lienthong:{version}"


def project_services() -> dict[str, dict[str, Any]]:
    """The services that run this project's image (migrate and the workers)."""
    return {name: spec for name, spec in services().items() if "build" in spec}


def registry_services() -> dict[str, dict[str, Any]]:
    """The project's services that use the registry (all but the codec server)."""
    return {name: spec for name, spec in project_services().items() if name != CODEC_SERVER}


def worker_services() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services().items() if name.startswith("worker-")}


_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, env: Mapping[str, str] = FAKE_ENV) -> str:
    """Compose's variable interpolation: ${X}, ${X:-default}, ${X-default}, ${X:?error}, $$."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op is not None and op.endswith("?") and unset:
            raise LookupError(f"required variable {name} is not set: {arg}")
        if op is not None and op.endswith("-") and unset:
            return arg
        return value or ""

    return _VARIABLE.sub(substitute, text)


def environment(spec: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whether written as a mapping or a KEY=VALUE list."""
    raw = spec.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in raw)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def command(spec: Mapping[str, Any]) -> list[str]:
    raw = spec.get("command")
    assert isinstance(raw, list), f"use the exec form (a list) for command, not {raw!r}"
    return [str(part) for part in raw]


def depends_on(spec: Mapping[str, Any]) -> dict[str, str]:
    raw = spec.get("depends_on") or {}
    assert isinstance(raw, dict), "depends_on must use the long form with a condition"
    return {name: entry.get("condition", "service_started") for name, entry in raw.items()}


def seconds(duration: str | int) -> float:
    """A compose duration (``45s``, ``1m30s``) in seconds."""
    if isinstance(duration, int):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def published_ports(spec: Mapping[str, Any]) -> dict[int, int]:
    """Container port -> host port of a service's ``ports``."""
    published: dict[int, int] = {}
    for entry in spec.get("ports") or []:
        if isinstance(entry, dict):
            published[int(entry["target"])] = int(interpolate(str(entry["published"])))
            continue
        fields = interpolate(str(entry)).split("/")[0].rsplit(":", 2)
        assert len(fields) >= 2, f"port {entry!r} is not published on the host"
        published[int(fields[-1])] = int(fields[-2])
    return published


def healthcheck_text(spec: Mapping[str, Any]) -> str:
    test = (spec.get("healthcheck") or {}).get("test")
    assert test, "no healthcheck"
    return " ".join(test) if isinstance(test, list) else str(test)


# ---- services ----------------------------------------------------------------------------------


def test_every_service_exists() -> None:
    expected = (
        INFRASTRUCTURE
        | {"migrate", ORCHESTRATION_WORKER, CODEC_SERVER, API}
        | {worker_service_name(code) for code in agency_codes()}
    )
    missing = sorted(expected - services().keys())
    assert not missing, f"docker-compose.yml lacks the services {missing}"


def test_one_worker_service_per_agency_of_the_catalog() -> None:
    codes = agency_codes()
    outside = {f"worker-outside-{system}" for system in OUTSIDE_SYSTEMS}
    wanted = {worker_service_name(code) for code in codes} | {ORCHESTRATION_WORKER} | outside
    present = set(worker_services())
    missing = sorted(wanted - present)
    stale = sorted(present - wanted)
    assert ORCHESTRATION_WORKER in present, f"no {ORCHESTRATION_WORKER} service"
    unserved = [code for code in codes if worker_service_name(code) in missing]
    assert not unserved, (
        f"catalog/agencies.yaml has agencies without a worker service: {unserved}; add e.g.\n"
        f"  {worker_service_name(unserved[0])}:\n    <<: *worker\n"
        f'    command: ["python", "worker.py", "--agency", "{unserved[0]}"]'
    )
    assert not stale, f"worker services for agencies no longer in the catalog: {stale}"


@pytest.mark.parametrize("code", agency_codes())
def test_agency_worker_serves_its_agency(code: str) -> None:
    argv = command(service(worker_service_name(code)))
    assert argv[:2] == ["python", "worker.py"], argv
    # The real parser: the code must be one of its --agency choices (the catalog's codes).
    args = worker.parse_args(argv[2:])
    assert args.agency == [code]
    assert not args.orchestration


@pytest.mark.parametrize("system", OUTSIDE_SYSTEMS)
def test_outside_system_worker_serves_only_its_queue(system: str) -> None:
    argv = command(service(f"worker-outside-{system}"))
    args = worker.parse_args(argv[2:])
    assert argv[:2] == ["python", "worker.py"] and args.outside == [system]
    assert not args.agency and not args.orchestration


def test_orchestration_worker_serves_only_the_workflows() -> None:
    argv = command(service(ORCHESTRATION_WORKER))
    assert argv[:2] == ["python", "worker.py"], argv
    args = worker.parse_args(argv[2:])
    assert args.orchestration
    assert not args.agency


def test_the_relays_job_starts_every_outside_systems_relay() -> None:
    argv = command(service("outside-relays"))
    assert argv[:2] == ["python", "starter.py"], argv
    assert starter.build_parser().parse_args(argv[2:]).handler is starter.cmd_outside_relays


def test_migrate_applies_the_migrations() -> None:
    argv = command(service("migrate"))
    assert argv[:2] == ["python", "starter.py"], argv
    args = starter.build_parser().parse_args(argv[2:])
    assert args.handler is starter.cmd_db_upgrade


# ---- images ------------------------------------------------------------------------------------


_EXACT_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?([-.+_][0-9A-Za-z.+_-]+)?$")


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, spec in services().items():
        image = spec.get("image")
        assert image, f"service {name} has no image"
        assert "$" not in image, f"service {name}: image {image!r} must not come from a variable"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"service {name}: image {image!r} has no tag"
        assert tag != "latest" and _EXACT_TAG.match(tag), (
            f"service {name}: image {image!r} is not pinned to an exact version"
        )


def test_temporal_images_are_of_one_release_and_none_is_deprecated() -> None:
    images = [spec["image"] for spec in services().values()]
    assert not [image for image in images if image.startswith("temporalio/auto-setup")], (
        "temporalio/auto-setup is deprecated: temporalio/server plus the temporal-schema job"
    )
    server = service("temporal")["image"]
    assert server.startswith("temporalio/server:")
    assert service("temporal-ui")["image"].startswith("temporalio/ui:")
    server_version = server.rpartition(":")[2]
    for job in ("temporal-schema", "temporal-setup"):
        tools = service(job)["image"]
        assert tools.startswith("temporalio/admin-tools:"), job
        tools_version = tools.rpartition(":")[2]
        assert tools_version == server_version or tools_version.startswith(server_version + "-"), (
            f"{job}: admin-tools {tools_version} does not match the server {server_version}"
        )


def test_project_services_build_the_project_image() -> None:
    expected = {"migrate", "outside-relays", CODEC_SERVER, API} | set(worker_services())
    assert set(project_services()) == expected
    for name, spec in project_services().items():
        assert spec["build"] in (".", {"context": "."}), f"service {name} builds {spec['build']}"
        assert spec["image"] == project_image(), (
            f"service {name}: image {spec['image']} should be {project_image()} "
            "(the version of pyproject.toml)"
        )


# ---- environment -------------------------------------------------------------------------------


def project_variables() -> set[str]:
    """Every variable the project's processes read (engine/settings.py, engine/temporal.py)."""
    names = {ENV_PREFIX + field.upper() for field in Settings.model_fields}
    # The SDK's environment configuration (engine/temporal.py connect_config), TLS included.
    temporal = {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        "TEMPORAL_TLS_SERVER_NAME",
    }
    return names | {"DATABASE_URL"} | temporal


def test_project_services_get_only_variables_the_project_reads() -> None:
    known = project_variables()
    for name, spec in project_services().items():
        unknown = sorted(environment(spec).keys() - known)
        assert not unknown, f"service {name}: the project reads no variable {unknown}"


def test_project_services_get_their_settings() -> None:
    for name, spec in project_services().items():
        env = environment(spec)
        if name == CODEC_SERVER:  # needs the keys, never the registry's password
            assert "DATABASE_URL" not in env, f"service {name} gets no DATABASE_URL"
        else:
            assert "DATABASE_URL" in env, f"service {name} has no DATABASE_URL"
        assert env.get("LIENTHONG_LOG_FORMAT") == "json", f"service {name}: log as JSON"
        # Every value must pass the settings' own validation.
        Settings.model_validate(
            {
                key.removeprefix(ENV_PREFIX).lower(): interpolate(value)
                for key, value in env.items()
                if key.startswith(ENV_PREFIX)
            }
        )
    for name, spec in worker_services().items():
        env = environment(spec)
        assert env.get("TEMPORAL_ADDRESS") == "temporal:7233", f"service {name}"
        assert "TEMPORAL_NAMESPACE" in env, f"service {name}"


def test_database_url_reaches_the_postgresql_service() -> None:
    database = {
        key: interpolate(value) for key, value in environment(service("postgresql")).items()
    }
    for name, spec in registry_services().items():
        url = make_url(normalise_database_url(interpolate(environment(spec)["DATABASE_URL"])))
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port) == ("postgresql", 5432), f"service {name}: {url}"
        assert url.database == database["POSTGRES_DB"], f"service {name}"
        assert url.username == database["POSTGRES_USER"], f"service {name}"
        assert url.password == database["POSTGRES_PASSWORD"] == FAKE_ENV["POSTGRES_PASSWORD"]


def test_temporal_uses_the_postgresql_service() -> None:
    database = {
        key: interpolate(value) for key, value in environment(service("postgresql")).items()
    }
    env = {key: interpolate(value) for key, value in environment(service("temporal")).items()}
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_USER"] == database["POSTGRES_USER"]
    assert env["POSTGRES_PWD"] == database["POSTGRES_PASSWORD"]
    # The schema job prepares the databases the server then opens.
    schema = {
        key: interpolate(value) for key, value in environment(service("temporal-schema")).items()
    }
    assert (schema["POSTGRES_SEEDS"], schema["DB_PORT"]) == (env["POSTGRES_SEEDS"], env["DB_PORT"])
    assert schema["POSTGRES_USER"] == env["POSTGRES_USER"]
    assert schema["SQL_PASSWORD"] == env["POSTGRES_PWD"]


def test_the_database_password_is_required() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{POSTGRES_PASSWORD([^}]*)\}", text)
    assert uses, "POSTGRES_PASSWORD is never used"
    assert all(use.startswith(":?") for use in uses), (
        "a secret gets no default: write ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    )
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        interpolate(environment(service("postgresql"))["POSTGRES_PASSWORD"], env={})


def test_every_project_service_gets_the_same_data_keys() -> None:
    # Payloads a worker encrypts must decrypt in every other worker and in the codec server.
    for variable in ("LIENTHONG_DATA_KEYS", "LIENTHONG_DATA_KEY_ID"):
        expressions = {
            name: environment(spec).get(variable) for name, spec in project_services().items()
        }
        assert len(set(expressions.values())) == 1 and None not in expressions.values(), (
            f"{variable} differs between services: {expressions}"
        )
        keys = {"LIENTHONG_DATA_KEYS": "k1:" + "A" * 43 + "=", "LIENTHONG_DATA_KEY_ID": "k1"}
        assert interpolate(expressions[CODEC_SERVER] or "", {**FAKE_ENV, **keys}) == keys[variable]
    # Production shape: the keys are required, never the demo's generated key file.
    with pytest.raises(LookupError, match="LIENTHONG_DATA_KEYS"):
        interpolate(environment(service(CODEC_SERVER))["LIENTHONG_DATA_KEYS"], env={})


def test_workers_the_api_and_the_ui_use_the_namespace_the_setup_job_creates() -> None:
    namespace = environment(service("temporal-setup"))["TEMPORAL_NAMESPACE"]
    for name, spec in {**worker_services(), API: service(API)}.items():
        assert environment(spec)["TEMPORAL_NAMESPACE"] == namespace, f"service {name}"
    assert environment(service("temporal-ui"))["TEMPORAL_DEFAULT_NAMESPACE"] == namespace


def test_setup_job_runs_the_namespace_script() -> None:
    spec = service("temporal-setup")
    assert spec["entrypoint"] == ["/bin/sh", "/deploy/temporal/setup-namespace.sh"]
    assert "./deploy/temporal:/deploy/temporal:ro" in spec["volumes"]
    assert (ROOT / "deploy" / "temporal" / "setup-namespace.sh").is_file()
    schema = service("temporal-schema")
    assert schema["entrypoint"] == ["/bin/sh", "/deploy/temporal/setup-schema.sh"]
    assert "./deploy/temporal:/deploy/temporal:ro" in schema["volumes"]


# ---- start order, health, restarts -------------------------------------------------------------


def test_depends_on_conditions() -> None:
    healthy, done = "service_healthy", "service_completed_successfully"
    expected = {
        "temporal-schema": {"postgresql": healthy},
        "temporal": {"postgresql": healthy, "temporal-schema": done},
        "temporal-setup": {"temporal": healthy},
        "temporal-ui": {"temporal": healthy, "temporal-setup": done},
        "migrate": {"postgresql": healthy},
    }
    for name, wanted in expected.items():
        assert depends_on(service(name)) == wanted, f"service {name}"
    for name, spec in worker_services().items():
        assert depends_on(spec) == {"temporal": healthy, "temporal-setup": done, "migrate": done}, (
            f"service {name} must wait for temporal healthy, temporal-setup and migrate done"
        )
    for name, spec in services().items():
        dangling = sorted(depends_on(spec).keys() - services().keys())
        assert not dangling, f"service {name} depends on unknown services {dangling}"


def test_health_checks() -> None:
    assert "pg_isready" in healthcheck_text(service("postgresql"))
    # The frontend's port answers; the namespace being ready is temporal-setup's job.
    assert healthcheck_text(service("temporal")) == "CMD nc -z localhost 7233"
    assert environment(service("temporal"))["BIND_ON_IP"] == "0.0.0.0"


def test_ports_published() -> None:
    assert published_ports(service("temporal")).get(7233) == 7233
    assert published_ports(service("temporal-ui")).get(8080) == 8080
    assert environment(service("temporal-ui"))["TEMPORAL_ADDRESS"] == "temporal:7233"
    for name in (API, "temporal-setup", *worker_services()):
        assert environment(service(name))["TEMPORAL_ADDRESS"] == "temporal:7233", name


# ---- codec server ------------------------------------------------------------------------------


def test_codec_server_listens_on_its_published_port() -> None:
    spec = service(CODEC_SERVER)
    argv = command(spec)
    assert argv[:3] == ["python", "-m", "engine.codec_server"], argv
    args = codec_server.parse_args(argv[3:])
    assert args.host == "0.0.0.0", "inside the container it must listen beyond loopback"
    assert args.port in published_ports(spec), f"port {args.port} is not published"
    assert f":{args.port}/health" in healthcheck_text(spec)


def test_the_ui_calls_the_codec_server_from_an_allowed_origin() -> None:
    ui = {key: interpolate(value) for key, value in environment(service("temporal-ui")).items()}
    codec = {key: interpolate(value) for key, value in environment(service(CODEC_SERVER)).items()}
    endpoint = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"])
    args = codec_server.parse_args(command(service(CODEC_SERVER))[3:])
    # The browser calls the endpoint: a host name it resolves and the port published for it.
    assert endpoint.hostname in ("localhost", "127.0.0.1"), endpoint
    assert endpoint.port == published_ports(service(CODEC_SERVER))[args.port]
    # ...with its sign-in cookie, from the UI's page, which the codec server allows.
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    origins = Settings.model_validate(
        {"codec_cors_origins": codec["LIENTHONG_CODEC_CORS_ORIGINS"]}
    ).codec_cors_origin_list
    ui_port = published_ports(service("temporal-ui"))[8080]
    assert f"http://{endpoint.hostname}:{ui_port}" in origins, (
        "the cookie is SameSite=Strict: the UI must be allowed on the endpoint's host name"
    )


def test_the_api_listens_on_its_published_port_and_needs_temporal_and_the_registry() -> None:
    spec = service(API)
    argv = command(spec)
    assert argv[:3] == ["python", "-m", "api"], argv
    args = api_main.build_parser().parse_args(argv[3:])
    assert args.host == "0.0.0.0", "inside the container it must listen beyond loopback"
    assert args.port in published_ports(spec), f"port {args.port} is not published"
    assert f":{args.port}/openapi.json" in healthcheck_text(spec)
    assert environment(spec)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert depends_on(spec) == {
        "temporal": "service_healthy",
        "temporal-setup": "service_completed_successfully",
        "migrate": "service_completed_successfully",
    }


@pytest.mark.parametrize(
    "secret", ["LIENTHONG_API_TOKEN_SECRET", "LIENTHONG_PAYMENT_WEBHOOK_SECRET"]
)
def test_the_api_secrets_are_required(secret: str) -> None:
    expression = environment(service(API))[secret]
    assert expression.startswith(f"${{{secret}:?"), expression
    with pytest.raises(LookupError, match=secret):
        interpolate(expression, env={})


def test_the_codec_token_is_required() -> None:
    expression = environment(service(CODEC_SERVER))["LIENTHONG_CODEC_TOKEN"]
    assert expression.startswith("${LIENTHONG_CODEC_TOKEN:?"), expression
    with pytest.raises(LookupError, match="LIENTHONG_CODEC_TOKEN"):
        interpolate(expression, env={})


def test_restart_policies() -> None:
    for name in ONE_SHOTS:
        assert service(name).get("restart") in (None, "no"), f"one-shot {name} must not restart"
    for name, spec in services().items():
        if name not in ONE_SHOTS:
            assert spec.get("restart") == "unless-stopped", f"service {name}"


def test_workers_stop_gracefully() -> None:
    grace = worker.parse_args([]).grace
    for name, spec in worker_services().items():
        assert spec.get("stop_signal", "SIGTERM") == "SIGTERM", f"service {name}"
        assert "stop_grace_period" in spec, f"service {name} has no stop_grace_period"
        assert seconds(spec["stop_grace_period"]) > grace, (
            f"service {name}: compose would kill it before worker.py's {grace} s grace ends"
        )


# ---- Temporal setup ----------------------------------------------------------------------------


# ---- TLS, secrets, the Web UI -----------------------------------------------------------------


def temporal_clients() -> dict[str, str]:
    """Service -> the client certificate name it must present to Temporal."""
    clients = dict(TEMPORAL_CLIENTS)
    for name in worker_services():
        clients[name] = name
    return clients


def mounted_secrets(spec: Mapping[str, Any]) -> dict[str, str]:
    """/run/secrets/<target> -> the secret's source name."""
    mounted = {}
    for entry in spec.get("secrets") or []:
        assert isinstance(entry, dict), "use the long form {source, target}"
        mounted[f"/run/secrets/{entry.get('target', entry['source'])}"] = entry["source"]
    return mounted


def test_every_temporal_client_presents_its_own_certificate() -> None:
    path_variables = {
        "temporal-ui": ("TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY"),
    }
    sdk = (
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
    )
    for name, client in temporal_clients().items():
        spec = service(name)
        env = environment(spec)
        ca, cert, key = path_variables.get(name, sdk)
        mounted = mounted_secrets(spec)
        assert mounted.get(env[ca]) == "tls-ca", f"{name}: {ca}"
        assert mounted.get(env[cert]) == f"tls-{client}-cert", f"{name}: {cert}"
        assert mounted.get(env[key]) == f"tls-{client}-key", f"{name}: {key}"
        server_name = env.get("TEMPORAL_TLS_SERVER_NAME")
        assert server_name == "temporal", f"{name} must check the frontend's name"
    # Nobody reaches the frontend without a certificate of the CA.
    server = environment(service("temporal"))
    assert server["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    mounted = mounted_secrets(service("temporal"))
    for variable in ("TEMPORAL_TLS_CLIENT1_CA_CERT", "TEMPORAL_TLS_CLIENT2_CA_CERT"):
        assert mounted[server[variable]] == "tls-ca"
    assert mounted[server["TEMPORAL_TLS_FRONTEND_CERT"]] == "tls-frontend-cert"
    assert mounted[server["TEMPORAL_TLS_FRONTEND_KEY"]] == "tls-frontend-key"
    # Each secret a service names exists, and every declared one is used.
    declared = set(compose().get("secrets") or {})
    used = {source for spec in services().values() for source in mounted_secrets(spec).values()}
    assert used <= declared, f"undeclared secrets {sorted(used - declared)}"
    assert declared <= used, f"unused secrets {sorted(declared - used)}"


def test_secrets_are_referenced_never_inlined() -> None:
    for name, spec in services().items():
        for key, value in environment(spec).items():
            if not secret_like(key):
                continue
            match = re.fullmatch(r"\$\{([A-Z_]+):\?[^}]*\}", value)
            assert match, f"service {name}: {key} must be ${{VARIABLE:?message}}, not {value!r}"
            with pytest.raises(LookupError):
                interpolate(value, env={})
    for name, secret in (compose().get("secrets") or {}).items():
        assert set(secret) == {"file"}, f"secret {name}: a file path, never its content"


def test_the_ui_is_read_only_and_behind_sign_in() -> None:
    env = environment(service("temporal-ui"))
    assert env["TEMPORAL_AUTH_ENABLED"] == "true" and env["TEMPORAL_AUTH_TYPE"] == "oidc"
    for required in ("TEMPORAL_AUTH_PROVIDER_URL", "TEMPORAL_AUTH_CLIENT_ID"):
        with pytest.raises(LookupError, match=required):
            interpolate(env[required], env={})
    assert "openid" in env["TEMPORAL_AUTH_SCOPES"].split(",")
    # Reset would run a dossier's steps again under its code: never from the UI.
    for setting in (
        "TEMPORAL_DISABLE_WRITE_ACTIONS",
        "TEMPORAL_WORKFLOW_RESET_DISABLED",
        "TEMPORAL_WORKFLOW_TERMINATE_DISABLED",
        "TEMPORAL_WORKFLOW_CANCEL_DISABLED",
        "TEMPORAL_WORKFLOW_SIGNAL_DISABLED",
        "TEMPORAL_WORKFLOW_UPDATE_DISABLED",
        "TEMPORAL_BATCH_ACTIONS_DISABLED",
        "TEMPORAL_START_WORKFLOW_DISABLED",
    ):
        assert env.get(setting) == "true", setting


def test_bind_mounts_exist() -> None:
    for name, spec in services().items():
        for volume in spec.get("volumes") or []:
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"service {name} mounts missing {source}"


def test_temporal_dynamic_config_is_shipped() -> None:
    spec = service("temporal")
    path = environment(spec)["DYNAMIC_CONFIG_FILE_PATH"]
    in_container = Path(path) if path.startswith("/") else Path("/etc/temporal") / path
    for volume in spec.get("volumes") or []:
        source, target = volume.split(":")[:2]
        if in_container.is_relative_to(target):
            host = ROOT / source / in_container.relative_to(target)
            break
    else:
        pytest.fail(f"{in_container} is not mounted into the temporal service")
    config = yaml.safe_load(host.read_text(encoding="utf-8"))
    assert isinstance(config, dict) and config, f"{host} holds no settings"
    for key, values in config.items():
        assert isinstance(values, list) and all("value" in item for item in values), key


# ---- Dockerfile --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def test_dockerfile_base_image_is_pinned_python_311() -> None:
    bases = [args.split()[0] for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert bases, "Dockerfile has no FROM"
    for base in bases:
        repository, _, tag = base.partition(":")
        assert repository == "python", base
        assert re.match(r"^3\.11\.\d+(-[a-z0-9.-]+)?$", tag), f"{base}: pin an exact 3.11.x"


def test_dockerfile_installs_the_lock_file() -> None:
    instructions = dockerfile_instructions()
    copy = next(
        (
            i
            for i, (kw, args) in enumerate(instructions)
            if kw == "COPY" and "requirements.lock" in args
        ),
        None,
    )
    install = next(
        (
            i
            for i, (kw, args) in enumerate(instructions)
            if kw == "RUN" and "pip install" in args and "-r requirements.lock" in args
        ),
        None,
    )
    assert copy is not None, "Dockerfile never copies requirements.lock"
    assert install is not None, "Dockerfile has no RUN pip install -r requirements.lock"
    assert copy < install, "requirements.lock is installed before it is copied"


def test_dockerfile_runs_the_worker_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    users = [args for kw, args in instructions if kw == "USER"]
    assert users, "Dockerfile has no USER"
    last_user = users[-1]
    assert last_user.split(":")[0] not in ("root", "0"), last_user
    commands = [args for kw, args in instructions if kw in ("CMD", "ENTRYPOINT")]
    assert any("worker.py" in args for args in commands), commands


def test_dockerfile_sets_only_known_project_variables() -> None:
    known = project_variables()
    for keyword, args in dockerfile_instructions():
        if keyword == "ENV":
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args)
            project = [n for n in names if n.startswith(ENV_PREFIX) or n in known]
            assert set(project) <= known, f"the project reads none of {set(project) - known}"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".env", ".git", ".venv", ".data"):
        assert needed in patterns, f".dockerignore must exclude {needed}"
    assert "requirements.lock" not in patterns
