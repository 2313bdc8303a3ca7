"""numfmt's float formats agree bit for bit with ml_dtypes and numpy casts.

Default suite: every float16 and every bfloat16 input, and over a million
float32 inputs per format concentrated at the values, at the midpoints between
neighbours and a few ulps around both. ``-m exhaustive``: all 2**32 float32
bit patterns. A type the installed ml_dtypes lacks (``float8_e5m3fnu`` before
0.7) is skipped with a reason; every float type the installed ml_dtypes has
must have a catalogue entry (:func:`test_numfmt_names_every_ml_dtypes_type`).

Known, written-down differences (and which ml_dtypes versions have them)
------------------------------------------------------------------------
* ml_dtypes < 0.7, ``e8m0fnu`` from *subnormal* float32/bfloat16 inputs:
  ml_dtypes rounds the subnormal's fraction as if it were a normal number with
  exponent -127, so ``m * 2**-149`` with ``2**22 < m < 3 * 2**21`` (nearer to
  2**-127 than to 2**-126) becomes 2**-126. numfmt rounds to nearest
  (2**-127); for those versions the expected code is computed exactly in
  :func:`_e8m0_subnormal_codes`. ml_dtypes 0.7 rounds to nearest too, and the
  tests then expect plain agreement.
* NaN payloads: ml_dtypes makes every NaN the quiet NaN of its sign; numpy's
  float16 cast keeps the payload's top bits. numfmt does the first by default
  and the second with ``nan_payload=True``; the tests use each where it applies.
"""

from __future__ import annotations

import numpy as np
import pytest

ml_dtypes = pytest.importorskip("ml_dtypes")

from packaging.version import Version  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt.catalogue import FLOATS, ML_DTYPES_NAMES  # noqa: E402

ML_NAMES = sorted(ML_DTYPES_NAMES)
ML_VERSION = Version(ml_dtypes.__version__)
#: ml_dtypes 0.7 rounds subnormal float32/bfloat16 inputs to E8M0 to nearest, as numfmt does
E8M0_SUBNORMALS_ROUND_TO_NEAREST = ML_VERSION >= Version("0.7")


def _require(name):
    """Skip unless the installed ml_dtypes has the type of catalogue entry ``name``."""
    attr = ML_DTYPES_NAMES.get(name)
    if attr is not None and not hasattr(ml_dtypes, attr):
        pytest.skip(f"the installed ml_dtypes {ml_dtypes.__version__} has no {attr}")


def _reference_dtype(name):
    return np.dtype(np.float16) if name == "fp16" else np.dtype(getattr(ml_dtypes, ML_DTYPES_NAMES[name]))


def _cast_codes(x, name, fmt):
    """The reference: ml_dtypes (numpy for fp16) cast of x, as codes."""
    with np.errstate(invalid="ignore", over="ignore"):
        ref = x.astype(_reference_dtype(name))
    ref = ref.view(np.uint8 if ref.dtype.itemsize == 1 else np.uint16)
    if name == "e8m0fnu" and not E8M0_SUBNORMALS_ROUND_TO_NEAREST:
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
    _require(name)
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
    _require(name)
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
    _require(name)
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


@pytest.mark.skipif(E8M0_SUBNORMALS_ROUND_TO_NEAREST,
                    reason=f"ml_dtypes {ml_dtypes.__version__} (≥ 0.7) rounds subnormals to E8M0 to nearest, "
                           "as numfmt does: test_e8m0_subnormal_inputs_agree checks it")
def test_e8m0_subnormal_difference_is_what_we_document():
    """ml_dtypes < 0.7: the only disagreement for e8m0fnu is the documented one."""
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


@pytest.mark.skipif(not E8M0_SUBNORMALS_ROUND_TO_NEAREST,
                    reason=f"ml_dtypes {ml_dtypes.__version__} (< 0.7) rounds subnormals to E8M0 as normals: "
                           "test_e8m0_subnormal_difference_is_what_we_document checks the difference")
def test_e8m0_subnormal_inputs_agree():
    """ml_dtypes ≥ 0.7: every float32 subnormal (both signs) and zero gives ml_dtypes' code."""
    m = np.arange(0, 1 << 23, dtype=np.uint32)
    x = np.concatenate([m, m | np.uint32(1 << 31)]).view(np.float32)
    with np.errstate(invalid="ignore"):
        ml = x.astype(ml_dtypes.float8_e8m0fnu).view(np.uint8)
    _assert_codes_equal(FLOATS["e8m0fnu"].encode(x), ml, x, "e8m0fnu from float32 subnormals")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.exhaustive) for n in ML_NAMES] + [
    # NumPy's float16 keeps NaN payloads, so numfmt's payload path runs: 10 min here (-m sweep)
    pytest.param("fp16", marks=pytest.mark.sweep)])
