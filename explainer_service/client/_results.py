"""What ``explain_many`` and ``compare`` answer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from explainer_service.client import _html
from explainer_service.client._errors import ClientError
from explainer_service.client._explanation import Explanation

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Batch:
    """One explanation per input row, in the rows' order.

    ``explanations[i]`` is None where row ``index[i]`` failed; ``errors`` maps those rows'
    index labels to what was raised. ``stored``: rows the service had explained already
    (fetched from its store, not computed again); ``computed``: rows computed now."""

    method: str
    index: list[Any]
    explanations: list[Explanation | None]
    errors: dict[Any, ClientError] = field(default_factory=dict)
    stored: int = 0
    computed: int = 0

    def __len__(self) -> int:
        return len(self.explanations)

    def __iter__(self) -> Iterator[Explanation | None]:
        return iter(self.explanations)

    def add(self, i: int, outcome: tuple[Explanation, bool] | ClientError) -> None:
        """Row ``i``'s outcome: (its explanation, whether it came from the store), or the
        error it failed with."""
        if isinstance(outcome, ClientError):
            self.errors[self.index[i]] = outcome
            return
        self.explanations[i], stored = outcome
        self.stored += stored
        self.computed += not stored

    def counts(self) -> dict[str, int]:
        """For a progress bar's postfix."""
        return {"stored": self.stored, "computed": self.computed, "failed": len(self.errors)}

    @property
    def ok(self) -> list[Explanation]:
        return [e for e in self.explanations if e is not None]

    def to_frame(self) -> pd.DataFrame:
        """One row per input row, indexed as the input: ``id``, ``label``, ``probability``,
        the method's columns, ``url``, and ``error`` and ``code`` for rows that failed."""
        from explainer_service.presentation.frames import batch_frame

        urls = [e.url if e is not None else None for e in self.explanations]
        return batch_frame(self.index, self.explanations, urls, self.errors)

    def _repr_html_(self) -> str:
        head = (
            f"<p>{escape(self.method)}: {len(self.ok)} of {len(self)} explained "
            f"({self.stored} from the store, {self.computed} computed), "
            f"{len(self.errors)} failed</p>"
        )
        return head + str(self.to_frame().to_html(render_links=True))


@dataclass
class Comparison:
    """Several methods' explanations of one instance: ``explanations`` by method, and
    ``errors`` by method for those that failed."""

    explanations: dict[str, Explanation]
    errors: dict[str, ClientError] = field(default_factory=dict)

    def __getitem__(self, method: str) -> Explanation:
        return self.explanations[method]

    @property
    def methods(self) -> Sequence[str]:
        return [*self.explanations, *self.errors]

    def to_frame(self) -> pd.DataFrame:
        """The explanations' tables (``Explanation.to_frame``) one under the other, with a
        ``method`` column first."""
        import pandas as pd

        frames = []
        for method, e in self.explanations.items():
            frame = e.to_frame()
            frames.append(frame.assign(method=method)[["method", *frame.columns]])
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def _repr_html_(self) -> str:
        cards = [
            _html.card(e, e._words, url=e.url, plotlyjs=e._plotlyjs, base_url=e._base_url)
            for e in self.explanations.values()
        ]
        cards += [_html.error_card(method, error) for method, error in self.errors.items()]
        return _html.grid(cards)
