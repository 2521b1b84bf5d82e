"""The benchmark's pure parts: rules as masks, summaries, the proxy's counting, the report.

None of this needs MLServer; ``make bench`` itself is not part of the tests.
"""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from bench import data, evaluation, markdown, ours, proxy, records, rules, stability, stats
from bench.clients import Outcome, error_text
from tests.helpers.support import ROOT

NAMES = ["age", "workclass", "education", "education-num", "hours-per-week"]
CATEGORIES = {
    "workclass": ["?", "Private", "State-gov"],
    "education": ["Bachelors", "HS-grad", "Masters"],
}
#: age, workclass, education, education-num, hours-per-week (codes for the categories)
MATRIX = np.array(
    [
        [25, 1, 1, 9, 40],
        [30, 1, 0, 13, 50],
        [38, 2, 0, 13, 40],
        [45, 1, 2, 14, 60],
        [52, 0, 1, 9, 20],
        [28, 1, 0, 13, 45],
    ],
    dtype=float,
)


def rows_of(predicates: list[rules.Predicate]) -> list[int]:
    return np.flatnonzero(rules.mask(predicates, MATRIX, NAMES)).tolist()


# --- rules in alibi's form ----------------------------------------------------------------


def test_alibi_range_is_two_bounds() -> None:
    predicates = rules.from_alibi(["28.00 < age <= 45.00"], NAMES, CATEGORIES)
    assert predicates == [rules.Predicate("age", ">", 28.0), rules.Predicate("age", "<=", 45.0)]
    assert rows_of(predicates) == [1, 2, 3]
    assert rules.length(predicates) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("age <= 28.00", [0, 5]),
        ("age > 45.00", [4]),
        ("hours-per-week > 40.00", [1, 3, 5]),
        ("workclass = Private", [0, 1, 3, 5]),
        ("workclass = ?", [4]),
        ("education = Bachelors", [1, 2, 5]),
        ("education-num > 9.00", [1, 2, 3, 5]),
    ],
)
def test_alibi_predicates(text: str, expected: list[int]) -> None:
    predicates = rules.from_alibi([text], NAMES, CATEGORIES)
    assert len(predicates) == 1
    assert rows_of(predicates) == expected


def test_alibi_rule_is_the_conjunction() -> None:
    anchor = ["workclass = Private", "education-num > 9.00", "28.00 < age <= 45.00"]
    predicates = rules.from_alibi(anchor, NAMES, CATEGORIES)
    assert rows_of(predicates) == [1, 3]
    assert rules.length(predicates) == 4


def test_feature_names_sharing_a_prefix() -> None:
    """``education-num > 9.00`` is not read as a predicate on ``education``."""
    (predicate,) = rules.from_alibi(["education-num > 9.00"], NAMES, CATEGORIES)
    assert predicate == rules.Predicate("education-num", ">", 9.0)


@pytest.mark.parametrize(
    "text",
    ["workclass = Unknown", "height > 3.00", "age ~ 3", "1.00 < height <= 2.00", "age > x"],
)
def test_unreadable_alibi_predicates_raise(text: str) -> None:
    with pytest.raises(ValueError):
        rules.from_alibi([text], NAMES, CATEGORIES)


# --- rules in the service's form ----------------------------------------------------------


def test_conditions_with_category_names_and_codes() -> None:
    by_name = rules.from_conditions(
        [
            {"feature": "workclass", "operator": "=", "value": "Private"},
            {"feature": "age", "operator": ">", "value": 28},
            {"feature": "age", "operator": "<=", "value": 45.0},
        ],
        CATEGORIES,
    )
    by_code = rules.from_conditions(
        [
            {"feature": "workclass", "operator": "=", "value": 1},
            {"feature": "age", "operator": ">", "value": 28},
            {"feature": "age", "operator": "<=", "value": 45},
        ],
        CATEGORIES,
    )
    assert by_name == by_code
    assert rows_of(by_name) == [1, 3]
    assert rules.length(by_name) == 3


