"""Block formats against outside definitions: the OCP MX v1.0 text, ml_dtypes, gfloat.

``spec_block`` below is written from the OCP Microscaling Formats (MX) v1.0
specification, not from numfmt: §6.3 (conversion of a vector of scalar floats
to an MX block: ``X = 2**(floor(log2(max|V_i|)) - emax_elem)``,
``P_i = quantize_to_element_format(V_i / X)`` with normal numbers beyond the
element's max normal clamped to it), the element and scale definitions of §5
(Table 1's ``emax_elem``; E8M0 holds 2**-127..2**127, 0xFF is NaN; a NaN scale
makes the block NaN, §5.2) and INT8's implicit scale of 2**-6. Each element is
rounded by exact rational arithmetic to the nearest value of a value grid
built from the element's definition, ties to the even code.
"""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from numfmt.formats.block import BLOCKS, BlockFormat

# --- the spec, per element type: (value grid builder, emax_elem) -------------------------------


def _float_grid(ebits, mbits, max_normal):
    """Non-negative values of a sign-magnitude minifloat (bias 2**(e-1)-1, subnormals), in code order."""
    bias = (1 << (ebits - 1)) - 1
    vals = []
    for code in range(1 << (ebits + mbits)):
        b, f = code >> mbits, code & ((1 << mbits) - 1)
        if b == 0:
            v = Fraction(f, 1 << mbits) * Fraction(2) ** (1 - bias)
        else:
            v = (1 + Fraction(f, 1 << mbits)) * Fraction(2) ** (b - bias)
        if v > max_normal:
            break
        vals.append(v)
    return vals


SPEC = {
    # name: (grid of values in code order (signed grid for INT8), emax_elem, max normal, signed grid?)
    "mxfp8_e4m3": (_float_grid(4, 3, 448), 8, Fraction(448), False),
    "mxfp8_e5m2": (_float_grid(5, 2, 57344), 15, Fraction(57344), False),
    "mxfp6_e3m2": (_float_grid(3, 2, 28), 4, Fraction(28), False),
    "mxfp6_e2m3": (_float_grid(2, 3, Fraction(15, 2)), 2, Fraction(15, 2), False),
    "mxfp4": (_float_grid(2, 1, 6), 2, Fraction(6), False),
    "mxint8": ([Fraction(k, 64) for k in range(-128, 128)], 0, Fraction(127, 64), True),
}
ML_DTYPES = {"mxfp8_e4m3": ml_dtypes.float8_e4m3fn, "mxfp8_e5m2": ml_dtypes.float8_e5m2,
             "mxfp6_e3m2": ml_dtypes.float6_e3m2fn, "mxfp6_e2m3": ml_dtypes.float6_e2m3fn,
             "mxfp4": ml_dtypes.float4_e2m1fn}


def _round_to_grid(v: Fraction, grid):
    """Nearest grid value to v, ties to the even index; beyond the ends, the end (saturation)."""
    if v <= grid[0]:
        return grid[0]
    if v >= grid[-1]:
        return grid[-1]
    lo, hi = 0, len(grid) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if grid[mid] <= v:
            lo = mid
        else:
            hi = mid
    d_lo, d_hi = v - grid[lo], grid[hi] - v
    if d_lo < d_hi or (d_lo == d_hi and lo % 2 == 0):
        return grid[lo]
    return grid[hi]


def _floor_log2(v: Fraction) -> int:
    e = 0
    while Fraction(2) ** e > v:
        e -= 1
    while Fraction(2) ** (e + 1) <= v:
        e += 1
    return e


def spec_block(values, name):
    """(shared exponent or None for a NaN scale, element values) of one block, from the spec text."""
    grid, emax_elem, _, signed_grid = SPEC[name]
    if any(math.isnan(v) or math.isinf(v) for v in values):
        return None, [math.nan] * len(values)
    vs = [Fraction(v) for v in values]
    amax = max(abs(v) for v in vs)
    shared = -127 if amax == 0 else _floor_log2(amax) - emax_elem
    shared = max(-127, min(127, shared))
    x = Fraction(2) ** shared
    out = []
    for v, f in zip(vs, values):
        q = v / x
        if signed_grid:
            r = _round_to_grid(q, grid)
            out.append(float(r))
        else:
            r = _round_to_grid(abs(q), grid)
            out.append(math.copysign(float(r), f))
    return shared, out


