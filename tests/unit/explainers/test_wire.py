"""Wire values: numpy scalars unwrapped to the Python values JSON carries."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from explainers.wire import native


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(39), 39),
        (np.int8(-3), -3),
        (np.float32(0.5), 0.5),
        (np.float64(40.5), 40.5),
        (np.bool_(True), True),
        (np.str_("Private"), "Private"),
    ],
)
def test_a_numpy_scalar_becomes_the_python_value_it_holds(value, expected) -> None:
    unwrapped = native(value)
    assert unwrapped == expected
    assert type(unwrapped) is type(expected)
    json.dumps(unwrapped)


@pytest.mark.parametrize("value", [39, 40.5, "Private", True, None, [1, 2], np.array(3)])
def test_any_other_value_is_left_as_it_is(value) -> None:
    assert native(value) is value


def test_it_loads_without_numpy() -> None:
    script = "import sys, explainers.wire; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
