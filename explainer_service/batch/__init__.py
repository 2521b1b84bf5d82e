"""Batch explanations on Ray: every row of a file, through the service's store.

``explain_file`` (the ``explainer-service batch`` command) reads the rows
(``inputs``), explains them on Ray workers that each fit the explainers once
(``worker``), at most ``batch.max_in_flight`` at a time (``runner``), and writes a tidy
table (``output``). Ray is imported only when a batch runs.
"""

from explainer_service.batch.files import explain_file
from explainer_service.batch.inputs import InputError, Item, read_items
from explainer_service.batch.runner import Outcome, Report, run_batch

__all__ = ["InputError", "Item", "Outcome", "Report", "explain_file", "read_items", "run_batch"]
