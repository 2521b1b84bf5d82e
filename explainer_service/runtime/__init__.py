"""What the configuration builds: the feature schema, the model client, the reference data
and each method's parameters (``Runtime``), and the explainers fitted on them in a worker
(``FittedRuntime``). ``features`` chooses which columns are features."""

from explainer_service.runtime.runtime import FittedRuntime, Runtime

__all__ = ["FittedRuntime", "Runtime"]
