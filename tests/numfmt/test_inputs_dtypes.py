"""Every input dtype, byte order and layout gives what the native float64 path gives.

numfmt/_inputs.py reads an input's bits; these tests pin that a big-endian,
0-d, empty or non-contiguous input of any float or integer width encodes to
the codes of the same values as a native, contiguous float64 array, for every
scalar and block format class (or raises the same clear error).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numfmt as nf
from numfmt import _inputs, interop
from numfmt.catalogue import FLOATS
from numfmt.formats.block import BLOCKS, BlockFormat

SCALARS = list(FLOATS.values()) + [
    nf.IntFormat(8), nf.IntFormat(4, signed=False, overflow="wrap"), nf.IntFormat(32, overflow="wrap_sm"),
    nf.FixedFormat(8, 3, rounding="AP_RND_CONV", overflow="AP_SAT"), nf.FixedFormat(16, 4),
    nf.FixedFormat(12, 12, signed=False, overflow="AP_WRAP", sat_bits=2),
    nf.FixedFormat(40, 20, rounding="AP_RND", overflow="AP_WRAP_SM"), nf.FixedFormat(64, 64, overflow="AP_SAT"),
    nf.FixedFormat(64, 40, signed=False), nf.SignMagFormat(8), nf.SignMagFormat(32, rounding="rtz"),
]
BLOCK_FORMATS = list(BLOCKS.values()) + [
    BlockFormat("e2m1fn", 4, rule="nearest"), BlockFormat("int8", 3, scale="int8", nan_policy="per-element"),
    BlockFormat("ap_fixed<8,2>", 2, axis=0), BlockFormat("e4m3fn", 5, ragged="pad", nan_policy="per-element"),
]

FLOAT_TYPES = ["f2", "f4", "f8"]
INT_TYPES = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]
#: every float and integer width in both byte orders, bool, and ml_dtypes types
DTYPES = ([np.dtype(order + t) for t in FLOAT_TYPES + INT_TYPES for order in "<>"]
          + [np.dtype(bool), np.dtype(ml_dtypes.bfloat16), np.dtype(ml_dtypes.bfloat16).newbyteorder(">"),
             np.dtype(ml_dtypes.float8_e4m3fn), np.dtype(ml_dtypes.float6_e2m3fn)])
#: what a test does to the array: keep it, take one element (0-d), an empty slice, a strided view
LAYOUTS = ["contiguous", "0-d", "empty", "empty-rows", "strided", "transposed"]


def _values(dtype, raw):
    """``raw`` (floats) as values that ``dtype`` holds, as an array of ``dtype``."""
    raw = np.asarray(raw, dtype=np.float64)
    if dtype.kind == "b":
        return raw != 0
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        # integers that float64 holds exactly: the native float64 path is then exact too
        lo, hi = max(info.min, -2**53), min(info.max, 2**53)
        return np.clip(np.nan_to_num(np.trunc(raw), nan=0.0), lo, hi).astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return raw.astype(dtype.newbyteorder("="), casting="unsafe").astype(dtype)


def _layout(x, layout):
    """``x`` (1-d, ≥ 6 elements) reshaped or sliced as ``layout`` says."""
    if layout == "0-d":
        return x[3]
    if layout == "empty":
        return x[:0]
    if layout == "empty-rows":
        return x[:6].reshape(2, 3)[:0]
    if layout == "strided":
        return x[::2]
    if layout == "transposed":
        return x[:6].reshape(2, 3).T
    return x


def _outcome(call):
    """``("ok", result)`` or ``("error", type, message)``."""
    try:
        return ("ok", call())
    except (ValueError, TypeError) as exc:
        return ("error", type(exc), str(exc))


def _same(got, want):
    assert got[0] == want[0], (got, want)
    if got[0] == "error":
        assert got[1:] == want[1:]
        return
    a, b = got[1], want[1]
    if isinstance(b, nf.BlockCodes):
        assert isinstance(a, nf.BlockCodes)
        for name in ("scales", "elements"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), name
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


_raw = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                          st.integers(-2**64, 2**64).map(float)), min_size=8, max_size=8)


_cases = dict(fmt=st.sampled_from(SCALARS + BLOCK_FORMATS), dtype=st.sampled_from(DTYPES),
              layout=st.sampled_from(LAYOUTS), raw=_raw)


def _check_matches_native_float64(fmt, dtype, layout, raw):
    x = _layout(_values(dtype, raw), layout)
    ref = np.array(x, dtype=np.float64)          # native, contiguous, exact for the values above
    _same(_outcome(lambda: fmt.encode(x)), _outcome(lambda: fmt.encode(ref)))
    _same(_outcome(lambda: fmt.quantize(x)), _outcome(lambda: fmt.quantize(ref)))


@settings(max_examples=50, deadline=None)
@given(**_cases)
def test_dtype_byte_order_layout_match_native_float64(fmt, dtype, layout, raw):
    """encode and quantize: any dtype/byte order/layout == the native contiguous float64 array."""
    _check_matches_native_float64(fmt, dtype, layout, raw)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None)       # 5000 took 150 s of CI's budget
@given(**_cases)
def test_dtype_byte_order_layout_match_native_float64_many(fmt, dtype, layout, raw):
    _check_matches_native_float64(fmt, dtype, layout, raw)


@pytest.mark.parametrize("fmt", [nf.parse("e4m3fn"), nf.IntFormat(8), nf.FixedFormat(8, 3),
                                 nf.SignMagFormat(8), BLOCKS["mxfp4"]], ids=str)
@pytest.mark.parametrize("t", [pytest.param("f2", marks=pytest.mark.slow), pytest.param("f4", marks=pytest.mark.slow),
                               "f8"])
def test_big_endian_floats_are_read_by_value(fmt, t):
    """The issue's case: ``quantize(np.array([1., 2.], dtype=">f8"))`` gave [0, 0]."""
    x = np.array([1.0, 2.0], dtype=">" + t)
    assert fmt.quantize(x).tolist() == [1.0, 2.0]


