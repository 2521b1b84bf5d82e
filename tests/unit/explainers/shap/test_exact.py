"""The exact engine against shap's KernelExplainer enumerating every coalition: the same
values and base value, with and without the logit link, for a model with interactions and
features that no background row changes; and only the distinct rows are asked for."""

from __future__ import annotations

import numpy as np
import pytest
import shap

from explainers.shap.exact import exact_shapley

RNG = np.random.default_rng(3)


def model(rows: np.ndarray) -> np.ndarray:
    """A probability with interactions between features 0, 1 and 3."""
    z = rows[:, 0] * rows[:, 1] - 0.7 * rows[:, 2] + np.sin(rows[:, 3]) * rows[:, 0]
    return np.asarray(1 / (1 + np.exp(-z)))


def logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(p / (1 - p)))


def identity(p: np.ndarray) -> np.ndarray:
    return p


@pytest.mark.parametrize("link", ["identity", "logit"])
def test_the_values_are_kernel_explainers_with_every_coalition(link: str) -> None:
    background = RNG.integers(0, 3, (25, 6)).astype(float)
    x = np.array([1.0, 2.0, 0.0, 1.0, 2.0, 1.0])
    background[:, 5] = 1.0  # a feature no background row changes
    asked: list[int] = []

    def f(rows: np.ndarray) -> np.ndarray:
        asked.append(len(rows))
        return model(rows)

    values, base = exact_shapley(x, background, f, logit if link == "logit" else identity)
    reference = shap.KernelExplainer(model, background, link=link)
    expected = np.asarray(
        reference.shap_values(x.reshape(1, -1), nsamples=2**5 - 2, l1_reg=False, silent=True)
    ).reshape(-1)
    assert values == pytest.approx(expected, abs=1e-9)
    assert base == pytest.approx(float(np.asarray(reference.expected_value).reshape(-1)[0]))
    assert values[5] == 0.0
    out = logit(model(x.reshape(1, -1)))[0] if link == "logit" else model(x.reshape(1, -1))[0]
    assert base + values.sum() == pytest.approx(out)
    differing = (background != x).sum(axis=1)
    assert asked == [int(np.sum(2**differing))]  # one call, each row's own subsets


def test_an_instance_equal_to_every_background_row_gets_zeros() -> None:
    x = np.array([1.0, 2.0, 3.0, 0.5])
    values, base = exact_shapley(x, np.tile(x, (4, 1)), model, identity)
    assert values.tolist() == [0.0] * 4 and base == pytest.approx(model(x.reshape(1, -1))[0])
