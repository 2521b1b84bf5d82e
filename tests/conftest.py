from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import joblib
import pandas as pd
import pytest

from examples.income import paths
from explainers.wire import native
from tests.helpers.budget import BudgetReport
from tests.helpers.postgres import Cluster
from tests.helpers.support import ROOT, free_port, per_worker, python_server

OUTPUT = ROOT / "test-output"


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(BudgetReport(OUTPUT / "explanation-budget.md"), "budget")


@pytest.fixture(scope="session")
def income_files() -> Path:
    """The trained income model and its data (trained here when `make` has not)."""
    if not (paths.MODEL.exists() and paths.REFERENCE.exists() and paths.HOLDOUT.exists()):
        from examples.income.train import train

        train()
    return paths.HERE


@pytest.fixture(scope="session")
def income_pipeline(income_files: Path):
    return joblib.load(paths.MODEL)


@pytest.fixture(scope="session")
def reference(income_files: Path) -> pd.DataFrame:
    return pd.read_csv(paths.REFERENCE)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def postgres(output_dir: Path) -> Iterator[Cluster]:
    """A throwaway PostgreSQL server (tests/helpers/postgres.py), for the whole session."""
    cluster = Cluster(output_dir / per_worker("postgres.log"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def income_server(income_files: Path, output_dir: Path) -> Iterator[str]:
    """The example model server as a real process; yields its base URL."""
    port = free_port()
    log = output_dir / per_worker("income-server.log")
    server = python_server("examples.income.model_server", port, log=log).wait_ready()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


IMMUTABLE = ["age", "gender", "ethnicity", "relationship", "marital-status"]


@pytest.fixture(scope="session")
def census_schema(reference: pd.DataFrame):
    from explainers import FeatureSchema

    return FeatureSchema.infer(reference, target=paths.TARGET, immutable=IMMUTABLE)


def applicant(reference: pd.DataFrame, row: int = 0, **values) -> dict:
    """A reference applicant with some values replaced."""
    record = reference[paths.FEATURES].iloc[row].to_dict()
    record = {k: native(v) for k, v in record.items()}
    return {**record, **values}


@pytest.fixture(scope="module")
def words():
    """The income example's words (class labels, feature labels, subject), for pages."""
    from tests.helpers.render_factories import income_words

    return income_words()
