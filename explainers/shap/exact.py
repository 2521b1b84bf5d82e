"""Exact Shapley values of the background game, every coalition enumerated.

The game is the one shap's ``KernelExplainer`` explains: ``v(S) = link(mean over the
background rows b of f(x on S, b elsewhere))``. Enumerating every coalition, KernelExplainer
builds ``(2^m - 2) x len(background)`` rows for the ``m`` features that vary, most of them
repeats (a background row that differs from ``x`` in ``k`` features gives only ``2^k``
distinct rows), and solves a regression over them. This builds only the distinct rows, asks
``f`` once for all of them, and applies the Shapley formula to the ``2^m`` coalition values:
the same values (``tests/unit/explainers/shap`` compares them with KernelExplainer's), for
a fraction of the work between the model calls.
"""

from __future__ import annotations

from collections.abc import Callable
from math import factorial

import numpy as np

#: rows (n, d) -> one number per row; the link: numbers -> numbers
Function = Callable[[np.ndarray], np.ndarray]


def exact_shapley(
    x: np.ndarray, background: np.ndarray, f: Function, link: Function
) -> tuple[np.ndarray, float]:
    """``(values (d,), base value)`` for the instance ``x`` (d,) against ``background``
    (B, d): ``base = v({})`` and ``base + sum(values) = v(all)``. A feature that no
    background row changes gets 0. ``f`` is called once."""
    differs = background != x
    varying = np.flatnonzero(differs.any(axis=0))
    m = len(varying)
    values = np.zeros(len(x))
    coalitions = np.arange(2**m)
    bits = 1 << np.arange(m)
    # each background row's differing features, as a bit mask over ``varying``
    own = (differs[:, varying] * bits).sum(axis=1)
    blocks = []
    for row, mask in zip(background, own, strict=True):
        subsets = coalitions[(coalitions & ~mask) == 0]  # the subsets of its differences
        block = np.repeat(row.reshape(1, -1), len(subsets), axis=0)
        for j, feature in enumerate(varying):
            block[(subsets & bits[j]) != 0, feature] = x[feature]
        blocks.append((subsets, block))
    scores = np.asarray(f(np.vstack([block for _, block in blocks])), dtype=float)
    table = np.zeros((len(background), len(coalitions)))
    start = 0
    for b, (subsets, block) in enumerate(blocks):
        table[b, subsets] = scores[start : start + len(block)]
        start += len(block)
    # v(S): each background row answers for S the row with S's part of its differences
    mean = table[np.arange(len(background))[:, None], coalitions[None, :] & own[:, None]].mean(0)
    v = np.asarray(link(mean), dtype=float)
    size = np.array([bin(int(s)).count("1") for s in coalitions])
    weight = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) for s in range(m)])
    for j, feature in enumerate(varying):
        without = coalitions[(coalitions & bits[j]) == 0]
        values[feature] = float(np.sum(weight[size[without]] * (v[without | bits[j]] - v[without])))
    return values, float(v[0])
