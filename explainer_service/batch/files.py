"""``explain_file``: a batch from an input file to an output file (what the command runs)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from explainer_service.batch.inputs import read_items
from explainer_service.batch.output import tidy, write
from explainer_service.batch.runner import Report, run_batch
from explainer_service.presentation.vocabulary import Vocabulary
from explainer_service.runtime import Runtime
from explainer_service.runtime.features import resolve_features
from explainer_service.security import UrlBuilder
from explainer_service.settings import Settings
from explainer_service.store import open_configured_store


def explain_file(
    settings: Settings,
    source: Path,
    target: Path,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    progress: bool = True,
) -> Report:
    """Explain every row of ``source`` with ``method`` on Ray (``batch.address``, else a
    local Ray started for it and stopped after; see ``run_batch``), store the explanations in
    ``service.store`` and write the tidy table to ``target``.

    Raises ``ConfigError``, ``InputError`` (a file it cannot read or write),
    ``ParameterError`` or ``BudgetExceededError`` before anything is explained."""
    settings = settings.model_copy(deep=True)
    settings.explainers = {method: settings.explainers.get(method, {})}
    settings = resolve_features(settings)
    runtime = Runtime(settings)
    store = None
    try:
        items = read_items(source, runtime)
        runtime.check_budget(method, runtime.resolve_params(method, params))
        store = open_configured_store(settings.service)
        with _bar(len(items), method, progress) as bar:

            def advance(done: int, counts: dict[str, int]) -> None:
                bar.update(done - bar.n)
                bar.set_postfix(counts, refresh=False)

            report = run_batch(
                settings, runtime, items, method, params, store=store, progress=advance
            )
        words = Vocabulary.of(
            runtime.schema,
            settings.model.class_labels,
            settings.model.subject,
            settings.model.subject_plural,
            settings.features.category_labels,
        )
        write(tidy(report, words, UrlBuilder.from_settings(settings.auth)), target)
        return report
    finally:
        if store is not None:
            store.close()
        runtime.close()


def _bar(total: int, method: str, show: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=method, unit="row", disable=not show)
