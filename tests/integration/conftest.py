"""Fixtures of the integration tests that start the gated model server."""

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


@pytest.fixture
def gate(model: Model) -> Iterator[Model]:
    """The model, its gate open again after the test whatever happened."""
    model.hold([])
    yield model
    model.hold([])
