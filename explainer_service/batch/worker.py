"""``BatchWorker``: the Ray actor that explains a batch's rows, one at a time.

Each actor builds one ``FittedRuntime`` when it starts (the explainers are fitted once per
worker process, not per row), then runs tasks exactly as a service worker does
(``workers.task.run_task``): same seeding, budget and error bodies, so a row explained
here equals the service's explanation of the same row and seed. Ray is not imported here:
the runner wraps this class with ``ray.remote``.
"""

from __future__ import annotations

import logging
import os

import pandas as pd

from explainer_service.runtime import FittedRuntime
from explainer_service.runtime.window import LoggedWindow
from explainer_service.settings import Settings
from explainer_service.workers.task import WORKER_HEADER, Answer, Task, run_task
from explainers.base import package_versions


class BatchWorker:
    """``settings``: as the driver resolved them (features chosen, one method configured);
    ``reference``: the reference rows the driver read (a node of a cluster need not have
    the file); ``name``: sent to the model as ``X-Explainer-Worker``; ``window``: the logged
    inferences of ``data.window`` the driver read (a node need not reach the store)."""

    def __init__(
        self,
        settings: Settings,
        reference: pd.DataFrame,
        name: str,
        window: LoggedWindow | None = None,
    ) -> None:
        logging.basicConfig(level=logging.WARNING)
        settings.model.headers = {**settings.model.headers, WORKER_HEADER: name}
        self.runtime = FittedRuntime(settings, reference=reference, window=window, announce=False)
        self.runtime.fit()

    def describe(self) -> dict[str, object]:
        """The process and the engine versions, which must be the driver's: they are part
        of every explanation's cache key."""
        return {"pid": os.getpid(), "versions": package_versions()}

    def explain(self, task: Task) -> Answer:
        return run_task(self.runtime, task)
