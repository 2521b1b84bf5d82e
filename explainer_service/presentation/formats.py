"""How pages write numbers: every number on a page goes through one of these (Jinja filters
of the same names), so none reads "-0.000" and none carries float noise."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["count", "decimals_for", "number", "percent", "signed", "value"]


def number(x: float | None, decimals: int = 3) -> str:
    """``x`` to ``decimals`` places; a value that rounds to zero has no sign ("0.000"), and
    None is a dash."""
    if x is None:
        return "—"
    text = f"{x:.{decimals}f}"
    if text.startswith("-") and math.isfinite(x) and float(text) == 0:
        return text[1:]
    return text


def count(n: int | None) -> str:
    """A count with thousands separators: 27828 -> "27,828"; None is a dash."""
    return "—" if n is None else f"{n:,}"


def signed(x: float, decimals: int = 3) -> str:
    """A change: "+0.052", "-0.052", and "0.000" for one that rounds to zero."""
    text = number(x, decimals)
    if text.startswith("-") or not math.isfinite(x) or float(text) == 0:
        return text
    return "+" + text


def percent(share: float) -> str:
    """A share as a percentage: 0.966 -> "97%". A share that is neither 0 nor 1 never reads
    "0%" or "100%": it gets one decimal ("99.6%"), else "under 0.1%" / "over 99.9%"."""
    pct = share * 100
    if not math.isfinite(pct) or pct in (0.0, 100.0):
        return f"{number(pct, 0)}%"
    for decimals in (0, 1):
        text = number(pct, decimals)
        if float(text) not in (0.0, 100.0):
            return f"{text}%"
    return "under 0.1%" if pct < 50 else "over 99.9%"


def value(v: object) -> str:
    """A feature's value as people read it: text as it is, whole numbers without ".0"
    (thousands separated from 1,000 on), others to two decimals, or three significant
    digits below 1 (0.00264 stays 0.00264); never in scientific notation."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if abs(v) >= 1_000:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    if float(v).is_integer():
        return str(int(v))
    decimals = 2 if abs(v) >= 1 else min(10, 2 - math.floor(math.log10(abs(v))))
    return number(v, decimals).rstrip("0").rstrip(".")


def decimals_for(values: Iterable[float], significant: int = 3) -> int:
    """Decimals that give the largest of ``values`` ``significant`` significant digits
    (0.8 -> 3, 1234 -> 0), between 0 and 6: one precision for a whole table or figure."""
    largest = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if largest == 0:
        return significant
    return max(0, min(6, significant - 1 - math.floor(math.log10(largest))))
