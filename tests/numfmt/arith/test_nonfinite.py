"""The non-finite mode (``nonfinite="ieee"``) against the Fraction reference, NaN signs included.

Every pair of codes of ``e4m3`` (IEEE-like: inf and NaN codes) × ``e5m2`` is multiplied
(:func:`numfmt.arith.multiply`) and added to a register (``matmul`` with a
``FloatAccumulator``) from initial values that include ±inf, NaN, ±max and signed zeros;
the reference (``arith_reference.ref_product`` / ``ieee_add``) is written from the rules of
``docs/arithmetic.md`` (*Non-finite values*). Results are compared as register codes, so
the sign of every NaN counts.
"""

from __future__ import annotations

import math
import os
import re
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arith_reference as R  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt.arith import (ExactAccumulator, FixedAccumulator, FloatAccumulator, NonFinite,  # noqa: E402
                          block_matmul, conv2d, dot, matmul, multiply)
from numfmt.formats.block import BlockCodes  # noqa: E402

F = nf.FLOATS
E4M3 = nf.parse("e4m3")                  # ieee specials: ±inf, NaNs
E5M2, E4M3FN, FP16 = F["e5m2"], F["e4m3fn"], F["fp16"]
E4M3FN_SAT = nf.FloatFormat(4, 3, bias=7, specials="fn", overflow="sat")
E4M3FNUZ = F["e4m3fnuz"]

A_VALS = E4M3.decode(np.arange(256))     # every code, NaN codes of both signs included
B_VALS = E5M2.decode(np.arange(256))


def codes(fmt, values):
    return fmt.encode(np.asarray(values, dtype=np.float64).reshape(-1)).tolist()


def test_the_operands_hold_every_special():
    for v in (A_VALS, B_VALS):
        nan = np.isnan(v)
        assert (nan & np.signbit(v)).any() and (nan & ~np.signbit(v)).any()
        assert (v == np.inf).any() and (v == -np.inf).any() and (v == 0).sum() == 2


def test_multiply_every_pair_e4m3_e5m2():
    got = multiply(A_VALS[:, None], B_VALS[None, :])
    assert got.shape == (256, 256)
    bad = [(i, j) for i in range(256) for j in range(256)
           if not R.same_bits(float(got[i, j]), R.ref_product(float(A_VALS[i]), float(B_VALS[j])))]
    assert not bad, f"a={A_VALS[bad[0][0]]!r} b={B_VALS[bad[0][1]]!r}: got {got[bad[0]]!r}"


