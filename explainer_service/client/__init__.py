"""The notebook client of the explainer service.

    from explainer_service.client import ExplainerClient
    client = ExplainerClient("http://127.0.0.1:8080")
    explanation = client.explain(applicant, "shap")     # shows itself in Jupyter
    logged = client.inferences(limit=50)                # the inference log, as a DataFrame
    again = client.explain_inference(logged.index[0], "shap")  # a logged decision, by id
    batch = client.explain_many(applicants, "anchors")  # a progress bar; batch.to_frame()
    client.fairness("gender", window="7d")              # parity over the logged traffic

It needs httpx, pydantic, pandas, plotly and tqdm, none of the service's engines: the
distribution without extras installs it (``[server]`` adds the service); README, Install.
"""

from explainer_service.client._client import AsyncExplainerClient, ExplainerClient
from explainer_service.client._errors import (
    ClientError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    ModelError,
    NotFoundError,
    NotReadyError,
    QueueFullError,
    ServerFaultError,
    ServiceError,
    ServiceUnreachableError,
    UnauthorizedError,
    WaitTimeoutError,
)
from explainer_service.client._explanation import Explanation
from explainer_service.client._html import send_plotly_again
from explainer_service.client._results import Batch, Comparison, Fairness
from explainer_service.presentation.vocabulary import Vocabulary

__all__ = [
    "AsyncExplainerClient",
    "Batch",
    "ClientError",
    "Comparison",
    "ConflictError",
    "ExplainerClient",
    "Explanation",
    "Fairness",
    "ForbiddenError",
    "InvalidRequestError",
    "ModelError",
    "NotFoundError",
    "NotReadyError",
    "QueueFullError",
    "ServerFaultError",
    "ServiceError",
    "ServiceUnreachableError",
    "UnauthorizedError",
    "Vocabulary",
    "WaitTimeoutError",
    "send_plotly_again",
]
