"""The reference engines the benchmark compares the service with (dice-ml, alibi 0.9.4's
``AnchorText``) pin numpy<2, so they run in ``.venv-reference`` (``make reference``), one
process per comparison, with JSON on stdin and stdout."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv-reference" / "bin" / "python"
TIMEOUT_S = 3600


def run(module: str, request: dict[str, Any], *, log: Path) -> dict[str, Any]:
    """``python -m <module>`` in ``.venv-reference`` with ``request`` on stdin; its JSON
    answer. Its stderr goes to ``log``; raises with the log's tail if it fails."""
    if not PYTHON.exists():
        raise RuntimeError(f"{PYTHON} is missing: `make reference` builds it")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as errors:
        done = subprocess.run(
            [str(PYTHON), "-m", module],
            input=json.dumps(request).encode(),
            stdout=subprocess.PIPE,
            stderr=errors,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{module} exited with {done.returncode}:\n{tail}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
