"""The anchor search on its own: bounds, sampling, the sequential decision, batching."""

from __future__ import annotations

import numpy as np
import pytest

from explainers.anchors.search import (
    AnchorSearch,
    Predicate,
    SearchSettings,
    _Walk,
    clopper_pearson,
    instance_predicates,
    kl_upper,
    refine_steps,
)

RNG = np.random.default_rng(0)
#: two numeric features in [0, 100), one categorical with codes 0..3
REFERENCE = np.column_stack(
    [RNG.integers(0, 100, 2000), RNG.integers(0, 100, 2000), RNG.integers(0, 4, 2000)]
).astype(float)
EDGES = [np.arange(10.0, 100.0, 10.0), np.arange(10.0, 100.0, 10.0), None]
CATEGORICAL = [False, False, True]


class Counted:
    """A model ``rows -> class`` that counts its calls."""

    def __init__(self, decide) -> None:
        self.decide = decide
        self.calls = 0
        self.rows = 0

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.rows += len(rows)
        return np.asarray(self.decide(rows))


def search(x, decide, **settings) -> tuple[AnchorSearch, Counted]:
    model = Counted(decide)
    label = model.decide(x.reshape(1, -1))[0]
    model.calls = model.rows = 0
    return (
        AnchorSearch(
            REFERENCE,
            x,
            instance_predicates(x, CATEGORICAL, EDGES),
            lambda rows: model(rows) == label,
            SearchSettings(**settings),
            np.random.default_rng(1),
        ),
        model,
    )


def rule_of(found: AnchorSearch, rule) -> set[tuple[int, str, float]]:
    return {(p.feature, p.operator, p.value) for p in (found.predicates[i] for i in rule)}


def test_a_conjunction_is_found_exactly_with_one_call_per_step() -> None:
    """class 1 iff x0 > 60 and category == 2: the anchor is those two predicates."""
    x = np.array([75.0, 20.0, 2.0])
    found, model = search(x, lambda r: ((r[:, 0] > 60) & (r[:, 2] == 2)).astype(int))
    anchor = found.run()
    assert rule_of(found, anchor.rule) == {(0, ">", 60.0), (2, "=", 2.0)}
    assert anchor.valid and anchor.measurement.precision == 1.0
    true_rule = (REFERENCE[:, 0] > 60) & (REFERENCE[:, 2] == 2)
    assert anchor.coverage == pytest.approx(true_rule.mean())
    # every step is one model call, whatever the number of candidates
    assert model.calls == found.trace.steps
    assert found.trace.candidates > model.calls


def test_a_constant_model_gets_the_empty_rule() -> None:
    found, _ = search(np.array([5.0, 5.0, 1.0]), lambda r: np.zeros(len(r), dtype=int))
    anchor = found.run()
    assert anchor.rule == () and anchor.valid and anchor.coverage == 1.0
    assert anchor.lower >= 0.95


def test_precision_is_decided_on_fresh_samples_that_grow_only_when_needed() -> None:
    # a clear-cut rule is settled by the first batch
    found, _ = search(np.array([75.0, 20.0, 2.0]), lambda r: (r[:, 0] > 60).astype(int))
    anchor = found.run()
    assert rule_of(found, anchor.rule) == {(0, ">", 60.0)}
    assert anchor.measurement.n == 100
    # ~4% of rows everywhere answer otherwise: every rule sits near the threshold, and
    # deciding it takes more samples
    near, _ = search(
        np.array([75.0, 20.0, 2.0]),
        lambda r: ((r[:, 0] > 60) & ((7 * r[:, 0] + 13 * r[:, 1]) % 25 != 0)).astype(int),
    )
    anchor = near.run()
    assert anchor.measurement.n > 100
    assert abs(anchor.measurement.precision - 0.96) < 0.03


