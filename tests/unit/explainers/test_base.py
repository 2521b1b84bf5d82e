"""What every explainer shares: registry, plugins, parameters, determinism, errors, cost."""

from __future__ import annotations

import pandas as pd
import pytest

from explainers import (
    BlackBox,
    ExplainerError,
    FeatureSchema,
    ParameterError,
    UnknownCategoryError,
    available,
    get_explainer_class,
)
from explainers.base import BUILTIN
from explainers.explanation import LOCAL_METHODS
from tests.conftest import applicant
from tests.helpers.ground_truth import rule_classifier, threshold_classifier

METHODS = ["anchors", "shap", "counterfactual", "importance"]
FAST = {
    "anchors": {},
    "shap": {"nsamples": 100},
    "counterfactual": {},
    "importance": {"rows": 100, "iterations": 1},
}


class Boom(RuntimeError):
    pass


def build(method: str, schema: FeatureSchema, reference: pd.DataFrame, predict, **params):
    labelled = reference.assign(
        loan=[
            "yes" if p else "no"
            for p in threshold_classifier(reference[schema.names].values.tolist())[:, 1]
        ]
    )
    cls = get_explainer_class(method)
    return cls(
        schema,
        labelled,
        BlackBox(predict, class_names=["no", "yes"]),
        {**FAST[method], **params},
        target="loan",
    )


def instance_for(method: str, reference: pd.DataFrame):
    if method == "importance":
        return None
    return applicant(reference, 11, **{"capital-gain": 0, "education-num": 9})


def test_the_local_methods_are_the_built_ins_whose_class_says_local() -> None:
    """``LOCAL_METHODS`` (for those that cannot load the classes: the notebook client) and
    each built-in class's ``local`` say the same."""
    local = [m for m in BUILTIN if get_explainer_class(m).local]
    assert local == list(LOCAL_METHODS) == ["anchors", "shap", "counterfactual"]
    assert get_explainer_class("constant").local  # a plugin is local unless it says


def test_registry_has_the_builtins_and_the_installed_plugin() -> None:
    methods = available()
    assert set(METHODS) <= set(methods)
    assert methods["constant"] == "explainers_test_plugin:ConstantExplainer"


def test_plugin_explains(census_schema: FeatureSchema, reference: pd.DataFrame) -> None:
    cls = get_explainer_class("constant")
    explanation = cls(census_schema, reference, BlackBox(rule_classifier), {"score": 2.5}).explain(
        applicant(reference)
    )
    assert explanation.method == "constant"
    assert explanation.result.model_dump()["scores"]["age"] == 2.5
    assert explanation.provenance.explainer == "explainers_test_plugin.ConstantExplainer"


