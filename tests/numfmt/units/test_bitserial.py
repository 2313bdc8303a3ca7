"""Bit-serial units: exact against integer matmul, counts against their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import numfmt as nf
from numfmt.units import bitserial_dot, bitserial_matmul

FORMATS = [nf.IntFormat(b, signed=s) for b in range(1, 9) for s in (True, False)]


def _rand(rng, fmt, shape):
    return rng.integers(fmt.min, fmt.max + 1, size=shape, dtype=np.int64)


def _py_matmul(A, B):
    """Python-integer reference (no int64 anywhere)."""
    A, B = A.tolist(), B.tolist()
    return [[sum(A[m][k] * B[k][n] for k in range(len(B))) for n in range(len(B[0]))] for m in range(len(A))]




@pytest.mark.parametrize("fa", FORMATS, ids=str)
@pytest.mark.parametrize("mode", ["serial_a", "serial_both"])
def test_equals_integer_matmul(fa, mode):
    rng = np.random.default_rng(fa.bits * 2 + fa.signed)
    for fb in FORMATS[::3] + [fa]:
        M, K, N = rng.integers(1, 7), rng.integers(1, 20), rng.integers(1, 6)
        A, B = _rand(rng, fa, (M, K)), _rand(rng, fb, (K, N))
        for ppc in (1, 3):
            r = bitserial_matmul(A, B, fa, fb, mode=mode, planes_per_cycle=ppc)
            assert r.values.dtype == np.int64
            assert np.array_equal(r.values, np.matmul(A, B))
            assert r.values.tolist() == _py_matmul(A, B)
            sa, sb = int(fa.signed), int(fb.signed)
            if mode == "serial_a":
                P = fa.bits
                ops = {"plane_dots": M * N * fa.bits, "shift_adds": M * N * fa.bits, "negations": M * N * sa}
            else:
                P = fa.bits * fb.bits
                neg = sum((i == fa.bits - 1 and sa) != (j == fb.bits - 1 and sb)
                          for i in range(fa.bits) for j in range(fb.bits))
                ops = {"and_popcounts": M * N * P, "shift_adds": M * N * P, "negations": M * N * neg}
            assert r.cycles == math.ceil(P / ppc)
            assert dict(r.ops) == ops


def test_extremes():
    for fa in FORMATS:
        A = np.array([[fa.min, fa.max, fa.min]])
        B = np.array([[fa.min], [fa.max], [fa.min]])
        for mode in ("serial_a", "serial_both"):
            assert bitserial_matmul(A, B, fa, fa, mode=mode).values[0, 0] == 2 * fa.min ** 2 + fa.max ** 2


@pytest.mark.parametrize("mode", ["serial_a", "serial_both"])
@pytest.mark.parametrize("nested", [False, True])
def test_mixed_groups(mode, nested):
    rng = np.random.default_rng(7 + nested)
    fb = nf.IntFormat(4)
    for trial in range(20):
        M, N, gs = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 6))
        K = int(rng.integers(1, 25))
        G = math.ceil(K / gs)
        pick = lambda: FORMATS[int(rng.integers(len(FORMATS)))]   # noqa: E731
        F = [[pick() for _ in range(G)] for _ in range(M)] if nested else [[pick() for _ in range(G)]] * M
        A = np.zeros((M, K), dtype=np.int64)
        for m in range(M):
            for g in range(G):
                sl = slice(g * gs, min(K, (g + 1) * gs))
                A[m, sl] = _rand(rng, F[m][g], A[m, sl].shape)
        B = _rand(rng, fb, (K, N))
        ppc = int(rng.integers(1, 4))
        a_format = F if nested else F[0]
        r = bitserial_matmul(A, B, a_format, fb, mode=mode, planes_per_cycle=ppc, group_size=gs)
        assert r.values.tolist() == _py_matmul(A, B)
        P = lambda f: f.bits if mode == "serial_a" else f.bits * fb.bits   # noqa: E731
        assert r.cycles == sum(max(math.ceil(P(F[m][g]) / ppc) for m in range(M)) for g in range(G))
        key = "plane_dots" if mode == "serial_a" else "and_popcounts"
        assert r.ops[key] == r.ops["shift_adds"] == N * sum(P(F[m][g]) for m in range(M) for g in range(G))


def test_uniform_groups_cycles():
    """Uniform groups: cycles = ceil(K / group_size) · planes (groups run one after the other)."""
    f = nf.IntFormat(3)
    A = np.ones((2, 10), dtype=np.int64); B = np.ones((10, 2), dtype=np.int64)
    r = bitserial_matmul(A, B, f, f, mode="serial_both", group_size=4)
    assert r.cycles == 3 * 9 and r.values.tolist() == [[10, 10], [10, 10]]
    assert bitserial_matmul(A, B, [f] * 3, f, group_size=4).cycles == 27


def test_dot():
    r = bitserial_dot(np.array([7, -8, 0]), [1.0, 2.0, 3.0], nf.IntFormat(4), nf.IntFormat(3), mode="serial_a")
    assert int(r.values) == -9 and r.values.shape == () and r.cycles == 4


def test_errors():
    i4 = nf.IntFormat(4)
    A = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"^mode must be one of 'serial_a', 'serial_both', not 'x'$"):
        bitserial_matmul(A, A.T, i4, i4, mode="x")
    with pytest.raises(ValueError, match=r"^planes_per_cycle must be ≥ 1, not 0$"):
        bitserial_matmul(A, A.T, i4, i4, planes_per_cycle=0)
    with pytest.raises(ValueError, match=r"^A and B must agree on K: A has shape \(2, 3\), B has shape \(2, 3\)$"):
        bitserial_matmul(A, A, i4, i4)
    with pytest.raises(ValueError, match=r"^A\[1, 2\] = 8 is not a value of a_format int4$"):
        bitserial_matmul([[0, 0, 0], [0, 0, 8]], A.T, i4, i4)
    with pytest.raises(ValueError, match=r"^B\[0, 1\] = -1 is not a value of b_format uint4$"):
        bitserial_matmul(A, [[0, -1], [0, 0], [0, 0]], i4, nf.IntFormat(4, signed=False))
    with pytest.raises(ValueError, match=r"^A\[0, 1\] = 0.5 is not an integer$"):
        bitserial_matmul([[0, 0.5, 0]], A.T, i4, i4)
    with pytest.raises(ValueError, match=r"^b_format must be an IntFormat, not 'int4'$"):
        bitserial_matmul(A, A.T, i4, "int4")
    with pytest.raises(ValueError, match=r"^group_size must be given when a_format is a sequence"):
        bitserial_matmul(A, A.T, [i4], i4)
    with pytest.raises(ValueError,
                       match=r"^a_format must have one format per group \(2 groups of 2 along K = 3\), not 1$"):
        bitserial_matmul(A, A.T, [i4], i4, group_size=2)
    with pytest.raises(ValueError, match=r"^a_format\[1\] must be an IntFormat, not 'int4'$"):
        bitserial_matmul(A, A.T, [i4, "int4"], i4, group_size=2)
    with pytest.raises(ValueError, match=r"^A\[1, 2\] = 2 is not a value of a_format for group 1 int2$"):
        bitserial_matmul([[0, 0, 0], [0, 0, 2]], A.T, [i4, nf.IntFormat(2)], i4, group_size=2)
    with pytest.raises(ValueError, match=r"^the sums of 3 products of 32-bit and 32-bit integers may exceed int64"):
        bitserial_matmul(A, A.T, nf.IntFormat(32), nf.IntFormat(32))
    with pytest.raises(ValueError, match=r"^A must have 2 dimensions, not shape \(3,\)$"):
        bitserial_matmul([1, 2, 3], A.T, i4, i4)
