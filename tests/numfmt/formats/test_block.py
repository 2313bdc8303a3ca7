"""BlockFormat and SignMagFormat: scale rules, NaN policies, layout, names, errors."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numfmt.catalogue import FLOATS
from numfmt.formats.block import BLOCKS, BlockCodes, BlockFormat, NanPolicy, Ragged, ScaleRule
from numfmt.formats.fixed import FixedFormat
from numfmt.formats.integer import IntFormat
from numfmt.formats.signmag import SignMagFormat
from numfmt.modes import Rounding

ELEMENTS = [FLOATS[n] for n in ("e4m3fn", "e5m2", "e3m2fn", "e2m3fn", "e2m1fn", "e4m3fnuz", "bf16")] + [
    FixedFormat(8, 2, rounding="AP_RND_CONV", overflow="AP_SAT"), IntFormat(4), IntFormat(8),
    SignMagFormat(8), SignMagFormat(3)]


def rng_tensor(seed, shape, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-30, 30, size=shape[:-1] + (1,)))
    return x.astype(dtype)


# --- scale rules against exact rational references --------------------------------------------------

def ref_exponent(amax: Fraction, emax: Fraction, rule):
    """The rule's exponent from its definition, with exact rationals (amax > 0)."""
    if rule == "ocp":
        e = 0                                     # exact floor(log2(amax)) by comparison
        while Fraction(2) ** e > amax:
            e -= 1
        while Fraction(2) ** (e + 1) <= amax:
            e += 1
        k = 0
        while Fraction(2) ** (k + 1) <= emax:
            k += 1
        while Fraction(2) ** k > emax:
            k -= 1
        return e - k
    if rule == "ceil":      # smallest e with amax / 2**e <= max
        e = -2000
        lo, hi = -2000, 2000
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if amax / Fraction(2) ** mid <= emax:
                hi = mid
            else:
                lo = mid
        return hi
    # nearest: the integer n minimising |log2(r) - n|, r = amax/max: n is nearest iff
    # 2**(n-1/2) <= r < 2**(n+1/2), i.e. 2**(2n-1) <= r**2 < 2**(2n+1)
    r2 = (amax / emax) ** 2
    n = 0
    while Fraction(2) ** (2 * n - 1) > r2:
        n -= 1
    while Fraction(2) ** (2 * n + 1) <= r2:
        n += 1
    return n


@pytest.mark.parametrize("rule", ["ocp", "ceil", "nearest"])
@pytest.mark.parametrize("element", ELEMENTS, ids=str)
def test_scale_rules_exact(rule, element):
    rng = np.random.default_rng(5)
    mx = Fraction(element.max)
    # maxima around every threshold: significands near max's, near √2·max's, random; sub/normal
    sig = np.concatenate([
        rng.random(200) + 1.0,
        np.array([float(mx / 2 ** math.floor(math.log2(mx)))]) * (1 + np.array([-2**-23, 0, 2**-23])),
        np.array([math.sqrt(2), 1 / math.sqrt(2) * 2, 1.0, 2 - 2**-23]),
    ])
    amax = np.ldexp(sig, rng.integers(-140, 120, size=sig.size)).astype(np.float32)
    amax = amax[(amax > 0) & np.isfinite(amax)]
    x = np.zeros((amax.size, 8), np.float32)
    x[:, 3] = -amax
    x[:, 5] = amax / 3
    fmt = BlockFormat(element, 8, rule=rule)
    enc = fmt.encode(x)
    got = enc.scales[:, 0].astype(np.int64) - 127
    for a, g in zip(amax.tolist(), got.tolist()):
        ref = max(-127, min(127, ref_exponent(Fraction(a), mx, rule)))
        assert g == ref, (a, rule, g, ref)
    if rule == "ceil":                                  # nothing saturates
        assert np.array_equal(np.abs(fmt.quantize(x))[:, 3] <= float(mx) * np.ldexp(1.0, got), np.ones(len(got), bool))


