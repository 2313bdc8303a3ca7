"""numfmt's float formats agree bit for bit with ml_dtypes and numpy casts.

Default suite: every float16 and every bfloat16 input, and over a million
float32 inputs per format concentrated at the values, at the midpoints between
neighbours and a few ulps around both. ``-m exhaustive``: all 2**32 float32
bit patterns.

Known, written-down differences
-------------------------------
* ``e8m0fnu`` from *subnormal* float32/bfloat16 inputs: ml_dtypes rounds the
  subnormal's fraction as if it were a normal number with exponent -127, so
  ``m * 2**-149`` with ``2**22 < m < 3 * 2**21`` (nearer to 2**-127 than to
  2**-126) becomes 2**-126. numfmt rounds to nearest (2**-127); the expected
  code for those inputs is computed exactly in :func:`_e8m0_subnormal_codes`.
* NaN payloads: ml_dtypes makes every NaN the quiet NaN of its sign; numpy's
  float16 cast keeps the payload's top bits. numfmt does the first by default
  and the second with ``nan_payload=True``; the tests use each where it applies.
"""

from __future__ import annotations

import numpy as np
import pytest

ml_dtypes = pytest.importorskip("ml_dtypes")

import numfmt as nf  # noqa: E402
from numfmt.catalogue import FLOATS, ML_DTYPES_NAMES  # noqa: E402

ML_NAMES = sorted(ML_DTYPES_NAMES)


def _reference_dtype(name):
    return np.dtype(np.float16) if name == "fp16" else np.dtype(getattr(ml_dtypes, ML_DTYPES_NAMES[name]))


def _cast_codes(x, name, fmt):
    """The reference: ml_dtypes (numpy for fp16) cast of x, as codes."""
    with np.errstate(invalid="ignore", over="ignore"):
        ref = x.astype(_reference_dtype(name))
    ref = ref.view(np.uint8 if ref.dtype.itemsize == 1 else np.uint16)
    if name == "e8m0fnu":
        ref = _e8m0_subnormal_codes(x, ref)
    return ref


def _e8m0_subnormal_codes(x, ref):
    """Replace ml_dtypes' result for positive subnormal float32/bfloat16 inputs by the exact one.

    A positive subnormal ``m * 2**-s`` (``s`` = 149 for float32, 133 for
    bfloat16) lies between 2**-127 (code 0) and 2**-126 (code 1); the nearest
    (ties to the even significand, 2**-126) is code 1 iff ``m >= 3 * 2**(s - 128)``.
    """
    if x.dtype == np.float32:
        bits, frac_bits = x.view(np.uint32).astype(np.int64), 23
    elif x.dtype.name == "bfloat16":
        bits, frac_bits = x.view(np.uint16).astype(np.int64), 7
    else:
        return ref
    sign = bits >> (frac_bits + 8)
    exp_field = (bits >> frac_bits) & 0xFF
    m = bits & ((1 << frac_bits) - 1)
    sub = (sign == 0) & (exp_field == 0) & (m != 0)
    exact = np.where(m >= 3 << (frac_bits - 2), 1, 0).astype(ref.dtype)
    out = ref.copy()
    out[sub] = exact[sub]
    return out


def _assert_codes_equal(got, ref, x, label):
    if not np.array_equal(got, ref):
        bad = np.flatnonzero(got != ref)
        i = bad[0]
        raw = x.view(f"uint{x.dtype.itemsize * 8}")[i]
        raise AssertionError(f"{label}: {bad.size} mismatches; first x={x[i]!r} (bits {int(raw):#x}): "
                             f"numfmt {int(got[i]):#x}, reference {int(ref[i]):#x}")


