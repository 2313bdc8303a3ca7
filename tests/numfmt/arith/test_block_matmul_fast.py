"""block_matmul with exact accumulators as one exact matmul of the decoded operands (numfmt.arith._fast).

The shortcut must give what the block-by-block path gives, bit for bit (NaN outputs
included), and the same errors; it must stay out where a step of the block path could
fail or where the accumulators are not exact. The general path is obtained by making
the shortcut decline.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import numfmt as nf
from numfmt.arith import ExactAccumulator, FloatAccumulator, _fast, block_matmul

SEED = 1506
NAMES = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8", "bfp8"]


def operands(name, m, n, p, rng, *, nan=True, wide=True):
    """Blocked codes of A (m, n) along axis 1 and B (n, p) along axis 0, reaching scale extremes."""
    fa = nf.BLOCKS[name]
    fb = dataclasses.replace(fa, axis=0)
    a = rng.standard_normal((m, n)) * np.exp2(rng.integers(-6, 6, size=(m, 1)))
    b = rng.standard_normal((n, p)) * np.exp2(rng.integers(-6, 6, size=(1, p)))
    if wide:                                     # E8M0 limits: tiny and huge blocks, zero blocks
        a[0, :] *= 2.0 ** -130
        a[1, :] *= 2.0 ** 120
        b[:, 0] *= 2.0 ** 120
        a[2, :] = 0.0
        b[:, 1] = 0.0
    if nan:
        a[3, 5] = np.nan
        b[min(40, n - 1), 2] = np.inf
    return fa.encode(a), fb.encode(b)


def general(A, B, **kw):
    keep = _fast.exact_block_matmul
    _fast.exact_block_matmul = lambda *args: None
    try:
        return block_matmul(A, B, **kw)
    finally:
        _fast.exact_block_matmul = keep


def same_bits(x, y):
    assert x.shape == y.shape and x.dtype == y.dtype
    np.testing.assert_array_equal(x.view(np.uint64), y.view(np.uint64))


@pytest.mark.parametrize("name", NAMES)
def test_shortcut_equals_the_block_path(name):
    rng = np.random.default_rng(SEED)
    A, B = operands(name, 6, 70, 5, rng)                   # 70 = 2 * 32 + 6: a short last block
    shortcut = _fast.exact_block_matmul(A, B, *A.factors(), *B.factors(), ExactAccumulator(),
                                        ExactAccumulator(), None, None)
    assert shortcut is not None, "the shortcut did not run"
    assert np.isnan(shortcut).any() and (shortcut == 0).any()          # NaN blocks and zero blocks reached
    same_bits(block_matmul(A, B), general(A, B))
    same_bits(shortcut, general(A, B))


@pytest.mark.parametrize("out_format", ["fp16", "e4m3fn", "bf16"])
def test_shortcut_rounds_the_same_exact_sums(out_format):
    rng = np.random.default_rng(SEED)
    A, B = operands("mxfp8_e4m3", 5, 64, 4, rng, wide=False)
    fmt = nf.FLOATS[out_format]
    for rounding in (None, "rtz", "ceil"):
        same_bits(block_matmul(A, B, out_format=fmt, out_rounding=rounding),
                  general(A, B, out_format=fmt, out_rounding=rounding))


def test_a_sum_wider_than_float64_raises_the_same_error():
    """2**120 + 2**-130 needs more than 53 bits: both paths refuse it without out_format."""
    fa = nf.BLOCKS["mxfp8_e4m3"]
    fb = dataclasses.replace(fa, axis=0)
    A = fa.encode(np.concatenate([np.full(32, 2.0 ** 120), np.full(32, 2.0 ** -130)])[None, :])
    B = fb.encode(np.ones((64, 1)))
    with pytest.raises(ValueError) as fast_err:
        block_matmul(A, B)
    with pytest.raises(ValueError) as general_err:
        general(A, B)
    assert str(fast_err.value) == str(general_err.value)
    assert "more than 53 significant bits" in str(fast_err.value)


@pytest.mark.filterwarnings("ignore:overflow encountered in ldexp:RuntimeWarning")   # the block path's overflow
@pytest.mark.parametrize("case", ["float-acc", "float-block-acc", "ieee", "inf-element", "huge-scale"])
def test_shortcut_stays_out(case):
    rng = np.random.default_rng(SEED)
    A, B = operands("mxfp8_e4m3", 4, 64, 3, rng, nan=False)
    acc = block_acc = ExactAccumulator()
    if case == "float-acc":
        acc = FloatAccumulator(nf.FLOATS["fp32"])
    elif case == "float-block-acc":
        block_acc = FloatAccumulator(nf.FLOATS["fp16"])
    elif case == "ieee":
        acc = ExactAccumulator(nonfinite="ieee")
    elif case == "inf-element":                        # e5m2 keeps inf per element under this policy
        fa = dataclasses.replace(nf.BLOCKS["mxfp8_e5m2"], nan_policy="per-element")
        A = fa.encode(np.array([[np.inf] + [1.0] * 63]))
        B = dataclasses.replace(fa, axis=0).encode(np.ones((64, 1)))
    else:                                              # a 12-bit integer scale: exponents to ±2047
        fa = nf.BlockFormat(nf.FLOATS["e4m3fn"], 32, scale=nf.IntFormat(12), nan_policy="per-element")
        A = fa.encode(np.full((1, 32), 2.0 ** 1000))
        B = dataclasses.replace(fa, axis=0).encode(np.full((32, 1), 2.0 ** 100))
        with pytest.raises(ValueError, match="outside float64's range"):   # the block path's error stays
            block_matmul(A, B)
    assert _fast.exact_block_matmul(A, B, *A.factors(), *B.factors(), acc, block_acc, None, None) is None
