"""Fixtures of the integration tests that start the gated model server and the model
server that misbehaves on purpose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.support import free_port, per_worker, python_server
from tests.integration.test_pool import Model


@pytest.fixture(scope="module")
def model(income_files, output_dir: Path) -> Iterator[Model]:
    port = free_port()
    log = output_dir / per_worker("gated-model.log")
    server = python_server("tests.helpers.servers.gated_model", port, log=log)
    server.wait_ready()
    try:
        yield Model(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def faults(output_dir: Path) -> Iterator[str]:
    """``tests.helpers.servers.fault_server`` (its ``/sleep`` 1.5 s, its ``/drip`` a byte every
    0.5 s); yields its base URL."""
    port = free_port()
    server = python_server(
        "tests.helpers.servers.fault_server",
        port,
        "--sleep",
        "1.5",
        "--drip",
        "0.5",
        log=output_dir / "fault-server-service.log",
    ).wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def gate(model: Model) -> Iterator[Model]:
    """The model, its gate open again after the test whatever happened."""
    model.hold([])
    yield model
    model.hold([])