def test_both_forms_of_one_rule_select_the_same_rows() -> None:
    conditions = [
        {"feature": "education", "operator": "=", "value": "Bachelors"},
        {"feature": "hours-per-week", "operator": ">", "value": 40.0},
    ]
    alibi = ["education = Bachelors", "hours-per-week > 40.00"]
    ours_rule = rules.from_conditions(conditions, CATEGORIES)
    alibi_rule = rules.from_alibi(alibi, NAMES, CATEGORIES)
    assert rows_of(ours_rule) == rows_of(alibi_rule) == [1, 5]


@pytest.mark.parametrize(
    "condition",
    [
        {"feature": "workclass", "operator": "<=", "value": 1},
        {"feature": "workclass", "operator": "=", "value": "Nowhere"},
        {"feature": "workclass", "operator": "=", "value": 3},
        {"feature": "workclass", "operator": "=", "value": 1.5},
        {"feature": "age", "operator": "!=", "value": 3},
    ],
)
def test_invalid_conditions_raise(condition: dict) -> None:
    with pytest.raises(ValueError):
        rules.from_conditions([condition], CATEGORIES)


def test_empty_rule_holds_everywhere_and_unknown_features_raise() -> None:
    assert rows_of([]) == list(range(len(MATRIX)))
    with pytest.raises(ValueError):
        rules.mask([rules.Predicate("height", ">", 1.0)], MATRIX, NAMES)
    with pytest.raises(ValueError):
        rules.mask([], MATRIX[:, :3], NAMES)


# --- evaluation ---------------------------------------------------------------------------


def test_anchor_quality_counts_the_rows_behind_the_precision() -> None:
    predicted = np.array([0, 1, 1, 0, 0, 1])
    predicates = rules.from_alibi(["workclass = Private"], NAMES, CATEGORIES)  # rows 0, 1, 3, 5
    quality = evaluation.anchor_quality(predicates, MATRIX, predicted, 1, NAMES)
    assert quality == {"precision": 0.5, "rows": 4, "coverage": 4 / 6, "length": 1}
    nobody = rules.from_alibi(["age > 90.00"], NAMES, CATEGORIES)
    empty = evaluation.anchor_quality(nobody, MATRIX, predicted, 1, NAMES)
    assert empty["precision"] is None and empty["rows"] == 0 and empty["coverage"] == 0.0


def test_precision_summary() -> None:
    summary = evaluation.precision_summary([0.99, 0.9, None, 0.95, 0.5], 0.95)
    assert summary == {
        "measured": 4,
        "unmeasured": 1,
        "min": 0.5,
        "mean": pytest.approx((0.99 + 0.9 + 0.95 + 0.5) / 4),
        "below_threshold": 2,
    }
    counted = evaluation.precision_summary([13 / 14, 0.5, None, 0.9], 0.95, [14, 40, 0, 1000])
    assert counted["below_threshold"] == 3  # 13 of 14 too
    assert counted["shown_below_threshold"] == 2  # 20 of 40 and 900 of 1000, not 13 of 14
    assert evaluation.upper_bound(13, 14) == pytest.approx(0.9963, abs=1e-4)
    assert evaluation.upper_bound(5, 5) == 1.0
    nothing = evaluation.precision_summary([None], 0.95)
    assert nothing["min"] is None and nothing["below_threshold"] is None
    assert nothing["unmeasured"] == 1


def test_every_seeds_rule_is_re_measured() -> None:
    predicted = np.array([0, 1, 1, 0, 0, 1])
    judges = [evaluation.Judge(NAMES, CATEGORIES, MATRIX, predicted, k) for k in (1, 0)]
    by_seed = {
        1: [["workclass = Private"], None],  # 2 of its 4 rows are class 1; failed
        2: [["education-num > 10"], ["age > 200"]],  # 3 of 4; no row
    }
    found = stability.precision_over_seeds(by_seed, judges, 0.95)
    assert found["anchors"] == 3 and found["measured"] == 2 and found["unmeasured"] == 1
    assert found["below_threshold"] == 2 and found["min"] == 0.5
    assert found["shown_below_threshold"] == 1  # 3 of 4: the interval reaches 0.95


