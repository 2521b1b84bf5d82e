"""A fitting error that is no configuration error (the engine fails on the reference data)
must not leave readiness at "starting" with nothing logged: readiness says why, and the
log said it when it happened."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.support import explainer_service, free_port, wait_until_fitted
from tests.helpers.web import HTTP
from tests.integration.test_service import config

pytestmark = pytest.mark.integration


def test_a_fitting_error_is_reported_by_readiness_and_logged_at_once(
    income_files, tmp_path: Path, output_dir: Path
) -> None:
    # an engine that raises when fitted (the test plugin, told to)
    settings = config(f"http://127.0.0.1:{free_port()}/v2/models/income/infer", tmp_path / "s")
    settings["explainers"] = {"shap": {}, "constant": {"fail_fit": True}}
    settings["service"]["workers"] = 1
    settings["features"]["source"] = "reference"  # no model to ask for its inputs
    log = output_dir / "service-cannot-fit.log"
    process, base = explainer_service(settings, tmp_path, log)
    try:
        state = wait_until_fitted(base, timeout=300)
        reason = state["reason"]
        assert not state["ready"]
        assert reason.startswith("cannot fit the explainers: ValueError"), reason
        assert [w["state"] for w in state["workers"]] == ["failed"]
        deadline = time.monotonic() + 30  # the record is written before readiness changes
        while "cannot fit the explainers" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        logged = log.read_text()
        assert "Traceback" in logged and "configured to fail when fitted" in logged
        response = HTTP.post(f"{base}/explain?method=shap", json={"instances": []}, timeout=30)
        assert response.status_code == 503
        assert reason in response.json()["error"]["message"]
    finally:
        process.stop()
