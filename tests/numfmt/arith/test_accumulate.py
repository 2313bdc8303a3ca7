"""dot / matmul / conv2d against the Fraction reference, for every accumulator mode.

Random operands are drawn from each operand format's values (seeded; the
seed is in the test id); adversarial cases pin cancellation, ties at each
rounding step, intermediate overflow of fixed registers and order effects.
Results are compared bit for bit (signed zeros and NaN included).
"""

from __future__ import annotations

import math
import os
import sys
import zlib
from fractions import Fraction

import numba
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arith_reference as R  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt.arith import (ExactAccumulator, FixedAccumulator, FloatAccumulator, Order,  # noqa: E402
                          conv2d, dot, exact_fixed_accumulator, matmul)
from numfmt.arith import _kernels as K  # noqa: E402
from numfmt.modes import Rounding  # noqa: E402

F = nf.FLOATS
E4M3, E5M2, E2M1, FP32, BF16, FP16 = F["e4m3fn"], F["e5m2"], F["e2m1fn"], F["fp32"], F["bf16"], F["fp16"]
SMALL_ACC = nf.FloatFormat(4, 3, specials="none")          # saturating e4m3 register: overflows often
MODES = [m for m in Rounding if m is not Rounding.STOCHASTIC]


def _sample(fmt, shape, rng):
    """Random finite values of ``fmt`` (uniform over finite codes)."""
    vals = fmt.values()
    vals = vals[np.isfinite(vals)]
    return vals[rng.integers(0, vals.size, size=shape)]


def _assert_same(got, want, where=""):
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    assert got.shape == want.shape
    for i, (g, w) in enumerate(zip(got.tolist(), want.tolist())):
        assert R.same(g, w), f"{where} element {i}: got {g!r}, want {w!r}"


def _accumulators():
    accs = [ExactAccumulator(), FixedAccumulator(20, 12, overflow="sat"),
            FixedAccumulator(16, 12, overflow="wrap"), FixedAccumulator(40, 18, overflow="sat")]
    for fmt in (FP32, BF16, FP16, SMALL_ACC, E5M2):
        for order, chunk in ((Order.SEQUENTIAL, None), (Order.PAIRWISE, None), (Order.CHUNKED, 3)):
            accs.append(FloatAccumulator(fmt, order=order, chunk=chunk))
    return accs


ACCS = _accumulators()


# -- the reference itself --------------------------------------------------------------------
@pytest.mark.parametrize("fmt", [E4M3, E5M2, BF16, FP16, FP32, SMALL_ACC, nf.FloatFormat(3, 2, subnormals=False)],
                         ids=str)
@pytest.mark.parametrize("mode", MODES, ids=str)
def test_reference_rounding_matches_quantize(fmt, mode):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(size=300) * 2.0 ** rng.integers(-30, 30, size=300),
                        fmt.values()[np.isfinite(fmt.values())][:200] * (1 + 2.0 ** -40) if fmt.bits <= 16 else []])
    want = fmt.quantize(x, mode)
    got = [R.round_to_format(fmt, Fraction(v), mode, math.copysign(1, v) < 0) for v in x.tolist()]
    _assert_same(got, want, f"{fmt} {mode}")


# -- dot and matmul against the reference ---------------------------------------------------------
@pytest.mark.parametrize("acc", ACCS, ids=str)
@pytest.mark.parametrize("fa,fb", [(E4M3, E4M3), (E5M2, E4M3), (E2M1, E5M2)], ids=lambda f: str(f))
def test_matmul_random(acc, fa, fb):
    seed = zlib.crc32(f"{acc} {fa} {fb}".encode())        # the same in every process
    rng = np.random.default_rng(seed)
    n = 37
    A = _sample(fa, (3, n), rng)
    B = _sample(fb, (n, 4), rng)
    A[0, 5:9] = 0.0
    A[1, :] = -A[1, :]
    if isinstance(acc, FixedAccumulator):
        lo, _, q = nf.arith.product_range(fa, fb)
        if -q > acc.frac_bits:     # keep products multiples of the register's quantum
            A = np.round(A * 2.0 ** acc.frac_bits) / 2.0 ** acc.frac_bits
            A = fa.quantize(A, "rtz")
            B = fb.quantize(np.round(B), "rtz")
    C = matmul(A, B, acc, a_format=fa, b_format=fb)
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            want = R.ref_dot(A[i], B[:, j], acc)
            assert R.same(C[i, j], want), f"seed {seed}: C[{i}, {j}] = {C[i, j]!r}, reference {want!r} ({acc})"


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("fmt", [BF16, SMALL_ACC, FP32, nf.FloatFormat(5, 2, specials="fn", subnormals=False)], ids=str)
@pytest.mark.parametrize("order", list(Order), ids=str)
def test_float_accumulator_modes(mode, fmt, order):
    """Every rounding mode of the register, with wide-range operands (the TwoSum path)."""
    rng = np.random.default_rng(3)
    n = 29
    a = _sample(FP16, n, rng)
    b = _sample(E5M2, n, rng) * 2.0 ** -8
    a[3], b[3] = 0.0, -1.0
    acc = FloatAccumulator(fmt, rounding=mode, order=order, chunk=4 if order is Order.CHUNKED else None)
    got = dot(a, b, acc)
    want = R.ref_dot(a, b, acc)
    assert R.same(got, want), f"{got!r} != {want!r}"


