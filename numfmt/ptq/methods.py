"""Weight rounding methods: round-to-nearest, GPTQ and AdaRound, onto a :class:`WeightGrid`.

Each method takes the float weights ``W`` (out, in), the layer's calibration
inputs ``X`` (n_samples, in) and the grid, and returns ``W_hat`` whose every
entry is a grid value (``grid.decode(grid.encode(W_hat)) == W_hat``). The
exact definitions are in ``docs/ptq.md``.

>>> import numpy as np
>>> from numfmt import ptq
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((256, 16)) @ rng.standard_normal((16, 16))
>>> W = rng.standard_normal((8, 16))
>>> grid = ptq.weight_grid(W, "int3")
>>> err = {m: np.linalg.norm((W - ptq.METHODS[m](W, X, grid)) @ X.T) for m in ptq.METHODS}
>>> bool(err["gptq"] < err["rtn"]), bool(err["adaround"] < err["rtn"])
(True, True)
"""

from __future__ import annotations

import numpy as np

from .._checks import check_int
from .grid import WeightGrid, _check_finite, _check_matrix, weight_grid  # noqa: F401 (doctests)

__all__ = ["METHODS", "adaround", "gptq", "quantize_weight", "rtn"]

# AdaRound's rectified sigmoid stretch (Nagel et al. 2020, eq. 23)
_ZETA, _GAMMA = 1.1, -0.1


def _check_grid(grid, W):
    if not isinstance(grid, WeightGrid):
        raise TypeError(f"grid must be a WeightGrid (from ptq.weight_grid), not {grid!r}")
    if grid.shape != W.shape:
        raise ValueError(f"grid was built for W of shape {grid.shape}, not {W.shape}")


def _check_inputs(X, n_in):
    X = np.asarray(X)
    if X.dtype.kind not in "fiu":
        raise TypeError(f"X must be a real array, not dtype {X.dtype}")
    X = X.astype(np.float64)
    if X.ndim != 2 or X.shape[1] != n_in or X.shape[0] < 1:
        raise ValueError(f"X must have shape (n_samples ≥ 1, {n_in}) (the layer's inputs), "
                         f"not {X.shape}")
    _check_finite(X, "X")
    return X


def _check_float(name, value, lo, hi=None, lo_open=False):
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        value = float(value)
        ok = (value > lo if lo_open else value >= lo) and (hi is None or value <= hi)
    if not ok:
        rng = f"{'>' if lo_open else '≥'} {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be a number {rng}, not {value!r}")
    return value


def rtn(W, X, grid):
    """Round to nearest: ``grid.fake(W)``. ``X`` is not used (may be None).

    >>> import numfmt as nf
    >>> W = np.array([[0.3, -0.6, 0.75]])
    >>> rtn(W, None, weight_grid(W, nf.IntFormat(3))).tolist()   # scale 0.75 / 3
    [[0.25, -0.5, 0.75]]
    """
    W = _check_matrix(W)
    _check_grid(grid, W)
    return grid.fake(W)


def _upper_cholesky_of_inverse(H):
    """Upper-triangular ``U`` with ``H^-1 = U^T U``."""
    L = np.linalg.cholesky(H)
    Linv = np.linalg.solve(L, np.eye(H.shape[0]))
    Hinv = Linv.T @ Linv
    return np.linalg.cholesky(0.5 * (Hinv + Hinv.T)).T


