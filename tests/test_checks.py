"""microgrid.checks: the argument checks every room above the engine shares."""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from typing import Any

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgrid import checks


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        (checks.number, 3, 3.0),
        (checks.number, Fraction(1, 4), 0.25),
        (checks.number, numpy.float32(0.5), 0.5),
        (checks.number, 10**400, math.inf),
        (checks.finite, -2.5, -2.5),
        (checks.non_negative, 0, 0.0),
        (checks.positive, 1e-300, 1e-300),
        (checks.integer, numpy.int64(7), 7),
        (checks.positive_int, sys.maxsize, sys.maxsize),
        (checks.non_negative_int, 0, 0),
    ],
)
def test_a_good_value_comes_back_as_a_float_or_an_int(check: Any, value: Any, expected: Any) -> None:
    result = check(value, "x")
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("check", "value", "error", "message"),
    [
        (checks.number, "1", TypeError, "x must be a real number, got str: '1'"),
        (checks.number, True, TypeError, "x must be a real number, got bool: True"),
        (checks.number, 1j, TypeError, r"x must be a real number, got complex: 1j"),
        (checks.finite, math.nan, ValueError, "x must be finite, got nan"),
        (
            checks.finite,
            -(10**400),
            ValueError,
            r"x must be finite, got -inf \(a negative int of about 401 digits",
        ),
        (checks.non_negative, -0.5, ValueError, "x must be non-negative and finite, got -0.5"),
        (checks.non_negative, math.inf, ValueError, "x must be non-negative and finite, got inf"),
        (checks.positive, 0.0, ValueError, "x must be positive and finite, got 0.0"),
        (checks.integer, 2.0, TypeError, "x must be an int, got float: 2.0"),
        (checks.integer, False, TypeError, "x must be an int, got bool: False"),
        (checks.positive_int, 0, ValueError, "x must be positive, got 0"),
        (
            checks.positive_int,
            sys.maxsize + 1,
            ValueError,
            r"x must be at most sys.maxsize \(9,223,372,036,854,775,807\)",
        ),
        (checks.non_negative_int, -1, ValueError, "x must be non-negative, got -1"),
    ],
)
def test_a_bad_value_raises_type_or_value_error_naming_it(
    check: Any, value: Any, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        check(value, "x")


def test_between_names_the_interval_with_its_open_and_closed_ends() -> None:
    assert checks.between(0.0, "beta", 0.0, 1.0, high_open=True) == 0.0
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\), got 1.0"):
        checks.between(1.0, "beta", 0.0, 1.0, high_open=True)
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\), got 0"):
        checks.between(0, "factor", 0.0, 1.0, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got nan"):
        checks.between(math.nan, "p", 0.0, 1.0)


def test_one_of_takes_a_name_from_a_registry() -> None:
    registry = {"sgd": 1, "adam": 2}
    assert checks.one_of("adam", registry, "optimizer") == "adam"
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; choose one of sgd, adam or build one"):
        checks.one_of("rmsprop", registry, "optimizer", hint=" or build one")
    with pytest.raises(TypeError, match=r"optimizer must be a name \(a str\), got list: \['sgd'\]"):
        checks.one_of(["sgd"], registry, "optimizer")


def test_shown_cuts_a_huge_value_short_and_survives_a_failing_repr() -> None:
    assert checks.shown("abc") == "'abc'"
    long = checks.shown("x" * 10**6)
    assert len(long) < 110 and long.endswith("(1,000,002 characters)")
    assert checks.shown(10**5000) == "an int of about 5001 digits"  # its repr would be refused
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    assert checks.shown(nested) == "<list object>"  # repr recurses too deep


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**1000), 2**1000),
        st.floats(),
        st.text(),
        st.lists(st.integers()),
    )
)
def test_number_accepts_exactly_the_real_numbers_that_are_not_bools(value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert checks.number(value, "x") == float(value) or math.isnan(value)
    else:
        with pytest.raises(TypeError):
            checks.number(value, "x")
    assert len(checks.shown(value)) <= 110


@pytest.mark.parametrize(
    ("xs", "expected"),
    [
        ([0.5, -2.0, 1e300], True),
        ([0.5, math.nan], False),
        ([math.inf, 1.0], False),
        ([1.0, 2], False),  # an int: the caller converts it, item by item
        ([1.0, "2"], False),
        ([True, 1.0], False),
        ([1e308, 1e308], False),  # finite, but the sum overflows: looked at item by item
        ([], False),
    ],
)
def test_finite_floats_is_true_just_for_finite_floats(xs: list[object], expected: bool) -> None:
    assert checks.finite_floats(xs) is expected