def test_nearest_rule_has_no_ties_and_differs_from_floor():
    fmt = BlockFormat(FLOATS["e2m1fn"], 4, rule="nearest")      # max 6 = 1.5 * 2**2
    # amax/6 just below / above sqrt(2) * 2**k
    lo, hi = np.nextafter(np.float32(6 * math.sqrt(2)), np.float32(0)), np.nextafter(np.float32(6 * math.sqrt(2)), np.float32(100))
    enc = fmt.encode(np.array([[lo, 0, 0, 0], [hi, 0, 0, 0]], np.float32))
    assert (enc.scales[:, 0].astype(int) - 127).tolist() == [0, 1]


def test_callable_rule_and_clamping():
    def fixed_rule(amax, element):
        return np.full(amax.shape, 300, dtype=np.int64)     # clamped to 127
    fmt = BlockFormat(FLOATS["e2m1fn"], 2, rule=fixed_rule)
    enc = fmt.encode(np.float32([1.0, 2.0, 0.0, 0.0]))
    assert enc.scales.tolist() == [254, 0]                   # all-zero block: smallest scale
    assert "callable" in str(fmt)
    with pytest.raises(ValueError, match="callable rule has no parsable name"):
        BlockFormat.from_string(str(fmt))
    bad = BlockFormat(FLOATS["e2m1fn"], 2, rule=lambda a, e: a)
    with pytest.raises(ValueError, match="rule must return an integer array, not dtype float64"):
        bad.encode([1.0, 2.0])


# --- NaN policies, zero blocks, ragged, layout --------------------------------------------------------

def test_nan_policy_per_element():
    fmt = BlockFormat(FLOATS["e4m3fn"], 4, nan_policy="propagate-per-element")
    x = np.float32([np.nan, 1.0, -np.inf, 3.0, np.inf, 0.5, 0.25, 0.0])
    q = fmt.quantize(x)
    assert np.isnan(q[0]) and q[1] == 1.0 and q[3] == 3.0
    # e4m3fn has no inf: elements saturate (OCP clamping), so ±inf -> ±448 * 2**e
    assert q[2] == -448 * 2.0 ** -7 and q[4] == 448 * 2.0 ** -9     # amax 3 and 0.5
    fmt5 = BlockFormat(FLOATS["e5m2"], 4, nan_policy="propagate-per-element")
    q5 = fmt5.quantize(x)
    assert np.isnan(q5[0]) and q5[2] == -np.inf and q5[4] == np.inf and q5[5] == 0.5


def test_nan_policy_ocp_inf_makes_block_nan():
    x = np.float32([1.0, np.inf, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0])
    fmt = BlockFormat(FLOATS["e5m2"], 4)
    enc = fmt.encode(x)
    assert enc.scales.tolist() == [255, 127 - 15] and enc.elements[:4].tolist() == [0] * 4
    q = fmt.decode(enc)
    assert np.isnan(q[:4]).all() and q[4:].tolist() == [1.0] * 4


def test_zero_block_and_empty():
    enc = BLOCKS["mxfp4"].encode(np.zeros((2, 32)))
    assert enc.scales.tolist() == [[0], [0]] and not enc.elements.any()
    enc = BLOCKS["mxfp4"].encode(np.zeros((3, 0), np.float32))
    assert enc.scales.shape == (3, 0) and enc.elements.shape == (3, 0)
    assert BLOCKS["mxfp4"].decode(enc).shape == (3, 0)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_axis_equals_transposed_last_axis(axis):
    x = rng_tensor(1, (10, 37, 6))
    fmt = BlockFormat(FLOATS["e3m2fn"], 8, axis=axis)
    enc = fmt.encode(x)
    ref = BlockFormat(FLOATS["e3m2fn"], 8).encode(np.ascontiguousarray(np.moveaxis(x, axis, -1)))
    assert np.array_equal(np.moveaxis(enc.elements, axis, -1), ref.elements)
    assert np.array_equal(np.moveaxis(enc.scales, axis, -1), ref.scales)
    assert np.array_equal(fmt.quantize(x), np.moveaxis(BlockFormat(FLOATS["e3m2fn"], 8).decode(ref), -1, axis))


