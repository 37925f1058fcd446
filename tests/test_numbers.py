"""Untrusted text to numbers in one place (hublint.rules.numbers): ASCII digits, bounded length, finite floats."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hublint.rules import numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        (" 42 ", 42),
        (b"123", 123),
        ("²", None),
        ("٣", None),
        ("-1", None),
        ("1_000", None),
        ("", None),
        ("9" * 41, None),
        ("0x10", None),
        (None, None),
        ("12\n", None),
    ],
)
def test_parse_int(text, expected):
    assert numbers.parse_int(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5", 1.5),
        ("-2e3", -2000.0),
        (".5", 0.5),
        ("nan", None),
        ("inf", None),
        ("1e400", None),
        ("1,5", None),
        ("١.٥", None),
        ("", None),
    ],
)
def test_parse_float(text, expected):
    assert numbers.parse_float(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (2.5, 2.5), (True, None), ("3", None), (math.nan, None), (math.inf, None), (10**400, None)],
)
def test_finite_number(value, expected):
    assert numbers.finite_number(value) == expected


def test_loads_refuses_huge_integers_with_a_value_error():
    with pytest.raises(ValueError, match="digits"):
        numbers.loads('{"r": ' + "9" * 5000 + "}")
    assert numbers.loads('{"r": 8, "alpha": NaN}')["r"] == 8


@given(st.text(max_size=60))
def test_parse_int_never_raises_and_only_reads_ascii_digits(text):
    value = numbers.parse_int(text)
    assert value is None or (value >= 0 and text.strip(" \t").isascii())


@given(st.text(max_size=80))
def test_parse_float_is_finite_or_none(text):
    value = numbers.parse_float(text)
    assert value is None or math.isfinite(value)
