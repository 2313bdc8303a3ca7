"""Float format names: ``parse(str(f)) == f``, catalogue names, aliases, and fuzzing.

``nf.parse`` must raise only ValueError on any text (hypothesis), round-trip
every valid FloatFormat (hash included), and every catalogue name.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numfmt as nf
from numfmt.modes import Overflow, Specials

FUZZ = settings(deadline=None, max_examples=400, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# -- catalogue ------------------------------------------------------------------------------
def _first_name_of(fmt):
    return next(n for n, f in nf.FLOATS.items() if f == fmt)


@pytest.mark.parametrize("name", list(nf.FLOATS))
def test_catalogue_name_round_trips(name):
    fmt = nf.FLOATS[name]
    assert nf.parse(name) == fmt
    text = str(fmt)
    assert text == _first_name_of(fmt)           # aliases print the first catalogue name
    again = nf.parse(text)
    assert again == fmt and hash(again) == hash(fmt) and str(again) == text
    assert nf.parse(f"  {name.upper()}  ") == fmt  # case and surrounding space do not matter
    assert nf.FloatFormat.from_string(name) == fmt


def test_known_aliases():
    assert str(nf.FLOATS["fp6_e3m2"]) == "e3m2fn"
    assert str(nf.FLOATS["fp6_e2m3"]) == "e2m3fn"
    assert str(nf.FLOATS["fp4_e2m1"]) == "e2m1fn"
    assert nf.parse("fp8_e4m3") == nf.FloatFormat(4, 3, specials="none")
    assert nf.parse("e4m3fn") == nf.FloatFormat(4, 3, bias=7, specials="fn")
    assert nf.parse("e4m3fnuz") == nf.FloatFormat(4, 3, bias=8, specials="fnuz")
    assert nf.parse("e8m0fnu") == nf.FloatFormat(8, 0, specials="fn", signed=False, subnormals=False,
                                                 has_zero=False)
    assert nf.parse("e5m3fnu") == nf.FloatFormat(5, 3, bias=15, specials="fn", signed=False, negative_nan=True)
    # the same fields without negative_nan are a different format, named as an override
    assert str(nf.FloatFormat(5, 3, specials="fn", signed=False)) == "e5m3fnu(negative_nan=false)"


@pytest.mark.parametrize("text,expected", [
    ("e5m2(overflow=sat)", nf.FloatFormat(5, 2, overflow="sat")),
    ("e3m2(bias=5,specials=fn)", nf.FloatFormat(3, 2, bias=5, specials="fn")),
    ("e4m3fn( overflow = sat , subnormals = false )", nf.FloatFormat(4, 3, specials="fn", overflow="sat",
                                                                      subnormals=False)),
    ("e2m0(specials=finite,overflow=saturate)", nf.FloatFormat(2, 0, specials="none")),
    ("e4m3(signed=no,bias=-3)", nf.FloatFormat(4, 3, signed=False, bias=-3)),
    ("E4M3(HAS_ZERO=0,SUBNORMALS=0)", nf.FloatFormat(4, 3, has_zero=False, subnormals=False)),
    ("fp8_e5m2(specials=ieee,overflow=inf)", nf.FloatFormat(5, 2)),
    ("e4m3(specials=fn,signed=false,negative_nan=true)", nf.FloatFormat(4, 3, specials="fn", signed=False,
                                                                        negative_nan=True)),
    ("e5m3fnu(overflow=sat)", nf.FloatFormat(5, 3, specials="fn", overflow="sat", signed=False,
                                             negative_nan=True)),
])
def test_overrides(text, expected):
    assert nf.parse(text) == expected
    assert nf.parse(str(expected)) == expected


@pytest.mark.parametrize("text,message", [
    ("", "cannot parse float format name ''"),
    ("e4m3(", "cannot parse float format name 'e4m3('"),
    ("e4m3 fn", "cannot parse float format name 'e4m3 fn'"),
    ("foo", "unknown format name 'foo'"),
    ("e4", "unknown format name 'e4'"),
    ("e4m3()", "empty override in 'e4m3()'"),
    ("e4m3(bias=3,)", "empty override in 'e4m3(bias=3,)'"),
    ("e4m3(bias)", "override 'bias' in 'e4m3(bias)' must be key=value"),
    ("e4m3(bias=)", "override 'bias=' in 'e4m3(bias=)' must be key=value"),
    ("e4m3(bias=1,bias=2)", "override 'bias' given twice in 'e4m3(bias=1,bias=2)'"),
    ("e4m3(bias=x)", "bias must be an integer, not 'x' (in 'e4m3(bias=x)')"),
    ("e4m3(signed=maybe)", "signed must be true or false, not 'maybe' (in 'e4m3(signed=maybe)')"),
    ("e4m3(specials=nan)", "specials must be one of 'ieee', 'fn', 'fnuz', 'none', not 'nan'"),
    ("e4m3(overflow=up)", "overflow must be one of 'sat', 'inf', 'sat_zero', 'sat_sym', 'wrap', 'wrap_sm', not 'up'"),
    ("e4m3(colour=red)", "unknown override 'colour' in 'e4m3(colour=red)'; expected one of bias, specials, "
                         "subnormals, overflow, signed, has_zero, negative_nan"),
    ("e4m3(negative_nan=1x)", "negative_nan must be true or false, not '1x' (in 'e4m3(negative_nan=1x)')"),
    ("e5m3fnu(signed=true)", "negative_nan=True is for unsigned formats and needs signed=False, not signed=True"),
    ("e4m0", "specials='ieee' needs man ≥ 1 for its NaN codes, not man=0"),
    ("e40m3", "exp must be in 1..31, not 40"),
    ("e4m3fn(overflow=wrap)", "overflow must be 'sat' or 'inf' for a float format, not 'wrap'"),
])
def test_parse_errors(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        nf.parse(text)


@pytest.mark.parametrize("value", [None, 3, b"e4m3", ["e4m3"], nf.FLOATS["e4m3fn"]])
def test_parse_non_string(value):
    with pytest.raises(ValueError, match="format name must be a string"):
        nf.parse(value)


# -- fuzzing: only ValueError ------------------------------------------------------------------
_TOKENS = st.sampled_from(
    list(nf.FLOATS) + ["e", "m", "e4m3", "e0m0", "e99m99", "e1m0", "e31m0", "e4m31", "fp", "fp8_", "ap_fixed<",
                       "fixed<", "ufixed<", "int", "uint", "int4", "uint0", "int99999999999999999999", "<", ">",
                       "(", ")", ",", "=", " ", "\n", "\t", "bias", "specials", "subnormals", "overflow",
                       "signed", "has_zero", "negative_nan", "true", "false", "none", "ieee", "fn", "fnuz", "sat", "inf",
                       "wrap", "-", "+", "0", "1", "-7", "99999999999999999999999", "1e9", "0x10", "nan",
                       "é", "\x00", "AP_RND", "AP_SAT", "rounding", "8", "3", "_"])
_NEAR_VALID = st.lists(_TOKENS, min_size=0, max_size=12).map("".join)


@FUZZ
@given(st.one_of(st.text(max_size=40), _NEAR_VALID))
def test_parse_raises_only_value_error(text):
    try:
        fmt = nf.parse(text)
    except ValueError:
        return
    # whatever parses must print a name that parses back to it
    assert nf.parse(str(fmt)) == fmt


# -- fuzzing: valid formats round-trip ---------------------------------------------------------
@st.composite
def float_formats(draw):
    exp = draw(st.integers(1, 11))
    man = draw(st.integers(0, 31 - exp))
    kwargs = dict(
        specials=draw(st.sampled_from(list(Specials))),
        subnormals=draw(st.booleans()),
        signed=draw(st.booleans()),
        has_zero=draw(st.booleans()),
        negative_nan=draw(st.booleans()),
    )
    if draw(st.booleans()):
        kwargs["bias"] = (1 << (exp - 1)) - 1 + draw(st.integers(-40, 40))
    if draw(st.booleans()):
        kwargs["overflow"] = draw(st.sampled_from([Overflow.SATURATE, Overflow.INFINITY]))
    try:
        return nf.FloatFormat(exp, man, **kwargs)
    except ValueError:
        return draw(st.nothing())


@FUZZ
@given(float_formats())
def test_random_formats_round_trip(fmt):
    text = str(fmt)
    back = nf.parse(text)
    assert back == fmt, (text, fmt, back)
    assert hash(back) == hash(fmt)
    assert str(back) == text
    assert nf.parse(repr(text)[1:-1].upper()) == fmt  # names are case-insensitive


@FUZZ
@given(float_formats(), float_formats())
def test_equal_formats_equal_names(a, b):
    assert (a == b) == (str(a) == str(b))
    if a == b:
        assert hash(a) == hash(b)
