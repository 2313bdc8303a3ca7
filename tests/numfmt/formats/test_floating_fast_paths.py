"""The lookup-table fast paths of FloatFormat.encode equal the exact kernel.

Large arrays of 16-bit inputs go through a table of all 2**16 results; float32
and float64 inputs go through a table indexed by the top 16 bits and whether
the rest is zero, when ``FloatFormat._lut_exact`` says the rest cannot matter
otherwise. Both tables are built by the kernel, so here we check the index
arithmetic and the exactness condition on inputs chosen to break them.
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt._kernels import floating as k
from numfmt.formats.floating import _LUT_MIN_SIZE

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
