"""Integer inputs beyond 2**53: exact in integer formats, refused where float64 would round them.

Integer, fixed-point and sign-magnitude formats convert int64/uint64 inputs
exactly (checked against the Python-int twin of the kernel here, against the
ap_fixed headers in test_fixed.py); float and block
formats read integers as float64 and refuse one that float64 cannot hold.
``quantize`` of a format wider than 53 bits never returns a value outside
the format: it raises when a result has no exact float64.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numfmt as nf
from numfmt._kernels._reference_fixed import encode_fixed
from numfmt.formats.block import BLOCKS
from numfmt.modes import Overflow, Rounding

OVERFLOWS = [o for o in Overflow if o is not Overflow.INFINITY]


def test_uint64_max_into_64_bit_unsigned():
    """The issue's case: gave 0 (2**64 - 1 became the float 2**64, which wraps to 0)."""
    fmt = nf.FixedFormat(64, 64, signed=False)
    assert fmt.encode(np.uint64(2**64 - 1)).tolist() == 2**64 - 1
    assert fmt.encode([2**64 - 1]).tolist() == [2**64 - 1]          # a Python int list, read as uint64


def test_int64_above_2_53_is_exact():
    """The issue's case: 2**53 + 1 became 2**53."""
    fmt = nf.FixedFormat(64, 64)
    codes = fmt.encode(np.array([2**53 + 1, -(2**63), 2**63 - 1], dtype=np.int64))
    assert fmt.decode_int(codes).tolist() == [2**53 + 1, -(2**63), 2**63 - 1]


@st.composite
def fixed_formats(draw):
    width = draw(st.integers(1, 64))
    signed = draw(st.booleans())
    overflow = draw(st.sampled_from([o for o in OVERFLOWS if signed or o is not Overflow.WRAP_SIGN_MAGNITUDE]))
    int_bits = draw(st.integers(width - 8, width + 70))
    return nf.FixedFormat(width, int_bits, signed=signed, overflow=overflow,
                          sat_bits=draw(st.integers(0, width)))


_ints = st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(-2**60, 2**60),
                  st.integers(0, 2**64 - 1), st.sampled_from([0, 1, -1, 2**63 - 1, -2**63, 2**64 - 1, 2**53 + 1]))


def _as_array(values):
    """int64 when every value fits, else uint64 (values ≥ 0); None if neither holds them all."""
    if all(-2**63 <= v < 2**63 for v in values):
        return np.array(values, dtype=np.int64)
    if all(0 <= v < 2**64 for v in values):
        return np.array(values, dtype=np.uint64)
    return None


@settings(max_examples=150, deadline=None)
@given(fmt=fixed_formats(), values=st.lists(_ints, min_size=1, max_size=6),
       rounding=st.sampled_from(list(Rounding)), seed=st.integers(0, 2**32), sr_bits=st.integers(1, 32))
def test_fixed_encodes_64_bit_integers_exactly(fmt, values, rounding, seed, sr_bits):
    """Codes of int64/uint64 inputs == the Python-int twin applied to the exact integers."""
    x = _as_array(values)
    if x is None:
        return
    got = fmt.encode(x, rounding, rng=seed, sr_bits=sr_bits)
    rnd = (np.random.default_rng(seed).integers(0, 1 << sr_bits, size=x.size, dtype=np.int64)
           if rounding is Rounding.STOCHASTIC else np.zeros(x.size, dtype=np.int64))
    want = [encode_fixed(Fraction(int(v)), fmt.width, fmt.frac_bits, fmt.signed, rounding, fmt.overflow,
                         fmt.sat_bits, int(r), sr_bits) for v, r in zip(x.tolist(), rnd)]
    assert got.dtype == fmt.code_dtype
    assert got.tolist() == want, (str(fmt), x.tolist())


@settings(max_examples=80, deadline=None)
@given(bits=st.integers(1, 32), signed=st.booleans(), overflow=st.sampled_from(OVERFLOWS),
       values=st.lists(_ints, min_size=1, max_size=6))
def test_int_format_encodes_64_bit_integers_exactly(bits, signed, overflow, values):
    if overflow is Overflow.WRAP_SIGN_MAGNITUDE and not signed:
        return
    fmt = nf.IntFormat(bits, signed=signed, overflow=overflow)
    x = _as_array(values)
    if x is None:
        return
    want = [encode_fixed(Fraction(int(v)), bits, 0, signed, fmt.rounding, overflow) for v in x.tolist()]
    assert fmt.encode(x).tolist() == want


@settings(max_examples=80, deadline=None)
@given(bits=st.integers(2, 32), values=st.lists(_ints, min_size=1, max_size=6))
def test_signmag_encodes_64_bit_integers_exactly(bits, values):
    fmt = nf.SignMagFormat(bits)
    x = _as_array(values)
    if x is None:
        return
    want = [min(abs(v), fmt.max) | ((v < 0) << (bits - 1)) for v in x.tolist()]
    assert fmt.encode(x).tolist() == want