def gptq(W, X, grid, block_size=128, damp=0.01, act_order=True):
    """GPTQ (Frantar et al. 2022): column-by-column rounding with second-order error feedback.

    Parameters
    ----------
    W : array_like
        Weights (out, in).
    X : array_like
        Calibration inputs of the layer (n_samples, in).
    grid : WeightGrid
        From :func:`weight_grid` on ``W``; its scales (and a block format's
        block exponents) stay fixed while the columns are updated.
    block_size : int
        Columns per lazy batch update (≥ 1); the result does not depend on it
        beyond float rounding.
    damp : float
        Dampening, as a fraction of the mean diagonal of ``H`` (≥ 0).
    act_order : bool
        Quantize columns in order of decreasing ``diag(H)`` (the GPTQ
        authors' "act-order"; default True). The grid's scales are fixed up
        front, so the order does not change them. False: natural order.

    Returns
    -------
    numpy.ndarray
        ``W_hat`` (out, in), grid values.

    Notes
    -----
    ``H = 2 XᵀX``; an input that is zero over the whole calibration set gets
    ``H[j, j] = 1`` (its column is then plain round-to-nearest); then
    ``H += damp · mean(diag H) · I``. With ``U`` upper triangular,
    ``H⁻¹ = UᵀU``, column ``j`` is rounded with ``grid.fake`` and the
    remaining columns absorb its error: ``W[:, k] -= (w_j - q_j) / U[j, j] · U[j, k]``
    for ``k > j``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.standard_normal((128, 8)) @ rng.standard_normal((8, 8))
    >>> W = rng.standard_normal((4, 8))
    >>> g = weight_grid(W, "e2m1fn")
    >>> W_hat = gptq(W, X, g, block_size=4)
    >>> bool(np.array_equal(g.decode(g.encode(W_hat)), W_hat))
    True
    """
    W = _check_matrix(W)
    _check_grid(grid, W)
    n_out, n_in = W.shape
    X = _check_inputs(X, n_in)
    block_size = check_int("block_size", block_size, 1)
    damp = _check_float("damp", damp, 0.0)
    if not isinstance(act_order, (bool, np.bool_)):
        raise ValueError(f"act_order must be True or False, not {act_order!r}")

    H = 2.0 * (X.T @ X)
    diag = np.diag(H).copy()
    dead = diag == 0
    diag[dead] = 1.0
    H[np.diag_indices(n_in)] = diag + damp * diag.mean()
    perm = np.argsort(-np.diag(H), kind="stable") if act_order else np.arange(n_in)
    H = H[np.ix_(perm, perm)]
    try:
        U = _upper_cholesky_of_inverse(H)
    except np.linalg.LinAlgError:
        raise ValueError(f"H = 2 XᵀX + damp·mean(diag)·I is not positive definite with "
                         f"damp={damp}; use a larger damp") from None

    Wp = W[:, perm].copy()
    Q = np.empty_like(Wp)
    for i1 in range(0, n_in, block_size):
        i2 = min(i1 + block_size, n_in)
        W1 = Wp[:, i1:i2]                     # a view: updated in place
        E1 = np.empty((n_out, i2 - i1))
        for i in range(i2 - i1):
            j = i1 + i
            w = W1[:, i].copy()
            q = grid.fake(w, cols=int(perm[j]))
            Q[:, j] = q
            err = (w - q) / U[j, j]
            W1[:, i:] -= np.outer(err, U[j, j:i2])
            E1[:, i] = err
        Wp[:, i2:] -= E1 @ U[i1:i2, i2:]
    out = np.empty_like(Q)
    out[:, perm] = Q
    return out


