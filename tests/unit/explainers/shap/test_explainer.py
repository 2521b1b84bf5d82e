"""SHAP against a background of real reference rows: exact values where they are known, a
background with the reference data's shares, standard errors that measure the sampling."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from examples.income import paths
from explainers import BlackBox, FeatureSchema, OutputKind, ParameterError
from explainers.base import reference_fingerprint
from explainers.explanation import Explanation
from explainers.shap.background import share_gaps
from explainers.shap.explainer import ShapExplainer
from tests.conftest import applicant
from tests.helpers.ground_truth import (
    CATEGORICAL_TERMS,
    INTERCEPT,
    NUMERIC_TERMS,
    additive_categorical_regression,
    additive_regression,
    additive_terms,
    interaction_regression,
    rule_classifier,
)


def regression(predict) -> BlackBox:
    return BlackBox(predict, output=OutputKind.regression)


@pytest.fixture(scope="module")
def additive_shap(census_schema: FeatureSchema, reference: pd.DataFrame) -> ShapExplainer:
    return ShapExplainer(census_schema, reference, regression(additive_categorical_regression))


@pytest.fixture(scope="module")
def interaction_shap(census_schema: FeatureSchema, reference: pd.DataFrame) -> ShapExplainer:
    return ShapExplainer(census_schema, reference, regression(interaction_regression))


def phi(explanation: Explanation) -> np.ndarray:
    return np.array([c.shap for c in explanation.result.contributions])


def standard_errors(explanation: Explanation) -> np.ndarray:
    return np.array([c.standard_error for c in explanation.result.contributions])


def background_rows(explainer: ShapExplainer) -> list[list[Any]]:
    return explainer.schema.to_wire(explainer._background)


def brute_force_shapley(
    predict, explainer: ShapExplainer, record: dict, background: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """The base value and the Shapley values of v(S) = mean over the background rows b of
    f(x on S, b elsewhere), from the definition: every coalition S, weights |S|!(d-|S|-1)!/d!.
    ``background``: rows in the explainer space; default: the explainer's own.

    A coalition's row for b depends only on S's features where b differs from x, so each b
    is scored once per subset of those (the rows are the same as with every S)."""
    x = explainer.schema.to_numeric([explainer.schema.row_from_record(record)])[0]
    background = explainer._background if background is None else background
    d = len(x)
    differs = (background != x) @ (1 << np.arange(d))  # bit j: b differs from x in feature j
    rows, where = [], []
    for b, bits in enumerate(differs):
        subset = int(bits)
        while True:  # every subset of bits, down to 0
            take = (subset >> np.arange(d)) & 1 == 1
            rows.append(np.where(take, x, background[b]))
            where.append((b, subset))
            if subset == 0:
                break
            subset = (subset - 1) & int(bits)
    scores = predict(explainer.schema.to_wire(np.array(rows)))
    table = np.zeros((len(background), 2**d))
    table[tuple(np.array(where).T)] = scores
    coalitions = np.arange(2**d)
    value = table[np.arange(len(background))[:, None], coalitions[None, :] & differs[:, None]]
    value = value.mean(axis=0)  # v(S) for every S
    sizes = np.array([bin(s).count("1") for s in coalitions])
    weight = np.array([math.factorial(k) * math.factorial(d - k - 1) for k in range(d)])
    weight = weight / math.factorial(d)
    shapley = np.zeros(d)
    for j in range(d):
        without = coalitions[(coalitions >> j) & 1 == 0]
        shapley[j] = (weight[sizes[without]] * (value[without | (1 << j)] - value[without])).sum()
    return float(value[0]), shapley


# --- the background -----------------------------------------------------------------------


def test_the_background_is_real_rows_with_the_reference_datas_shares(
    additive_shap: ShapExplainer, census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    background = additive_shap._background
    assert background.shape == (100, len(census_schema))
    matrix = additive_shap.reference_matrix
    rows = [np.flatnonzero((matrix == row).all(axis=1)) for row in background]
    assert all(len(found) > 0 for found in rows), "a background row is not a reference row"
    assert len({tuple(row) for row in background}) > 90  # distinct rows (a few are duplicates)
    wire = pd.DataFrame(background_rows(additive_shap), columns=census_schema.names)
    for feature in census_schema.features:
        if feature.is_categorical:  # every category's share within 2 points of the data's
            ours = wire[feature.name].value_counts(normalize=True)
            theirs = reference[feature.name].value_counts(normalize=True)
            gaps = (ours.reindex(theirs.index, fill_value=0.0) - theirs).abs()
            assert gaps.max() <= 0.02, (feature.name, gaps.sort_values().tail(3).to_dict())
        else:  # and the empirical distribution at every decile
            deciles = reference[feature.name].quantile(np.linspace(0.1, 0.9, 9)).to_numpy()
            ours = (wire[feature.name].to_numpy()[:, None] <= deciles).mean(axis=0)
            theirs = (reference[feature.name].to_numpy()[:, None] <= deciles).mean(axis=0)
            assert np.abs(ours - theirs).max() <= 0.02, feature.name
    assert additive_shap.background_gaps["relationship"] <= 0.02


def test_the_background_is_closer_to_the_data_than_a_random_draw(
    census_schema: FeatureSchema, additive_shap: ShapExplainer
) -> None:
    matrix = additive_shap.reference_matrix
    categorical = [f.is_categorical for f in census_schema.features]
    draws = [np.random.default_rng(s).choice(len(matrix), 100, replace=False) for s in range(5)]
    random_draws = [
        max(share_gaps(matrix, categorical, census_schema.names, rows).values()) for rows in draws
    ]
    assert max(additive_shap.background_gaps.values()) < min(random_draws) / 2


# --- exact values -------------------------------------------------------------------------


@pytest.mark.parametrize("row", [0, 5, 17])
def test_additive_model_with_categorical_terms_gets_its_analytic_values(
    additive_shap: ShapExplainer, reference: pd.DataFrame, row: int
) -> None:
    record = applicant(reference, row)
    explanation = additive_shap.explain(record, {"exact": True})
    background = background_rows(additive_shap)
    instance = additive_shap.schema.row_from_record(record)
    own, mean = additive_terms([instance]), additive_terms(background)
    expected = {name: float(own[name][0] - mean[name].mean()) for name in own}
    for contribution in explanation.result.contributions:
        # phi_j = f_j(x_j) - mean over the background of f_j; 0 for a feature without a term
        assert contribution.shap == pytest.approx(expected.get(contribution.feature, 0.0), abs=1e-9)
        assert contribution.standard_error == 0.0
    # the base value is the model's mean answer over the background rows
    assert explanation.result.base_value == pytest.approx(
        float(additive_categorical_regression(background).mean()), abs=1e-9
    )
    fidelity = explanation.fidelity
    assert fidelity.exact and fidelity.max_standard_error == 0.0 and fidelity.replicates == 1
    assert fidelity.background_rows == 100
    assert fidelity.model_output == pytest.approx(explanation.prediction.value)


def test_the_background_mean_of_each_term_is_the_populations(
    additive_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    """What a realistic background buys: each term's mean over it is close to its mean over
    all reference rows, so a value says how the applicant differs from the population."""
    everyone = additive_terms(reference[paths.FEATURES].values.tolist())
    ours = additive_terms(background_rows(additive_shap))
    for name in (*CATEGORICAL_TERMS, *NUMERIC_TERMS):
        spread = max(everyone[name].std(), 1e-9)
        assert abs(ours[name].mean() - everyone[name].mean()) < 0.05 * spread, name
    assert INTERCEPT + sum(m.mean() for m in ours.values()) == pytest.approx(
        additive_categorical_regression(background_rows(additive_shap)).mean()
    )


@pytest.mark.parametrize("row", [3, 11])
def test_exact_values_equal_brute_force_shapley_on_a_model_with_interactions(
    interaction_shap: ShapExplainer, reference: pd.DataFrame, row: int
) -> None:
    record = applicant(reference, row)
    explanation = interaction_shap.explain(record, {"exact": True})
    base, expected = brute_force_shapley(interaction_regression, interaction_shap, record)
    assert explanation.fidelity.exact
    assert explanation.result.base_value == pytest.approx(base, abs=1e-9)
    np.testing.assert_allclose(phi(explanation), expected, atol=1e-8)
    assert (standard_errors(explanation) == 0).all()
    assert np.abs(expected).min() < 1e-12 < np.abs(expected).max()  # unused features get 0


def test_the_recorded_background_rows_recompute_the_values(
    interaction_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    """From the JSON alone and the reference data: the fingerprint names the data, the
    indices pick the background rows, and the Shapley values over those rows, computed from
    the definition, are the explanation's."""
    record = applicant(reference, 11)
    stored = interaction_shap.explain(record, {"exact": True}).model_dump(mode="json")
    fidelity = stored["fidelity"]
    assert fidelity["background_reference"] == reference_fingerprint(reference)
    assert fidelity["background_reference"] == stored["provenance"]["reference_fingerprint"]
    indices = fidelity["background_indices"]
    assert len(indices) == len(set(indices)) == fidelity["background_rows"] == 100
    rows = reference.iloc[indices][interaction_shap.schema.names].values.tolist()
    background = interaction_shap.schema.to_numeric(rows)
    base, expected = brute_force_shapley(
        interaction_regression, interaction_shap, record, background
    )
    assert stored["result"]["base_value"] == pytest.approx(base, abs=1e-9)
    np.testing.assert_allclose(
        [c["shap"] for c in stored["result"]["contributions"]], expected, atol=1e-8
    )
    # other rows of the same data give other values: the indices are what made these
    other = interaction_shap.schema.to_numeric(
        reference.drop(index=indices).head(100)[interaction_shap.schema.names].values.tolist()
    )
    assert brute_force_shapley(interaction_regression, interaction_shap, record, other)[0] != (
        pytest.approx(base, abs=1e-6)
    )