def test_int32_wrap_of_int64_keeps_the_low_bits():
    fmt = nf.IntFormat(32, overflow="wrap")
    x = np.array([2**62 + 2**31 + 5, -(2**62) - 3], dtype=np.int64)
    assert fmt.decode_int(fmt.encode(x)).tolist() == [-(2**31) + 5, -3]


@pytest.mark.parametrize("fmt", [nf.parse("e4m3fn"), nf.parse("fp32"), BLOCKS["mxfp8_e4m3"]], ids=str)
@pytest.mark.parametrize("value, dtype", [(2**53 + 1, np.int64), (-(2**62) - 1, np.int64),
                                          (2**64 - 1, np.uint64)])
def test_float_and_block_formats_refuse_integers_float64_cannot_hold(fmt, value, dtype):
    with pytest.raises(ValueError, match=rf"^x holds the integer {value}, which float64 cannot hold exactly"):
        fmt.encode(np.array([1, value], dtype=dtype))


@pytest.mark.parametrize("fmt", [nf.parse("fp32"), nf.parse("e5m2"), BLOCKS["mxfp4"]], ids=str)
def test_float_and_block_formats_take_integers_float64_holds(fmt):
    x = np.array([2**60, -(2**63), 2**53, 3], dtype=np.int64)
    ref = fmt.encode(x.astype(np.float64))
    got = fmt.encode(x)
    for name in ("scales", "elements") if hasattr(ref, "scales") else (None,):
        a, b = (got, ref) if name is None else (getattr(got, name), getattr(ref, name))
        assert np.array_equal(a, b)


@pytest.mark.parametrize("fmt, x", [
    (nf.FixedFormat(64, 64), np.int64(2**63 - 1)),                    # max_int: 63 significant bits
    (nf.FixedFormat(64, 64, overflow="AP_SAT"), 1e30),               # saturates to max_int
    (nf.FixedFormat(64, 64, signed=False), -1.0),                     # wraps to 2**64 - 1
    (nf.FixedFormat(60, 58), np.int64(2**53 + 1)),                    # k = (2**53 + 1) * 4
])
def test_wide_fixed_quantize_refuses_results_float64_cannot_hold(fmt, x):
    k = int(fmt.decode_int(fmt.encode(x)))
    with pytest.raises(ValueError, match=rf"^quantize: the result {k} \* 2\*\*{-fmt.frac_bits} of {fmt} "
                                         r"is not a float64"):
        fmt.quantize(x)


@settings(max_examples=100, deadline=None)
@given(fmt=fixed_formats(), values=st.lists(st.one_of(_ints, st.floats(allow_nan=False, allow_infinity=False)),
                                            min_size=1, max_size=4))
def test_quantize_never_returns_a_value_outside_the_format(fmt, values):
    """quantize gives exactly k * 2**-frac_bits for the code's integer k, or raises."""
    ints = [v for v in values if isinstance(v, int)]
    x = _as_array(ints) if ints and len(ints) == len(values) else np.array(values, dtype=np.float64)
    if x is None:
        return
    k = fmt.decode_int(fmt.encode(x)).tolist()
    try:
        q = fmt.quantize(x)
    except ValueError as exc:
        assert str(exc).startswith("quantize: the result ")
        assert any(Fraction(math.ldexp(float(ki), -fmt.frac_bits)) != Fraction(ki) / Fraction(2) ** fmt.frac_bits
                   for ki in k)
        return
    assert [Fraction(v) for v in q.tolist()] == [Fraction(ki) / Fraction(2) ** fmt.frac_bits for ki in k]


@pytest.mark.parametrize("fmt", [nf.FixedFormat(64, 64), nf.parse("e4m3fn"), BLOCKS["mxfp4"]], ids=str)
@pytest.mark.parametrize("x", [[2**63 + 1, -1], [0.5, 2**53 + 1], [[1.0], [-(2**60) - 1]]])
def test_sequence_ints_numpy_would_round_are_refused(fmt, x):
    """NumPy reads such a list as float64, rounding the integer: refused, not rounded."""
    value = [v for v in np.array(x, dtype=object).reshape(-1) if isinstance(v, int) and abs(v) > 2**53][0]
    with pytest.raises(ValueError, match=rf"^x holds the integer {value}, which float64 cannot hold exactly; "
                                         "NumPy reads this sequence as float64"):
        fmt.encode(x)


def test_sequence_ints_float64_holds_are_accepted():
    assert nf.parse("fp32").encode([2**63, -1.5]).tolist() == nf.parse("fp32").encode(
        np.array([2.0**63, -1.5])).tolist()