def test_big_endian_bfloat16_is_read_by_value():
    x = np.array([1.0, -2.5], dtype=ml_dtypes.bfloat16).astype(np.dtype(ml_dtypes.bfloat16).newbyteorder(">"))
    assert nf.parse("e4m3fn").quantize(x).tolist() == [1.0, -2.5]


def test_float_bits_gives_native_bits_for_big_endian():
    bits, in_e, in_m, shape = _inputs.float_bits(np.array([[1.0]], dtype=">f4"))
    assert (bits.tolist(), bits.dtype.isnative, in_e, in_m, shape) == ([0x3F800000], True, 8, 23, (1, 1))


@pytest.mark.parametrize("t", ["<f2", ">f2", "<f4", ">f4"])
def test_from_ml_dtypes_reads_either_byte_order(t):
    fmt, codes = interop.from_ml_dtypes(np.array([1.0, -2.0], dtype=t))
    want = np.array([1.0, -2.0], dtype=t[1:]).view(f"u{t[2]}")
    assert codes.dtype == want.dtype and codes.tolist() == want.tolist()
    assert fmt.decode(codes).tolist() == [1.0, -2.0]


def test_from_ml_dtypes_reads_big_endian_bfloat16():
    x = np.array([1.0, -2.0], dtype=ml_dtypes.bfloat16)
    fmt, codes = interop.from_ml_dtypes(x.astype(x.dtype.newbyteorder(">")))
    assert codes.tolist() == [0x3F80, 0xC000] and fmt.decode(codes).tolist() == [1.0, -2.0]


@pytest.mark.parametrize("order", "<>")
def test_decode_reads_codes_of_either_byte_order(order):
    fmt = nf.parse("e5m2")
    codes = np.array([0x3C, 0xC0, 0x7C], dtype=order + "u2")
    assert fmt.decode(codes).tolist() == [1.0, -2.0, np.inf]
    enc = BLOCKS["mxfp4"].encode([1.0, 2.0])
    scales, elements = (a.astype(a.dtype.newbyteorder(order)) for a in (enc.scales, enc.elements))
    assert BLOCKS["mxfp4"].decode(scales, elements).tolist() == [1.0, 2.0]
