"""The report as Markdown, rendered from the JSON report alone, so it can be rebuilt:

python -m bench.markdown bench-output/bench.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import stats
from bench.records import dig


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell: None -> "n/a", integers as they are, floats rounded."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: (label, path under "ours", path under "theirs" or None, digits); "{n}" is the number of
#: concurrent clients, "{t}" the threshold.
Metric = tuple[str, tuple[str, ...], tuple[str, ...] | None, int]

_A_O, _A_M = ("anchors", "ours"), ("anchors", "mlserver")
_S_O, _S_M, _S_I = ("shap", "ours"), ("shap", "mlserver"), ("shap", "in_process")
_T1, _TN = ("throughput", "1"), ("throughput", "{n}")
SUMMARY: list[Metric] = [
    (
        "anchors latency, median (s)",
        (*_A_O, "latency", "median_s"),
        (*_A_M, "latency", "median_s"),
        3,
    ),
    ("anchors latency, p95 (s)", (*_A_O, "latency", "p95_s"), (*_A_M, "latency", "p95_s"), 3),
    ("anchors latency, max (s)", (*_A_O, "latency", "max_s"), (*_A_M, "latency", "max_s"), 3),
    (
        "model calls per anchors explanation, median (counted at the model)",
        (*_A_O, "model_calls_median"),
        (*_A_M, "model_calls_median"),
        1,
    ),
    (
        "rows per anchors explanation, median (counted at the model)",
        (*_A_O, "model_rows_median"),
        (*_A_M, "model_rows_median"),
        1,
    ),
    (
        "model calls per anchors explanation, median (reported in `cost`)",
        (*_A_O, "reported_calls_median"),
        None,
        1,
    ),
    (
        "rows per anchors explanation, median (reported in `cost`)",
        (*_A_O, "reported_rows_median"),
        None,
        1,
    ),
    (
        "throughput, 1 client (explanations/s)",
        (*_T1, "ours", "per_second"),
        (*_T1, "mlserver", "per_second"),
        3,
    ),
    (
        "throughput, {n} clients (explanations/s)",
        (*_TN, "ours", "per_second"),
        (*_TN, "mlserver", "per_second"),
        3,
    ),
    (
        "liveness, worst latency during the {n}-client run (s)",
        (*_TN, "ours", "health", "max_s"),
        (*_TN, "mlserver", "health", "max_s"),
        3,
    ),
    (
        "liveness polls failed during the {n}-client run",
        (*_TN, "ours", "health", "failures"),
        (*_TN, "mlserver", "health", "failures"),
        0,
    ),
    ("cached repeat, median (s)", ("cache", "latency", "median_s"), None, 4),
    ("model calls during all cached repeats", ("cache", "model_calls"), None, 0),
    (
        "anchor precision re-measured, min",
        (*_A_O, "precision", "min"),
        (*_A_M, "precision", "min"),
        3,
    ),
    (
        "anchor precision re-measured, mean",
        (*_A_O, "precision", "mean"),
        (*_A_M, "precision", "mean"),
        3,
    ),
    (
        "anchors below {t} (re-measured)",
        (*_A_O, "precision", "below_threshold"),
        (*_A_M, "precision", "below_threshold"),
        0,
    ),
    (
        "anchors shown below {t} (the 95% interval of the re-measure below it)",
        (*_A_O, "precision", "shown_below_threshold"),
        (*_A_M, "precision", "shown_below_threshold"),
        0,
    ),
    (
        "anchors that no evaluation row satisfies",
        (*_A_O, "precision", "unmeasured"),
        (*_A_M, "precision", "unmeasured"),
        0,
    ),
    (
        "fewest evaluation rows behind a precision",
        (*_A_O, "rows_behind_min"),
        (*_A_M, "rows_behind_min"),
        0,
    ),
    ("rule length (predicates), median", (*_A_O, "length_median"), (*_A_M, "length_median"), 1),
    ("rule length (predicates), mean", (*_A_O, "length_mean"), (*_A_M, "length_mean"), 2),
    ("coverage on the evaluation set, mean", (*_A_O, "coverage_mean"), (*_A_M, "coverage_mean"), 3),
    (
        "coverage on the evaluation set, median",
        (*_A_O, "coverage_median"),
        (*_A_M, "coverage_median"),
        3,
    ),
    (
        "applicants whose rule changes over 5 seeds (MLServer: 5 repeats, its seed is fixed)",
        (*_A_O, "seed_stability", "changed"),
        (*_A_M, "seed_stability", "changed"),
        0,
    ),
    (
        "share of applicants whose rule changes with the seed",
        (*_A_O, "seed_stability", "share_changed"),
        (*_A_M, "seed_stability", "share_changed"),
        2,
    ),
    (
        "anchors below {t} re-measured, the 5 seeds' rules",
        (*_A_O, "seed_stability", "precision", "below_threshold"),
        (*_A_M, "seed_stability", "precision", "below_threshold"),
        0,
    ),
    (
        "anchors shown below {t}, the 5 seeds' rules",
        (*_A_O, "seed_stability", "precision", "shown_below_threshold"),
        (*_A_M, "seed_stability", "precision", "shown_below_threshold"),
        0,
    ),
    (
        "anchor precision re-measured, the 5 seeds' rules, min",
        (*_A_O, "seed_stability", "precision", "min"),
        (*_A_M, "seed_stability", "precision", "min"),
        3,
    ),
    ("anchors explanations failed", (*_A_O, "errors"), (*_A_M, "errors"), 0),
    ("SHAP latency, median (s)", (*_S_O, "latency", "median_s"), (*_S_M, "latency", "median_s"), 3),
    (
        "SHAP model calls, median (counted at the model)",
        (*_S_O, "model_calls_median"),
        (*_S_M, "model_calls_median"),
        1,
    ),
    (
        "SHAP rows, median (counted at the model)",
        (*_S_O, "model_rows_median"),
        (*_S_M, "model_rows_median"),
        1,
    ),
    (
        "SHAP, max abs difference to in-process shap",
        (*_S_O, "max_abs_diff_vs_in_process"),
        (*_S_M, "max_abs_diff_vs_in_process"),
        4,
    ),
    ("SHAP explanations failed", (*_S_O, "errors"), (*_S_M, "errors"), 0),
]
SHAP_IN_PROCESS: list[Metric] = [
    ("SHAP latency, median (s)", (*_S_O, "latency", "median_s"), (*_S_I, "latency", "median_s"), 3),
    ("SHAP latency, p95 (s)", (*_S_O, "latency", "p95_s"), (*_S_I, "latency", "p95_s"), 3),
    (
        "SHAP model calls, median (counted at the model)",
        (*_S_O, "model_calls_median"),
        (*_S_I, "model_calls_median"),
        1,
    ),
]
COUNTERFACTUALS: list[tuple[str, tuple[str, ...], int]] = [
    ("latency, median (s)", ("latency", "median_s"), 3),
    ("latency, worst (s)", ("latency", "max_s"), 3),
    ("model calls, median (counted at the model)", ("model_calls_median",), 1),
    ("explanations failed", ("errors",), 0),
    ("counterfactuals returned", ("returned",), 0),
    ("valid when re-scored by the model", ("valid_rescored",), 0),
    ("marked valid by the service", ("valid_reported",), 0),
    ("applicants with at least one valid counterfactual", ("applicants_with_valid",), 0),
]


#: (label, first key, second key or None) of each engine's summary in ``bench.counterfactuals``
COUNTERFACTUALS_VS_DICE = [
    ("latency median / worst (s)", "median_seconds", "max_seconds"),
    ("model calls median / worst", "median_model_calls", "max_model_calls"),
    ("rows median", "median_rows", None),
    ("counterfactuals returned / valid", "returned", "valid"),
    ("applicants with one", "applicants_with_one", None),
    ("features changed mean / median", "changed_mean", "changed_median"),
    ("distance to the instance mean / median", "distance_mean", "distance_median"),
    ("breaking a link or proposing '?'", "breaking_a_constraint", None),
]


def counterfactuals_vs_dice(report: Mapping[str, Any]) -> str:
    """The report of ``bench.counterfactuals``: ours against dice-ml, one column each."""
    engines = report["engines"]

    def cell(summary: Mapping[str, Any], first: str, second: str | None) -> str:
        shown = [summary[first]] + ([summary[second]] if second else [])
        return " / ".join("-" if v is None else f"{v:.3g}" for v in shown)

    rows = [
        [name] + [cell(engines[e], a, b) for e in engines] for name, a, b in COUNTERFACTUALS_VS_DICE
    ]
    return (
        f"Counterfactuals, {report['applicants']} held-out applicants, {report['total']} asked "
        f"for each, seed {report['seed']} (dice-ml fitted in {report['dice_fit_seconds']} s)."
        "\n\n" + table(["metric", *engines], rows) + "\n"
    )


TEXT_COLUMNS = [
    "engine",
    "median s",
    "median calls",
    "median rows",
    "mean anchor words",
    "median precision, 1,000 fresh perturbed texts",
    "perturbed precision < 0.95",
    "median held-out precision",
    "held-out precision < 0.95",
    "median held-out reviews with the words",
    "corpus check met",
    "setup rows",
]


def text_comparison(report: Mapping[str, Any]) -> str:
    """The report of ``bench.text``: text anchors, ours against alibi's ``AnchorText``, then
    one SHAP explanation of a longer review."""
    rows = []
    for engine, s in report["engines"].items():
        rows.append(
            [
                engine,
                fmt(s["median_seconds"], 2),
                fmt(s["median_calls"], 0),
                fmt(s["median_rows"], 0),
                fmt(s["mean_words"], 1),
                fmt(s.get("median_perturbed_precision")),
                f"{s.get('perturbed_below_threshold', 0)} of {s.get('perturbed_measured', 0)}",
                fmt(s["median_held_out_precision"]),
                f"{s['below_threshold']} of {s['measured']}",
                fmt(s.get("median_held_out_support"), 0),
                f"{s['corpus_met']} of {s['corpus_checked']}" if s.get("corpus_checked") else "n/a",
                fmt(s.get("setup_rows"), 0),
            ]
        )
    shap = report["shap"]
    return (
        f"Text anchors, {report['reviews']} held-out reviews of 15-60 words.\n\n"
        + table(TEXT_COLUMNS, rows)
        + f"\n\nSHAP, {shap['tokens']} tokens: {fmt(shap['seconds'], 2)} s, {shap['calls']} "
        f"calls, {shap['rows']} rows, largest standard error "
        f"{fmt(shap['max_standard_error'])}.\n"
    )


def metric_rows(report: Mapping[str, Any], metrics: Sequence[Metric]) -> list[list[str]]:
    """One table row per metric: label, ours, theirs, ours/theirs."""
    n = str(dig(report, "settings", "clients") or 4)
    t = fmt(dig(report, "settings", "threshold"), 2)
    rows = []
    for label, ours, theirs, digits in metrics:
        ours = tuple(p.format(n=n) for p in ours)
        a = dig(report, *ours)
        b = dig(report, *(p.format(n=n) for p in theirs)) if theirs is not None else None
        rows.append(
            [label.format(n=n, t=t), fmt(a, digits), fmt(b, digits), fmt(stats.ratio(a, b), 2)]
        )
    return rows


def render(report: Mapping[str, Any]) -> str:
    """The summary tables, then per-applicant tables, errors and notes."""
    cf = report.get("counterfactuals") or {}
    parts = [
        "# Benchmark: explainer service vs MLServer 1.6.1 alibi-explain",
        "",
        _environment_line(report.get("environment", {}), report),
        "",
        table(["metric", "ours", "MLServer", "ours/MLServer"], metric_rows(report, SUMMARY)),
        "",
        "In-process shap: `shap.KernelExplainer` in the benchmark process with the same "
        "nsamples and a k-means background of the same size (the service's background is "
        "real rows), calling the same model server over HTTP.",
        "",
        table(
            ["metric", "ours", "in-process shap", "ours/in-process"],
            metric_rows(report, SHAP_IN_PROCESS),
        ),
        "",
        "## Counterfactuals (ours only)",
        "",
        table(
            ["metric", "value"],
            [[label, fmt(dig(cf, *path), digits)] for label, path, digits in COUNTERFACTUALS],
        ),
        "",
        *_reference_sections(report),
        "## Anchors per applicant",
        "",
        _anchors_table(report),
        "",
        "## SHAP per applicant",
        "",
        _shap_table(report),
    ]
    errors = report.get("errors") or []
    if errors:
        parts += ["", "## Errors", "", *[f"- {e}" for e in errors]]
    parts += ["", "## Notes", "", *[f"- {n}" for n in report.get("notes", [])]]
    return "\n".join(parts) + "\n"


def _reference_sections(report: Mapping[str, Any]) -> list[str]:
    """Ours against dice-ml and against alibi's ``AnchorText``, when they were run."""
    parts = []
    dice, text = report.get("counterfactuals_vs_dice"), report.get("text")
    if dice:
        parts += ["## Counterfactuals against dice-ml", "", counterfactuals_vs_dice(dice)]
    if text:
        parts += ["## Text anchors against alibi's AnchorText", "", text_comparison(text)]
    return parts


