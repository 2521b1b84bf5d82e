"""The explanation worker pool: processes that fit the explainers and run explanations."""

from explainer_service.workers.pool import Job, Pool, WorkerState
from explainer_service.workers.task import WORKER_HEADER, Setup, Task

__all__ = ["WORKER_HEADER", "Job", "Pool", "Setup", "Task", "WorkerState"]
