"""Kulisch widths (formula and tightness) and the error messages of numfmt.arith."""

from __future__ import annotations

import re

import numpy as np
import pytest

import numfmt as nf
from numfmt.arith import (ExactAccumulator, FixedAccumulator, FloatAccumulator, conv2d, dot,
                          exact_fixed_accumulator, kulisch_width, matmul, product_range)

F = nf.FLOATS


@pytest.mark.parametrize("name", ["e4m3fn", "fp8_e4m3", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1", "e2m1fn", "e3m2fn"])
@pytest.mark.parametrize("n", [1, 2, 4, 256, 1024])
def test_formula_for_finite_top_binade(name, n):
    f = F[name]
    assert kulisch_width(f, f, n) == 2 ** f.exp + f.man + 2 ** f.exp + f.man + (n - 1).bit_length() - 1


@pytest.mark.parametrize("n", [1, 2, 256])
def test_ieee_formats_save_two_bits(n):
    e5m2, e4m3 = F["e5m2"], F["e4m3fn"]
    assert kulisch_width(e5m2, e5m2, n) == 32 + 2 + 32 + 2 + (n - 1).bit_length() - 1 - 2
    assert kulisch_width(F["fp16"], F["fp16"], 1) == 2 * (32 + 10) - 1 - 2
    # mixed: one IEEE operand saves one bit
    assert kulisch_width(e5m2, e4m3, n) == 32 + 2 + 16 + 3 + (n - 1).bit_length() - 1 - 1


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 100, 256])
def test_integer_widths(n):
    i8, u8, i4 = nf.IntFormat(8), nf.IntFormat(8, signed=False), nf.IntFormat(4)
    assert kulisch_width(i8, i8, n) == 8 + 8 + n.bit_length() - 1
    assert kulisch_width(u8, u8, n) == (n * 255 * 255).bit_length()
    assert kulisch_width(i8, i4, n) == 8 + 4 + n.bit_length() - 1


def _corner_operands(fmt):
    lo, hi, _ = product_range(fmt, fmt)
    vals = fmt.values() if hasattr(fmt, "exp") or fmt.bits <= 16 else None
    vals = vals[np.isfinite(vals)]
    return vals.min(), vals.max()


@pytest.mark.parametrize("fa,fb", [(F["e2m1fn"], F["e2m1fn"]), (F["e3m2fn"], F["e2m3fn"]), (F["fp4_e2m1"], F["e5m2"]),
                                   (nf.IntFormat(4), nf.IntFormat(4)), (nf.IntFormat(4, signed=False), nf.IntFormat(3, signed=False)),
                                   (nf.IntFormat(4), nf.IntFormat(3, signed=False)), (nf.FixedFormat(6, 2), F["e2m1fn"])],
                         ids=str)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_width_is_tight(fa, fb, n):
    """The worst case of n products fits the register; one bit fewer wraps for some input."""
    acc = exact_fixed_accumulator(fa, fb, n)
    va, vb = fa.values(), fb.values()
    va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
    lo, hi, q = product_range(fa, fb)
    corners = [(x, y) for x in (va.min(), va.max()) for y in (vb.min(), vb.max())]
    worst = []
    for x, y in corners:
        a, b = np.full(n, x), np.full(n, y)
        exact = dot(a, b, ExactAccumulator())
        assert dot(a, b, acc) == exact
        assert dot(a, b, FixedAccumulator(acc.width, acc.frac_bits, overflow="sat")) == exact
        narrow = FixedAccumulator(acc.width - 1, acc.frac_bits, overflow="sat") if acc.width > 1 else None
        worst.append(narrow is not None and dot(a, b, narrow) != exact)
    assert any(worst), "a register one bit narrower never overflows"
    assert {x * y * 2.0 ** -q for x, y in corners} >= {float(lo), float(hi)}


# -- errors ------------------------------------------------------------------------------------
def test_shape_errors_name_both_shapes():
    acc = ExactAccumulator()
    with pytest.raises(ValueError, match=re.escape("matmul: A has shape (2, 3) and B has shape (4, 5): "
                                                   "the inner dimensions 3 and 4 differ")):
        matmul(np.zeros((2, 3)), np.zeros((4, 5)), acc)
    with pytest.raises(ValueError, match=re.escape("dot: a has shape (3,) and b has shape (4,)")):
        dot(np.zeros(3), np.zeros(4), acc)
    with pytest.raises(ValueError, match=re.escape("conv2d: x has shape (1, 3, 5, 5) and w has shape (2, 2, 3, 3): "
                                                   "the channel counts 3 and 2 differ")):
        conv2d(np.zeros((1, 3, 5, 5)), np.zeros((2, 2, 3, 3)), acc)