def _environment_line(env: Mapping[str, Any], report: Mapping[str, Any]) -> str:
    settings = report.get("settings", {})
    versions = env.get("versions", {})
    return (
        f"{env.get('date', '')}, commit `{env.get('commit', '?')}`"
        f"{' (uncommitted changes)' if env.get('dirty') else ''}, {env.get('cores', '?')} cores, "
        f"load average {env.get('load_before', '?')} before / {env.get('load_after', '?')} after; "
        f"{settings.get('applicants', '?')} applicants, "
        f"threshold {settings.get('threshold', '?')}, "
        f"payload {dig(report, 'payload', 'sent') or '?'}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
    )


ANCHOR_COLUMNS = [
    "#",
    "predicted",
    "explainer",
    "s",
    "calls",
    "rows",
    "calls (cost)",
    "precision",
    "rows behind",
    "coverage",
    "length",
    "rule",
]
SHAP_COLUMNS = [
    "#",
    "predicted",
    "ours s",
    "in-process s",
    "MLServer s",
    "ours max abs diff",
    "MLServer max abs diff",
    "errors",
]


def _anchors_table(report: Mapping[str, Any]) -> str:
    rows = []
    for a in report.get("applicants", []):
        for name in ("ours", "mlserver"):
            r = dig(a, "anchors", name)
            if r is None:
                continue
            rule = " AND ".join(r.get("rule", [])) if r.get("error") is None else r["error"]
            rows.append(
                [
                    a["index"],
                    a["predicted"],
                    name,
                    fmt(r["seconds"]),
                    fmt(r.get("model_calls")),
                    fmt(r.get("model_rows")),
                    fmt(r.get("reported_calls")),
                    fmt(r.get("precision")),
                    fmt(r.get("rows")),
                    fmt(r.get("coverage")),
                    fmt(r.get("length")),
                    rule,
                ]
            )
    return table(ANCHOR_COLUMNS, rows)


def _shap_table(report: Mapping[str, Any]) -> str:
    rows = []
    for a in report.get("applicants", []):
        s = a.get("shap") or {}
        rows.append(
            [
                a["index"],
                a["predicted"],
                fmt(dig(s, "ours", "seconds")),
                fmt(dig(s, "in_process", "seconds")),
                fmt(dig(s, "mlserver", "seconds")),
                fmt(dig(s, "ours", "max_abs_diff_vs_in_process"), 4),
                fmt(dig(s, "mlserver", "max_abs_diff_vs_in_process"), 4),
                "; ".join(
                    f"{k}: {v['error']}"
                    for k, v in s.items()
                    if isinstance(v, dict) and v.get("error")
                )[:200],
            ]
        )
    return table(SHAP_COLUMNS, rows)


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())), end="")