def test_max_abs_difference() -> None:
    assert evaluation.max_abs_difference([0.1, -0.2, 0.3], [0.1, 0.1, 0.25]) == pytest.approx(0.3)
    assert evaluation.max_abs_difference(None, [1.0]) is None
    with pytest.raises(ValueError):
        evaluation.max_abs_difference([1.0], [1.0, 2.0])


# --- statistics ---------------------------------------------------------------------------


def test_percentiles_interpolate_linearly() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert stats.percentile(values, 95) == pytest.approx(95.05)
    assert stats.median([3.0, 1.0, 2.0, 10.0]) == pytest.approx(2.5)
    assert stats.percentile([], 50) is None
    assert stats.latency_summary([0.2, 0.1, 0.4]) == {
        "count": 3,
        "median_s": pytest.approx(0.2),
        "p95_s": pytest.approx(0.38),
        "max_s": 0.4,
    }


@pytest.mark.parametrize(
    ("ours_value", "theirs", "expected"),
    [(1.5, 0.5, 3.0), (0.5, 2.0, 0.25), (1.0, 0.0, None), (None, 1.0, None), (1.0, None, None)],
)
def test_ratio(ours_value: float | None, theirs: float | None, expected: float | None) -> None:
    assert stats.ratio(ours_value, theirs) == expected


def test_rate() -> None:
    assert stats.rate(20, 8.0) == 2.5
    assert stats.rate(3, 0.0) is None


# --- records ------------------------------------------------------------------------------


def judge() -> evaluation.Judge:
    predicted = np.array([0, 1, 1, 0, 0, 1])
    return evaluation.Judge(NAMES, CATEGORIES, MATRIX, predicted, 1)


def test_anchor_records_of_both_explainers() -> None:
    ours_body = {
        "result": {
            "rule": ["workclass = Private", "age <= 30"],
            "conditions": [
                {"feature": "workclass", "operator": "=", "value": "Private"},
                {"feature": "age", "operator": "<=", "value": 30},
            ],
            "precision": 0.97,
        },
        "cost": {"model_calls": 12, "rows": 900},
    }
    theirs_body = {"data": {"anchor": ["workclass = Private", "age <= 30.00"], "precision": 0.96}}
    mine = records.anchor_record(Outcome(0.5, 200, ours_body, None, 13, 901), "ours", judge())
    alibi = records.anchor_record(Outcome(0.4, 200, theirs_body, None, 9, 800), "mlserver", judge())
    assert mine["reported_calls"] == 12 and mine["model_calls"] == 13
    assert mine["rows"] == alibi["rows"] == 3  # rows 0, 1, 5
    assert mine["precision"] == alibi["precision"] == pytest.approx(2 / 3)
    assert alibi["claimed_precision"] == 0.96 and "reported_calls" not in alibi
    longer = {**mine, "length": 5, "coverage": 0.1}
    summary = records.summarise_anchors([mine, longer], 0.95)
    assert summary["length_mean"] == (mine["length"] + 5) / 2
    assert summary["coverage_mean"] == pytest.approx((mine["coverage"] + 0.1) / 2)


def test_failed_and_unreadable_anchor_records() -> None:
    failed = records.anchor_record(Outcome(0.1, 422, None, "422 x: y"), "ours", judge())
    assert failed["error"] == "422 x: y" and "precision" not in failed
    odd = {"data": {"anchor": ["colour = blue"], "precision": 1.0}}
    unreadable = records.anchor_record(Outcome(0.1, 200, odd, None), "mlserver", judge())
    assert "cannot read" in unreadable["rule_error"]
    summary = records.summarise_anchors([failed, unreadable], 0.95)
    assert summary["errors"] == 1 and summary["rule_errors"] == 1
    assert summary["precision"]["measured"] == 0