def test_ragged_pad_is_shorter_block():
    x = rng_tensor(2, (3, 70))
    fmt = BlockFormat(FLOATS["e2m1fn"], 32)
    enc = fmt.encode(x)
    assert enc.scales.shape == (3, 3)
    tail = fmt.encode(np.ascontiguousarray(x[:, 64:]))
    assert np.array_equal(enc.scales[:, 2:], tail.scales)
    assert np.array_equal(enc.elements[:, 64:], tail.elements)


def test_input_dtypes_agree():
    x = rng_tensor(3, (4, 64), np.float16).astype(np.float32)
    ref = BLOCKS["mxfp8_e4m3"].encode(x)
    for dtype in (np.float64, np.float16, ml_dtypes.bfloat16):
        y = x.astype(dtype)
        if dtype is ml_dtypes.bfloat16:
            y = x.astype(dtype)
            ref_b = BLOCKS["mxfp8_e4m3"].encode(y.astype(np.float32))
            got = BLOCKS["mxfp8_e4m3"].encode(y)
            assert np.array_equal(got.elements, ref_b.elements) and np.array_equal(got.scales, ref_b.scales)
            continue
        got = BLOCKS["mxfp8_e4m3"].encode(y)
        assert np.array_equal(got.elements, ref.elements) and np.array_equal(got.scales, ref.scales)


def test_float64_wide_range_block_exact():
    """A float64 block spanning 2**900: the tiny values round as exact arithmetic says."""
    x = np.array([2.0 ** 1000, 2.0 ** -1000, -2.0 ** -1000, 3.0], np.float64)
    fmt = BlockFormat(FLOATS["e2m1fn"], 4)
    enc = fmt.encode(x, rounding="rta")                     # away from zero: tiny -> ±min subnormal
    assert enc.scales.tolist() == [254]                      # clamped at 2**127
    assert fmt.element.decode(enc.elements).tolist() == [6.0, 0.5, -0.5, 0.5]


def test_rounding_modes_and_stochastic():
    x = rng_tensor(4, (4, 64))
    f = BLOCKS["mxfp4"]
    a = f.encode(x, "stochastic", rng=np.random.default_rng(9))
    b = f.encode(x, "stochastic", rng=9)
    assert np.array_equal(a.elements, b.elements)
    lo = f.quantize(x, "rtz")
    hi = f.quantize(x, "rta")
    assert (np.abs(lo) <= np.abs(x)).all() and (np.abs(hi) >= np.minimum(np.abs(x), np.abs(hi))).all()
    # stochastic is unbiased on average
    xs = np.full((2000, 32), 0.3, np.float32)
    xs[:, 0] = 5.0
    assert abs(f.quantize(xs, "stochastic", rng=1)[:, 1:].mean() - 0.3) < 0.01


def test_int_scale_and_bits_per_element():
    fmt = BlockFormat(IntFormat(8), 16, scale=IntFormat(8), nan_policy="propagate-per-element")
    x = rng_tensor(6, (3, 48))
    enc = fmt.encode(x)
    e = IntFormat(8).decode_int(enc.scales)
    q = fmt.decode(enc)
    assert np.array_equal(q, IntFormat(8).decode(enc.elements) * np.repeat(np.ldexp(1.0, e), 16, axis=-1))
    assert fmt.bits_per_element == 8.5
    assert BLOCKS["mxfp4"].bits_per_element == 4.25 and BLOCKS["bfp12"].bits_per_element == 12.25


