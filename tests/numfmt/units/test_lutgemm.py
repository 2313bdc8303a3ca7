"""LUT-GEMM: exact tables equal integer matmul; int8 tables equal a Fraction reference."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt.units import lut_matmul

FORMATS = [nf.IntFormat(b, signed=s) for b in range(1, 9) for s in (True, False)]


def _weights(fmt):
    """Bit-plane weights LSB first: 2**i, the signed MSB -2**(b-1)."""
    return [-(1 << i) if fmt.signed and i == fmt.bits - 1 else 1 << i for i in range(fmt.bits)]


def _counts(M, K, N, fmt, g, sym, int8):
    G = math.ceil(K / g)
    E = 2 ** (g - 1) if sym else 2 ** g
    b = fmt.bits
    ops = {"table_entries": M * G * E, "table_adds": M * G * (E - 1 + (g - 1 if sym else 0)),
           "lookups": M * N * G * b, "lookup_adds": M * N * G * b, "shift_adds": M * N * b}
    if sym:
        ops.update(row_sum_adds=M * (G - 1), correction_adds=M * N)
    if int8:
        ops["scale_muls"] = M * N * G
    return ops, G * b


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("g", [1, 2, 3, 4])
@pytest.mark.parametrize("sym", [False, True], ids=["plain", "symmetric"])
def test_exact_equals_integer_matmul(fmt, g, sym):
    rng = np.random.default_rng(fmt.bits * 100 + g * 10 + sym)
    for _ in range(3):
        M, K, N = (int(v) for v in rng.integers(1, [6, 23, 6]))
        A = rng.integers(-128, 128, size=(M, K))
        W = rng.integers(fmt.min, fmt.max + 1, size=(K, N))
        r = lut_matmul(A, W, fmt, g=g, sign_symmetric=sym, a_format=nf.IntFormat(8))
        assert r.values.dtype == np.int64
        assert np.array_equal(r.values, np.matmul(A.astype(np.int64), W.astype(np.int64)))
        assert r.values.tolist() == [[sum(int(A[m, k]) * int(W[k, n]) for k in range(K)) for n in range(N)]
                                     for m in range(M)]
        ops, cycles = _counts(M, K, N, fmt, g, sym, False)
        assert dict(r.ops) == ops and r.cycles == cycles


def _ref_int8(A, W, fmt, g, sym):
    """Written from the module docstring with Fractions and Python ints."""
    M, K = A.shape
    N = W.shape[1]
    G = math.ceil(K / g)
    a = [[int(A[m, k]) if k < K else 0 for k in range(G * g)] for m in range(M)]
    w = [[int(W[k, n]) if k < K else 0 for n in range(N)] for k in range(G * g)]
    b = fmt.bits
    out = []
    for m in range(M):
        # tables of s*q as Fractions
        tables = []
        for j in range(G):
            acts = a[m][j * g:(j + 1) * g]
            if sym:
                stored = {p: sum((1 if (p >> t) & 1 else -1) * acts[t] for t in range(g)) for p in range(2 ** (g - 1))}
            else:
                stored = {p: sum(acts[t] for t in range(g) if (p >> t) & 1) for p in range(2 ** g)}
            t_max = max(abs(v) for v in stored.values())
            sq = {p: (Fraction(t_max, 127) * round(Fraction(127 * v, t_max)) if t_max else Fraction(0))
                  for p, v in stored.items()}
            if sym:
                full = {p: (sq[p] if p < 2 ** (g - 1) else -sq[p ^ (2 ** g - 1)]) for p in range(2 ** g)}
            else:
                full = sq
            tables.append(full)
        row = []
        for n in range(N):
            total = Fraction(0)
            for i, wi in enumerate(_weights(fmt)):
                for j in range(G):
                    p = sum((((w[j * g + t][n] % 2 ** b) >> i) & 1) << t for t in range(g))
                    total += wi * tables[j][p]
            if sym:
                total = (total + sum(a[m]) * sum(_weights(fmt))) / 2
            row.append(total)
        out.append(row)
    return out


@pytest.mark.parametrize("fmt", [nf.IntFormat(1, signed=False), nf.IntFormat(2), nf.IntFormat(3),
                                 nf.IntFormat(4), nf.IntFormat(4, signed=False), nf.IntFormat(8)], ids=str)
@pytest.mark.parametrize("g", [1, 2, 3, 4])
@pytest.mark.parametrize("sym", [False, True], ids=["plain", "symmetric"])
def test_int8_tables(fmt, g, sym):
    rng = np.random.default_rng(fmt.bits * 10 + g + 1000 * sym)
    M, K, N = 3, 37, 4
    A = rng.integers(-128, 128, size=(M, K))
    W = rng.integers(fmt.min, fmt.max + 1, size=(K, N))
    r = lut_matmul(A, W, fmt, g=g, sign_symmetric=sym, table="int8")
    ref = _ref_int8(A, W, fmt, g, sym)
    assert r.values.dtype == np.float64
    assert r.values.tolist() == [[float(v) for v in row] for row in ref]
    ops, cycles = _counts(M, K, N, fmt, g, sym, True)
    assert dict(r.ops) == ops and r.cycles == cycles
    # the documented error bound
    exact = A @ W
    G = math.ceil(K / g)
    Ap = np.zeros((M, G * g), dtype=np.int64); Ap[:, :K] = A
    for m in range(M):
        if sym:
            t = sum(np.abs(Ap[m, j * g:(j + 1) * g]).sum() for j in range(G))   # max |T±| = Σ|a|
        else:
            grp = [Ap[m, j * g:(j + 1) * g] for j in range(G)]     # max |T| = max(Σ a⁺, Σ a⁻)
            t = sum(max(a[a > 0].sum(), -a[a < 0].sum()) for a in grp)
        bound = Fraction(sum(abs(w) for w in _weights(fmt)) * int(t), 508 if sym else 254)
        for n in range(N):
            assert abs(Fraction(r.values[m, n]) - int(exact[m, n])) <= bound + Fraction(abs(r.values[m, n])) * 2 ** -52


def test_int8_error_is_measured():
    """Not exact: mean |error| relative to the mean |result| for int8 activations, int4 weights, g = 4."""
    rng = np.random.default_rng(1)
    A = rng.integers(-128, 128, size=(16, 256))
    W = rng.integers(-8, 8, size=(256, 16))
    exact = (A @ W).astype(np.float64)
    errs = {}
    for sym in (False, True):
        v = lut_matmul(A, W, nf.IntFormat(4), g=4, sign_symmetric=sym, table="int8").values
        errs[sym] = float(np.mean(np.abs(v - exact)) / np.mean(np.abs(exact)))
    print("int8-table relative error (plain, symmetric):", errs)
    assert 0 < errs[False] < 0.01 and 0 < errs[True] < 0.01


def test_errors():
    i4 = nf.IntFormat(4)
    A = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"^g must be in 1..8, not 9$"):
        lut_matmul(A, A.T, i4, g=9)
    with pytest.raises(ValueError, match=r"^table must be one of 'exact', 'int8', not 'fp16'$"):
        lut_matmul(A, A.T, i4, table="fp16")
    with pytest.raises(ValueError, match=r"^sign_symmetric must be True or False, not 1$"):
        lut_matmul(A, A.T, i4, sign_symmetric=1)
    with pytest.raises(ValueError, match=r"^W\[2, 0\] = 8 is not a value of w_format int4$"):
        lut_matmul(A, [[0, 0], [0, 0], [8, 0]], i4)
    with pytest.raises(ValueError, match=r"^A\[0, 0\] = 128 is not a value of a_format int8$"):
        lut_matmul([[128, 0, 0]], A.T, i4, a_format=nf.IntFormat(8))
    with pytest.raises(ValueError, match=r"^A and W must agree on K"):
        lut_matmul(A, A, i4)
    with pytest.raises(ValueError, match=r"^w_format must be an IntFormat, not FloatFormat"):
        lut_matmul(A, A.T, nf.FLOATS["e4m3fn"])


@pytest.mark.parametrize("g", [1, 2, 3, 4, 5])
def test_sign_symmetry_identity(g):
    """With σ = 2β − 1: T±[~p] = −T±[p] and Σ β·a = (T±[p] + Σ a) / 2, for every pattern."""
    rng = np.random.default_rng(g)
    a = [int(v) for v in rng.integers(-1000, 1000, size=g)]
    mask = 2 ** g - 1
    T = {p: sum((2 * ((p >> t) & 1) - 1) * a[t] for t in range(g)) for p in range(2 ** g)}
    for p in range(2 ** g):
        assert T[p ^ mask] == -T[p]
        assert 2 * sum(a[t] for t in range(g) if (p >> t) & 1) == T[p] + sum(a)