def test_shap_records_compare_with_in_process() -> None:
    outcomes = {
        "ours": Outcome(
            0.2, 200, {"result": {"contributions": [{"shap": 0.1}, {"shap": -0.3}]}}, None
        ),
        "in_process": Outcome(0.1, 200, {"values": [0.1, -0.2]}, None),
        "mlserver": Outcome(
            0.3, 200, {"data": {"shap_values": [[[-0.1, 0.2]], [[0.15, -0.2]]]}}, None
        ),
    }
    shap = records.shap_records(outcomes, class_index=1)
    assert shap["ours"]["max_abs_diff_vs_in_process"] == pytest.approx(0.1)
    assert shap["mlserver"]["values"] == [0.15, -0.2]
    assert shap["mlserver"]["max_abs_diff_vs_in_process"] == pytest.approx(0.05)
    summary = records.summarise_shap([shap])
    assert summary["ratio_ours_in_process_median"] == pytest.approx(2.0)


def test_counterfactual_validity_comes_from_the_rescoring() -> None:
    body = {
        "result": {
            "desired": ">50K",
            "counterfactuals": [
                {"values": {"age": 30, "workclass": "Private"}, "changes": [], "valid": True},
                {"values": {"age": 31, "workclass": 2}, "changes": [], "valid": True},
            ],
        }
    }
    rows = records.counterfactual_rows(body, ["age", "workclass"], CATEGORIES)
    assert rows == [[30.0, 1.0], [31.0, 2.0]]
    record = records.counterfactual_record(
        Outcome(1.0, 200, body, None), ["<=50K", ">50K"], 0, [1, 0]
    )
    assert record["valid_rescored"] == 1 and record["valid_reported"] == 2
    summary = records.summarise_counterfactuals([record])
    assert summary["applicants_with_valid"] == 1


# --- the data -----------------------------------------------------------------------------


def test_applicants_alternate_classes_and_are_deterministic() -> None:
    predicted = np.array([0] * 30 + [1] * 8)
    first = data.pick_applicants(predicted, 4, seed=3)
    assert first.tolist() == data.pick_applicants(predicted, 4, seed=3).tolist()
    assert predicted[first].tolist() == [0, 1] * 4
    assert len(set(first.tolist())) == 8
    with pytest.raises(ValueError):
        data.pick_applicants(predicted, 9, seed=3)


def test_encode_uses_sorted_categories() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {name: [1, 2] for name in data.FEATURES} | {name: ["b", "a"] for name in data.CATEGORICAL}
    )
    matrix, categories = data.encode(frame)
    assert categories["workclass"] == ["a", "b"]
    assert matrix[:, data.FEATURES.index("workclass")].tolist() == [1.0, 0.0]
    assert matrix[:, data.FEATURES.index("age")].tolist() == [1.0, 2.0]


# --- payloads, errors, the proxy ------------------------------------------------------------


def test_payloads_are_tensors() -> None:
    fp64 = ours.payload([39.0, 4.0])
    assert fp64["inputs"][0] == {
        "name": "input-0",
        "shape": [1, 2],
        "datatype": "FP64",
        "data": [39.0, 4.0],
    }
    assert ours.payload([39.0, 4.0], "INT64")["inputs"][0]["data"] == [39, 4]


def test_error_text_of_both_servers() -> None:
    ours_error = {"error": {"code": "unknown_category", "message": "unknown category 4.0"}}
    assert error_text(422, ours_error, "") == "422 unknown_category: unknown category 4.0"
    assert error_text(400, {"error": "bad"}, "") == "400: bad"
    assert error_text(502, None, "<html>gateway</html>") == "502: <html>gateway</html>"


