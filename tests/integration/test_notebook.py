"""examples/income/notebook.ipynb, executed top to bottom with nbclient against the example
model server and a service started here."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from examples.income import paths
from tests.helpers.support import ROOT, explainer_service, wait_until_ready

pytestmark = pytest.mark.integration

NOTEBOOK = paths.HERE / "notebook.ipynb"
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def service(income_server: str, tmp_path_factory, output_dir: Path) -> Iterator[str]:
    """The example's own configuration, with this model server, a fresh store and cheaper
    importance."""
    directory = tmp_path_factory.mktemp("notebook")
    config = yaml.safe_load((paths.HERE / "explainer.yaml").read_text())
    config["model"]["url"] = f"{income_server}/v2/models/income/infer"
    config["data"]["reference"] = str(paths.REFERENCE)
    config["service"] = {"store": str(directory / "store.sqlite"), "ready_recheck_s": 3600}
    config["explainers"]["importance"] = {"rows": 300, "iterations": 2}
    process, base = explainer_service(config, directory, output_dir / "service-notebook.log")
    wait_until_ready(base)
    yield base
    process.stop()


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_notebook_runs_top_to_bottom(
    service: str, monkeypatch: pytest.MonkeyPatch, output_dir: Path
) -> None:
    monkeypatch.setenv("EXPLAINER_URL", service)
    # the kernel imports this checkout, as the test does
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(paths.HERE)}},
    )
    client.execute()  # raises CellExecutionError on the first cell that fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    figures = [h for h in html if "Plotly.newPlot" in h]
    # anchors, SHAP, counterfactuals, the three compared, importance
    assert len(figures) >= 5, [h[:200] for h in html]
    assert all("cdn.plot.ly/plotly" not in h for h in figures)
    # plotly.js once per notebook, not once per output (issue 31: 4.8 MB each)
    assert len([h for h in html if re.search(r"plotly\.js v\d", h)]) == 1
    # the service's words, not typed again in the notebook (GET /vocabulary)
    sentences = " ".join(h for h in html if 'class="xs-sentence"' in h)
    assert "refused" in sentences and "applicant" in sentences and "&lt;=50K" not in sentences
    methods = {
        m
        for h in figures
        for m in ("anchors", "shap", "counterfactual", "importance")
        if f'data-method="{m}"' in h
    }
    assert methods == {"anchors", "shap", "counterfactual", "importance"}
    # tqdm's notebook flavour: an ipywidgets progress bar, not text on stderr
    widgets = [o for o in outputs if WIDGET in o.get("data", {})]
    assert widgets, "no progress bar widget"
    assert not [o for o in outputs if o.get("name") == "stderr"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "computed" in text
    summary = {
        "cells": len(notebook.cells),
        "outputs": len(outputs),
        "figures": len(figures),
        "bytes of HTML": sum(len(h) for h in html),
    }
    (output_dir / "notebook-run.json").write_text(json.dumps(summary, indent=2))