def _concentrated_float32(fmt, n_random=1_000_000, seed=0):
    """Values, midpoints and their ±64-ulp float32 neighbourhoods, plus random bit patterns."""
    vals = fmt.values()
    vals = np.unique(vals[np.isfinite(vals)])
    mids = (vals[:-1] + vals[1:]) / 2            # exact in float64
    beyond = np.array([fmt.max * (1 + 2.0 ** -fmt.man), -fmt.max * (1 + 2.0 ** -fmt.man)])
    with np.errstate(over="ignore"):
        centres = np.concatenate([vals, mids, beyond, mids * 0.5, mids * 2.0]).astype(np.float32)
    offsets = np.arange(-64, 65, dtype=np.int64)
    c_bits = centres.view(np.uint32).astype(np.int64)
    near = (c_bits[:, None] + offsets[None, :]).reshape(-1)
    near = near[(near >= 0) & (near < 1 << 32)].astype(np.uint32)
    rng = np.random.default_rng(seed)
    rand = rng.integers(0, 1 << 32, size=n_random, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([near, rand]).view(np.float32)


@pytest.mark.parametrize("name", ML_NAMES + ["fp16"])
def test_float32_inputs_concentrated_at_midpoints(name):
    fmt = FLOATS[name]
    x = _concentrated_float32(fmt)
    assert x.size >= 1_000_000
    got = fmt.encode(x, nan_payload=(name == "fp16"))
    _assert_codes_equal(got, _cast_codes(x, name, fmt), x, f"{name} float32")
    # the generic kernel (small arrays skip the lookup table) agrees too
    part = x[:20_000]
    _assert_codes_equal(fmt.encode(part, nan_payload=(name == "fp16")), _cast_codes(part, name, fmt),
                        part, f"{name} float32 (kernel)")


@pytest.mark.parametrize("name", ML_NAMES + ["fp16"])
@pytest.mark.parametrize("source", ["float16", "bfloat16"])
def test_every_16_bit_input(name, source):
    fmt = FLOATS[name]
    dtype = np.float16 if source == "float16" else ml_dtypes.bfloat16
    x = np.arange(1 << 16, dtype=np.uint16).view(dtype)
    identity = (name, source) in {("fp16", "float16"), ("bf16", "bfloat16")}
    # numpy's float16 casts keep NaN payloads; ml_dtypes' casts (from bfloat16) do not
    got = fmt.encode(x, nan_payload=identity or (name, source) == ("fp16", "float16"))
    if identity:
        ref = x.view(np.uint16)
    else:
        ref = _cast_codes(x, name, fmt)
    _assert_codes_equal(got, ref, x, f"{name} from {source}")


@pytest.mark.parametrize("name", ML_NAMES + ["fp16"])
def test_decode_every_code(name):
    fmt = FLOATS[name]
    codes = fmt.codes()
    with np.errstate(invalid="ignore"):
        ref = codes.astype(np.uint8 if fmt.bits <= 8 else np.uint16).view(_reference_dtype(name)).astype(np.float64)
    got = fmt.decode(codes)
    assert np.array_equal(got, ref, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(ref))


def test_fp16_from_float64_matches_numpy():
    rng = np.random.default_rng(1)
    fmt = FLOATS["fp16"]
    vals = fmt.values()
    vals = np.unique(vals[np.isfinite(vals)])
    mids = (vals[:-1] + vals[1:]) / 2
    x = np.concatenate([vals, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf),
                        rng.standard_normal(200_000) * 10.0 ** rng.integers(-9, 6, 200_000),
                        [np.inf, -np.inf, 0.0, -0.0, 1e300, -1e-300, 5e-324]])
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16).view(np.uint16)
    _assert_codes_equal(fmt.encode(x), ref, x, "fp16 from float64")


def test_e8m0_subnormal_difference_is_what_we_document():
    """The only disagreement with ml_dtypes for e8m0fnu is the documented one."""
    m = np.arange(1, 1 << 23, dtype=np.uint32)
    x = m.view(np.float32)
    with np.errstate(invalid="ignore"):
        ml = x.astype(ml_dtypes.float8_e8m0fnu).view(np.uint8)
    ours = FLOATS["e8m0fnu"].encode(x)
    differ = np.flatnonzero(ml != ours)
    assert np.array_equal(m[differ], np.arange((1 << 22) + 1, 3 << 21, dtype=np.uint32))
    # numfmt's choice is the nearest: |x - 2**-127| < |x - 2**-126| for every differing input
    v = x[differ].astype(np.float64)
    assert np.all(np.abs(v - 2.0 ** -127) < np.abs(v - 2.0 ** -126))


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", ML_NAMES + ["fp16"])
def test_every_float32_bit_pattern(name):
    fmt = FLOATS[name]
    chunk = 1 << 25
    for start in range(0, 1 << 32, chunk):
        x = np.arange(start, start + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
        got = fmt.encode(x, nan_payload=(name == "fp16"))
        _assert_codes_equal(got, _cast_codes(x, name, fmt), x, f"{name} float32 chunk {start:#x}")


def test_interop_round_trip():
    from numfmt.interop import from_ml_dtypes, ml_dtype, to_ml_dtypes

    for name in ML_NAMES + ["fp16", "fp32"]:
        fmt = FLOATS[name]
        assert ml_dtype(fmt) is not None
        codes = fmt.codes() if fmt.bits <= 16 else np.array([0, 1, 0x3F800000], np.uint32)
        arr = to_ml_dtypes(codes, fmt)
        back_fmt, back = from_ml_dtypes(arr)
        assert back_fmt == fmt and np.array_equal(back, codes)
    assert ml_dtype(nf.FloatFormat(3, 3)) is None
    with pytest.raises(ValueError, match="no matching ml_dtypes dtype"):
        to_ml_dtypes([0], nf.FloatFormat(3, 3))