def test_bfp_definition():
    """bfp8: scale 2**(floor(log2 amax) + 1 - 7), elements sign-magnitude 7-bit magnitudes."""
    x = np.float32([0.75, -0.1, 0.3, -0.0] * 8)
    enc = BLOCKS["bfp8"].encode(x)
    assert int(enc.scales[0]) - 127 == -1 + 1 - 7
    mags = np.round(np.abs(x.astype(np.float64)) * 128)
    assert np.array_equal(SignMagFormat(8).decode(enc.elements), np.copysign(mags, x))


def test_decode_forms_and_quantize():
    x = rng_tensor(7, (5, 40))
    f = BLOCKS["mxfp6_e2m3"]
    enc = f.encode(x)
    assert isinstance(enc, BlockCodes) and enc.format is f
    assert np.array_equal(f.decode(enc), f.decode(enc.scales, enc.elements))
    assert np.array_equal(f.quantize(x), enc.decode())


# --- names --------------------------------------------------------------------------------------------

def test_catalogue_names():
    for name, fmt in BLOCKS.items():
        assert str(fmt) == name and BlockFormat.from_string(name) == fmt
    assert str(BlockFormat(FLOATS["e2m1fn"])) == "mxfp4"
    assert str(BlockFormat(FLOATS["e3m4"], 16)) == "mx(element=e3m4,block=16)"
    assert str(BlockFormat(FLOATS["e2m1fn"], 16, scale=FLOATS["e4m3fn"])) == "mxfp4(block=16,scale=e4m3fn)"
    assert BlockFormat.from_string("mx(element=ap_fixed<8,2,AP_RND_CONV,AP_SAT>)") == BLOCKS["mxint8"]
    assert BlockFormat.from_string(" MXFP4 ( rule = floor ) ") == BLOCKS["mxfp4"]


_elements = st.sampled_from(ELEMENTS + [FLOATS["e5m2"].__class__(3, 2, specials="fn"), IntFormat(6, rounding="rtz")])
_scales = st.sampled_from([FLOATS["e8m0fnu"], FLOATS["e5m2"], FLOATS["e4m3fn"]])


@settings(max_examples=150, deadline=None)
@given(element=_elements, block=st.integers(1, 64), axis=st.integers(-3, 3), scale=_scales,
       rule=st.sampled_from(list(ScaleRule)), nan=st.sampled_from(list(NanPolicy)),
       ragged=st.sampled_from(list(Ragged)))
def test_names_round_trip(element, block, axis, scale, rule, nan, ragged):
    fmt = BlockFormat(element, block, axis=axis, scale=scale, rule=rule, nan_policy=nan, ragged=ragged)
    assert BlockFormat.from_string(str(fmt)) == fmt


@settings(max_examples=50, deadline=None)
@given(bits=st.integers(2, 32), rounding=st.sampled_from([r for r in Rounding if r is not Rounding.STOCHASTIC]))
def test_signmag_names_round_trip(bits, rounding):
    f = SignMagFormat(bits, rounding=rounding)
    assert SignMagFormat.from_string(str(f)) == f
    fmt = BlockFormat(f, 8, scale=IntFormat(8), nan_policy="per-element")
    assert BlockFormat.from_string(str(fmt)) == fmt


# --- SignMagFormat -------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [2, 3, 5, 8])
@pytest.mark.parametrize("rounding", ["rne", "rtz", "floor", "rna"])
def test_signmag_against_definition(bits, rounding):
    f = SignMagFormat(bits, rounding=rounding)
    mx = (1 << (bits - 1)) - 1
    x = np.arange(-(mx + 3) * 8, (mx + 3) * 8 + 1) / 8.0
    codes = f.encode(x)
    q = IntFormat(bits + 2, rounding=rounding).decode_int(IntFormat(bits + 2, rounding=rounding).encode(x))
    q = np.clip(q, -mx, mx)
    neg = (q < 0) | ((q == 0) & np.signbit(x))
    assert np.array_equal(codes, (np.abs(q) | (neg << (bits - 1))).astype(codes.dtype))
    assert np.array_equal(f.decode(codes), np.where(neg, -1.0, 1.0) * np.abs(q))
    assert np.array_equal(f.decode_int(codes), q)
    assert np.array_equal(f.decode(f.codes()), f.values())