def test_an_impossible_threshold_says_so() -> None:
    """Class 1 iff x0 > 65: the edges (multiples of 10) cannot express it exactly."""
    found, _ = search(
        np.array([66.0, 20.0, 2.0]), lambda r: (r[:, 0] > 65).astype(int), max_anchor_size=2
    )
    anchor = found.run()
    assert not anchor.valid
    assert anchor.measurement.precision < 0.95
    assert len(anchor.rule) <= 2


def test_samples_satisfy_the_rule_and_use_each_real_row_once() -> None:
    """The reference rows are split once: those that choose rules never decide one; a
    rule takes each of its real rows once, then built rows."""
    x = np.array([75.0, 20.0, 2.0])
    found, _ = search(x, lambda r: (r[:, 0] > 60).astype(int))
    rule = tuple(i for i, p in enumerate(found.predicates) if p.feature in (0, 2))
    holds = found.mask(rule)
    used = []
    for decide in (False, True):
        rows = int((holds & found._half[decide]).sum())
        assert abs(rows - holds.sum() / 2) < 0.2 * holds.sum()  # about half each
        (scored,) = found.measure([(rule, rows + 500)], decide)
        samples, taken = scored.samples, scored.real
        assert taken == rows and len(samples) == rows + 500
        for i in rule:
            assert found.predicates[i].holds(samples[:, found.predicates[i].feature]).all()
        real = {tuple(r) for r in REFERENCE[holds & found._half[decide]]}
        assert {tuple(s) for s in samples[:taken]} == real
        used += [tuple(s) for s in samples[:taken]]
        assert found.measure([(rule, 10)], decide)[0].real == 0  # each real row is used once
    assert len(used) == holds.sum() and set(used) == {tuple(r) for r in REFERENCE[holds]}


def test_a_rule_counts_the_first_rows_of_its_order_and_no_others() -> None:
    """Rows the model answered for a narrower rule (``x0 > 80``) count for a wider one
    (``x0 > 60``) only as far as the wider rule's own order has been answered from its
    start: they would otherwise flatter it (all of them agree here, half the wider
    rule's rows do not). The rows they cover are taken again without a model call."""
    x = np.array([95.0, 20.0, 2.0])
    found, model = search(x, lambda r: (r[:, 0] > 80).astype(int))
    narrow = (found.predicates.index(Predicate(0, ">", 80.0)),)
    wide = (found.predicates.index(Predicate(0, ">", 60.0)),)
    rows = int((found.mask(narrow) & found._half[False]).sum())
    ((agree, n),) = found.counts([(narrow, rows)])
    assert (agree, n) == (rows, rows)
    ((agree, n),) = found.counts([(wide, 0)])  # no call: what the pool holds
    answered = int((found.mask(wide) & found._half[False] & (found._answers >= 0)).sum())
    assert answered == rows and n < rows  # only the first of the narrow rule's rows count
    assert agree == n  # ... which all agree, as the first rows of the wide rule's order do
    wide_rows = int((found.mask(wide) & found._half[False]).sum())
    sent = model.rows
    ((agree, n),) = found.counts([(wide, wide_rows)])
    assert n == wide_rows and model.rows - sent == wide_rows - rows  # the answered ones free
    assert abs(agree / n - 19 / 39) < 0.1  # x0 in 61..99, of which 81..99 agree