def test_multiply_signs_and_errors():
    p = multiply([np.nan, -np.nan, np.inf, 0.0, -2.0], [-1.0, -1.0, -0.0, -np.inf, 3.0])
    assert np.isnan(p[:4]).all() and np.signbit(p).tolist() == [True, False, True, True, True]
    assert p[4] == -6.0
    assert multiply(2.0, 3.0).tolist() == 6.0
    with pytest.raises(ValueError, match=r"multiply: a has shape \(2,\) and b has shape \(3,\); they do not broadcast"):
        multiply([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"multiply: the products are not exact in float64"):
        multiply([1 + 2.0 ** -40], [1 + 2.0 ** -20])
    with pytest.raises(ValueError, match=re.escape("a[1] = inf is not a value of a_format e4m3fn")):
        multiply([1.0, np.inf], [1.0, 1.0], a_format=E4M3FN)
    assert np.isnan(multiply([np.nan], [1.0], a_format=E4M3FN)[0])   # NaN is a value of e4m3fn


def _inits(fmt):
    """Register values the sums start from: the specials the format holds, ±max, zeros."""
    vals = [0.0, -0.0, fmt.max, -fmt.max, 1.0, -0.5, fmt.smallest_subnormal, np.nan,
            math.copysign(np.nan, -1), np.inf, -np.inf]
    return np.unique(np.asarray(fmt.quantize(np.array(vals))).view(np.int64)).view(np.float64)


REGISTERS = [(E5M2, "rne"), (E4M3FN, "floor"),
             pytest.param(E4M3FN_SAT, "rne", marks=pytest.mark.slow),
             pytest.param(FP16, "rtz", marks=pytest.mark.slow),
             pytest.param(E4M3FNUZ, "rna", marks=pytest.mark.slow),
             pytest.param(E5M2, "ceil", marks=pytest.mark.slow)]


@pytest.mark.parametrize("reg, rounding", REGISTERS, ids=lambda v: str(v))
def test_register_every_pair_e4m3_e5m2(reg, rounding):
    """R(init + a·b) for every code pair (the outer product: one product per output), each
    from one of the register's special or extreme values."""
    inits = _inits(reg)
    idx = np.add.outer(np.arange(256) * 7, np.arange(256)) % inits.size
    init = inits[idx]
    acc = FloatAccumulator(reg, rounding=rounding, nonfinite="ieee")
    got = matmul(A_VALS[:, None], B_VALS[None, :], acc, init=init)
    memo = {}                     # the reference is slow: one call per distinct (init, product)

    def ref_add(x, y):
        key = (x.hex(), y.hex())  # bits (NaN signs do not matter to ieee_add: it gives +NaN)
        if key not in memo:
            memo[key] = R.ieee_add(reg, rounding, x, y)
        return memo[key]

    ref = [ref_add(float(init[i, j]), R.ref_product(float(A_VALS[i]), float(B_VALS[j])))
           for i in range(256) for j in range(256)]
    want = np.array(codes(reg, ref))
    have = np.array(codes(reg, got))
    bad = np.flatnonzero(have != want)
    assert not bad.size, (f"{reg} {rounding}: init {init.reshape(-1)[bad[0]]!r} + "
                          f"{A_VALS[bad[0] // 256]!r}·{B_VALS[bad[0] % 256]!r}: code {have[bad[0]]:#x}, "
                          f"expected {want[bad[0]]:#x}")


def _wild(fmt, rng, shape):
    """Products that overflow ``fmt`` and meet infinities of both signs and NaNs."""
    pool = np.array([fmt.max, -fmt.max, fmt.max / 2, -fmt.max / 4, 1.0, -1.0, 0.0, -0.0,
                     np.inf, -np.inf, np.nan, -np.nan, fmt.smallest_subnormal])
    weights = np.array([6, 6, 4, 4, 4, 4, 2, 2, 1, 1, 0.5, 0.5, 2])
    return rng.choice(pool, size=shape, p=weights / weights.sum())


@pytest.mark.parametrize("reg", [E5M2, E4M3FN, E4M3FN_SAT, FP16], ids=str)
@pytest.mark.parametrize("order, chunk", [("sequential", None), ("pairwise", None), ("chunked", 3)])
def test_sums_of_wild_products_in_every_order(reg, order, chunk):
    rng = np.random.default_rng(reg.bits * 31 + len(order))
    A = _wild(reg, rng, (60, 9))
    init = _wild(reg, rng, (60, 1))
    init = reg.quantize(init)
    acc = FloatAccumulator(reg, order=order, chunk=chunk, nonfinite="ieee")
    got = matmul(A, np.ones((9, 1)), acc, init=init)[:, 0]
    for i in range(60):
        want = R.ieee_sum([R.ref_product(float(x), 1.0) for x in A[i]], acc, float(init[i, 0]))
        assert codes(reg, [got[i]]) == codes(reg, [want]), (order, A[i].tolist(), float(init[i, 0]))


def test_edge_cases_one_by_one():
    acc = FloatAccumulator(FP16, nonfinite="ieee")
    ones = [1.0, 1.0]

    def run(a, b=ones, init=None):
        return float(dot(a, b, acc, init=init))

    assert math.isnan(run([np.inf, -np.inf])) and not math.copysign(1, run([np.inf, -np.inf])) < 0  # inf − inf
    assert math.isnan(run([0.0, 1.0], [np.inf, 1.0]))                       # 0·inf
    for nan in (np.nan, -np.nan):                                         # NaN inputs of both signs: +NaN
        for a, b in (([nan, 1.0], ones), ([1.0, 2.0], [1.0, nan])):
            r = run(a, b)
            assert math.isnan(r) and math.copysign(1, r) > 0
        r = run([1.0, 2.0], init=nan)
        assert math.isnan(r) and math.copysign(1, r) > 0
    assert run([np.inf, 1e4], [1.0, -1.0]) == math.inf                   # inf + finite
    assert run([-np.inf, 2.0]) == -math.inf
    assert run([6e4, 6e4]) == math.inf                                    # the register overflows
    assert math.isnan(run([6e4, 6e4, -np.inf], [1.0, 1.0, 1.0]))           # ... then meets −inf
    assert run([1.0], [1.0], init=-np.inf) == -math.inf                   # init −inf
    # a register without inf: fn holds ±inf as a NaN of its sign; sat as ±max
    fn = FloatAccumulator(E4M3FN, nonfinite="ieee")
    r = float(dot([-np.inf], [1.0], fn))
    assert math.isnan(r) and math.copysign(1, r) < 0
    assert float(dot([-np.inf], [1.0], FloatAccumulator(E4M3FN_SAT, nonfinite="ieee"))) == -448.0


def test_fn_overflow_nan_keeps_the_sum_sign_then_continues_as_positive_nan():
    """Finite operands (both modes): −448 − 448 overflows e4m3fn to −NaN; adding to a NaN
    register gives the positive NaN, as the MAC hardware does."""
    for nonfinite in ("raise", "ieee"):
        acc = FloatAccumulator(E4M3FN, nonfinite=nonfinite)
        two = float(dot([-448.0, -448.0], [1.0, 1.0], acc))
        three = float(dot([-448.0, -448.0, 1.0], [1.0, 1.0, 1.0], acc))
        assert math.isnan(two) and math.copysign(1, two) < 0
        assert math.isnan(three) and math.copysign(1, three) > 0


@pytest.mark.parametrize("acc", [FloatAccumulator(FP16), FloatAccumulator(F["bf16"], order="pairwise"),
                                 FloatAccumulator(E5M2, rounding="floor"), FloatAccumulator(E4M3FN, order="chunked",
                                                                                            chunk=4),
                                 FloatAccumulator(F["fp32"]), ExactAccumulator()], ids=str)
def test_finite_inputs_give_the_same_bits_in_both_modes(acc):
    rng = np.random.default_rng(3)
    e4 = E4M3FN
    A = e4.quantize(np.clip(rng.standard_normal((20, 40)) * 2.0 ** rng.integers(-8, 8, (20, 40)), -448, 448))
    B = e4.quantize(np.clip(rng.standard_normal((40, 7)) * 2.0 ** rng.integers(-8, 8, (40, 7)), -448, 448))
    init = (acc.fmt if isinstance(acc, FloatAccumulator) else e4).quantize(rng.standard_normal((20, 7)) * 8)
    assert np.isfinite(A).all() and np.isfinite(B).all()
    ieee = type(acc)(**{**{f: getattr(acc, f) for f in acc.__dataclass_fields__}, "nonfinite": "ieee"})
    a = matmul(A, B, acc, init=init)
    b = matmul(A, B, ieee, init=init)
    assert np.array_equal(a.view(np.int64), b.view(np.int64))


def test_exact_accumulator_ieee():
    A = np.array([[1.0, 2.0, 3.0], [np.inf, 1.0, 0.0], [1.0, -np.nan, 2.0], [0.5, 0.25, 4.0]])
    B = np.array([[1.0, 2.0, 0.0], [1.0, -1.0, np.inf], [1.0, 1.0, -1.0]])
    init = np.zeros((4, 3))
    init[3, 1] = -np.inf
    got = matmul(A, B, ExactAccumulator(nonfinite="ieee"), init=init)
    for i in range(4):
        for j in range(3):
            want = R.exact_ieee_sum([R.ref_product(float(A[i, k]), float(B[k, j])) for k in range(3)],
                                    float(init[i, j]))
            assert R.same_bits(float(got[i, j]), want), (i, j, got[i, j], want)
    # the finite outputs are those of the finite operands alone
    assert got[0, 0] == 6.0 and got[3, 0] == 4.75
    # out_format rounds the specials as the format converts them
    r = matmul(A, B, ExactAccumulator(nonfinite="ieee"), init=init, out_format=E4M3FN)
    assert np.isnan(r[1, 0]) and r[0, 0] == 6.0


def test_raise_mode_names_the_operand():
    acc = FloatAccumulator(FP16)
    hint = "; FloatAccumulator(..., nonfinite='ieee') continues as IEEE 754 hardware does"
    with pytest.raises(ValueError, match=re.escape("B must be finite, not B[1, 0] = inf" + hint)):
        matmul(np.ones((2, 2)), np.array([[1.0, 2.0], [np.inf, 1.0]]), acc)
    with pytest.raises(ValueError, match=re.escape("A must be finite, not A[1, 0] = nan" + hint)):
        matmul(np.array([[1.0, 1.0], [np.nan, 1.0]]), np.ones((2, 2)), acc)
    with pytest.raises(ValueError, match=re.escape("init must be finite, not init[0, 1] = -inf" + hint)):
        matmul(np.ones((2, 2)), np.ones((2, 2)), acc, init=[[0.0, -np.inf]])
    with pytest.raises(ValueError, match=re.escape("x must be finite, not x[0, 0, 1, 2] = nan; ExactAccumulator")):
        x = np.ones((1, 1, 3, 3))
        x[0, 0, 1, 2] = np.nan
        conv2d(x, np.ones((1, 1, 2, 2)), ExactAccumulator(), padding=1)
    with pytest.raises(ValueError, match=re.escape("b must be finite, not b[2] = inf (a FixedAccumulator holds "
                                                   "no inf or NaN)")):
        dot([1.0, 1.0, 1.0], [1.0, 1.0, np.inf], FixedAccumulator(8))
    with pytest.raises(ValueError, match=re.escape("init[0, 0] = inf is not a value of e4m3fn")):
        matmul(np.ones((1, 1)), np.ones((1, 1)), FloatAccumulator(E4M3FN, nonfinite="ieee"), init=np.inf)


def test_nonfinite_parameter():
    assert FloatAccumulator(FP16, nonfinite="IEEE").nonfinite is NonFinite.IEEE
    assert FloatAccumulator(FP16).nonfinite is NonFinite.RAISE
    assert str(ExactAccumulator(nonfinite="ieee")) == repr(ExactAccumulator(nonfinite="ieee")) == \
        "ExactAccumulator(nonfinite=ieee)"
    assert ExactAccumulator() != ExactAccumulator(nonfinite="ieee")
    with pytest.raises(ValueError, match=r"nonfinite must be one of 'raise', 'ieee', not 'nan'"):
        FloatAccumulator(FP16, nonfinite="nan")
    with pytest.raises(ValueError, match=r"nonfinite must be one of 'raise', 'ieee', not None"):
        ExactAccumulator(nonfinite=None)


# -- block formats ---------------------------------------------------------------------------------
E5M2_BLOCKS = nf.BlockFormat(E5M2, 2)


def _blocks(rows, axis):
    """BlockCodes of e5m2 element values (scale 2**0), blocked along ``axis``."""
    vals = np.asarray(rows, dtype=np.float64)
    fmt = nf.BlockFormat(E5M2, 2, axis=axis)
    elements = E5M2.encode(vals)
    shape = list(vals.shape)
    shape[axis] = -(-shape[axis] // 2)
    return BlockCodes(np.full(shape, 127, dtype=np.uint8), elements, fmt)


def test_block_matmul_elements_inf_nan():
    A = _blocks([[1.0, 2.0, 3.0, 4.0], [np.inf, 1.0, -np.inf, 1.0], [np.nan, 1.0, 1.0, 1.0]], 1)
    B = _blocks([[1.0], [1.0], [1.0], [1.0]], 0)
    with pytest.raises(ValueError, match=re.escape("block_matmul: the element A[1, 0] is inf; block_acc="
                                                   "ExactAccumulator() refuses inf/NaN (nonfinite='ieee'")):
        block_matmul(A, B)
    got = block_matmul(A, B, ExactAccumulator(nonfinite="ieee"), block_acc=ExactAccumulator(nonfinite="ieee"))
    assert got[0, 0] == 10.0 and np.isnan(got[1:, 0]).all() and not np.signbit(got[1:, 0]).any()
    with pytest.raises(ValueError, match=r"block 0 of output \[1, 0\] is inf .*ExactAccumulator cannot hold it"):
        A1 = _blocks([[1.0, 1.0, 1.0, 1.0], [np.inf, 1.0, 1.0, 1.0]], 1)
        block_matmul(A1, B, ExactAccumulator(), block_acc=ExactAccumulator(nonfinite="ieee"))


def test_block_sum_order_with_a_float_accumulator():
    """Blocks 2**15·1.75 twice then −inf: an fp16 sum over blocks overflows to inf first, then
    inf − inf = NaN; the exact sum over blocks gives −inf."""
    big = 1.75 * 2.0 ** 15
    A = _blocks([[big, 0.0, big, 0.0, -np.inf, 0.0]], 1)
    B = _blocks([[1.0]] * 6, 0)
    ieee = ExactAccumulator(nonfinite="ieee")
    r = block_matmul(A, B, FloatAccumulator(FP16), block_acc=ieee)
    assert np.isnan(r[0, 0]) and not np.signbit(r[0, 0])
    assert block_matmul(A, B, ieee, block_acc=ieee)[0, 0] == -np.inf
