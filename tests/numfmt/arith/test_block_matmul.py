"""block_matmul / block_dot against a Fraction reference built from the OCP definition.

The reference decodes each element with its scalar format (tested on its own), reads the
E8M0 shared exponent as ``code - 127`` (0xFF = NaN), sums each block's element products
with the accumulator reference of ``arith_reference.py``, scales by ``2**(eA + eB)`` and
sums over the blocks with the outer accumulator's reference.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt.arith import (ExactAccumulator, FixedAccumulator, FloatAccumulator, block_dot,
                          block_matmul, matmul)

from .arith_reference import ref_sum, same

FP32, FP16, BF16 = nf.FLOATS["fp32"], nf.FLOATS["fp16"], nf.FLOATS["bf16"]

ACCS = {
    "exact": ExactAccumulator(),
    "fp32": FloatAccumulator(FP32),
    "bf16-pairwise": FloatAccumulator(BF16, order="pairwise"),
    "fp16-chunk2": FloatAccumulator(FP16, order="chunked", chunk=2),
    "fixed-sat": FixedAccumulator(24, 30, overflow="sat"),
    "fixed-wrap": FixedAccumulator(20, 30, overflow="wrap"),
}
BLOCK_ACCS = {
    "exact": ExactAccumulator(),
    "fp16": FloatAccumulator(FP16),
    "e5m2": FloatAccumulator(nf.parse("e5m2"), order="pairwise"),
}
NAMES = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8", "bfp8"]


def _ref_exponent(fmt, code):
    assert str(fmt.scale) == "e8m0fnu"
    return None if code == 0xFF else int(code) - 127


def _ref_product(A, B, acc, block_acc):
    fa, fb = A.format, B.format
    va = fa.element.decode(A.elements)
    vb = fb.element.decode(B.elements)
    (m, n), p, k = va.shape, vb.shape[1], fa.block
    out = np.empty((m, p))
    for i in range(m):
        for q in range(p):
            scaled, nan = [], False
            for j in range(-(-n // k)):
                ea, eb = _ref_exponent(fa, A.scales[i, j]), _ref_exponent(fb, B.scales[j, q])
                if ea is None or eb is None:
                    nan = True
                    continue
                idx = range(j * k, min(n, (j + 1) * k))
                part = ref_sum([float(va[i, t]) * float(vb[t, q]) for t in idx], block_acc)
                scaled.append(float(Fraction(part) * Fraction(2) ** (ea + eb))
                              if math.isfinite(part) else part)     # a block_acc overflowed
            if nan:
                out[i, q] = math.nan
            else:
                r = ref_sum(scaled, acc)
                out[i, q] = float(r)
                assert isinstance(r, float) or Fraction(out[i, q]) == r
    return out


def _operands(name, block, m, n, p, rng, nan=False):
    base = nf.BLOCKS[name]
    fa = dataclasses.replace(base, block=block, axis=1)
    fb = dataclasses.replace(base, block=block, axis=0)
    x = rng.standard_normal((m, n)) * 2.0 ** rng.integers(-6, 6, (m, n))
    y = rng.standard_normal((n, p)) * 2.0 ** rng.integers(-6, 6, (n, p))
    x[rng.random((m, n)) < 0.15] = 0.0                       # zeros
    x[0, 0] = 1e4                                            # an outlier dominating its block
    y[-1, -1] = -3e-3
    if nan:
        x[1, 1] = np.nan                                     # the block of A[1, 1] becomes NaN
    return fa.encode(x), fb.encode(y)


def _same_arrays(got, want, where=""):
    assert got.shape == want.shape, where
    bad = [idx for idx in np.ndindex(got.shape) if not same(float(got[idx]), float(want[idx]))]
    assert not bad, f"{where}{len(bad)} differ, first at {bad[0]}: {got[bad[0]]!r} != {want[bad[0]]!r}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("acc", list(ACCS), ids=str)
def test_matches_reference(name, acc):
    seed = zlib.crc32(f"{name} {acc}".encode())           # the same in every process
    rng = np.random.default_rng(seed)
    A, B = _operands(name, 4, 3, 10, 4, rng, nan=True)       # ragged: 10 = 4 + 4 + 2
    got = block_matmul(A, B, ACCS[acc])
    _same_arrays(got, _ref_product(A, B, ACCS[acc], ExactAccumulator()), f"seed {seed}: ")


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4", "mxint8"])
@pytest.mark.parametrize("block_acc", list(BLOCK_ACCS), ids=str)
def test_block_accumulator_matches_reference(name, block_acc):
    rng = np.random.default_rng(7)
    A, B = _operands(name, 8, 4, 24, 3, rng)
    got = block_matmul(A, B, ACCS["fp32"], block_acc=BLOCK_ACCS[block_acc])
    _same_arrays(got, _ref_product(A, B, ACCS["fp32"], BLOCK_ACCS[block_acc]))


@pytest.mark.parametrize("name", NAMES)
def test_exact_equals_product_of_decoded(name):
    """With exact accumulators, block by block = the exact product of the decoded matrices."""
    rng = np.random.default_rng(3)
    A, B = _operands(name, 32, 5, 70, 6, rng)
    want = matmul(A.decode(), B.decode(), ExactAccumulator())
    assert np.array_equal(block_matmul(A, B), want)


def test_cancellation_and_ties_in_fp32():
    """Block results that cancel exactly, and an FP32 tie resolved to even."""
    fa = dataclasses.replace(nf.BLOCKS["mxint8"], block=2, axis=1)
    fb = dataclasses.replace(nf.BLOCKS["mxint8"], block=2, axis=0)
    # blocks: [2**24 scale], [1 scale], [-2**24 scale]: 2**24 + 1 ties at fp32 → 2**24
    x = np.array([[2.0 ** 24, 0.0, 1.0, 0.0, -2.0 ** 24, 0.0]])
    A, B = fa.encode(x), fb.encode(np.ones((6, 1)))
    assert block_matmul(A, B, ACCS["fp32"]).tolist() == [[0.0]]
    assert block_matmul(A, B).tolist() == [[1.0]]


def test_block_dot_equals_block_matmul():
    rng = np.random.default_rng(11)
    fmt = dataclasses.replace(nf.BLOCKS["mxfp6_e2m3"], block=8)
    a, b = fmt.encode(rng.standard_normal(30)), fmt.encode(rng.standard_normal(30))
    want = _ref_product(
        nf.BlockCodes(a.scales[None, :], a.elements[None, :], dataclasses.replace(fmt, axis=1)),
        nf.BlockCodes(b.scales[:, None], b.elements[:, None], dataclasses.replace(fmt, axis=0)),
        ACCS["bf16-pairwise"], BLOCK_ACCS["fp16"])
    got = block_dot(a.elements, a.scales, b.elements, b.scales, fmt, ACCS["bf16-pairwise"],
                    block_acc=BLOCK_ACCS["fp16"])
    assert same(float(got), float(want[0, 0]))


def test_out_format():
    rng = np.random.default_rng(5)
    A, B = _operands("mxfp8_e4m3", 4, 2, 8, 2, rng)
    exact = block_matmul(A, B)
    assert np.array_equal(block_matmul(A, B, out_format=BF16), BF16.quantize(exact))


def test_errors():
    mx = nf.BLOCKS["mxfp4"]
    A = mx.encode(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"B must be blocked along its axis 0 .*not axis -1"):
        block_matmul(A, mx.encode(np.ones((4, 2))))
    B = dataclasses.replace(mx, axis=0).encode(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"inner dimensions 4 and 3 differ"):
        block_matmul(A, B)
    B = dataclasses.replace(mx, block=16, axis=0).encode(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"A's block is 32 and B's block is 16"):
        block_matmul(A, B)
    with pytest.raises(TypeError, match=r"A must be a numfmt.BlockCodes .*not ndarray"):
        block_matmul(np.ones((2, 4)), B)
    with pytest.raises(TypeError, match=r"acc must be an ExactAccumulator, .*not 'fp32'"):
        block_matmul(A, dataclasses.replace(mx, axis=0).encode(np.ones((4, 2))), "fp32")
    with pytest.raises(ValueError, match=r"block_dot: a_scales must be 1-D, not shape \(1, 1\)"):
        block_dot(np.zeros(4, np.uint8), np.zeros((1, 1), np.uint8), np.zeros(4, np.uint8),
                  np.zeros(1, np.uint8), mx)


def test_overflowed_block_acc_needs_a_float_acc():
    fa = dataclasses.replace(nf.BLOCKS["mxfp8_e4m3"], block=2, axis=1)
    fb = dataclasses.replace(nf.BLOCKS["mxfp8_e4m3"], block=2, axis=0)
    A, B = fa.encode(np.full((1, 2), 448.0)), fb.encode(np.full((2, 1), 448.0))
    fp16 = FloatAccumulator(FP16)
    assert block_matmul(A, B, ACCS["fp32"], block_acc=fp16).tolist() == [[math.inf]]
    with pytest.raises(ValueError, match=r"block 0 of output \[0, 0\] is inf .*ExactAccumulator cannot hold it"):
        block_matmul(A, B, block_acc=fp16)
