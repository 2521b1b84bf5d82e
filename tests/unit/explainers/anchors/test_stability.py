"""The anchor of one instance does not change with the seed where the model has a rule.

The model is positive iff education-num >= 13 or capital-gain > 5,000: an applicant with
13 years or more is anchored by ``education-num > 12``, one with fewer by ``education-num
<= 12`` (the other clause holds for few rows: about 3% of those with fewer years have gains
above 5,000, so that rule's precision is near 0.97, and slices of it near the threshold, as
education-num 11, below 0.95: where a search that judges them on a biased sample stops at
10 or 11 under one seed and at 12 under another).

Of the first 40 held-out applicants, at most 3 get more than one rule over seeds 0-4 (the
numbers before and after each change are in docs/methods.md#anchors).
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from examples.income import paths
from explainers import BlackBox, FeatureSchema
from explainers.anchors.explainer import AnchorsExplainer
from tests.helpers.ground_truth import threshold_classifier

APPLICANTS = 40
SEEDS = range(5)


def test_seeds_land_on_the_same_rule(census_schema: FeatureSchema, reference: pd.DataFrame) -> None:
    explainer = AnchorsExplainer(
        census_schema, reference, BlackBox(threshold_classifier, class_names=["no", "yes"])
    )
    holdout = pd.read_csv(paths.HOLDOUT)[paths.FEATURES]
    changed, found = 0, Counter()
    for i in range(APPLICANTS):
        record = holdout.iloc[i].to_dict()
        rules = set()
        for seed in SEEDS:
            explanation = explainer.explain(record, {"seed": seed})
            assert explanation.fidelity.threshold_met
            rule = tuple(explanation.result.rule)
            rules.add(rule)
            found[rule] += 1
            if record["education-num"] >= 13:
                assert rule == ("education-num > 12",), (i, seed)
        changed += len(rules) > 1
    assert changed <= 3, found  # of the applicants, those whose rule changes with the seed
    assert found.most_common(1)[0][0] == ("education-num <= 12",), found
