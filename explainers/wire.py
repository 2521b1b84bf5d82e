"""Wire values: the JSON scalars a row carries to and from the model.

numpy is not imported here (the notebook client loads this module without it): a value is
a numpy scalar only when numpy is already loaded.
"""

from __future__ import annotations

import sys
from typing import Any

#: One feature's value as the model receives it (see ``explainers.schema``).
WireValue = int | float | str


def native(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``np.int64(3)`` -> ``3``,
    ``np.str_("a")`` -> ``"a"``); any other value as it is."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        return value.item()
    return value