# --- test data -------------------------------------------------------------------------------------


def tensor(rng, shape, dtype=np.float32):
    """Normal data with outliers, all-zero blocks, tiny and subnormal values, NaN/Inf blocks."""
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-20, 20, size=shape[:-1] + (1,)))
    flat = x.reshape(-1)
    n = flat.size
    idx = rng.integers(0, n, size=max(1, n // 50))
    flat[idx] *= 2.0 ** rng.integers(5, 30, size=idx.size)                   # outliers
    if n >= 64:
        flat[:32] = 0.0                                                         # an all-zero block
        flat[32:48] = rng.standard_normal(16) * 2.0 ** -140                     # float32 subnormals
    ties = rng.integers(0, n, size=max(1, n // 40))
    flat[ties] = rng.integers(-64, 64, size=ties.size) * 0.25 + 0.125           # many exact ties
    x = flat.reshape(shape).astype(dtype)
    return x


def with_specials(rng, x):
    x = x.copy()
    flat = x.reshape(-1)
    for v in (np.nan, np.inf, -np.inf):
        flat[rng.integers(0, flat.size)] = v
    return x


def check_against_spec(fmt: BlockFormat, name, x):
    enc = fmt.encode(x)
    scales = np.moveaxis(enc.scales, fmt.axis, -1)
    values = np.moveaxis(fmt.element.decode(enc.elements), fmt.axis, -1)
    elems = np.moveaxis(enc.elements, fmt.axis, -1)
    xm = np.moveaxis(x, fmt.axis, -1).astype(np.float64)
    n = xm.shape[-1]
    for idx in np.ndindex(xm.shape[:-1]):
        for j, start in enumerate(range(0, n, fmt.block)):
            blk = xm[idx][start:start + fmt.block].tolist()
            shared, ref = spec_block(blk, name)
            got_scale = int(scales[idx][j])
            got = values[idx][start:start + fmt.block]
            if shared is None:
                assert got_scale == 0xFF, (idx, j, blk)
                assert not elems[idx][start:start + fmt.block].any()
                assert np.isnan(fmt.decode(enc)[..., :]).any()
                continue
            assert got_scale == shared + 127, (idx, j, blk, got_scale, shared)
            ref = np.array(ref)
            assert np.array_equal(got, ref), (idx, j, blk, got, ref)
            assert np.array_equal(np.signbit(got), np.signbit(ref)) or name == "mxint8"


@pytest.mark.parametrize("name", list(SPEC))
def test_against_spec_text(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    x = with_specials(rng, tensor(rng, (6, 100)))            # 100 = 3 blocks of 32 + a ragged 4
    check_against_spec(BLOCKS[name], name, x)


@pytest.mark.parametrize("name", list(SPEC))
@pytest.mark.parametrize("dtype", [np.float64, np.float16, ml_dtypes.bfloat16])
def test_against_spec_text_other_dtypes_and_axes(name, dtype):
    rng = np.random.default_rng(7)
    with np.errstate(over="ignore"):              # float16 overflow gives inf blocks: fine
        x = tensor(rng, (40, 3, 5), dtype=np.float32).astype(dtype)
    fmt = BlockFormat(BLOCKS[name].element, 16, axis=0)
    check_against_spec(fmt, name, x)
    fmt = BlockFormat(BLOCKS[name].element, 4, axis=1)
    check_against_spec(fmt, name, x)


def test_decoded_block_nan_when_scale_nan():
    x = np.ones(64, np.float32)
    x[40] = np.nan
    q = BLOCKS["mxfp4"].quantize(x)
    assert not np.isnan(q[:32]).any() and np.isnan(q[32:]).all()


# --- ml_dtypes: E8M0 scale casts and element casts -------------------------------------------------


@pytest.mark.parametrize("name", list(ML_DTYPES) + ["mxint8"])
def test_against_ml_dtypes(name):
    """Scale = E8M0 cast of 2**shared (shared from frexp, exact); elements = ml_dtypes casts of x/scale.

    OCP clamps element overflow to max normal; ml_dtypes' e2m1/e2m3/e3m2 casts saturate,
    but its e4m3fn cast gives NaN and e5m2 gives inf, so x/scale is clipped to ±max first
    (clipping before rounding-to-nearest gives the same result as rounding then clamping).
    MXINT8 elements: numpy's round-half-even of 64·x/scale, clipped to [-128, 127].
    """
    rng = np.random.default_rng(1)
    x = tensor(rng, (64, 96))
    fmt = BLOCKS[name]
    enc = fmt.encode(x)
    blocks = x.astype(np.float64).reshape(64, 3, 32)
    amax = np.abs(blocks).max(axis=-1)
    _, ex = np.frexp(amax)
    shared = np.where(amax == 0, -127, np.clip(ex - 1 - SPEC[name][1], -127, 127))
    scale = np.ldexp(1.0, shared)
    assert np.array_equal(enc.scales, scale.astype(ml_dtypes.float8_e8m0fnu).view(np.uint8))
    q = blocks / scale[..., None]
    if name == "mxint8":
        ref = np.clip(np.round(q * 64), -128, 127).astype(np.int64).astype(np.uint8)
    else:
        mx = float(SPEC[name][2])
        ref = np.clip(q, -mx, mx).astype(ML_DTYPES[name]).view(np.uint8)
    assert np.array_equal(enc.elements.reshape(64, 3, 32), ref)


def test_e8m0_codes_against_ml_dtypes_all_exponents():
    """Every shared exponent -127..127 encodes as the ml_dtypes E8M0 cast of its power of two."""
    e = np.arange(-127, 128)
    x = np.ldexp(1.0, e + 2)[:, None] * np.ones((1, 32))     # amax 2**(e+2): mxfp4 shared = e
    enc = BLOCKS["mxfp4"].encode(x)
    assert np.array_equal(enc.scales[:, 0], np.ldexp(1.0, e).astype(ml_dtypes.float8_e8m0fnu).view(np.uint8))


# --- gfloat's encode_block ---------------------------------------------------------------------------

GFLOAT = {"mxfp8_e4m3": "format_info_mxfp8_e4m3", "mxfp8_e5m2": "format_info_mxfp8_e5m2",
          "mxfp6_e3m2": "format_info_mxfp6_e3m2", "mxfp6_e2m3": "format_info_mxfp6_e2m3",
          "mxfp4": "format_info_mxfp4_e2m1", "mxint8": "format_info_mxint8"}


@pytest.mark.parametrize("name", list(GFLOAT))
def test_against_gfloat_encode_block(name):
    """gfloat's scale rule (compute_scale_amax) and encode_block (saturating elements).

    Conventions match on finite float32 blocks: gfloat takes floor(log2(amax)) in floating
    point, which is exact for float32 amax (the log2 of (1 - 2**-24)·2**k is far from k),
    clips the exponent to ±127, and uses 2**-127 for an all-zero block. They differ on
    NaN/Inf (gfloat's NaN scale then fails on elements without NaN) and on float64
    inputs just below a power of two (floating log2 rounds up), which are not compared.
    """
    gfloat = pytest.importorskip("gfloat")
    from gfloat import formats as gf
    fi = getattr(gf, GFLOAT[name])
    rng = np.random.default_rng(3)
    x = tensor(rng, (8, 96))
    enc = BLOCKS[name].encode(x)
    for r in range(8):
        for j in range(3):
            vals = x[r, 32 * j:32 * (j + 1)].astype(np.float64)
            scale = gfloat.compute_scale_amax(fi.etype.emax, vals)
            codes = list(gfloat.encode_block(fi, scale, vals / scale))
            assert codes[0] == enc.scales[r, j]
            assert codes[1:] == enc.elements[r, 32 * j:32 * (j + 1)].tolist(), (r, j)
