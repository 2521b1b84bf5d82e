"""`make demo`: both servers start, and the links it prints open explanation pages."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers.support import ROOT, free_port, open_page

pytestmark = pytest.mark.integration


def test_demo_prints_links_that_open(income_files, tmp_path) -> None:
    model_port, port = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "examples.income.demo", "--model-port", str(model_port),
         "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
        env={**os.environ, "EXPLAINER_SERVICE__STORE": str(tmp_path / "demo.sqlite")},
    )  # fmt: skip
    lines: list[str] = []
    later: list[str] = []
    drain: threading.Thread | None = None
    try:
        deadline = time.monotonic() + 600
        assert demo.stdout is not None
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops both" in line:
                break
        links = [word for line in lines for word in line.split() if "/explain?method=" in word]
        assert len(links) == 6, "".join(lines)
        # by the decision's id: short, and no applicant's data in them
        assert all("/inferences/" in link and len(link) < 120 for link in links), links
        records = [word for line in lines for word in line.split() if "?format=html" in word]
        assert len(records) == 2, "".join(lines)
        # the servers write to the same pipe: keep reading it, or they block once it is full
        drain = threading.Thread(target=later.extend, args=(demo.stdout,), daemon=True)
        drain.start()
        page = open_page(links[0])
        assert page.status_code == 200
        assert "The model predicts refused for this applicant" in page.text  # the example's words
        record = open_page(records[0])  # the refused applicant's decision, now explained
        assert record.status_code == 200
        assert 'The model said</dt><dd id="answer">refused' in record.text
        assert "anchors" in record.text and "yes, when asked again" in record.text
        demo.send_signal(signal.SIGINT)
        assert demo.wait(120) == 0, "".join(later[-20:])  # it stopped both servers
    finally:
        with contextlib.suppress(ProcessLookupError):  # nothing it started outlives the test
            os.killpg(demo.pid, signal.SIGKILL)
        demo.wait(30)
        if drain is not None:
            drain.join(30)  # every writer is gone: it reads to the end
        if demo.stdout and (drain is None or not drain.is_alive()):
            demo.stdout.close()


@pytest.mark.parametrize(
    ("taken", "role", "how"),
    [
        ("model", "the model server", "options"),
        ("service", "the explainer service", "options"),
        ("service", "the explainer service", "environment"),
    ],
)
def test_demo_stops_when_a_port_is_taken(taken: str, role: str, how: str) -> None:
    """It names the taken port and how to choose others, exits 1, and starts nothing: the
    other port stays free, and it does not print links to whatever holds the taken one."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy, free = holder.getsockname()[1], free_port()
        model_port, port = (busy, free) if taken == "model" else (free, busy)
        args, env = [], dict(os.environ)
        if how == "options":
            args = ["--model-port", str(model_port), "--port", str(port)]
        else:
            env |= {"DEMO_MODEL_PORT": str(model_port), "DEMO_PORT": str(port)}
        result = subprocess.run(
            [sys.executable, "-m", "examples.income.demo", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        with socket.socket() as probe:  # nothing was started on the free port
            probe.bind(("127.0.0.1", free))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {busy} ({role}) is taken" in result.stderr
    assert "DEMO_MODEL_PORT=" in result.stderr and "--port" in result.stderr
    assert "/explain?method=" not in result.stdout