def test_choosing_samples_count_for_the_rules_they_describe() -> None:
    """A sample built for a rule counts for a longer rule it satisfies, never for a
    shorter one (the feature it fixed would flatter it); with ``reuse`` off, each rule
    counts only its own."""
    x = np.array([75.0, 20.0, 2.0])
    shared, model = search(x, lambda r: (r[:, 0] > 60).astype(int))
    short = tuple(i for i, p in enumerate(shared.predicates) if (p.feature, p.value) == (0, 60.0))
    longer = tuple(
        sorted(short + tuple(i for i, p in enumerate(shared.predicates) if p.feature == 2))
    )
    short_rows = int((shared.mask(short) & shared._half[False]).sum())
    ((_, n),) = shared.counts([(short, short_rows + 400)])  # every real row, then built
    assert n == short_rows + 400
    calls = model.calls
    ((_, inherited),) = shared.counts([(longer, 50)])  # a quarter of them are category 2
    assert inherited >= 50 and model.calls == calls  # no call: the pool had enough
    ((_, grown),) = shared.counts([(longer, inherited + 300)])  # built: the real rows are used
    assert grown == inherited + 300
    ((_, n_short),) = shared.counts([(short, 1)])
    assert n_short == n  # the longer rule's built samples do not count for the shorter
    alone, model = search(x, lambda r: (r[:, 0] > 60).astype(int), reuse=False)
    alone.counts([(short, 400)])
    calls = model.calls
    ((_, own),) = alone.counts([(longer, 50)])
    assert own == 50 and model.calls == calls + 1


def test_one_lower_and_one_upper_bound_per_feature() -> None:
    x = np.array([45.0, 20.0, 2.0])
    found, _ = search(x, lambda r: (r[:, 0] > 40).astype(int))
    for rule in found.extensions(()):
        for extended in found.extensions(rule):
            kinds = [(found.predicates[i].feature, found.predicates[i].operator) for i in extended]
            assert len(kinds) == len(set(kinds))


def test_instance_predicates_hold_for_the_instance() -> None:
    x = np.array([45.0, 99.0, 3.0])
    predicates = instance_predicates(x, CATEGORICAL, EDGES)
    assert all(p.holds(np.array([x[p.feature]]))[0] for p in predicates)
    assert Predicate(2, "=", 3.0) in predicates
    assert Predicate(0, ">", 40.0) in predicates and Predicate(0, "<=", 50.0) in predicates


def test_bounds() -> None:
    lower, upper = clopper_pearson(100, 100, 0.95)
    assert lower == pytest.approx(0.05 ** (1 / 100)) and upper == 1.0
    lower, upper = clopper_pearson(950, 1000, 0.95)
    assert lower < 0.95 < upper
    assert clopper_pearson(0, 0, 0.95) == (0.0, 1.0)
    wide = kl_upper(np.array([0.5]), np.array([0.1]))[0]
    narrow = kl_upper(np.array([0.5]), np.array([0.001]))[0]
    assert 0.5 < narrow < wide <= 1.0


def test_predicates_the_rule_does_not_need_are_dropped() -> None:
    x = np.array([75.0, 20.0, 2.0])
    found, _ = search(x, lambda r: ((r[:, 0] > 60) & (r[:, 2] == 2)).astype(int))
    wanted = {(0, ">", 60.0), (2, "=", 2.0)}
    padded = tuple(
        i
        for i, p in enumerate(found.predicates)
        if (p.feature, p.operator, p.value) in wanted | {(1, ">", 10.0), (0, "<=", 80.0)}
    )
    assert len(padded) == 4
    start = found._validate([padded])[0]
    assert start.valid
    minimal = found._minimise(start)
    assert rule_of(found, minimal.rule) == wanted
    assert minimal.valid and minimal.coverage > start.coverage


def test_a_valid_rule_moves_its_bound_to_where_the_answer_changes() -> None:
    """Class 1 iff x0 > 65, between the edges 60 and 70: the search finds x0 > 70, and the
    refinement walks the bound down from the instance to 65, one call per step."""
    found, model = search(np.array([90.0, 20.0, 2.0]), lambda r: (r[:, 0] > 65).astype(int))
    anchor = found.run()
    assert rule_of(found, anchor.rule) == {(0, ">", 65.0)}
    assert anchor.valid and anchor.coverage == pytest.approx((REFERENCE[:, 0] > 65).mean())
    assert model.calls == found.trace.steps