def test_every_float32_bit_pattern(name):
    _require(name)
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
        if name in ML_DTYPES_NAMES and not hasattr(ml_dtypes, ML_DTYPES_NAMES[name]):
            assert ml_dtype(fmt) is None     # this ml_dtypes predates the type
            continue
        assert ml_dtype(fmt) is not None
        codes = fmt.codes() if fmt.bits <= 16 else np.array([0, 1, 0x3F800000], np.uint32)
        arr = to_ml_dtypes(codes, fmt)
        back_fmt, back = from_ml_dtypes(arr)
        assert back_fmt == fmt and np.array_equal(back, codes)
    assert ml_dtype(nf.FloatFormat(3, 3)) is None
    with pytest.raises(ValueError, match="no matching ml_dtypes dtype"):
        to_ml_dtypes([0], nf.FloatFormat(3, 3))


def test_interop_without_the_type(monkeypatch):
    """An ml_dtypes without float8_e5m3fnu (before 0.7): no dtype, and a clear error."""
    from numfmt.interop import ml_dtype, to_ml_dtypes

    monkeypatch.delattr(ml_dtypes, "float8_e5m3fnu", raising=False)
    monkeypatch.setattr(ml_dtypes, "__version__", "0.6.0")
    assert ml_dtype(FLOATS["e5m3fnu"]) is None
    with pytest.raises(ValueError, match=r"fmt e5m3fnu is ml_dtypes\.float8_e5m3fnu, which the installed "
                                         r"ml_dtypes 0\.6\.0 lacks; upgrade ml_dtypes"):
        to_ml_dtypes([0], FLOATS["e5m3fnu"])
    assert ml_dtype(FLOATS["e4m3fn"]).name == "float8_e4m3fn"


# -- every type of the installed ml_dtypes has a numfmt name ------------------------------------
def _ml_dtypes_types():
    """``(floats, complexes, ints)``: attribute names of the installed ml_dtypes' scalar types.

    A real float type is one whose ``ml_dtypes.finfo`` describes the type itself; a
    complex type's ``finfo`` describes its component (``complex32`` → float16,
    ``bcomplex32`` → bfloat16); an integer type has ``ml_dtypes.iinfo``.
    """
    floats, complexes, ints = [], [], []
    for attr in sorted(dir(ml_dtypes)):
        t = getattr(ml_dtypes, attr)
        if attr.startswith("_") or not isinstance(t, type):
            continue
        try:
            dtype = np.dtype(t)
        except TypeError:
            continue                      # finfo, iinfo: classes, not scalar types
        try:
            fi = ml_dtypes.finfo(t)
        except (TypeError, ValueError):
            fi = None
        if fi is not None:
            (floats if fi.dtype == dtype else complexes).append(attr)
            continue
        try:
            ml_dtypes.iinfo(t)
        except (TypeError, ValueError):
            continue
        ints.append(attr)
    return floats, complexes, ints


def test_numfmt_names_every_ml_dtypes_type():
    """Fails, naming the type, when an ml_dtypes release adds a type numfmt has no name for.

    Real float types need a catalogue entry mapped in ``ML_DTYPES_NAMES`` whose
    finfo-like properties equal ml_dtypes' finfo (the bit-for-bit casts are the
    other tests). numfmt has no complex formats: a complex type's components must
    be a real type numfmt names. Integer types are ``IntFormat`` under the same name
    with the same value range (their float → int cast rule, truncating in
    ml_dtypes, is not numfmt's default and is not compared).
    """
    from numfmt.interop import ml_dtype

    floats, complexes, ints = _ml_dtypes_types()
    assert {"bfloat16", "float8_e4m3fn", "float8_e8m0fnu"} <= set(floats)   # the scan works
    known = {attr: name for name, attr in ML_DTYPES_NAMES.items()}
    missing = [attr for attr in floats if attr not in known]
    assert not missing, (f"ml_dtypes {ml_dtypes.__version__} has float types numfmt cannot name: "
                         f"{', '.join(missing)}; add them to numfmt.catalogue (FLOATS, ML_DTYPES_NAMES)")
    for attr in floats:
        fmt, fi = FLOATS[known[attr]], ml_dtypes.finfo(getattr(ml_dtypes, attr))
        assert ml_dtype(fmt) == np.dtype(getattr(ml_dtypes, attr)), attr
        ours = (fmt.bits, fmt.exp, fmt.man, fmt.max, fmt.min, fmt.smallest_normal, fmt.smallest_subnormal, fmt.eps)
        theirs = (fi.bits, fi.nexp, fi.nmant) + tuple(float(getattr(fi, a)) for a in (
            "max", "min", "smallest_normal", "smallest_subnormal", "eps"))
        assert ours == theirs, (attr, ours, theirs)
    for attr in complexes:
        component = ml_dtypes.finfo(getattr(ml_dtypes, attr)).dtype
        assert component == np.float16 or component.name in known, \
            f"ml_dtypes {attr} has components of type {component}, which numfmt cannot name"
    for attr in ints:
        info = ml_dtypes.iinfo(getattr(ml_dtypes, attr))
        try:
            fmt = nf.parse(attr)
        except ValueError as exc:
            raise AssertionError(f"ml_dtypes {attr} is an integer type numfmt cannot name: {exc}") from None
        assert isinstance(fmt, nf.IntFormat) and (fmt.bits, fmt.min, fmt.max) == (info.bits, info.min, info.max), attr
