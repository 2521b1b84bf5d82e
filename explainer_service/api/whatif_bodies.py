"""The bodies of the what-if editor's routes (``api.whatif``)."""

from __future__ import annotations

from pydantic import Field

from explainer_service.api.bodies import Body
from explainer_service.store import Status
from explainers.explanation import Prediction

#: A feature's value as the editor sends it: a category's wire value or a number.
Value = str | int | float | bool | None


class WhatIfIn(Body):
    """The editor's values: every feature of the schema, as the model receives it."""

    values: dict[str, Value] = Field(
        description="feature -> value, every feature of the schema (numbers within the range "
        "features.overrides sets, else the reference data's)",
        max_length=1000,
    )
    original: str | None = Field(
        None,
        description="the id of the explanation the editor was opened on: its instance's own "
        "values are taken even outside a range, and the new page links back to it",
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
    )


class WhatIfExplainIn(WhatIfIn):
    method: str = Field("anchors", description="a method that explains one row", max_length=64)


class WhatIfPrediction(Body):
    """The live model's answer for the edited values; nothing is stored."""

    prediction: Prediction
    text: str = Field(description="the prediction in the page's words")


class WhatIfExplanation(Body):
    """The explanation of the edited values, started (or found) and stored as any other."""

    id: str
    status: Status
    links: dict[str, str] = Field(description="json, and html: its page, linking back")