@numba.njit(cache=False)
def _round_each(x, p, mode):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = K.round_to_format(x[i], p, mode, False)
    return out


@pytest.mark.parametrize("fmt", [E4M3, E5M2, BF16, FP16, SMALL_ACC, F["e4m3fnuz"], F["e4m3b11fnuz"],
                                 nf.FloatFormat(3, 2, subnormals=False),
                                 nf.FloatFormat(5, 2, specials="fn", subnormals=False)], ids=str)
def test_register_rounding_equals_the_encoder(fmt):
    """The register's rounding (round to nearest even: a float64 addition of a constant where
    it applies) equals ``fmt.quantize`` at every value of the format, every midpoint between
    neighbours, one float64 step either side of each, and beyond the range."""
    v = fmt.values()
    v = np.unique(v[np.isfinite(v)])
    top = v.max()
    pts = np.concatenate([v, (v[:-1] + v[1:]) / 2, top * np.array([1.0625, 1.125, 1.25, 1.5, 2.0, 2.0 ** 40]),
                          -top * np.array([1.0625, 1.5, 2.0]), v[v != 0] * 2.0 ** -40])
    x = np.concatenate([pts, np.nextafter(pts, np.inf), np.nextafter(pts, -np.inf)])
    for mode in (Rounding.NEAREST_EVEN, Rounding.TOWARD_ZERO):
        got = _round_each(x, fmt._kernel_params(), mode.code)
        want = fmt.quantize(x, mode)
        same = ((got == want) & (np.signbit(got) == np.signbit(want))) | (np.isnan(got) & np.isnan(want))
        bad = np.flatnonzero(~same)
        assert bad.size == 0, f"{fmt} {mode}: x = {x[bad[0]]!r}: got {got[bad[0]]!r}, want {want[bad[0]]!r}"


@pytest.mark.parametrize("fmt", [E4M3, F["e4m3fnuz"], F["e4m3b11fnuz"], SMALL_ACC, FP16, BF16,
                                 nf.FloatFormat(3, 2, subnormals=False)], ids=str)
def test_nearest_even_register_at_its_edges(fmt):
    """Sequential sums into a round-to-nearest-even register whose running values cross zero,
    the subnormals (or the flush-to-zero gap) and the top binade up to overflow: every
    result equals the Fraction reference (the exact-addition loop's fast rounding included)."""
    seed = zlib.crc32(str(fmt).encode())
    rng = np.random.default_rng(seed)
    n, top, tiny = 40, float(fmt.max), float(fmt.smallest_subnormal if fmt.subnormals else fmt.smallest_normal)
    A = _sample(E2M1, (6, n), rng)                        # |a| <= 6
    B = _sample(E4M3, (n, 8), rng)                        # 2**-9 <= |b| <= 448
    B[:, :3] *= 2.0 ** (math.floor(math.log2(top)) - 9)   # sums reach the top binade and overflow
    B[:, 3:6] *= 2.0 ** (math.log2(tiny) + 8)             # sums among the subnormals / the flush-to-zero gap
    A[0] = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * np.abs(A[0])     # cancellation
    A[5, :], A[5, -1], B[-1, 7] = 0.0, -1.0, tiny / 4          # a last sum rounding to -0
    acc = FloatAccumulator(fmt)
    C = matmul(A, B, acc)
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            want = R.ref_dot(A[i], B[:, j], acc)
            assert R.same(C[i, j], want), f"seed {seed}: C[{i}, {j}] = {C[i, j]!r}, reference {want!r} ({acc})"


