"""Whether an applicant's anchor changes with the seed.

The latency run and the two throughput runs already explain every applicant with the
seeds ``seed + 1``, ``seed + 2`` and ``seed + 3``; ``more_seeds`` adds ``seed`` and
``seed + 4``, so every applicant has five. An applicant's rule *changes* when the rules of
its seeds (each as the set of its predicates, as the explainer printed them) are not all the
same; explanations that failed are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx
from tqdm import tqdm

from bench import evaluation
from bench.clients import TIMEOUT, Outcome

Rule = list[str]


class _Explainer(Protocol):
    name: str

    def anchors(self, client: httpx.Client, row: list[float], seed: int) -> Outcome: ...


def rule_of(outcome: Outcome, kind: str) -> Rule | None:
    """The rule of one anchors explanation, its predicates sorted; None when it failed.
    ``kind``: ``ours`` (``result.rule``) or ``mlserver`` (alibi's ``data.anchor``)."""
    if not outcome.ok:
        return None
    try:
        body = outcome.body
        rule = body["result"]["rule"] if kind == "ours" else body["data"]["anchor"]
        return sorted(str(p) for p in rule)
    except (KeyError, TypeError):
        return None


def more_seeds(
    explainer: _Explainer, rows: Sequence[list[float]], seeds: Sequence[int]
) -> dict[int, list[Rule | None]]:
    """Seed -> the rule of each applicant, explained once per seed, one at a time."""
    out: dict[int, list[Rule | None]] = {}
    with httpx.Client(timeout=TIMEOUT) as client:
        for seed in seeds:
            desc = f"{explainer.name} anchors, seed {seed}"
            out[seed] = [
                rule_of(explainer.anchors(client, row, seed), explainer.name)
                for row in tqdm(rows, desc=desc, unit="applicant")
            ]
    return out


def summarise(by_seed: Mapping[int, Sequence[Rule | None]]) -> dict[str, Any]:
    """How many applicants (with at least two seeds answered) got more than one rule."""
    seeds = sorted(by_seed)
    applicants = len(next(iter(by_seed.values()), []))
    compared = changed = 0
    distinct = []
    for i in range(applicants):
        rules = {tuple(by_seed[s][i] or ()) for s in seeds if by_seed[s][i] is not None}
        answered = sum(by_seed[s][i] is not None for s in seeds)
        if answered < 2:
            continue
        compared += 1
        changed += len(rules) > 1
        distinct.append(len(rules))
    return {
        "seeds": seeds,
        "applicants": compared,
        "changed": changed,
        "share_changed": changed / compared if compared else None,
        "distinct_rules_max": max(distinct, default=None),
    }


def precision_over_seeds(
    by_seed: Mapping[int, Sequence[Rule | None]],
    judges: Sequence[evaluation.Judge],
    threshold: float,
) -> dict[str, Any]:
    """Every seed's rule of every applicant (``judges``, one per applicant) re-measured on
    the evaluation set: ``evaluation.precision_summary`` of them all, with ``anchors``
    counted. One seed's twenty rules say little of how often an explainer's rules fall
    below the threshold; five seeds' hundred say more."""
    precisions: list[float | None] = []
    rows: list[int] = []
    for rules in by_seed.values():
        for judge, rule in zip(judges, rules, strict=True):
            if rule is None:
                continue
            quality = judge.quality(judge.alibi(rule))
            precisions.append(quality["precision"])
            rows.append(quality["rows"])
    return {"anchors": len(precisions), **evaluation.precision_summary(precisions, threshold, rows)}
