"""Bias correction, cross-layer equalization and SmoothQuant factors.

Where the rescaling factors are powers of two the checks are exact. For general
factors the transformed network equals the original only in real arithmetic:
its float64 outputs differ by the rounding of the rescaled weights, so those
checks (and only those) use a relative tolerance of 1e-12.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from numfmt import ptq

SEED = 27_182


def dense_relu_dense(x, W1, b1, W2, b2):
    return np.maximum(x @ W1.T + b1, 0.0) @ W2.T + b2


def test_bias_correction_exact():
    rng = np.random.default_rng(SEED)
    W = rng.integers(-64, 64, (5, 7)) / 16.0
    W_hat = W + rng.integers(-2, 3, (5, 7)) / 32.0
    x_mean = rng.integers(-8, 8, 7) / 4.0
    want = [float(sum(Fraction(a) * Fraction(m) for a, m in zip(rw - rh, x_mean)))
            for rw, rh in zip(W, W_hat)]
    assert np.array_equal(ptq.bias_correction(W, W_hat, x_mean), want)


def test_bias_correction_restores_the_mean_output():
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((300, 10)) + 1.0
    W = rng.standard_normal((6, 10))
    grid = ptq.weight_grid(W, "int3")
    W_hat = ptq.rtn(W, X, grid)
    delta = ptq.bias_correction(W, W_hat, X.mean(axis=0))
    before = np.abs((X @ W_hat.T).mean(axis=0) - (X @ W.T).mean(axis=0)).max()
    after = np.abs((X @ W_hat.T + delta).mean(axis=0) - (X @ W.T).mean(axis=0))
    assert before > 1e-3
    np.testing.assert_allclose(after, 0.0, atol=1e-12)     # float sums of 300 rows


def test_equalize_pair_powers_of_two_exact():
    rng = np.random.default_rng(SEED)
    # channel ranges r1 / r2 = 4**k, so s = 2**k and every rescaling is exact
    k = rng.integers(-3, 4, 6)
    W1 = rng.integers(-8, 9, (6, 5)).astype(float)
    W1[:, 0] = 16.0                                    # r1 = 16 * 4**k
    W2 = rng.integers(-4, 5, (3, 6)).astype(float)
    W2[0] = 4.0                                        # r2 = 4
    W1 = W1 * 4.0 ** k[:, None]
    b1 = rng.standard_normal(6)
    W1e, b1e, W2e = ptq.equalize_pair(W1, b1, W2)
    s = 2.0 ** (k + 1)                                 # sqrt(16 * 4**k / 4)
    assert np.array_equal(W1e, W1 / s[:, None]) and np.array_equal(W2e, W2 * s)
    assert np.array_equal(b1e, b1 / s)
    assert np.array_equal(np.abs(W1e).max(axis=1), np.abs(W2e).max(axis=0))


def test_equalize_pair_keeps_dense_relu_dense():
    rng = np.random.default_rng(SEED)
    W1 = rng.standard_normal((16, 8)) * rng.uniform(0.01, 20, (16, 1))
    W1[5] = 0.0                                      # dead channel: s = 1
    b1 = rng.standard_normal(16)
    W2 = rng.standard_normal((4, 16)) * rng.uniform(0.01, 20, (1, 16))
    b2 = rng.standard_normal(4)
    x = rng.standard_normal((50, 8))
    W1e, b1e, W2e = ptq.equalize_pair(W1, b1, W2)
    np.testing.assert_allclose(dense_relu_dense(x, W1e, b1e, W2e, b2),
                               dense_relu_dense(x, W1, b1, W2, b2), rtol=1e-12, atol=1e-12)
    r1, r2 = np.abs(W1e).max(axis=1), np.abs(W2e).max(axis=0)
    live = np.arange(16) != 5
    np.testing.assert_allclose(r1[live], r2[live], rtol=1e-12)
    np.testing.assert_allclose(r1[live], np.sqrt(np.abs(W1).max(axis=1) * np.abs(W2).max(axis=0))[live],
                               rtol=1e-12)
    assert np.array_equal(W1e[5], W1[5]) and np.array_equal(W2e[:, 5], W2[:, 5])
    # it helps per-tensor quantization of both layers
    def qerr(a, b, c):
        g1, g2 = ptq.weight_grid(a, "int4", "tensor"), ptq.weight_grid(c, "int4", "tensor")
        return np.abs(dense_relu_dense(x, g1.fake(a), b, g2.fake(c), b2) - dense_relu_dense(x, W1, b1, W2, b2)).mean()
    assert qerr(W1e, b1e, W2e) < qerr(W1, b1, W2)


def test_equalize_pair_conv_shapes_and_no_bias():
    rng = np.random.default_rng(SEED)
    W1 = rng.standard_normal((6, 3, 3, 3))
    W2 = rng.standard_normal((4, 6, 3, 3))
    W1e, b1e, W2e = ptq.equalize_pair(W1, None, W2)
    assert b1e is None and W1e.shape == W1.shape and W2e.shape == W2.shape
    s = np.sqrt(np.abs(W1).reshape(6, -1).max(axis=1) / np.abs(W2).transpose(1, 0, 2, 3).reshape(6, -1).max(axis=1))
    assert np.array_equal(W1e, W1 / s[:, None, None, None])
    assert np.array_equal(W2e, W2 * s[None, :, None, None])


def test_smooth_factors():
    assert ptq.smooth_factors([16.0, 1.0, 0.0, 9.0], [[1.0, 4.0, 2.0, 0.0]]).tolist() == [4.0, 0.5, 1.0, 1.0]
    assert ptq.smooth_factors([8.0, 2.0], [[4.0, 0.5]], alpha=1.0).tolist() == [8.0, 2.0]
    assert ptq.smooth_factors([8.0, 2.0], [[4.0, 0.5]], alpha=0.0).tolist() == [0.25, 2.0]
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((40, 12)) * rng.uniform(0.1, 50, 12)
    W = rng.standard_normal((5, 12))
    s = ptq.smooth_factors(np.abs(X).max(axis=0), W, alpha=0.5)
    # real-arithmetic identity, float64 rounding of X / s and W * s only
    np.testing.assert_allclose((X / s) @ (W * s).T, X @ W.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.abs(X / s).max(axis=0), np.abs(W * s).max(axis=0), rtol=1e-12)
    # powers of two: exact
    s2 = ptq.smooth_factors([64.0, 4.0], [[1.0, 16.0]])
    X2, W2 = np.array([[3.0, -1.5]]), np.array([[0.75, 2.0]])
    assert s2.tolist() == [8.0, 0.5]
    assert np.array_equal((X2 / s2) @ (W2 * s2).T, X2 @ W2.T)


def test_errors():
    with pytest.raises(ValueError, match=r"W_hat must have the shape of W, \(1, 2\), not \(1, 3\)"):
        ptq.bias_correction([[1.0, 2.0]], [[1.0, 2.0, 3.0]], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"x_mean must have shape \(2,\) \(the inputs of W\), not \(3,\)"):
        ptq.bias_correction([[1.0, 2.0]], [[1.0, 2.0]], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"W2 must have 2 input channels on axis 1 \(the outputs of W1\), not shape \(3, 3\)"):
        ptq.equalize_pair(np.ones((2, 4)), None, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"b1 must have shape \(2,\), not \(3,\)"):
        ptq.equalize_pair(np.ones((2, 4)), np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="W1 must be finite; found nan"):
        ptq.equalize_pair(np.full((2, 4), np.nan), None, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\], not 1.5"):
        ptq.smooth_factors([1.0], [[1.0]], alpha=1.5)
    with pytest.raises(ValueError, match="act_absmax must be ≥ 0, not -1.0"):
        ptq.smooth_factors([-1.0], [[1.0]])
    with pytest.raises(ValueError, match=r"act_absmax must have shape \(2,\) \(the inputs of W\), not \(1,\)"):
        ptq.smooth_factors([1.0], [[1.0, 2.0]])