def test_two_kernels_agree():
    """The exact-addition fast loop and the TwoSum loop give the same bits."""
    rng = np.random.default_rng(11)
    A = _sample(E4M3, (9, 70), rng)
    B = _sample(E4M3, (70, 13), rng)
    init = BF16.quantize(rng.normal(size=(9, 13)))
    for fmt, mode in ((FP32, Rounding.NEAREST_EVEN), (BF16, Rounding.FLOOR), (SMALL_ACC, Rounding.NEAREST_AWAY)):
        p = fmt._kernel_params()
        for fast32 in ({False, fmt == FP32}):
            out1 = np.empty((9, 13)); out2 = np.empty((9, 13))
            K.float_matmul(mode.code, fast32)(A, np.ascontiguousarray(B.T), init, p, K.SEQUENTIAL, 1, out1)
            K.float_matmul_exact_adds(mode.code, fast32)(A, B, init, p, out2)
            _assert_same(out1, out2, f"{fmt} {mode} fast32={fast32}")


@pytest.mark.parametrize("fmt", [BF16, FP16, FP32, F["e4m3fnuz"], nf.FloatFormat(3, 2, subnormals=False)],
                         ids=str)
def test_vectorised_nearest_even_rows_at_their_edges(fmt):
    """The exact-addition loop's vectorised round to nearest even (rows of more than one
    stretch of ``K._COLUMNS`` outputs) gives the TwoSum loop's bits where some stretches
    meet its edges (overflow, the subnormals or the flush-to-zero gap, exact zeros of either
    sign, a sum rounding to zero) and the others do not."""
    rng = np.random.default_rng(zlib.crc32(str(fmt).encode()))
    m, n, q = 5, 24, 2 * K._COLUMNS + 37
    top = float(fmt.max)
    tiny = float(fmt.smallest_subnormal if fmt.subnormals else fmt.smallest_normal)
    A = _sample(E2M1, (m, n), rng)
    B = _sample(E4M3, (n, q), rng) * 2.0 ** -4
    B[:, 3] *= 2.0 ** (math.floor(math.log2(top)) - 2)              # stretch 0 of every row: overflow
    B[:, K._COLUMNS + 5] *= 2.0 ** (math.log2(tiny) + 4)            # stretch 1: subnormals / the gap
    A[1] = 0.0                                                       # a row of exact +0 sums ...
    init = fmt.quantize(rng.normal(size=(m, q)))
    init[1, : K._COLUMNS] = fmt.quantize(np.full(K._COLUMNS, -0.0))  # ... and of -0 where fmt has it
    init[:, [3, K._COLUMNS + 5]] = 0.0          # every acc + product exact in float64 (the loop's premise)
    A[2, :], A[2, -1], B[-1, 2 * K._COLUMNS + 1] = 0.0, -1.0, tiny / 4     # a sum rounding to zero
    init[2, 2 * K._COLUMNS + 1] = 0.0
    p = fmt._kernel_params()
    for fast32 in sorted({False, fmt == FP32}):
        out1, out2 = np.empty((m, q)), np.empty((m, q))
        K.float_matmul(Rounding.NEAREST_EVEN.code, fast32)(A, np.ascontiguousarray(B.T), init, p,
                                                           K.SEQUENTIAL, 1, out1)
        K.float_matmul_exact_adds(Rounding.NEAREST_EVEN.code, fast32)(A, B, init, p, out2)
        _assert_same(out2, out1, f"{fmt} fast32={fast32}")
    assert not (np.abs(out1[:, 3]) < top).all(), "no sum reached the format's top: the case is not tested"


def test_order_codes_match_enum():
    assert [o.code for o in Order] == [K.SEQUENTIAL, K.PAIRWISE, K.CHUNKED]


def test_init_and_out_format():
    rng = np.random.default_rng(5)
    A = _sample(E4M3, (4, 20), rng)
    B = _sample(E4M3, (20, 3), rng)
    init = BF16.quantize(rng.normal(size=(4, 3)) * 100)
    for acc in (ExactAccumulator(), FloatAccumulator(BF16), FloatAccumulator(BF16, order="pairwise")):
        for out, rnd in ((None, None), (E4M3, "rne"), (E5M2, "floor"), (nf.IntFormat(8), None)):
            if out is None and isinstance(acc, ExactAccumulator):
                pass
            C = matmul(A, B, acc, init=init, out_format=out, out_rounding=rnd)
            for i in range(4):
                for j in range(3):
                    want = R.ref_dot(A[i], B[:, j], acc, init[i, j], out, rnd)
                    assert R.same(C[i, j], want), (acc, out, i, j, C[i, j], want)