# --- errors ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(element=FLOATS["e2m1fn"], block=0), "block must be an integer in 1..65536, not 0"),
    (dict(element=FLOATS["e2m1fn"], block=-3), "block must be an integer in 1..65536, not -3"),
    (dict(element=FLOATS["e2m1fn"], block=2.0), "block must be an integer in 1..65536, not 2.0"),
    (dict(element=FLOATS["e2m1fn"], axis="0"), "axis must be an integer, not '0'"),
    (dict(element=3), "element must be a scalar format (FloatFormat or IntFormat or FixedFormat or SignMagFormat), not 3"),
    (dict(element=BLOCKS["mxfp4"]), "element must be a scalar format"),
    (dict(element="e9m9x"), "element: unknown format name 'e9m9x'"),
    (dict(element=FLOATS["e2m1fn"], rule="round"), "rule must be one of 'ocp', 'ceil', 'nearest', not 'round'"),
    (dict(element=FLOATS["e2m1fn"], nan_policy="ignore"), "nan_policy must be one of 'ocp', 'propagate-per-element', not 'ignore'"),
    (dict(element=FLOATS["e2m1fn"], ragged="drop"), "ragged must be one of 'pad', 'error', not 'drop'"),
    (dict(element=FLOATS["e2m1fn"], scale=FixedFormat(8, 2)), "scale must be a scalar format (FloatFormat or IntFormat)"),
    (dict(element=FLOATS["e2m1fn"], scale=IntFormat(8)), "nan_policy='ocp' needs a scale format with a NaN code, not int8"),
    (dict(element=IntFormat(1)), "element must have a positive largest value, not 0"),
    (dict(element=FixedFormat(40, 2)), "element must have at most 32 bits, not 40"),
])
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BlockFormat(**kwargs)


def test_encode_decode_errors():
    with pytest.raises(ValueError, match=re.escape("axis 2 is out of range for x with 2 dimensions")):
        BlockFormat(FLOATS["e2m1fn"], axis=2).encode(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape("axis -1 is out of range for x with 0 dimensions")):
        BLOCKS["mxfp4"].encode(1.0)
    with pytest.raises(ValueError, match=re.escape("ragged='error': the blocked axis has length 33, "
                                                   "which is not a multiple of block=32")):
        BlockFormat(FLOATS["e2m1fn"], ragged="error").encode(np.zeros(33))
    f = BLOCKS["mxfp4"]
    enc = f.encode(np.zeros((2, 64)))
    with pytest.raises(ValueError, match=re.escape("scales must have shape (2, 2)")):
        f.decode(enc.scales[:, :1], enc.elements)
    with pytest.raises(ValueError, match="decode needs a BlockCodes or both scales and elements"):
        f.decode(enc.scales)
    with pytest.raises(ValueError, match=re.escape("unknown block format name 'mxfp5'")):
        BlockFormat.from_string("mxfp5")
    with pytest.raises(ValueError, match=re.escape("unknown field 'size' in 'mxfp4(size=3)'")):
        BlockFormat.from_string("mxfp4(size=3)")
    with pytest.raises(ValueError, match=re.escape("mx(...) needs element=..., in 'mx(block=3)'")):
        BlockFormat.from_string("mx(block=3)")
    with pytest.raises(ValueError, match=re.escape("cannot parse 'mxfp4(block=0)': "
                                                   "block must be an integer in 1..65536, not 0")):
        BlockFormat.from_string("mxfp4(block=0)")
    with pytest.raises(ValueError, match=re.escape("bits must be an integer in 2..32, not 1")):
        SignMagFormat(1)
