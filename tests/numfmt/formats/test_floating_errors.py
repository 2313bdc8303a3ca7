"""Invalid FloatFormat arguments raise ValueError naming the field and its value;
NaN, ±inf, ±0 and subnormal inputs follow the documented policy in every
catalogue format (explicit codes for the OCP/ml_dtypes formats).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import float_reference as R  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt.modes import Overflow, Rounding, Specials  # noqa: E402

F = nf.FloatFormat


# -- constructor -------------------------------------------------------------------------
@pytest.mark.parametrize("args,kwargs,message", [
    ((0, 3), {}, "exp must be in 1..31, not 0"),
    ((32, 0), {}, "exp must be in 1..31, not 32"),
    ((4, -1), {}, "man must be in 0..31, not -1"),
    ((4, 32), {}, "man must be in 0..31, not 32"),
    ((4.0, 3), {}, "exp must be an integer, not 4.0"),
    (("4", 3), {}, "exp must be an integer, not '4'"),
    ((True, 3), {}, "exp must be an integer, not True"),
    ((4, 3.0), {}, "man must be an integer, not 3.0"),
    ((4, None), {}, "man must be an integer, not None"),
    ((4, 3), dict(bias=1.5), "bias must be an integer, not 1.5"),
    ((4, 3), dict(bias="7"), "bias must be an integer, not '7'"),
    ((4, 3), dict(bias=False), "bias must be an integer, not False"),
    ((4, 3), dict(specials="foo"), "specials must be one of 'ieee', 'fn', 'fnuz', 'none', not 'foo'"),
    ((4, 3), dict(specials=3), "specials must be one of 'ieee', 'fn', 'fnuz', 'none', not 3"),
    ((4, 3), dict(subnormals="yes"), "subnormals must be True or False, not 'yes'"),
    ((4, 3), dict(subnormals=1), "subnormals must be True or False, not 1"),
    ((4, 3), dict(has_zero=1), "has_zero must be True or False, not 1"),
    ((4, 3), dict(signed=None), "signed must be True or False, not None"),
    ((4, 3), dict(overflow="bogus"), "overflow must be one of 'sat', 'inf', 'sat_zero', 'sat_sym', 'wrap', "
                                     "'wrap_sm', not 'bogus'"),
    ((4, 3), dict(overflow="wrap"), "overflow must be 'sat' or 'inf' for a float format, not 'wrap'"),
    ((4, 3), dict(overflow="sat_sym"), "overflow must be 'sat' or 'inf' for a float format, not 'sat_sym'"),
    ((4, 3), dict(specials="none", overflow="inf"), "overflow='inf' needs a format with inf or NaN, not specials='none'"),
    ((4, 0), {}, "specials='ieee' needs man ≥ 1 for its NaN codes, not man=0"),
    ((4, 3), dict(specials="fnuz", signed=False), "specials='fnuz' puts NaN at the −0 code and needs signed=True, "
                                                  "not signed=False"),
    ((4, 3), dict(has_zero=False), "has_zero=False makes the zero exponent a normal binade and needs "
                                   "subnormals=False, not subnormals=True"),
    ((4, 3), dict(negative_nan=1), "negative_nan must be True or False, not 1"),
    ((5, 3), dict(specials="fn", negative_nan=True), "negative_nan=True is for unsigned formats and needs "
                                                     "signed=False, not signed=True"),
    ((5, 3), dict(specials="none", signed=False, negative_nan=True), "negative_nan=True needs a format with NaN, "
                                                                     "not specials='none'"),
    ((8, 0), dict(specials="fn", signed=False, subnormals=False, has_zero=False, negative_nan=True),
     "negative_nan=True changes nothing without a zero (no negative input rounds to zero) and needs "
     "has_zero=True, not has_zero=False"),
    ((20, 12), {}, "sign + exp + man must be ≤ 32 bits, not 33 (exp=20, man=12, signed=True)"),
    ((8, 24), dict(signed=True), "sign + exp + man must be ≤ 32 bits, not 33 (exp=8, man=24, signed=True)"),
    ((4, 3), dict(bias=5000), "the values of exp=4, bias=5000 lie outside float64's range "
                              "(largest exponent -4986, smallest -5002)"),
    ((11, 20), dict(bias=-2000), "the values of exp=11, bias=-2000 lie outside float64's range"),
    ((12, 3), {}, "the values of exp=12, bias=2047 lie outside float64's range"),
    ((1, 0), dict(specials="fn"), "FloatFormat(exp=1, man=0, bias=0, specials=<Specials.FN: 'fn'>, "
                                  "subnormals=True, overflow=<Overflow.INFINITY: 'inf'>, signed=True, "
                                  "has_zero=True, negative_nan=False) has no finite nonzero value"),
    ((1, 3), dict(subnormals=False), "has no finite nonzero value"),
])
def test_invalid_constructor_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        F(*args, **kwargs)


def test_valid_edge_arguments():
    assert F(np.int64(4), np.int32(3), bias=np.int16(7), specials="FN ", subnormals=np.bool_(True)) \
        == nf.FLOATS["e4m3fn"]
    assert F(8, 23, signed=True).bits == 32 and F(8, 24, signed=False).bits == 32
    assert F(1, 0, specials="none").values().tolist() == [0.0, 2.0, -0.0, -2.0]
    assert F(4, 3, overflow="saturate").overflow is Overflow.SATURATE  # alias
    assert F(3, 2, specials="finite").specials is Specials.NONE        # alias


def test_formats_are_frozen_and_hashable():
    f = F(4, 3, specials="fn")
    with pytest.raises(Exception):
        f.exp = 5
    assert f == F(4, 3, bias=7, specials=Specials.FN, overflow="inf")   # defaults normalised
    assert hash(f) == hash(F(4, 3, bias=7, specials=Specials.FN, overflow="inf"))
    assert F(3, 2, specials="none") == F(3, 2, specials="none", overflow="sat")


# -- encode / decode arguments ------------------------------------------------------------
E4M3 = nf.FLOATS["e4m3fn"]


@pytest.mark.parametrize("call,exc,message", [
    (lambda: E4M3.encode(1.0, "bogus"), ValueError,
     "rounding must be one of 'rne', 'rna', 'rnp', 'rnm', 'rnz', 'floor', 'ceil', 'rtz', 'rta', 'stochastic', "
     "not 'bogus'"),
    (lambda: E4M3.encode(1.0, "stochastic"), ValueError, "rounding='stochastic' needs rng"),
    (lambda: E4M3.encode(1.0, "stochastic", rng=0, sr_bits=0), ValueError, "sr_bits must be an integer in 1..32, not 0"),
    (lambda: E4M3.encode(1.0, "stochastic", rng=0, sr_bits=33), ValueError, "sr_bits must be an integer in 1..32, not 33"),
    (lambda: E4M3.encode(1.0, "stochastic", rng=0, sr_bits=True), ValueError, "sr_bits must be an integer in 1..32, not True"),
    (lambda: E4M3.encode(1.0, "stochastic", rng="x"), TypeError, "rng must be a numpy.random.Generator or an int seed, not 'x'"),
    (lambda: E4M3.encode(1.0, nan_payload=1), ValueError, "nan_payload must be True or False, not 1"),
    (lambda: E4M3.decode(256), ValueError, "codes must fit in 8 bits, not 256"),
    (lambda: E4M3.decode([-1]), ValueError, "codes must be non-negative, not -1"),
    (lambda: E4M3.decode(1.0), TypeError, "codes must be an integer array, not dtype float64"),
    (lambda: E4M3.encode(1j), TypeError, "x must be a real float array, not dtype complex128"),
    (lambda: nf.FLOATS["fp32"].codes(), ValueError, "codes() lists formats of at most 24 bits, not 32"),
])
def test_invalid_call_arguments(call, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        call()


# -- special inputs in every catalogue format -------------------------------------------------
SPECIAL_INPUTS = [math.nan, -math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, -5e-324,
                  2.0 ** -1022, -(2.0 ** -1022), 1e-300, -1e300, 1e300]


def _subnormal_inputs(fmt):
    """The smallest value, half of it (a tie with zero), and just above/below that tie."""
    s = fmt.smallest_subnormal
    return [s, -s, s / 2, -s / 2, np.nextafter(s / 2, 1), np.nextafter(s / 2, 0), s * 1.5, -s * 0.75]


@pytest.mark.parametrize("name", [n if n != "fp32" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(nf.FLOATS)])
def test_special_inputs_follow_policy(name):
    fmt = nf.FLOATS[name]
    xs = np.array(SPECIAL_INPUTS + _subnormal_inputs(fmt) + [fmt.max, -fmt.max, fmt.max * 4, -fmt.max * 4])
    for rounding in [r for r in Rounding if r is not Rounding.STOCHASTIC]:
        got = fmt.encode(xs, rounding)
        if fmt.bits <= 20:
            exp = R.reference_encode_array(fmt, xs, rounding)
            bad = np.nonzero(got != exp)[0]
            assert bad.size == 0, [(float(xs[i]), hex(int(got[i])), hex(int(exp[i]))) for i in bad]
        # structural checks that need no enumeration (fp32 too)
        nan_in = np.isnan(xs)
        q = fmt.decode(got)
        if fmt.has_nan:
            assert np.all(np.isnan(q[nan_in]))
        else:
            assert not np.isnan(q).any()
        finite = ~np.isnan(q)
        assert np.all(np.abs(q[finite]) <= (math.inf if fmt.has_inf else fmt.max))


def _codes(fmt, xs, rounding="rne"):
    return [int(c) for c in fmt.encode(np.array(xs, dtype=np.float64), rounding)]


NAN, INF = math.nan, math.inf


def test_e4m3fn_policy():
    f = nf.FLOATS["e4m3fn"]   # no inf, NaN = S.1111.111, max 448
    assert _codes(f, [NAN, -NAN, INF, -INF, 0.0, -0.0]) == [0x7F, 0xFF, 0x7F, 0xFF, 0x00, 0x80]
    assert _codes(f, [2.0 ** -9, -(2.0 ** -9), 2.0 ** -10, -(2.0 ** -10), 1.5 * 2.0 ** -10, 5e-324, -5e-324]) \
        == [0x01, 0x81, 0x00, 0x80, 0x01, 0x00, 0x80]
    assert _codes(f, [448.0, 464.0, 464.0001, 480.0, -1e6]) == [0x7E, 0x7E, 0x7F, 0x7F, 0xFF]
    assert _codes(f, [1e6, -1e6, INF], "rtz") == [0x7E, 0xFE, 0x7F]          # inf input is NaN, not max
    assert _codes(f, [1e6, -1e6], "floor") == [0x7E, 0xFF]
    assert _codes(f, [1e6, -1e6], "ceil") == [0x7F, 0xFE]
    assert _codes(f, [2.0 ** -12, -(2.0 ** -12)], "rta") == [0x01, 0x81]
    sat = nf.parse("e4m3fn(overflow=sat)")
    assert _codes(sat, [INF, -INF, 1e6, NAN]) == [0x7E, 0xFE, 0x7E, 0x7F]
    assert np.isnan(f.decode([0x7F, 0xFF])).all() and f.decode(0x80) == 0 and np.signbit(f.decode(0x80))


def test_e4m3fnuz_policy():
    f = nf.FLOATS["e4m3fnuz"]  # bias 8, NaN at 0x80, no -0, max 240
    assert _codes(f, [NAN, -NAN, INF, -INF, 0.0, -0.0]) == [0x80, 0x80, 0x80, 0x80, 0x00, 0x00]
    assert _codes(f, [2.0 ** -10, -(2.0 ** -10), -(2.0 ** -11), -5e-324, 5e-324]) == [0x01, 0x81, 0x00, 0x00, 0x00]
    assert _codes(f, [240.0, 247.9, 248.0, -1e6]) == [0x7F, 0x7F, 0x80, 0x80]  # 248: tie, to even = 256: NaN
    assert _codes(f, [1e6, -1e6], "rtz") == [0x7F, 0xFF]
    assert np.isnan(f.decode(0x80)) and not np.signbit(f.decode(0x00))


def test_e5m2_policy():
    f = nf.FLOATS["e5m2"]  # IEEE: inf 0x7C, quiet NaN 0x7E, max 57344
    assert _codes(f, [NAN, -NAN, INF, -INF, 0.0, -0.0]) == [0x7E, 0xFE, 0x7C, 0xFC, 0x00, 0x80]
    assert _codes(f, [2.0 ** -16, 2.0 ** -17, -(2.0 ** -17), np.nextafter(2.0 ** -17, 1), 5e-324]) \
        == [0x01, 0x00, 0x80, 0x01, 0x00]
    assert _codes(f, [57344.0, 61439.0, 61440.0, -1e6]) == [0x7B, 0x7B, 0x7C, 0xFC]
    assert _codes(f, [1e6, -1e6, INF], "rtz") == [0x7B, 0xFB, 0x7C]          # inf stays inf
    sat = nf.parse("e5m2(overflow=sat)")
    assert _codes(sat, [1e6, -1e6, INF, -INF, NAN]) == [0x7B, 0xFB, 0x7C, 0xFC, 0x7E]
    # NaN payloads: kept only with nan_payload=True (numpy's float16 cast keeps the top bits)
    signalling = np.array([0x7FF0000000000001, 0x7FFC000000000000], dtype=np.uint64).view(np.float64)
    assert f.encode(signalling).tolist() == [0x7E, 0x7E]
    assert f.encode(signalling, nan_payload=True).tolist() == [0x7D, 0x7F]


def test_e2m1fn_policy():
    f = nf.FLOATS["e2m1fn"]  # no specials, saturating: 0 .5 1 1.5 2 3 4 6
    assert f.values().tolist()[:8] == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    # NaN has no code: zero with the opposite sign bit, as ml_dtypes
    assert _codes(f, [NAN, -NAN, INF, -INF, 0.0, -0.0]) == [0x8, 0x0, 0x7, 0xF, 0x0, 0x8]
    assert _codes(f, [0.25, -0.25, 0.26, 5.0, -5.0, 7.0, 100.0, 5e-324]) == [0x0, 0x8, 0x1, 0x6, 0xE, 0x7, 0x7, 0x0]
    assert _codes(f, [5.0, 0.25, -0.25], "rna") == [0x7, 0x1, 0x9]
    assert _codes(f, [100.0, -100.0], "rta") == [0x7, 0xF]


def test_e8m0fnu_policy():
    f = nf.FLOATS["e8m0fnu"]  # unsigned, no zero, NaN 0xFF, values 2**-127 .. 2**127
    assert _codes(f, [NAN, -NAN, INF, -INF, 0.0, -0.0]) == [0xFF] * 6
    assert _codes(f, [2.0 ** -127, 2.0 ** -130, 5e-324, 1.0, 2.0 ** 127, -1.0, -(2.0 ** -200)]) \
        == [0x00, 0x00, 0x00, 0x7F, 0xFE, 0xFF, 0xFF]
    assert _codes(f, [1.5, 3.0, 1.4, 1.5 * 2.0 ** 127]) == [0x80, 0x81, 0x7F, 0xFF]
    assert _codes(f, [2.0 ** 200, 1.99], "rtz") == [0xFE, 0x7F]
    assert _codes(f, [2.0 ** -140], "rtz") == [0x00]  # no zero: tiny values give the smallest value
    assert f.decode(0xFF) != f.decode(0xFF)


def test_e5m3fnu_policy():
    f = nf.FLOATS["e5m3fnu"]  # ml_dtypes float8_e5m3fnu: unsigned, bias 15, NaN 0xFF, no inf, max 114688
    assert (f.bias, f.max, f.smallest_subnormal, f.smallest_normal) == (15, 114688.0, 2.0 ** -17, 2.0 ** -14)
    assert _codes(f, [NAN, -NAN, INF, -INF, 0.0, -0.0]) == [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00]
    # every negative nonzero input is NaN, also one that rounds to zero; -0.0 is +0
    assert _codes(f, [-1.0, -(2.0 ** -18), -5e-324, -1e-300, -1e300]) == [0xFF] * 5
    for rounding in ("rtz", "ceil", "floor", "rna"):
        assert _codes(f, [-5e-324, -0.0], rounding) == [0xFF, 0x00]
    assert _codes(f, [1.0, 2.0 ** -17, 2.0 ** -18, 3 * 2.0 ** -18, 5e-324]) == [0x78, 0x01, 0x00, 0x02, 0x00]
    assert _codes(f, [114688.0, 118784.0, np.nextafter(118784.0, INF), 1e6]) == [0xFE, 0xFE, 0xFF, 0xFF]
    assert _codes(f, [1e6], "rtz") == [0xFE]
    assert np.isnan(f.decode(0xFF)) and f.decode(0xFE) == 114688.0


def test_negative_nan_against_plain_unsigned():
    """negative_nan changes only the negative inputs that round (or flush) to zero."""
    for text in ("e4m3fn(signed=false)", "e3m2(signed=false)", "e3m2(signed=false,subnormals=false)"):
        plain = nf.parse(text)
        f = dataclasses.replace(plain, negative_nan=True)
        xs = np.concatenate([R.reference_decode(plain), -R.reference_decode(plain), [5e-324, -5e-324, -1e-30]])
        xs = np.concatenate([xs, xs * 0.75, xs * 0.5, xs * 0.25])
        for rounding in [r for r in Rounding if r is not Rounding.STOCHASTIC]:
            a, b = plain.encode(xs, rounding), f.encode(xs, rounding)
            assert np.array_equal(b, R.reference_encode_array(f, xs, rounding))
            changed = a != b
            assert np.all((xs[changed] < 0) & (a[changed] == 0) & (b[changed] == f.nan_code))
            assert np.array_equal(changed, (xs < 0) & (a == 0))


def test_unsigned_negative_inputs():
    f = F(4, 3, specials="fn", signed=False)     # 7-bit, NaN 0x7F
    assert _codes(f, [-1.0, -1e-10, -0.0, -INF, -NAN, 1.0]) == [0x7F, 0x00, 0x00, 0x7F, 0x7F, 0x38]
    assert _codes(f, [-(2.0 ** -9)], "ceil") == [0x7F]       # -smallest is exact: not zero
    assert _codes(f, [-(2.0 ** -11)], "ceil") == [0x00]      # rounds to -0: zero
    assert _codes(f, [-(2.0 ** -11)], "floor") == [0x7F]     # rounds to -smallest: NaN
    g = F(3, 2, specials="none", signed=False)   # no NaN: 0
    assert _codes(g, [-1.0, -INF, NAN, -NAN, INF]) == [0x00, 0x00, 0x00, 0x00, 0x1F]
    h = F(3, 2, subnormals=False, signed=False)  # FTZ: below the smallest normal is flushed to 0 first
    assert _codes(h, [-(2.0 ** -3), -0.2, 2.0 ** -3, 0.25]) == [0x00, 0x00, 0x00, 0x04]


def test_flush_to_zero_policy():
    f = F(4, 3, specials="fn", subnormals=False)
    # inputs below the smallest normal become ±0 before rounding, whatever the mode
    assert _codes(f, [2.0 ** -6 * 0.999, -(2.0 ** -6) * 0.999], "rta") == [0x00, 0x80]
    assert _codes(f, [2.0 ** -6, -(2.0 ** -6)]) == [0x08, 0x88]
    # codes with a zero exponent field decode to ±0
    v = f.decode(np.arange(0x00, 0x08))
    assert np.all(v == 0) and not np.signbit(v).any()
    assert np.all(np.signbit(f.decode(np.arange(0x80, 0x88))))