# -- adversarial cases ----------------------------------------------------------------------
def test_catastrophic_cancellation():
    a = np.array([448.0, 0.001953125, -448.0, 0.001953125])
    b = np.array([448.0, 0.001953125, 448.0, -0.001953125])
    assert dot(a, b, ExactAccumulator(), a_format=E4M3, b_format=E4M3) == 0.0
    a = np.array([448.0, 0.001953125, -448.0])
    b = np.array([448.0, 0.001953125, 448.0])
    assert dot(a, b, ExactAccumulator()) == 2.0 ** -18
    assert dot(a, b, FloatAccumulator(FP32)) == 0.0            # 448² + 2**-18 rounds to 448²
    # 448² + t - 448² + t with t = 2**-18: exact 2t; sequential loses the first t; pairwise both
    a = np.array([448.0, 0.001953125, -448.0, 0.001953125])
    b = np.array([448.0, 0.001953125, 448.0, 0.001953125])
    t = 2.0 ** -18
    got = [dot(a, b, acc) for acc in (ExactAccumulator(), FloatAccumulator(FP32),
                                      FloatAccumulator(FP32, order="pairwise"))]
    assert got == [2 * t, t, 0.0]


@pytest.mark.parametrize("mode,want", [("rne", 256.0), ("rna", 258.0), ("rnp", 258.0), ("rnm", 256.0),
                                       ("rnz", 256.0), ("floor", 256.0), ("ceil", 258.0), ("rtz", 256.0),
                                       ("rta", 258.0)])
def test_tie_at_a_step(mode, want):
    """256 + 1 is a tie between bf16 neighbours 256 and 258; then + 0.5 stays put or not."""
    acc = FloatAccumulator(BF16, rounding=mode)
    assert dot([256.0, 1.0], [1.0, 1.0], acc) == want
    neg = dot([-256.0, -1.0], [1.0, 1.0], acc)
    assert R.same(neg, R.ref_dot([-256.0, -1.0], [1.0, 1.0], acc))


def test_ties_every_step_long_sum():
    """A long sum whose every step is a tie: RNE alternates, sequential and pairwise differ."""
    n = 600
    a = np.ones(n)
    for order in Order:
        acc = FloatAccumulator(BF16, order=order, chunk=16 if order is Order.CHUNKED else None)
        got = dot(a, a, acc)
        assert R.same(got, R.ref_dot(a, a, acc))
    seq = dot(a, a, FloatAccumulator(BF16))
    pw = dot(a, a, FloatAccumulator(BF16, order="pairwise"))
    ch = dot(a, a, FloatAccumulator(BF16, order="chunked", chunk=16))
    assert (seq, pw, ch) == (256.0, 600.0, 600.0)


def test_sequential_vs_pairwise_random_long():
    rng = np.random.default_rng(17)
    a = _sample(E4M3, 1000, rng)
    b = np.abs(_sample(E4M3, 1000, rng))
    results = {}
    for order in Order:
        acc = FloatAccumulator(BF16, order=order, chunk=32 if order is Order.CHUNKED else None)
        results[order] = dot(a, b, acc)
        assert R.same(results[order], R.ref_dot(a, b, acc))
    assert len(set(results.values())) > 1


def test_fixed_intermediate_overflow():
    """100 + 100 - 100 in an 8-bit register: saturation keeps the intermediate clamp, wrap does not."""
    a, b = np.array([100.0, 100.0, -100.0]), np.ones(3)
    assert dot(a, b, FixedAccumulator(8, overflow="sat")) == 27.0      # 127 - 100
    assert dot(a, b, FixedAccumulator(8, overflow="wrap")) == 100.0    # -56 - 100 = -156 → 100
    assert dot(a, b, FixedAccumulator(9, overflow="sat")) == 100.0
    # wrap to a value a final-only check would call in range
    a = np.array([120.0, 120.0, 120.0])
    assert dot(a, b, FixedAccumulator(8, overflow="wrap")) == 104.0    # 360 - 256
    assert dot(-a, b, FixedAccumulator(8, overflow="sat")) == -128.0
    for acc in (FixedAccumulator(8, overflow="sat"), FixedAccumulator(8, overflow="wrap")):
        for x in ([100.0, 100.0, -100.0], [120.0, 120.0, 120.0], [-100.0, -100.0, 100.0, 90.0]):
            assert dot(x, np.ones(len(x)), acc) == float(R.ref_dot(x, np.ones(len(x)), acc))