@pytest.mark.parametrize("length", [1, 2, 3, 7, 8, 100, 2999])
def test_a_walk_takes_at_most_refine_steps(length: int) -> None:
    for change in range(length):
        walk, steps = _Walk(np.arange(float(length))), 0
        while not walk.done:
            probe = walk.next()
            walk.passed(probe) if probe <= change else walk.failed(probe)
            steps += 1
        assert walk.good == change
        assert steps <= refine_steps(length)


def test_a_bound_walked_past_every_value_is_dropped() -> None:
    """Class 1 iff x0 > 65: the upper bound the search may add on x0 walks up past the
    largest value and says nothing any more, so it goes."""
    found, _ = search(np.array([90.0, 20.0, 2.0]), lambda r: (r[:, 0] > 65).astype(int))
    padded = tuple(
        i
        for i, p in enumerate(found.predicates)
        if (p.feature, p.operator, p.value) in {(0, ">", 80.0), (0, "<=", 90.0)}
    )
    start = found._validate([padded])[0]
    assert start.valid
    refined = found._refine(start)
    assert rule_of(found, refined.rule) == {(0, ">", 65.0)}


def test_a_rule_is_decided_once() -> None:
    found, model = search(np.array([75.0, 20.0, 2.0]), lambda r: (r[:, 0] > 60).astype(int))
    rule = tuple(i for i, p in enumerate(found.predicates) if (p.feature, p.operator) == (0, ">"))
    first = found._validate([rule[:1]])[0]
    calls = model.calls
    assert found._validate([rule[:1]])[0] is first and model.calls == calls
    assert first.measurement.real == first.measurement.n  # its own real rows, fresh


def _tied_reference() -> np.ndarray:
    """f0 uniform in 0..99; a category f2 of which code 2 is rare; f1 = 20 * f2 + 5, a
    number the category fixes (education and education-num in the census data)."""
    rng = np.random.default_rng(3)
    category = np.repeat([0.0, 1.0, 2.0, 3.0], [1000, 980, 40, 980])
    return np.column_stack([rng.integers(0, 100, len(category)), 20 * category + 5, category])


def _tied_search(**settings) -> AnchorSearch:
    """Agree iff f1 > 50 or f0 < 90: for the rare category (f1 = 45), 9 rows in 10."""
    reference = _tied_reference()
    return AnchorSearch(
        reference,
        np.array([50.0, 45.0, 2.0]),
        [Predicate(1, ">", 30.0), Predicate(2, "=", 2.0)],
        lambda rows: (rows[:, 1] > 50) | (rows[:, 0] < 90),
        SearchSettings(**settings),
        np.random.default_rng(4),
    )


def test_deciding_samples_keep_features_that_go_together_together() -> None:
    found = _tied_search()
    rule = (0, 1)
    joint = found._build(rule, 1000, joint=True)
    assert (joint[:, 1] == 20 * joint[:, 2] + 5).all()  # rows somebody could have
    assert len(np.unique(joint[:, 0])) > 50  # the free feature still from every row
    apart = found._build(rule, 1000, joint=False)
    assert (apart[:, 2] == 2).all() and (apart[:, 1] > 30).all()
    assert (apart[:, 1] != 45).mean() > 0.9  # f1 from every row above 30: mostly 65
    fallback = _tied_search(joint_rows=41)._build(rule, 1000, joint=True)  # 40 rows hold
    assert (fallback[:, 1] != 45).mean() > 0.9


def test_a_rule_does_not_pass_on_rows_nobody_has() -> None:
    """``f1 > 30 and f2 = 2`` holds for 40 rows, 9 in 10 of which agree; drawn apart, the
    built samples give f1 = 65 with category 2 and agree almost always."""
    rule = (0, 1)
    apart = _tied_search(joint_rows=0)._validate([rule])[0]
    assert apart.valid and apart.measurement.precision > 0.97
    decided = _tied_search()._validate([rule])[0]
    assert not decided.valid
    assert abs(decided.measurement.precision - 0.9) < 0.03
