"""What ``explain_many``, ``compare`` and ``fairness`` answer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from explainer_service.client import _html
from explainer_service.client._errors import ClientError
from explainer_service.client._explanation import Explanation
from explainer_service.presentation.formats import number, percent
from explainer_service.presentation.vocabulary import Vocabulary

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


@dataclass
class Fairness:
    """``GET /fairness``: one protected attribute over a window of logged traffic.

    ``report``: the service's answer as it came (``attribute``, ``groups`` highest rate
    first, ``statistical_parity_difference``, ``disparate_impact``, ``four_fifths``,
    ``flips``, ...; docs/fairness.md); ``url``: its page in the service."""

    report: dict[str, Any]
    url: str
    words: Vocabulary = field(default_factory=Vocabulary)

    def __getitem__(self, key: str) -> Any:
        return self.report[key]

    @property
    def sentence(self) -> str:
        """The page's sentence: the favourable rate of the lowest and the highest group and
        their ratio against the four-fifths rule."""
        r, words = self.report, self.words
        groups = r["groups"]
        if len(groups) < 2:
            return (
                f"Fewer than two groups of {words.feature(r['attribute'])} were decided in "
                "this window: nothing to compare."
            )
        high, low = groups[0], groups[-1]
        ratio = "—" if r["disparate_impact"] is None else number(r["disparate_impact"], 2)
        within = "within" if r["four_fifths"] else "below"
        return (
            f"{words.cls(r['positive_class']).capitalize()} for {percent(low['rate'])} of "
            f"{low['value']} {words.subjects} and {percent(high['rate'])} of {high['value']} "
            f"{words.subjects}: a ratio of {ratio}, {within} the four-fifths rule "
            f"({number(r['four_fifths_threshold'], 2)})."
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per group, highest rate first, indexed by the attribute's value:
        ``decisions``, ``positive``, ``rate``, ``difference`` and ``ratio`` (against the
        reference group), ``four_fifths``."""
        import pandas as pd

        columns = ["decisions", "positive", "rate", "difference", "ratio", "four_fifths"]
        groups = self.report["groups"]
        index = pd.Index([g["value"] for g in groups], name=self.report["attribute"])
        return pd.DataFrame([{c: g[c] for c in columns} for g in groups], index=index)[columns]

    def _repr_html_(self) -> str:
        r, words = self.report, self.words
        title = f"{words.feature(r['attribute'])} over the last {r['window']}".capitalize()
        parts = [
            f'<div class="xs-card" data-fairness="{escape(r["attribute"])}">',
            f"<h3>{escape(title)}</h3>",
            f'<p class="xs-sentence">{escape(self.sentence)}</p>',
            f'<p class="xs-muted">{escape(_flip_text(r, words))} · '
            f"{r['read']:,} decisions read of {r['logged']:,} logged</p>",
            str(self.to_frame().to_html()),
            f'<p class="xs-muted"><a href="{escape(self.url)}" target="_blank">page</a></p>',
            "</div>",
        ]
        return _html.single("".join(parts))


def _flip_text(report: dict[str, Any], words: Vocabulary) -> str:
    flips = report["flips"]
    return (
        f"flip tests: {flips['flipped']} of {flips['tested']} explained {words.subjects} "
        f"decided otherwise with another {words.feature(report['attribute'])}"
    )