def test_unknown_method() -> None:
    with pytest.raises(ParameterError, match="unknown method 'lime'") as info:
        get_explainer_class("lime")
    assert "anchors" in str(info.value)


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("anchors", {"threshold": 1.5}, "threshold"),
        ("anchors", {"tresh": 0.9}, "tresh"),
        ("shap", {"nsamples": "many"}, "nsamples"),
        ("shap", {"link": "probit"}, "link"),
        ("counterfactual", {"max_features": 4}, "max_features"),
        ("counterfactual", {"total": 0}, "total"),
        ("importance", {"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_name_the_field(method, params, field, census_schema, reference) -> None:
    with pytest.raises(ParameterError) as info:
        build(method, census_schema, reference, threshold_classifier, **params)
    assert info.value.field == field and info.value.method == method


@pytest.mark.parametrize("method", METHODS)
def test_no_model_call_at_construction(method, census_schema, reference) -> None:
    def unreachable(rows):
        raise Boom("the model is down")

    explainer = build(method, census_schema, reference, unreachable)
    with pytest.raises(Boom, match="the model is down"):  # the predict error, unchanged
        explainer.explain(instance_for(method, reference))


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_answer_and_cost_counts_every_call(method, census_schema, reference) -> None:
    seen = {"calls": 0, "rows": 0}

    def counting(rows):
        seen["calls"] += 1
        seen["rows"] += len(rows)
        return threshold_classifier(rows)

    explainer = build(method, census_schema, reference, counting)
    first = explainer.explain(instance_for(method, reference))
    assert (first.cost.model_calls, first.cost.rows) == (seen["calls"], seen["rows"])
    again = explainer.explain(instance_for(method, reference))
    assert again.result == first.result and again.fidelity == first.fidelity
    other_seed = explainer.explain(instance_for(method, reference), {"seed": 7})
    assert other_seed.provenance.seed == 7
    assert first.provenance.params["seed"] == 0
    assert set(first.provenance.versions) >= {"shap", "eli5", "scikit-learn"}
    assert len(first.provenance.reference_fingerprint) == 64


def test_instances_are_checked_against_the_schema(census_schema, reference) -> None:
    explainer = build("shap", census_schema, reference, threshold_classifier)
    with pytest.raises(UnknownCategoryError) as info:
        explainer.explain(applicant(reference, workclass="Astronaut"))
    assert info.value.feature == "workclass"
    row = [applicant(reference)[n] for n in census_schema.names]
    assert explainer.explain(row).instance == applicant(reference)
    with pytest.raises(ExplainerError, match="one instance"):
        explainer.explain(None)


def test_each_distinct_row_is_sent_once_per_explanation(census_schema, reference) -> None:
    import numpy as np

    from explainers import CountingModel

    sent: list[int] = []

    def recording(rows):
        sent.append(len(rows))
        return threshold_classifier(rows)

    model = CountingModel(BlackBox(recording, class_names=["no", "yes"]), census_schema)
    matrix = census_schema.to_numeric(reference[census_schema.names].head(5).values.tolist())
    doubled = np.vstack([matrix, matrix[::-1], matrix[:2]])
    scores = model.proba(doubled)
    assert sent == [5] and (model.calls, model.rows) == (1, 5)
    expected = threshold_classifier(census_schema.to_wire(doubled))
    np.testing.assert_array_equal(scores, expected)
    model.proba(matrix[3:])  # all known: no request
    older = matrix[:1].copy()
    older[0, 0] += 1  # one year older: a new row
    model.proba(np.vstack([matrix[:1], older]))
    assert sent == [5, 1] and (model.calls, model.rows) == (2, 6)


def test_distinct_rows_are_sent_in_the_order_they_first_appear(census_schema, reference) -> None:
    import numpy as np

    from explainers import CountingModel

    sent: list[list] = []

    def recording(rows):
        sent.append([list(r) for r in rows])
        return threshold_classifier(rows)

    model = CountingModel(BlackBox(recording, class_names=["no", "yes"]), census_schema)
    matrix = census_schema.to_numeric(reference[census_schema.names].head(6).values.tolist())
    order = [4, 1, 4, 0, 5, 1, 1, 3, 0]
    scores = model.proba(matrix[order])
    assert sent == [census_schema.to_wire(matrix[[4, 1, 0, 5, 3]])]
    np.testing.assert_array_equal(
        scores, threshold_classifier(census_schema.to_wire(matrix[order]))
    )
    mixed = model.proba(matrix[[2, 4, 2, 3]])  # one new row among known ones
    assert sent[1:] == [census_schema.to_wire(matrix[[2]])]
    np.testing.assert_array_equal(
        mixed, threshold_classifier(census_schema.to_wire(matrix[[2, 4, 2, 3]]))
    )


def test_a_fractional_category_code_is_refused_before_any_call(census_schema, reference) -> None:
    import numpy as np

    from explainers import CountingModel

    sent: list[int] = []

    def recording(rows):
        sent.append(len(rows))
        return threshold_classifier(rows)

    model = CountingModel(BlackBox(recording, class_names=["no", "yes"]), census_schema)
    matrix = census_schema.to_numeric(reference[census_schema.names].head(4).values.tolist())
    column = census_schema.names.index("workclass")
    halfway = matrix.copy()
    halfway[2, column] += 0.5
    with pytest.raises(ExplainerError, match="fractional category code"):
        model.proba(np.vstack([matrix, halfway, matrix]))
    nearly = matrix.copy()
    nearly[1, column] += 1e-12  # a rounding error of whole codes is whole
    model.proba(nearly)
    assert sent == [4]


def test_rows_that_share_a_digest_are_told_apart_by_their_bytes(monkeypatch) -> None:
    import numpy as np

    from explainers import model

    matrix = np.array([[1.0, 2.0], [0.0, 0.0], [1.0, 2.0], [-0.0, 0.0], [0.0, 0.0], [2.0, 1.0]])
    expected = ([0, 1, 3, 5], [0, 1, 0, 2, 1, 3])
    first, inverse = model._distinct_rows(matrix)
    assert (first, inverse.tolist()) == expected
    monkeypatch.setattr(model, "_digest", lambda words: np.zeros(len(words), dtype=np.uint64))
    first, inverse = model._distinct_rows(matrix)  # one digest for all: told apart by bytes
    assert (first, inverse.tolist()) == expected


@pytest.mark.parametrize("method", METHODS)
def test_cost_counts_the_requests_a_splitting_predict_function_makes(
    method, census_schema, reference
) -> None:
    """A predict function that sends chunks of at most 7 rows, and retries each first chunk
    once, reports its requests per calling thread; the cost is what it reports."""
    import threading
    from dataclasses import dataclass

    @dataclass
    class Sent:
        calls: int = 0
        rows: int = 0

    local = threading.local()
    invocations = []

    def usage() -> Sent:
        sent = getattr(local, "sent", Sent())
        return Sent(sent.calls, sent.rows)

    def chunked(rows):
        invocations.append(len(rows))
        sent = local.__dict__.setdefault("sent", Sent())
        chunks = [rows[i : i + 7] for i in range(0, len(rows), 7)]
        for i, chunk in enumerate(chunks):
            retried = 2 if i == 0 else 1
            sent.calls += retried
            sent.rows += retried * len(chunk)
        return threshold_classifier(rows)

    labelled = reference.assign(loan=["no"] * len(reference))
    box = BlackBox(chunked, class_names=["no", "yes"], usage=usage)
    explainer = get_explainer_class(method)(
        census_schema, labelled, box, FAST[method], target="loan"
    )
    cost = explainer.explain(instance_for(method, reference)).cost
    chunks = sum(-(-n // 7) for n in invocations)
    assert cost.model_calls == chunks + len(invocations) > len(invocations)
    assert cost.rows == sum(invocations) + sum(min(n, 7) for n in invocations)
