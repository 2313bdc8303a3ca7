"""The fast paths of FloatFormat.encode (lookup tables, a vectorised float32 loop) equal the exact kernel.

Large arrays of 16-bit inputs go through a table of all 2**16 results; float32
and float64 inputs go through a table indexed by the top 16 bits and whether
the rest is zero, when ``FloatFormat._lut_exact`` says the rest cannot matter
otherwise. Both tables are built by the kernel, so here we check the index
arithmetic and the exactness condition on inputs chosen to break them. Float32
input in round to nearest even goes through a branch-free loop
(``k.encode_f32_nearest``), checked against the kernel on every top-16-bit class
and, under ``-m exhaustive``, on every float32 for fp4_e3m0 (``-m sweep``: also e4m3fn and e2m1fn).
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt._kernels import floating as k
from numfmt.formats.floating import _LUT_MIN_SIZE, _lut

FORMATS = [nf.FLOATS[n] for n in ("e4m3fn", "e5m2", "e2m1fn", "e8m0fnu", "e3m4", "e4m3b11fnuz", "fp6_e2m3", "bf16", "fp16")] + [
    nf.FloatFormat(4, 3, bias=3, subnormals=False),
    nf.FloatFormat(7, 2, bias=100, specials="fn"),           # tiny values near float32 subnormals
    nf.FloatFormat(8, 6, bias=127, specials="none"),          # at the edge of the float32 condition
    nf.FloatFormat(8, 3, bias=129, specials="none"),
    nf.FloatFormat(3, 1, signed=False, specials="fn"),
]
ROUNDINGS = [r for r in nf.Rounding if r is not nf.Rounding.STOCHASTIC]


def _kernel(fmt, x, rounding, nan_payload=False):
    bits = np.ascontiguousarray(x).reshape(-1).view(f"uint{x.dtype.itemsize * 8}")
    in_e, in_m = {2: (5, 10), 4: (8, 23), 8: (11, 52)}[x.dtype.itemsize] if x.dtype.name != "bfloat16" else (8, 7)
    out = np.empty(bits.size, dtype=fmt.code_dtype)
    k.encoder(in_e, in_m, rounding.code)(bits, fmt._kernel_params(), np.zeros(1, np.int64), 32,
                                         nan_payload, out)
    return out


def _hard_inputs(fmt, dtype, n_random=1 << 16, seed=0):
    """Values, midpoints, their bit neighbours, the whole subnormal range edges and random bits."""
    width = np.dtype(dtype).itemsize * 8
    utype = np.dtype(f"uint{width}")
    vals = fmt.values()
    vals = np.unique(vals[np.isfinite(vals)])
    mids = (vals[:-1] + vals[1:]) / 2
    with np.errstate(over="ignore"):
        centres = np.concatenate([vals, mids, [fmt.max * 1.0625, fmt.max * 2]]).astype(dtype)
    cb = centres.view(utype).astype(np.uint64)
    offsets = np.array([0, 1, 2, 3, 1 << 15, (1 << 16) - 1, 1 << 16, (1 << 16) + 1], dtype=np.uint64)
    near = np.concatenate([cb[:, None] + offsets, cb[:, None] - offsets]).reshape(-1)
    rng = np.random.default_rng(seed)
    rand = rng.integers(0, np.iinfo(utype).max, size=n_random, dtype=utype, endpoint=True).astype(np.uint64)
    small = np.arange(0, 1 << 17, dtype=np.uint64)        # smallest subnormals of the input type
    allb = np.concatenate([near, rand, small, small | (np.uint64(1) << np.uint64(width - 1))])
    allb = allb & np.uint64((1 << width) - 1) if width < 64 else allb
    out = allb.astype(utype).view(dtype)
    assert out.size >= _LUT_MIN_SIZE
    return out


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("dtype", ["float64"] + [pytest.param(d, marks=pytest.mark.slow)
                                                  for d in ("float32", "float16", "bfloat16")])
def test_table_path_equals_kernel(fmt, dtype):
    if dtype == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        dtype = ml_dtypes.bfloat16
    x = _hard_inputs(fmt, dtype)
    for rounding in ROUNDINGS:
        for payload in (False, True):
            got = fmt.encode(x, rounding, nan_payload=payload)
            ref = _kernel(fmt, x, rounding, payload)
            bad = np.flatnonzero(got != ref)
            assert bad.size == 0, (f"{fmt} {rounding} payload={payload}: x={x[bad[0]]!r} "
                                   f"table {int(got[bad[0]]):#x} kernel {int(ref[bad[0]]):#x}")


def test_exactness_condition():
    e4m3 = nf.FLOATS["e4m3fn"]
    assert e4m3._lut_exact(8, 23) and e4m3._lut_exact(11, 52)
    assert not nf.FLOATS["e3m4"]._lut_exact(11, 52)            # 52 - 4 = 48 bits discarded: not > 48
    assert nf.FLOATS["e3m4"]._lut_exact(8, 23)
    assert not nf.FLOATS["bf16"]._lut_exact(8, 23)
    # float32 subnormal inputs: need min_exp - man + 149 > 16, i.e. bias ≤ 127 for e8m6
    assert not nf.FloatFormat(8, 6, bias=128, specials="none")._lut_exact(8, 23)
    assert nf.FloatFormat(8, 6, bias=127, specials="none")._lut_exact(8, 23)


# -- the vectorised float32 encoder (round to nearest even) ---------------------------------------
F32_FORMATS = [f for f in nf.FLOATS.values() if k.f32_nearest_ok(f._kernel_params())] + [
    nf.FloatFormat(5, 2, bias=3, specials="fn"),             # a large bias ...
    nf.FloatFormat(4, 3, bias=-2, specials="none"),          # ... and a negative one
    nf.FloatFormat(3, 0, bias=4, specials="fnuz"),           # no fraction bits: ties round up
    nf.FloatFormat(7, 2, bias=124, specials="ieee"),         # smallest quantum 2**-125: the limit
    nf.FloatFormat(2, 1, bias=-100, specials="none"),        # values near 2**102, the step 2**123
]
_LOWS = np.array([0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF], dtype=np.uint32)


def _f32_classes(seed):
    """Every top-16-bit class of float32 with several low halves, in order and shuffled."""
    hi = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
    rng = np.random.default_rng(seed)
    rand = rng.integers(0, 1 << 16, size=hi.size, dtype=np.uint32)
    bits = np.concatenate([(hi[:, None] | _LOWS).reshape(-1), hi | rand])
    return np.concatenate([bits, rng.permutation(bits)]).view(np.float32)


def test_f32_nearest_applies_where_stated():
    assert k.f32_nearest_ok(nf.FLOATS["e4m3fn"]._kernel_params())
    assert k.f32_nearest_ok(nf.FLOATS["fp16"]._kernel_params())
    for fmt in (nf.FLOATS["bf16"],                                  # quantum 2**-133: float32 subnormals count
                nf.FLOATS["e8m0fnu"],                               # unsigned
                nf.FloatFormat(4, 3, subnormals=False),             # flush to zero
                nf.FloatFormat(7, 2, bias=125),                     # smallest quantum 2**-126 ...
                nf.FloatFormat(5, 2, bias=-100, specials="none"),   # float32's inf inside its codes
                nf.FloatFormat(2, 1, bias=-124, specials="none")):  # its quantum 2**124: the step 2**147
        assert not k.f32_nearest_ok(fmt._kernel_params()), fmt
    assert k.f32_nearest_ok(nf.FloatFormat(7, 2, bias=124)._kernel_params())   # ... and 2**-125
    assert len(F32_FORMATS) >= 30


@pytest.mark.parametrize("fmt", F32_FORMATS, ids=str)
def test_f32_nearest_path_equals_kernel(fmt):
    """Every float32 class (top 16 bits, low halves at the rounding edges and random), the
    neighbours of every value and midpoint, NaN payloads: the vectorised loop (blocks that
    stay in range, in sorted order; blocks with an exception, shuffled) gives the encoder's
    codes."""
    assert k.f32_nearest_ok(fmt._kernel_params())
    x = np.concatenate([_f32_classes(fmt.bits), _hard_inputs(fmt, np.float32, n_random=1 << 12)])
    for payload in (False, True):
        got = fmt.encode(x, "rne", nan_payload=payload)
        ref = _kernel(fmt, x, nf.Rounding.NEAREST_EVEN, payload)
        bad = np.flatnonzero(got != ref)
        assert bad.size == 0, (f"{fmt} payload={payload}: x={x[bad[0]]!r} ({x.view(np.uint32)[bad[0]]:#x}) "
                               f"vectorised {int(got[bad[0]]):#x} kernel {int(ref[bad[0]]):#x}")


@pytest.mark.exhaustive
# e4m3fn and e2m1fn under sweep only: CI's exhaustive run checks every float32 of both against
# ml_dtypes (test_ml_dtypes_agreement.py), through this same path; fp4_e3m0 has no ml_dtypes type
@pytest.mark.parametrize("name", [pytest.param("e4m3fn", marks=pytest.mark.sweep),
                                  pytest.param("e2m1fn", marks=pytest.mark.sweep), "fp4_e3m0"])
def test_f32_nearest_path_every_float32(name):
    """All 2**32 float32 inputs: the vectorised loop gives the codes of the encoder's table
    (exact for these formats, ``FloatFormat._lut_exact``; the table is built by the encoder)."""
    fmt = nf.FLOATS[name]
    assert fmt._lut_exact(8, 23)
    p = fmt._kernel_params()
    table = _lut(fmt, nf.Rounding.NEAREST_EVEN, 8, 23, False)
    step = 1 << 26
    got, ref = np.empty(step, dtype=fmt.code_dtype), np.empty(step, dtype=fmt.code_dtype)
    bits = np.arange(step, dtype=np.uint32)
    for _ in range((1 << 32) // step):
        k.encode_f32_nearest(bits, p, False, got)
        k.encode_lut_hi16(bits, 16, table, ref)
        if not np.array_equal(got, ref):
            bad = np.flatnonzero(got != ref)[0]
            assert False, f"{fmt}: {bits[bad]:#x} vectorised {got[bad]:#x} table {ref[bad]:#x}"
        bits += np.uint32(step)