def test_rows_of_a_v2_request() -> None:
    body = {"inputs": [{"name": "x", "shape": [7, 12], "datatype": "FP64", "data": []}]}
    assert proxy.rows_of(json.dumps(body).encode()) == 7
    assert proxy.rows_of(b"not json") == 0
    assert proxy.rows_of(b"{}") == 0


def test_proxy_forwards_and_counts() -> None:
    seen: list[tuple[str, str]] = []

    def model(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        return httpx.Response(200, json={"outputs": [{"data": [0.3, 0.7]}]})

    app = proxy.create_app("http://model", transport=httpx.MockTransport(model))
    body = {"inputs": [{"name": "x", "shape": [3, 2], "datatype": "FP64", "data": [0] * 6}]}

    async def scenario() -> list[object]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            answers = [(await client.post("/v2/models/m/infer", json=body)).json() for _ in "ab"]
            await client.get("/v2/models/m")
            counted = (await client.get("/_bench/stats")).json()
            await client.post("/_bench/reset")
            reset = (await client.get("/_bench/stats")).json()
        return [answers, counted, reset]

    answers, counted, reset = asyncio.run(scenario())
    assert answers == [{"outputs": [{"data": [0.3, 0.7]}]}] * 2
    assert counted == {"calls": 2, "rows": 6, "other": 1}
    assert reset == {"calls": 0, "rows": 0, "other": 0}
    assert seen == [("POST", "/v2/models/m/infer")] * 2 + [("GET", "/v2/models/m")]


# --- the report ---------------------------------------------------------------------------


def test_markdown_has_the_ratios_and_marks_what_is_missing() -> None:
    report = {
        "settings": {"clients": 4, "threshold": 0.95, "applicants": 2},
        "anchors": {
            "ours": {"latency": {"median_s": 1.5, "p95_s": 3.0}, "model_calls_median": 20.0},
            "mlserver": {"latency": {"median_s": 0.5, "p95_s": 1.0}, "model_calls_median": 40.0},
        },
        "throughput": {"4": {"ours": {"per_second": 2.0}, "mlserver": {"per_second": 1.0}}},
    }
    text = markdown.render(report)
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert lines["anchors latency, median (s)"].endswith("| 1.500 | 0.500 | 3.00 |")
    assert lines["model calls per anchors explanation, median (counted at the model)"].endswith(
        "| 20.0 | 40.0 | 0.50 |"
    )
    assert lines["throughput, 4 clients (explanations/s)"].endswith("| 2.000 | 1.000 | 2.00 |")
    assert lines["throughput, 1 client (explanations/s)"].endswith("| n/a | n/a | n/a |")


def test_throughput_of_a_run_where_everything_failed_is_not_zero() -> None:
    run = {
        "clients": 4,
        "explanations": 3,
        "ok": 0,
        "errors": ["422 x: y"] * 3,
        "seconds": 0.3,
        "latencies_s": [0.1] * 3,
        "model_calls": 0,
        "model_rows": 0,
        "health": {},
    }
    assert records.throughput_summary(run)["per_second"] is None
    assert records.throughput_summary({**run, "ok": 3})["per_second"] == pytest.approx(10.0)


def test_table_cells_cannot_break_the_table() -> None:
    text = markdown.table(["a", "b"], [["x | y", "two\nlines"]])
    assert text.splitlines()[2] == "| x \\| y | two lines |"


# --- the rule of the house ------------------------------------------------------------------


def imported(path: Path) -> set[str]:
    """Top-level packages a module imports."""
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {name.split(".")[0] for name in names}


def test_the_bench_uses_only_the_http_api() -> None:
    """The bench is rerun against the service as it changes: it imports none of it."""
    service = {"explainer_service", "explainers"}
    offenders = {p.name: imported(p) & service for p in (ROOT / "bench").rglob("*.py")}
    assert {name: found for name, found in offenders.items() if found} == {}