def adaround(W, X, grid, iters=1000, lam=10.0, beta=(20.0, 2.0), warmup=0.2, lr=0.01,
             batch_size=None, seed=0):
    """AdaRound (Nagel et al. 2020): learn for each weight whether to round down or up.

    Parameters
    ----------
    W, X, grid
        As :func:`gptq`.
    iters : int
        Adam steps (≥ 1).
    lam : float
        Weight of the rounding regulariser (≥ 0).
    beta : (float, float)
        The regulariser's exponent, annealed linearly from ``beta[0]`` to
        ``beta[1]`` after the warm-up.
    warmup : float
        Fraction of ``iters`` without the regulariser, in [0, 1).
    lr : float
        Adam learning rate (> 0); Adam's moments use 0.9, 0.999, 1e-8.
    batch_size : int or None
        None: every step uses all of ``X`` (through ``XᵀX``); an int draws
        that many samples per step without replacement from
        ``numpy.random.default_rng(seed)``.
    seed : int
        Seed of the minibatch draws; the same seed gives the same result.

    Returns
    -------
    numpy.ndarray
        ``W_hat`` (out, in): each entry ``grid.floor(W)`` or ``grid.ceil(W)``.

    Notes
    -----
    ``W~ = floor + h(V) (ceil − floor)`` with ``h(V) = clip(σ(V)(ζ − γ) + γ, 0, 1)``,
    ``ζ = 1.1``, ``γ = −0.1``; ``V`` starts where ``h(V)`` is the fractional
    position of ``W`` between its neighbours. The loss is
    ``‖(W − W~) Xᵀ‖² / ‖(W − W_rtn) Xᵀ‖² + lam · mean(1 − |2h(V) − 1|^β)``
    (normalised by the round-to-nearest error so that ``lam`` does not depend
    on the scale of ``W`` or ``X``). Finally ``W_hat = ceil`` where
    ``h(V) ≥ 1/2`` (``V ≥ 0``), else ``floor``.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> X = rng.standard_normal((64, 8)) @ rng.standard_normal((8, 8))
    >>> W = rng.standard_normal((4, 8))
    >>> g = weight_grid(W, "int4")
    >>> W_hat = adaround(W, X, g, iters=200, seed=0)
    >>> bool(np.all((W_hat == g.floor(W)) | (W_hat == g.ceil(W))))
    True
    >>> bool(np.array_equal(W_hat, adaround(W, X, g, iters=200, seed=0)))
    True
    """
    W = _check_matrix(W)
    _check_grid(grid, W)
    X = _check_inputs(X, W.shape[1])
    iters = check_int("iters", iters, 1)
    lam = _check_float("lam", lam, 0.0)
    lr = _check_float("lr", lr, 0.0, lo_open=True)
    warmup = _check_float("warmup", warmup, 0.0, 1.0)
    if warmup == 1.0:
        raise ValueError("warmup must be a number in [0, 1), not 1.0")
    if not (isinstance(beta, (tuple, list)) and len(beta) == 2):
        raise ValueError(f"beta must be a pair (start, end), not {beta!r}")
    b0, b1 = (_check_float("beta", b, 1.0) for b in beta)
    n = X.shape[0]
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1, n)
    rng = np.random.default_rng(seed)

    lo, hi = grid.floor(W), grid.ceil(W)
    step = hi - lo
    movable = step > 0
    rtn_err = W - grid.fake(W)
    H = X.T @ X / n
    norm = float(np.einsum("ij,jk,ik->", rtn_err, H, rtn_err))
    if norm <= 0 or not movable.any():
        return grid.fake(W)          # nothing to learn: round to nearest

    frac = np.where(movable, (W - lo) / np.where(movable, step, 1.0), 0.0)
    p = np.clip((frac - _GAMMA) / (_ZETA - _GAMMA), 1e-6, 1 - 1e-6)
    V = np.log(p) - np.log1p(-p)
    m = np.zeros_like(V)
    v = np.zeros_like(V)
    start = int(warmup * iters)
    for t in range(iters):
        sig = 1.0 / (1.0 + np.exp(-V))
        h_raw = sig * (_ZETA - _GAMMA) + _GAMMA
        h = np.clip(h_raw, 0.0, 1.0)
        D = lo + h * step - W
        if batch_size is None:
            g_w = (2.0 / norm) * (D @ H)
        else:
            Xb = X[rng.choice(n, batch_size, replace=False)]
            g_w = (2.0 / (norm * batch_size)) * ((D @ Xb.T) @ Xb)
        g_h = g_w * step
        if t >= start and lam > 0:
            rel = (t - start) / max(iters - start, 1)
            b = b1 + (b0 - b1) * (1.0 - rel)
            a = 2.0 * h - 1.0
            g_h -= (lam / W.size) * 2.0 * b * np.abs(a) ** (b - 1.0) * np.sign(a)
        g = g_h * (_ZETA - _GAMMA) * sig * (1.0 - sig) * ((h_raw > 0) & (h_raw < 1))
        g = np.where(movable, g, 0.0)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mhat = m / (1.0 - 0.9 ** (t + 1))
        vhat = v / (1.0 - 0.999 ** (t + 1))
        V = V - lr * mhat / (np.sqrt(vhat) + 1e-8)
    return np.where(movable & (V >= 0), hi, lo)


#: The weight rounding methods by name (``QConfig.method``).
METHODS = {"rtn": rtn, "gptq": gptq, "adaround": adaround}


def quantize_weight(W, X, grid, method="rtn", **options):
    """``METHODS[method](W, X, grid, **options)``, with a clear error for an unknown method.

    >>> W = np.array([[1.0, -0.5]])
    >>> quantize_weight(W, None, weight_grid(W, "int2"), "rtn").tolist()   # -0.5 ties to 0
    [[1.0, 0.0]]
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}")
    return METHODS[method](W, X, grid, **options)

