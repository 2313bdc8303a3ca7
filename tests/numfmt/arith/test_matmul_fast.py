"""matmul with an ExactAccumulator and float formats whose ranges make BLAS exact (numfmt.arith._fast).

The shortcut must give what the general path gives, bit for bit, raise the same errors
(through the general path) and stay out where the formats do not guarantee an exact
BLAS sum. The general path is obtained by making the shortcut decline.
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt.arith import ExactAccumulator, FloatAccumulator, _fast, matmul

SEED = 1504
E4M3, E2M1, E3M2 = nf.FLOATS["e4m3fn"], nf.FLOATS["e2m1fn"], nf.FLOATS["e3m2fn"]
IEEE_E3M2 = nf.FloatFormat(3, 2)                       # has ±inf and NaN


def general(*args, **kw):
    keep = _fast.exact_matmul
    _fast.exact_matmul = lambda *a: None
    try:
        return matmul(*args, **kw)
    finally:
        _fast.exact_matmul = keep


def same_bits(x, y):
    assert x.shape == y.shape and x.dtype == y.dtype
    np.testing.assert_array_equal(x.view(np.uint64), y.view(np.uint64))


def operand(fmt, shape, rng):
    """Values of ``fmt`` including ±max, the smallest subnormals, ±0 and random values."""
    x = fmt.quantize(rng.standard_normal(shape) * np.exp2(rng.integers(-6, 6, size=shape)))
    flat = x.reshape(-1)
    edges = [fmt.max, -fmt.max, fmt.smallest_subnormal, -fmt.smallest_subnormal, 0.0, -0.0]
    k = min(len(edges), flat.size)
    flat[:k] = edges[:k]
    return x


@pytest.mark.parametrize("fa, fb", [(E4M3, E4M3), (E2M1, E2M1), (E4M3, E2M1), (E3M2, E4M3)], ids=str)
@pytest.mark.parametrize("shape", [(7, 64, 5), (3, 1, 4), (1, 300, 1), (4, 0, 3)])
def test_shortcut_equals_the_general_path(fa, fb, shape):
    m, n, p = shape
    rng = np.random.default_rng(SEED)
    A, B = operand(fa, (m, n), rng), operand(fb, (n, p), rng)
    B[:, -1] = 0.0 if n else B[:, -1]                  # a column of zeros: +0 outputs
    assert _fast.exact_matmul(A, B, ExactAccumulator(), fa, fb, None, None, None) is not None
    same_bits(matmul(A, B, ExactAccumulator(), a_format=fa, b_format=fb),
              general(A, B, ExactAccumulator(), a_format=fa, b_format=fb))


@pytest.mark.parametrize("out_format, rounding", [("fp16", None), ("e4m3fn", "rtz"), ("bf16", "ceil")])
def test_shortcut_rounds_outputs_as_the_general_path(out_format, rounding):
    rng = np.random.default_rng(SEED)
    A, B = operand(E4M3, (6, 96), rng), operand(E4M3, (96, 4), rng)
    kw = dict(a_format=E4M3, b_format=E4M3, out_format=nf.FLOATS[out_format], out_rounding=rounding)
    same_bits(matmul(A, B, ExactAccumulator(), **kw), general(A, B, ExactAccumulator(), **kw))


@pytest.mark.parametrize("bad", [0.3, np.nan, np.inf])
def test_operands_that_fail_the_check_get_the_general_error(bad):
    """0.3 is not an e4m3fn value; inf is a value of the IEEE format but not finite; NaN neither."""
    fmt = IEEE_E3M2 if bad == np.inf else E4M3
    A, B = np.ones((2, 3)), np.ones((3, 2))
    A[1, 2] = bad
    with pytest.raises(ValueError) as fast_err:
        matmul(A, B, ExactAccumulator(), a_format=fmt, b_format=fmt)
    with pytest.raises(ValueError) as general_err:
        general(A, B, ExactAccumulator(), a_format=fmt, b_format=fmt)
    assert str(fast_err.value) == str(general_err.value)


@pytest.mark.parametrize("case", ["float-acc", "init", "no-format", "fixed-format", "wide-formats", "long-sum"])
def test_shortcut_stays_out(case):
    rng = np.random.default_rng(SEED)
    A, B = operand(E4M3, (3, 8), rng), operand(E4M3, (8, 2), rng)
    acc, fa, fb, init = ExactAccumulator(), E4M3, E4M3, None
    if case == "float-acc":
        acc = FloatAccumulator(nf.FLOATS["fp32"])
    elif case == "init":
        init = np.ones((3, 2))
    elif case == "no-format":
        fa = None
    elif case == "fixed-format":
        fb = nf.parse("ap_fixed<8,4>")
    elif case == "wide-formats":                       # fp16 × fp16: 2**80 range, BLAS not provably exact
        fa = fb = nf.FLOATS["fp16"]
    else:                                              # e4m3fn sums of 2**18 products may exceed 2**53 units
        A, B = np.ones((1, 1 << 18)), np.ones((1 << 18, 1))
    assert _fast.exact_matmul(A, B, acc, fa, fb, init, None, None) is None
