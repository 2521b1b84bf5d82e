"""From raw outcomes to the report's records and summaries. Pure functions of plain data.

A *record* is one explanation as the report keeps it (seconds, error, model calls and rows
counted at the model, and what the method found); a *summary* aggregates the records of
one explainer. Ratios are ours / MLServer's (or ours / in-process shap): below 1, ours is
smaller (faster, cheaper); for throughput, above 1 means ours explains more per second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench import evaluation, stats
from bench.clients import Outcome


def dig(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or None where the path stops."""
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def base_record(outcome: Outcome) -> dict[str, Any]:
    return {
        "seconds": outcome.seconds,
        "error": outcome.error,
        "model_calls": outcome.calls,
        "model_rows": outcome.rows,
    }


def _median_of(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
    return stats.median([r[key] for r in records if r.get(key) is not None])


def _mean_of(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in records if r.get(key) is not None]
    return sum(values) / len(values) if values else None


def _ok(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r["error"] is None]


# --- anchors ------------------------------------------------------------------------------


def anchor_record(outcome: Outcome, kind: str, judge: evaluation.Judge) -> dict[str, Any]:
    """One anchors explanation: time, cost at the model, the rule and its re-measured
    quality. ``kind`` is ``ours`` (structured conditions) or ``mlserver`` (alibi strings)."""
    record = base_record(outcome)
    if not outcome.ok:
        return record
    body = outcome.body
    try:
        if kind == "ours":
            result = body["result"]
            record.update(
                reported_calls=body["cost"]["model_calls"],
                reported_rows=body["cost"]["rows"],
                rule=result["rule"],
                claimed_precision=result["precision"],
            )
            predicates = judge.ours(result["conditions"])
        else:
            data = body["data"]
            record.update(rule=list(data["anchor"]), claimed_precision=_scalar(data["precision"]))
            predicates = judge.alibi(data["anchor"])
    except (KeyError, TypeError, ValueError) as exc:
        record["rule_error"] = f"{type(exc).__name__}: {exc}"
        return record
    record.update(judge.quality(predicates))
    return record


def _scalar(value: Any) -> float:
    return float(value[0]) if isinstance(value, list) else float(value)


def summarise_anchors(records: Sequence[Mapping[str, Any]], threshold: float) -> dict[str, Any]:
    """Latency, cost and quality of one explainer's anchors over the applicants."""
    ok = _ok(records)
    measured = [r for r in ok if "length" in r]
    summary: dict[str, Any] = {
        "explanations": len(records),
        "errors": len(records) - len(ok),
        "latency": stats.latency_summary([r["seconds"] for r in ok]),
        "model_calls_median": _median_of(ok, "model_calls"),
        "model_rows_median": _median_of(ok, "model_rows"),
        "reported_calls_median": _median_of(ok, "reported_calls"),
        "reported_rows_median": _median_of(ok, "reported_rows"),
        "precision": evaluation.precision_summary(
            [r["precision"] for r in measured], threshold, [r["rows"] for r in measured]
        ),
        "rule_errors": sum("rule_error" in r for r in ok),
        "length_median": _median_of(measured, "length"),
        "length_mean": _mean_of(measured, "length"),
        "coverage_median": _median_of(measured, "coverage"),
        "coverage_mean": _mean_of(measured, "coverage"),
        "rows_behind_min": min((r["rows"] for r in measured), default=None),
    }
    return summary


def ratios(ours: Mapping[str, Any], theirs: Mapping[str, Any] | None) -> dict[str, float | None]:
    """ours / theirs of latency (median, p95) and cost (median calls and rows)."""
    paths = {
        "latency_median": ("latency", "median_s"),
        "latency_p95": ("latency", "p95_s"),
        "model_calls_median": ("model_calls_median",),
        "model_rows_median": ("model_rows_median",),
    }
    return {name: stats.ratio(dig(ours, *p), dig(theirs, *p)) for name, p in paths.items()}


def throughput_summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """A ``phases.throughput`` run: successful explanations per second of wall time (None
    when none succeeded)."""
    return {
        "clients": run["clients"],
        "explanations": run["explanations"],
        "ok": run["ok"],
        "errors": len(run["errors"]),
        "seconds": run["seconds"],
        "per_second": stats.rate(run["ok"], run["seconds"]) if run["ok"] else None,
        "model_calls": run["model_calls"],
        "model_rows": run["model_rows"],
        "latency": stats.latency_summary(run["latencies_s"]),
        "health": run["health"],
    }


def repeat_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ok = _ok(records)
    return {
        "latency": stats.latency_summary([r["seconds"] for r in ok]),
        "errors": len(records) - len(ok),
        "model_calls": sum(r["model_calls"] or 0 for r in records),
    }


# --- SHAP ---------------------------------------------------------------------------------


def shap_values(kind: str, body: Any, class_index: int) -> list[float]:
    """The values for one class: ours (``result.contributions``), in-process
    (``{"values"}``) or MLServer's kernel_shap (``data.shap_values[class][0]``)."""
    if kind == "ours":
        return [float(c["shap"]) for c in body["result"]["contributions"]]
    if kind == "in_process":
        return [float(v) for v in body["values"]]
    return [float(v) for v in body["data"]["shap_values"][class_index][0]]


def shap_records(outcomes: Mapping[str, Outcome], class_index: int) -> dict[str, Any]:
    """One applicant's SHAP explanations by name, each compared with the in-process one."""
    records: dict[str, Any] = {}
    for name, outcome in outcomes.items():
        record = base_record(outcome)
        if outcome.ok:
            try:
                record["values"] = shap_values(name, outcome.body, class_index)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                record["error"] = f"unreadable SHAP values: {type(exc).__name__}: {exc}"
            cost = outcome.body.get("cost") if isinstance(outcome.body, dict) else None
            if name == "ours" and isinstance(cost, dict):  # where the time went, as measured
                record["reported_seconds"] = cost.get("seconds")
                record["reported_model_seconds"] = cost.get("model_seconds")
        records[name] = record
    reference = dig(records, "in_process", "values")
    for name, record in records.items():
        if name != "in_process":
            record["max_abs_diff_vs_in_process"] = evaluation.max_abs_difference(
                record.get("values"), reference
            )
    return records


def summarise_shap(per_applicant: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Latency, cost and largest difference to in-process shap, per explainer."""
    names = list(per_applicant[0]) if per_applicant else []
    summary: dict[str, Any] = {}
    for name in names:
        ok = _ok([a[name] for a in per_applicant])
        diffs = [
            r["max_abs_diff_vs_in_process"]
            for r in ok
            if r.get("max_abs_diff_vs_in_process") is not None
        ]
        summary[name] = {
            "explanations": len(per_applicant),
            "errors": len(per_applicant) - len(ok),
            "latency": stats.latency_summary([r["seconds"] for r in ok]),
            "model_calls_median": _median_of(ok, "model_calls"),
            "model_rows_median": _median_of(ok, "model_rows"),
            "max_abs_diff_vs_in_process": max(diffs) if diffs else None,
        }
    median = ("latency", "median_s")
    summary["ratio_ours_in_process_median"] = stats.ratio(
        dig(summary, "ours", *median), dig(summary, "in_process", *median)
    )
    summary["ratio_ours_mlserver_median"] = stats.ratio(
        dig(summary, "ours", *median), dig(summary, "mlserver", *median)
    )
    return summary


# --- counterfactuals ----------------------------------------------------------------------


def counterfactual_rows(
    body: Any, names: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> list[list[float]]:
    """The counterfactuals of ours' answer as rows of codes (a category by name or code)."""
    rows = []
    for found in body["result"]["counterfactuals"]:
        values = found["values"]
        rows.append(
            [
                float(list(categories[n]).index(values[n]))
                if isinstance(values[n], str)
                else float(values[n])
                for n in names
            ]
        )
    return rows


def counterfactual_record(
    outcome: Outcome, class_names: Sequence[str], instance_class: int, rescored: Sequence[int]
) -> dict[str, Any]:
    """Ours' counterfactuals for one applicant; ``rescored`` holds the model's class for
    each, in order. Valid when that is the desired class (the other class by default)."""
    record = base_record(outcome)
    if not outcome.ok:
        return record
    result = outcome.body["result"]
    found = result["counterfactuals"]
    desired = result.get("desired")
    target = list(class_names).index(desired) if desired in class_names else 1 - instance_class
    record.update(
        returned=len(found),
        valid_rescored=sum(int(k) == target for k in rescored),
        valid_reported=sum(bool(c.get("valid")) for c in found),
        changes=[
            [f"{c['feature']}: {c['from_value']} -> {c['to_value']}" for c in cf.get("changes", [])]
            for cf in found
        ],
    )
    return record


def summarise_counterfactuals(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ok = _ok(records)
    return {
        "latency": stats.latency_summary([r["seconds"] for r in ok]),
        "errors": len(records) - len(ok),
        "model_calls_median": _median_of(ok, "model_calls"),
        "returned": sum(r["returned"] for r in ok),
        "valid_rescored": sum(r["valid_rescored"] for r in ok),
        "valid_reported": sum(r["valid_reported"] for r in ok),
        "applicants_with_valid": sum(r["valid_rescored"] > 0 for r in ok),
    }


# --- errors -------------------------------------------------------------------------------


def error_list(applicants: Sequence[Mapping[str, Any]], throughput: Mapping[str, Any]) -> list[str]:
    """Distinct errors, each with the phase and explainer, and how often it happened."""
    seen: dict[str, int] = {}

    def note(where: str, error: str | None) -> None:
        if error:
            key = f"{where}: {error[:300]}"
            seen[key] = seen.get(key, 0) + 1

    for a in applicants:
        for name, r in a["anchors"].items():
            note(f"anchors ({name})", r.get("error") or r.get("rule_error"))
        note("repeat (ours)", a["repeat"]["error"])
        for name, r in a["shap"].items():
            note(f"shap ({name})", r.get("error"))
        note("counterfactual (ours)", a["counterfactual"]["error"])
    for n, by_name in throughput.items():
        for name, run in by_name.items():
            for error in run["errors"]:
                note(f"throughput, {n} client(s) ({name})", error)
    return [f"{key} (x{count})" for key, count in seen.items()]