def test_auto_enumerates_when_that_sends_no_more_rows_than_sampling(
    interaction_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    record = applicant(reference, 3)
    exact = interaction_shap.explain(record, {"exact": True})
    auto = interaction_shap.explain(record, {"nsamples": 500})
    assert auto.fidelity.exact and auto.result == exact.result
    assert auto.cost.rows <= 1 + 100 + 500 * 100  # what the sampled run could have sent
    cheap = interaction_shap.explain(record, {"nsamples": 40})  # 40 coalitions x 100 rows
    assert cheap.cost.rows < exact.cost.rows and not cheap.fidelity.exact
    assert cheap.fidelity.replicates == 4


def test_the_instance_and_the_background_go_to_the_model_in_one_call(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    sent: list[list[list[Any]]] = []

    def recording(rows: list[list[Any]]) -> np.ndarray:
        sent.append(rows)
        return interaction_regression(rows)

    explainer = ShapExplainer(census_schema, reference, regression(recording))
    record = applicant(reference, 3)
    explanation = explainer.explain(record, {"exact": False, "nsamples": 200})
    x = [record[name] for name in census_schema.names]
    assert sent[0] == [x, *background_rows(explainer)]
    assert explanation.cost.model_calls == len(sent) == 1 + 4  # then one call per replicate
    assert explanation.prediction.value == pytest.approx(interaction_regression([x])[0])


# --- the error estimate -------------------------------------------------------------------


def test_the_standard_error_shrinks_as_nsamples_grows_and_measures_the_error(
    interaction_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    squared_errors, squared_ses = [], []
    for row in (3, 5, 11):
        record = applicant(reference, row)
        exact = phi(interaction_shap.explain(record, {"exact": True}))
        few = interaction_shap.explain(record, {"exact": False, "nsamples": 200})
        many = interaction_shap.explain(record, {"exact": False, "nsamples": 2000})
        assert not few.fidelity.exact and not many.fidelity.exact
        assert few.fidelity.max_standard_error > 0
        assert many.fidelity.max_standard_error < 0.5 * few.fidelity.max_standard_error
        assert np.abs(phi(many) - exact).max() < np.abs(phi(few) - exact).max()
        for sampled in (few, many):
            assert sampled.fidelity.max_standard_error == standard_errors(sampled).max()
            assert sampled.fidelity.additivity_error < 1e-9  # imposed: says nothing of accuracy
            squared_errors.extend((phi(sampled) - exact) ** 2)
            squared_ses.extend(standard_errors(sampled) ** 2)
    # on the scale of the error it claims to measure
    ratio = math.sqrt(np.mean(squared_errors) / np.mean(squared_ses))
    assert 0.33 < ratio < 3, ratio


def test_replicates_split_nsamples_and_need_enough_each(
    interaction_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    record = applicant(reference, 5)
    two = interaction_shap.explain(record, {"exact": False, "nsamples": 200, "replicates": 2})
    assert two.fidelity.replicates == 2
    with pytest.raises(ParameterError, match="at least 10 coalitions"):
        interaction_shap.explain(record, {"nsamples": 30, "replicates": 4})


# --- classes, links, categories -------------------------------------------------------------


def test_classifier_explains_the_predicted_class_or_the_one_asked(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    explainer = ShapExplainer(
        census_schema, reference, BlackBox(rule_classifier, class_names=["no", "yes"])
    )
    positive = applicant(reference, 3, age=62, **{"hours-per-week": 50})
    explanation = explainer.explain(positive)
    assert explanation.result.output == "yes"
    top = sorted(explanation.result.contributions, key=lambda c: -abs(c.shap))[:2]
    assert {c.feature for c in top} == {"age", "hours-per-week"}
    share = rule_classifier(background_rows(explainer))[:, 1].mean()
    assert explanation.result.base_value == pytest.approx(share)
    negative_view = explainer.explain(positive, {"output_class": "no"})
    assert negative_view.result.output == "no"
    assert negative_view.result.base_value == pytest.approx(1 - share)
    assert phi(negative_view) == pytest.approx(-phi(explanation))
    soft = ShapExplainer(
        explainer.schema, reference,
        BlackBox(lambda rows: 0.1 + 0.8 * rule_classifier(rows), class_names=["no", "yes"]),
    )  # fmt: skip
    logit = soft.explain(positive, {"link": "logit"})
    assert logit.fidelity.model_output == pytest.approx(np.log(0.9 / 0.1))
    mean = 0.1 + 0.8 * share  # the logit of the mean answer, not the mean of logits
    assert logit.result.base_value == pytest.approx(np.log(mean / (1 - mean)))
    assert logit.fidelity.additivity_error < 1e-6
    with pytest.raises(ParameterError) as info:
        explainer.explain(positive, {"output_class": "maybe"})
    assert info.value.field == "output_class"


def test_a_regression_has_no_classes_and_no_logit(
    census_schema: FeatureSchema, reference: pd.DataFrame
) -> None:
    calls: list[int] = []

    def counted(rows):
        calls.append(len(rows))
        return additive_regression(rows)

    explainer = ShapExplainer(census_schema, reference, regression(counted))
    for params, field in (({"link": "logit"}, "link"), ({"output_class": "1"}, "output_class")):
        with pytest.raises(ParameterError) as info:
            explainer.explain(applicant(reference, 5), params)
        assert info.value.field == field
    assert calls == []  # refused before any call


def test_categories_are_sent_whole(census_schema: FeatureSchema, reference: pd.DataFrame) -> None:
    seen: list[list] = []

    def recording(rows):
        seen.extend(rows)
        return additive_regression(rows)

    explainer = ShapExplainer(census_schema, reference, regression(recording), {"nsamples": 200})
    explainer.explain(applicant(reference, 7), {"exact": False})
    assert len(seen) > 1000
    for j, feature in enumerate(census_schema.features):
        values = {row[j] for row in seen}
        if feature.is_categorical:
            assert values <= set(feature.categories), feature.name
        elif feature.integer:
            assert all(isinstance(v, int) for v in values), feature.name


def test_every_feature_gets_a_value_in_schema_order(
    additive_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    explanation = additive_shap.explain(applicant(reference, 5))
    assert [c.feature for c in explanation.result.contributions] == paths.FEATURES
    assert explanation.result.output == "value"


def test_background_size_is_fixed_once_built(additive_shap: ShapExplainer, reference) -> None:
    with pytest.raises(ParameterError) as info:
        additive_shap.explain(applicant(reference), {"background_size": 50})
    assert info.value.field == "background_size"
    small = ShapExplainer(
        additive_shap.schema, reference.head(30), regression(additive_categorical_regression)
    )
    assert small._background.shape[0] == 30  # all rows when there are fewer


def test_exact_refuses_an_enumeration_it_cannot_hold() -> None:
    rng = np.random.default_rng(0)
    data = pd.DataFrame(rng.normal(size=(50, 22)), columns=[f"x{i}" for i in range(22)])
    schema = FeatureSchema.infer(data)
    sent: list[int] = []

    def total(rows):
        sent.append(len(rows))
        return np.sum(rows, axis=1)

    explainer = ShapExplainer(schema, data, regression(total))
    with pytest.raises(ParameterError) as info:
        explainer.explain(data.iloc[0].tolist(), {"exact": True})
    assert info.value.field == "exact" and sent == []  # refused before any call
    sampled = explainer.explain(data.iloc[0].tolist())  # auto samples
    assert not sampled.fidelity.exact


def test_an_explanation_stored_before_standard_errors_reads_back(
    additive_shap: ShapExplainer, reference: pd.DataFrame
) -> None:
    stored = additive_shap.explain(applicant(reference, 5)).model_dump(mode="json")
    stored["schema_version"] = "2.0"
    for field in (
        "exact",
        "max_standard_error",
        "replicates",
        "background_rows",
        "background_indices",
        "background_reference",
    ):
        del stored["fidelity"][field]
    for contribution in stored["result"]["contributions"]:
        del contribution["standard_error"]
    old = Explanation.model_validate(stored)
    assert old.fidelity.max_standard_error is None and old.fidelity.exact is False
    assert old.result.contributions[0].standard_error is None


# --- the estimate ---------------------------------------------------------------------------


@dataclass
class Chunked:
    """A predict function that sends batches in requests of at most ``size`` rows, and
    reports them as ``BlackBox.usage``."""

    predict: Any
    size: int
    calls: int = 0
    rows: int = 0

    def __call__(self, rows: list[list[Any]]) -> np.ndarray:
        for start in range(0, len(rows), self.size):
            self.calls += 1
            self.rows += len(rows[start : start + self.size])
        return self.predict(rows)

    def usage(self) -> Chunked:
        return Chunked(self.predict, self.size, self.calls, self.rows)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"exact": False},
        {"exact": False, "nsamples": 250, "replicates": 3},
        {"exact": True},
        {"nsamples": 41, "replicates": 4},
    ],
)
def test_the_estimate_bounds_the_cost(
    census_schema: FeatureSchema, reference: pd.DataFrame, params: dict
) -> None:
    chunked = Chunked(interaction_regression, 700)
    box = BlackBox(chunked, output=OutputKind.regression, usage=chunked.usage)
    explainer = ShapExplainer(census_schema, reference, box)
    resolved = explainer.resolve_params(explainer.params, params)
    estimate = ShapExplainer.estimate(
        resolved, census_schema, reference_rows=len(reference), max_batch_rows=700
    )
    for row in (2, 9):
        cost = explainer.explain(applicant(reference, row), params).cost
        assert cost.model_calls <= estimate.model_calls and cost.rows <= estimate.rows
    assert estimate.drivers[1] == "background_size"