def test_fixed_fraction_bits_and_wide_register():
    rng = np.random.default_rng(2)
    a = _sample(E5M2, 50, rng)
    b = _sample(E5M2, 50, rng)
    for acc in (FixedAccumulator(64, 32, overflow="wrap"), FixedAccumulator(63, 32, overflow="sat"),
                FixedAccumulator(12, -4, overflow="wrap")):
        aa = a if acc.frac_bits >= 32 else np.round(a * 2.0 ** -4) * 16
        aa = E5M2.quantize(aa, "rtz")
        bb = np.round(b) if acc.frac_bits < 32 else b
        bb = E5M2.quantize(bb, "rtz")
        assert R.same(dot(aa, bb, acc, out_format=FP32), R.ref_dot(aa, bb, acc, out_format=FP32)), acc


def test_exact_paths_agree():
    """BLAS, int64 and Python-integer exact paths give the reference's exact sums."""
    rng = np.random.default_rng(4)
    cases = [(E4M3, E4M3, 64),            # BLAS
             (FP16, E5M2, 40),            # products span > 53 bits: int64 loop or Python
             (FP32, FP32, 20)]            # Python integers
    for fa, fb, n in cases:
        A = _sample(fa, (3, n), rng) if fa.bits <= 16 else fa.quantize(rng.normal(size=(3, n)) * 2.0 ** rng.integers(-60, 60, size=(3, n)))
        B = _sample(fb, (n, 2), rng) if fb.bits <= 16 else fb.quantize(rng.normal(size=(n, 2)) * 2.0 ** rng.integers(-60, 60, size=(n, 2)))
        C = matmul(A, B, ExactAccumulator(), out_format=FP32)
        for i in range(3):
            for j in range(2):
                want = R.ref_dot(A[i], B[:, j], ExactAccumulator(), out_format=FP32)
                assert R.same(C[i, j], want), (fa, fb, i, j)


def test_exact_equals_kulisch_register():
    rng = np.random.default_rng(8)
    for fa, fb in ((E4M3, E4M3), (E2M1, E4M3), (nf.IntFormat(8), nf.IntFormat(4, signed=False))):
        A = _sample(fa, (5, 33), rng) if isinstance(fa, nf.FloatFormat) else rng.integers(fa.min, fa.max + 1, (5, 33)).astype(float)
        B = _sample(fb, (33, 4), rng) if isinstance(fb, nf.FloatFormat) else rng.integers(fb.min, fb.max + 1, (33, 4)).astype(float)
        _assert_same(matmul(A, B, ExactAccumulator()), matmul(A, B, exact_fixed_accumulator(fa, fb, 33)))


# -- conv2d -----------------------------------------------------------------------------------
def _ref_conv(x, w, acc, stride, padding, bias):
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    out = np.empty((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            for i in range(OH):
                for j in range(OW):
                    a = [xp[n, c, i * stride + kh, j * stride + kw] for c in range(C) for kh in range(KH) for kw in range(KW)]
                    b = [w[o, c, kh, kw] for c in range(C) for kh in range(KH) for kw in range(KW)]
                    out[n, o, i, j] = R.ref_dot(a, b, acc, 0.0 if bias is None else bias[o])
    return out


@pytest.mark.parametrize("acc", [ExactAccumulator(), FixedAccumulator(24, 18, overflow="sat"),
                                 FloatAccumulator(BF16), FloatAccumulator(SMALL_ACC, order="pairwise"),
                                 FloatAccumulator(FP16, order="chunked", chunk=5, rounding="rtz")], ids=str)
@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (1, 2)])
def test_conv2d(acc, stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    x = _sample(E4M3, (2, 3, 6, 5), rng)
    w = _sample(E4M3, (4, 3, 3, 2), rng)
    bias = rng.normal(size=4)
    if isinstance(acc, FixedAccumulator):
        bias = np.round(bias * 2 ** 10) / 2 ** 10
    else:
        bias = (acc.fmt if isinstance(acc, FloatAccumulator) else BF16).quantize(bias)
    got = conv2d(x, w, acc, stride=stride, padding=padding, bias=bias, x_format=E4M3, w_format=E4M3)
    _assert_same(got, _ref_conv(x, w, acc, stride, padding, bias), str(acc))


def test_conv2d_matches_matmul_order():
    rng = np.random.default_rng(1)
    x = _sample(E4M3, (1, 2, 4, 4), rng)
    w = _sample(E4M3, (1, 2, 2, 2), rng)
    acc = FloatAccumulator(SMALL_ACC)
    out = conv2d(x, w, acc)
    for i in range(3):
        for j in range(3):
            assert R.same(out[0, 0, i, j], dot(x[0, :, i:i + 2, j:j + 2].reshape(-1), w[0].reshape(-1), acc))