def test_non_representable_operand():
    e4m3 = F["e4m3fn"]
    with pytest.raises(ValueError, match=re.escape("a[1] = 0.3 is not a value of a_format e4m3fn")):
        dot([1.0, 0.3], [1.0, 1.0], ExactAccumulator(), a_format=e4m3)
    with pytest.raises(ValueError, match=re.escape("b[0, 1] = 1000.0 is not a value of b_format e4m3fn")):
        matmul(np.ones((1, 2)), np.array([[1.0, 1000.0], [1.0, 1.0]]), ExactAccumulator(), b_format=e4m3)
    with pytest.raises(ValueError, match=re.escape("a must be finite, not a[1] = inf; ExactAccumulator(nonfinite='ieee') "
                                                   "continues as IEEE 754 hardware does")):
        dot([1.0, np.inf], [1.0, 1.0], ExactAccumulator())


def test_fixed_product_not_a_multiple_names_operands():
    with pytest.raises(ValueError, match=re.escape("the product a[2] * b[2] = 0.5 * 0.5 is not a multiple of "
                                                   "the accumulator's quantum 2**-1")):
        dot([1.0, 2.0, 0.5], [1.0, 1.0, 0.5], FixedAccumulator(8, 1))
    with pytest.raises(ValueError, match=re.escape("the product A[0, 1] * B[1, 0]")):
        matmul(np.array([[1.0, 0.25]]), np.ones((2, 1)), FixedAccumulator(8, 1))


def test_accumulator_spec_errors():
    fp32 = F["fp32"]
    with pytest.raises(ValueError, match=re.escape("order must be one of 'sequential', 'pairwise', 'chunked', not 'zigzag'")):
        FloatAccumulator(fp32, order="zigzag")
    with pytest.raises(ValueError, match=re.escape("chunk must be an integer ≥ 1 for order='chunked', not None")):
        FloatAccumulator(fp32, order="chunked")
    with pytest.raises(ValueError, match=re.escape("chunk is only used with order='chunked'")):
        FloatAccumulator(fp32, chunk=4)
    with pytest.raises(ValueError, match="not 'stochastic'"):
        FloatAccumulator(fp32, rounding="stochastic")
    with pytest.raises(ValueError, match=re.escape("fmt must be signed and have a zero")):
        FloatAccumulator(F["e8m0fnu"])
    with pytest.raises(ValueError, match=re.escape("width must be an integer in 1..63 for overflow='sat', not 64")):
        FixedAccumulator(64, overflow="sat")
    with pytest.raises(ValueError, match=re.escape("overflow must be 'wrap' or 'sat' for a FixedAccumulator, not 'sat_sym'")):
        FixedAccumulator(8, overflow="sat_sym")
    with pytest.raises(ValueError, match=re.escape("acc must be an ExactAccumulator, FixedAccumulator or FloatAccumulator")):
        dot([1.0], [1.0], "exact")
    with pytest.raises(ValueError, match=re.escape("n must be an integer ≥ 1, not 0")):
        kulisch_width(F["e4m3fn"], F["e4m3fn"], 0)


def test_init_must_be_a_register_value():
    with pytest.raises(ValueError, match=re.escape("init[0, 0] = 0.1 is not a value of bf16")):
        dot([1.0], [1.0], FloatAccumulator(F["bf16"]), init=0.1)
    with pytest.raises(ValueError, match=re.escape("init[0, 0] = 200.0 is not a value of FixedAccumulator(width=8")):
        dot([1.0], [1.0], FixedAccumulator(8), init=200.0)


def test_exact_result_beyond_float64_needs_out_format():
    a = np.array([2.0 ** 60, 1.0])
    with pytest.raises(ValueError, match="pass out_format"):
        dot(a, np.ones(2), ExactAccumulator())
    assert dot(a, np.ones(2), ExactAccumulator(), out_format=F["fp32"], out_rounding="ceil") == \
        F["fp32"].quantize(2.0 ** 60, "ceil") + 2.0 ** 37
