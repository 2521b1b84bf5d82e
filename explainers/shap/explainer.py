"""SHAP values with shap's ``KernelExplainer`` against a background of real reference rows.

The background is ``background_size`` real reference rows whose category shares and numeric
deciles are closest to the reference data's (``explainers.shap.background``), fitted once, without
the model. The value of a coalition ``S`` is the model's mean answer over the background rows
with the features in ``S`` set to the instance's (features independent of each other), so
the base value is the model's mean answer over the background, and a category is always
a whole category.

Coalitions are either all enumerated, which gives the exact Shapley values of that value
function (``explainers.shap.exact``, which builds only the distinct rows; KernelExplainer
enumerating every coalition gives the same values and is the tests' reference), or sampled
by KernelExplainer:
then ``replicates`` independent runs (the seed's random stream continues from one to the
next) share the ``nsamples`` coalitions, the values are their mean and each value's standard
error is their standard deviation over the square root of their number. Runs enumerate the
coalition sizes they can afford in full (the same in every run), so the error measured is
that of the sampled part. It measures sampling only: another background sample gives other
values.

``KernelExplainer`` calls the model on the background when it is constructed, so it is
constructed per sampled explanation, after the instance and the background were scored together in
one counted call (its own call is then answered from memory). Every feature gets its value:
shap's default ``l1_reg`` would select features and give the others zero, which is off.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from explainers.base import Explainer, ExplainerParams
from explainers.budget import CostEstimate, Tally
from explainers.errors import ParameterError
from explainers.explanation import Contribution, Prediction, ShapFidelity, ShapResult
from explainers.model import CountingModel
from explainers.schema import FeatureSchema
from explainers.shap.background import representative_rows
from explainers.shap.exact import exact_shapley

_EPS = 1e-12
#: The background's random draws and swaps use this seed: it depends on the data alone.
BACKGROUND_SEED = 0
#: The most rows (coalitions x background rows) an enumeration may build in memory;
#: KernelExplainer builds them all before the distinct ones reach the model.
MAX_ENUMERATED_ROWS = 2_000_000
MIN_SAMPLES_PER_REPLICATE = 10


class _QuietLargeBackground(logging.Filter):
    """Drops KernelExplainer's advice, at every construction, to summarise a background of
    more than 100 rows with k-means: a representative sample of real rows is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "background data samples could cause" not in record.getMessage()


logging.getLogger("shap").addFilter(_QuietLargeBackground())


class ShapParams(ExplainerParams):
    nsamples: int = Field(
        500,
        ge=10,
        le=100_000,
        description="coalitions evaluated in all, shared by the replicates; each costs "
        "background_size rows",
    )
    background_size: int = Field(
        100,
        ge=1,
        le=1000,
        description="real reference rows in the background (fixed when built; all of them "
        "when there are fewer)",
    )
    replicates: int = Field(
        4,
        ge=2,
        le=50,
        description="independent sampling runs whose spread gives the standard errors",
    )
    exact: Literal["auto", True, False] = Field(
        "auto",
        description="enumerate every coalition (exact Shapley values, standard errors 0): "
        "'auto' when that sends the model no more rows than sampling may (nsamples x "
        "background rows); true always (within "
        f"{MAX_ENUMERATED_ROWS:,} coalition rows); false only when each replicate's "
        "nsamples would enumerate them anyway",
    )
    output_class: str | None = Field(
        None, description="the class whose probability is explained; default: the predicted"
    )
    link: Literal["identity", "logit"] = "identity"

    @model_validator(mode="after")
    def _enough_per_replicate(self) -> ShapParams:
        if self.nsamples < MIN_SAMPLES_PER_REPLICATE * self.replicates:
            raise ValueError(
                f"nsamples ({self.nsamples}) must give each of the {self.replicates} "
                f"replicates at least {MIN_SAMPLES_PER_REPLICATE} coalitions"
            )
        return self


def _identity(p: np.ndarray) -> np.ndarray:
    return p


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.asarray(np.log(p / (1 - p)))


def _coalitions(features: int) -> int:
    """Proper, non-empty coalitions of ``features`` features (what KernelExplainer runs)."""
    return 2**features - 2 if features > 1 else 0


