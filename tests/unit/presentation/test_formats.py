"""The one number formatter of the pages: rounded, never "-0.000", no float noise."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from explainer_service.presentation.formats import decimals_for, number, percent, signed, value

NEGATIVE_ZERO = re.compile(r"^[-+\u2212]0(\.0*)?%?$")  # "-0.000", "+0", U+2212 minus sign


@pytest.mark.parametrize("x", [-0.0004, -0.0, -1e-12, -0.000499])
def test_a_negative_number_that_rounds_to_zero_has_no_sign(x: float) -> None:
    assert number(x) == "0.000"
    assert signed(x) == "0.000"
    assert number(x, 0) == "0"


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 6))
def test_no_number_reads_as_a_signed_zero(x: float, decimals: int) -> None:
    for text in (number(x, decimals), signed(x, decimals), value(x), percent(x)):
        assert not NEGATIVE_ZERO.match(text), (x, decimals, text)


def test_numbers_are_rounded_and_signed() -> None:
    assert number(0.12345) == "0.123"
    assert number(-0.0006) == "-0.001"
    assert number(None) == "—"
    assert signed(0.052) == "+0.052" and signed(-0.052) == "-0.052"
    assert signed(1234.5, 0) == "+1234"


@pytest.mark.parametrize(
    ("share", "text"),
    [
        (0.966, "97%"),
        (0.04, "4%"),
        (0.996, "99.6%"),  # not "100%": the rule fails 0.4% of the time
        (0.004, "0.4%"),
        (0.9999, "over 99.9%"),
        (0.00001, "under 0.1%"),
        (0.0, "0%"),
        (1.0, "100%"),
    ],
)
def test_percentages_never_round_to_all_or_nothing(share: float, text: str) -> None:
    assert percent(share) == text


@pytest.mark.parametrize(
    ("v", "text"),
    [
        ("Married-civ-spouse", "Married-civ-spouse"),
        (40, "40"),
        (40.0, "40"),
        (12.5, "12.5"),
        (3.14159, "3.14"),
        (0.00264, "0.00264"),  # the bin edge alibi's %.2f printed as 0.0
        (8651, "8,651"),  # beside "27,828" on the same page
        (22232, "22,232"),
        (22232.5, "22,232.5"),
        (-0.0000001, "-0.0000001"),
        (True, "True"),
    ],
)
def test_feature_values_read_as_people_write_them(v: object, text: str) -> None:
    assert value(v) == text


def test_one_precision_for_a_table_from_its_largest_value() -> None:
    assert decimals_for([0.8, 0.05, -0.001]) == 3
    assert decimals_for([1234.0, 5.0]) == 0
    assert decimals_for([0.03]) == 4
    assert decimals_for([]) == 3 and decimals_for([0.0]) == 3
