"""``make bench``: the explainer service side by side with MLServer 1.6.1's alibi-explain.

Everything here talks to the service through its documented HTTP API only; nothing imports
``explainer_service`` or ``explainers``. ``fit_alibi`` runs in the benchmark's own virtual
environment (``.venv-bench``), the rest in the project's.
"""