def _per_run(params: ShapParams) -> int:
    return int(params.nsamples // params.replicates)


class ShapExplainer(Explainer):
    method = "shap"
    Params = ShapParams
    fit_params = frozenset({"background_size"})

    def fit(self) -> None:
        chosen = representative_rows(
            self.reference_matrix,
            [f.is_categorical for f in self.schema.features],
            self.schema.names,
            self.params.background_size,
            seed=BACKGROUND_SEED,
        )
        self._background = self.reference_matrix[chosen.rows]
        self.background_indices = [int(i) for i in chosen.rows]
        self.background_gaps = chosen.gaps

    @classmethod
    def estimate(
        cls,
        params: Any,
        schema: FeatureSchema,
        *,
        reference_rows: int,
        max_batch_rows: int | None = None,
    ) -> CostEstimate:
        """An upper bound: the instance and the background, which ``KernelExplainer``
        scores when it is built (``background_size`` rows, at most the reference rows), in
        one call; then
        the coalitions, each against every background row, in one call per run:
        ``replicates`` runs of ``nsamples // replicates`` coalitions (at most the ``2^d - 2``
        there are), or with ``exact: true`` one run of all ``2^d - 2``. ``exact: auto``
        enumerates only when the distinct rows that takes fit what sampling may send, in
        one call instead of several, so it stays within the same bound. shap's own f(x) is
        answered from memory."""
        background = min(params.background_size, reference_rows)
        d = len(schema)
        tally = Tally(max_batch_rows).call(1 + background)
        if params.exact is True:
            tally.call(_coalitions(d) * background)
            return tally.estimate(("exact", "background_size"))
        per_run = min(_per_run(params), _coalitions(d))
        tally.call(per_run * background, params.replicates)
        return tally.estimate(("nsamples", "background_size"))

    def _explain(
        self, x: np.ndarray | None, params: Any, model: CountingModel
    ) -> tuple[Prediction, ShapResult, ShapFidelity]:
        assert x is not None
        x = x + 0.0  # -0.0 is 0.0: a row equal to a background row is the same bytes
        self._check_output(params)
        exact = self._enumerate(x, params)  # refuses an enumeration before any call
        # the instance and the background in one call: KernelExplainer's own call on the
        # background is then answered from memory
        scores = model.raw(np.vstack([x.reshape(1, -1), self._background]))
        prediction = model.predictions(scores[:1])[0]
        f, output, observed = self._target(prediction, params, model)
        if exact:
            link = _logit if params.link == "logit" else _identity
            phi, base = exact_shapley(x, self._background, f, link)
            errors = np.zeros_like(phi)
        else:
            phi, base, errors = self._sampled(x, f, params)
        runs = 1 if exact else params.replicates
        model_output = float(_logit(np.array(observed))) if params.link == "logit" else observed
        total = base + float(phi.sum())
        result = ShapResult(
            output=output,
            link=params.link,
            base_value=base,
            contributions=[
                Contribution(feature=feature.name, value=wire, shap=float(v), standard_error=e)
                for feature, wire, v, e in zip(
                    self.schema.features, self.schema.to_wire(x)[0], phi, errors, strict=True
                )
            ],
        )
        fidelity = ShapFidelity(
            model_output=model_output,
            base_plus_sum=total,
            additivity_error=abs(total - model_output),
            exact=exact,
            max_standard_error=float(np.max(errors, initial=0.0)),
            replicates=runs,
            background_rows=len(self._background),
            background_indices=self.background_indices,
            background_reference=self.reference_fingerprint,
        )
        return prediction, result, fidelity

    def _sampled(self, x: np.ndarray, f: Any, params: Any) -> tuple[np.ndarray, float, np.ndarray]:
        """``(values, base value, standard errors)`` of ``replicates`` KernelExplainer runs
        of ``nsamples // replicates`` coalitions each."""
        import shap

        explainer = shap.KernelExplainer(f, self._background, link=params.link)
        with warnings.catch_warnings():
            # too few coalitions for the features: shap falls back to the least-squares
            # solution of least norm, and the replicates' spread says how far off it is
            warnings.filterwarnings("ignore", "Linear regression equation is singular")
            values = np.array(
                [
                    np.asarray(
                        explainer.shap_values(
                            x.reshape(1, -1), nsamples=_per_run(params), l1_reg=False, silent=True
                        )
                    ).reshape(-1)
                    for _ in range(params.replicates)
                ]
            )
        errors = values.std(axis=0, ddof=1) / np.sqrt(params.replicates)
        base = float(np.asarray(explainer.expected_value).reshape(-1)[0])
        return values.mean(axis=0), base, errors

    def _enumerate(self, x: np.ndarray, params: Any) -> bool:
        """Whether to enumerate every coalition for ``x`` (see ``exact``).

        KernelExplainer enumerates the features that vary (a feature close to ``x`` in every
        background row does not). Of the rows it builds, only the distinct ones reach the
        model: a background row that differs from ``x`` in ``k`` features gives ``2^k``,
        itself and ``x`` among them, both already scored."""
        varying = int(np.sum(~np.isclose(self._background, x).all(axis=0)))
        built = _coalitions(varying) * len(self._background)
        affordable = built <= MAX_ENUMERATED_ROWS
        if params.exact is True:
            if not affordable:
                raise ParameterError(
                    self.method,
                    "exact",
                    f"{varying} features vary: enumerating their {_coalitions(varying):,} "
                    f"coalitions against {len(self._background)} background rows builds "
                    f"{built:,} rows, more than {MAX_ENUMERATED_ROWS:,}; sample instead",
                )
            return True
        if params.exact is False:
            return _coalitions(varying) <= _per_run(params)
        differing = (self._background != x).sum(axis=1)
        distinct = sum(max(2 ** int(k) - 2, 0) for k in differing)
        sampled = params.replicates * _per_run(params) * len(self._background)
        return affordable and distinct <= sampled

    def _check_output(self, params: Any) -> None:
        """Refuses, before any call, what a regression's values have not: classes, a logit."""
        if self.model.is_classifier:
            return
        if params.output_class is not None:
            raise ParameterError(self.method, "output_class", "a regression has no classes")
        if params.link == "logit":
            raise ParameterError(
                self.method, "link", "logit is for probabilities; a regression answers values"
            )

    def _target(self, prediction: Prediction, params: Any, model: CountingModel) -> tuple:
        """``(f, output, observed)``: the function explained (rows -> one number each), its
        name (a class, or ``value``) and its value for the instance, as the model said it."""
        if not self.model.is_classifier:
            return model.values, "value", float(prediction.value or 0.0)
        names = model.class_names or list((prediction.probabilities or {}).keys())
        target = params.output_class or prediction.label
        if target not in names:
            raise ParameterError(
                self.method, "output_class", f"unknown class {target!r}; classes: {names}"
            )
        column = names.index(target)

        def f(matrix: np.ndarray) -> np.ndarray:
            return model.proba(matrix)[:, column]

        output = str(target)
        observed = (
            prediction.probabilities[output]
            if prediction.probabilities
            else float(prediction.label == output)
        )
        return f, output, observed
