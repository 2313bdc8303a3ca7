"""Float-domain transforms around quantization: bias correction, cross-layer equalization, SmoothQuant.

These change the float parameters so that quantization hurts less; they do not
round anything. Definitions and references are in ``docs/ptq.md``.

>>> import numpy as np
>>> W1, b1, W2 = np.array([[4.0, 0.0], [0.0, 0.25]]), np.array([1.0, 1.0]), np.array([[1.0, 4.0]])
>>> W1e, b1e, W2e = equalize_pair(W1, b1, W2)
>>> np.abs(W1e).max(axis=1).tolist(), np.abs(W2e).max(axis=0).tolist()
([2.0, 1.0], [2.0, 1.0])
"""

from __future__ import annotations

import numpy as np

from .grid import _check_finite

__all__ = ["bias_correction", "equalize_pair", "smooth_factors"]


def _real(name, a, ndim=None, min_ndim=None):
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real array, not dtype {a.dtype}")
    a = a.astype(np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, not shape {a.shape}")
    if min_ndim is not None and a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, not shape {a.shape}")
    _check_finite(a, name)
    return a


def bias_correction(W, W_hat, x_mean):
    """The bias change that restores the expected output: ``(W − W_hat) @ x_mean``.

    Parameters
    ----------
    W, W_hat : array_like
        Float and quantized weights (out, in).
    x_mean : array_like
        Mean of the layer's inputs over the calibration set (in,).

    Returns
    -------
    numpy.ndarray
        ``delta`` (out,): with ``b + delta`` as bias, ``E[W_hat x + b + delta] = E[W x + b]``
        over the calibration inputs (Nagel et al. 2019, §4.2, empirical variant).

    Examples
    --------
    >>> bias_correction([[1.0, 2.0]], [[1.0, 1.5]], [2.0, 4.0]).tolist()
    [2.0]
    """
    W = _real("W", W, ndim=2)
    W_hat = _real("W_hat", W_hat, ndim=2)
    if W_hat.shape != W.shape:
        raise ValueError(f"W_hat must have the shape of W, {W.shape}, not {W_hat.shape}")
    x_mean = _real("x_mean", x_mean, ndim=1)
    if x_mean.shape[0] != W.shape[1]:
        raise ValueError(f"x_mean must have shape ({W.shape[1]},) (the inputs of W), not {x_mean.shape}")
    return (W - W_hat) @ x_mean


def equalize_pair(W1, b1, W2):
    """Cross-layer equalization of two layers around a ReLU (Nagel et al. 2019, DFQ).

    Parameters
    ----------
    W1 : array_like
        First layer's weights, output channels on axis 0: ``(m, ...)`` (Dense
        ``(m, in)`` or Conv ``(m, ic, kh, kw)``).
    b1 : array_like or None
        First layer's bias (m,).
    W2 : array_like
        Second layer's weights, input channels on axis 1: ``(k, m, ...)``.

    Returns
    -------
    (W1', b1', W2')
        ``W1'[i] = W1[i] / s_i``, ``b1'[i] = b1[i] / s_i``, ``W2'[:, i] = W2[:, i] * s_i``
        with ``s_i = sqrt(r1_i / r2_i)``, ``r1_i = max |W1[i]|``,
        ``r2_i = max |W2[:, i]|``; ``s_i = 1`` where ``r1_i`` or ``r2_i`` is 0.
        Afterwards both ranges of channel ``i`` are ``sqrt(r1_i r2_i)``.
        Since ``relu(z / s) = relu(z) / s`` for ``s > 0``, the pair computes the
        same function (up to float64 rounding of the rescaled weights).

    Examples
    --------
    >>> W1e, b1e, W2e = equalize_pair([[8.0, -2.0]], [4.0], [[0.5], [-0.125]])
    >>> W1e.tolist(), b1e.tolist(), W2e.tolist()
    ([[2.0, -0.5]], [1.0], [[2.0], [-0.5]])
    """
    W1 = _real("W1", W1, min_ndim=2)
    W2 = _real("W2", W2, min_ndim=2)
    m = W1.shape[0]
    if W2.shape[1] != m:
        raise ValueError(f"W2 must have {m} input channels on axis 1 (the outputs of W1), "
                         f"not shape {W2.shape}")
    if b1 is not None:
        b1 = _real("b1", b1, ndim=1)
        if b1.shape[0] != m:
            raise ValueError(f"b1 must have shape ({m},), not {b1.shape}")
    r1 = np.abs(W1).reshape(m, -1).max(axis=1)
    r2 = np.abs(np.moveaxis(W2, 1, 0)).reshape(m, -1).max(axis=1)
    ok = (r1 > 0) & (r2 > 0)
    s = np.where(ok, np.sqrt(np.where(ok, r1, 1.0) / np.where(ok, r2, 1.0)), 1.0)
    W1e = W1 / s.reshape((m,) + (1,) * (W1.ndim - 1))
    W2e = W2 * s.reshape((1, m) + (1,) * (W2.ndim - 2))
    return W1e, (None if b1 is None else b1 / s), W2e


def smooth_factors(act_absmax, W, alpha=0.5):
    """SmoothQuant's per-input-channel factors (Xiao et al. 2023): ``x / s`` and ``W * s``.

    Parameters
    ----------
    act_absmax : array_like
        ``max |X_j|`` of each input channel over the calibration set (in,).
    W : array_like
        The layer's weights (out, in).
    alpha : float
        Migration strength in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``s_j = act_absmax_j**alpha / max_i |W_ij|**(1 - alpha)`` (in,), and
        ``s_j = 1`` where either maximum is 0. ``(X / s) @ (W * s).T == X @ W.T``
        in real arithmetic.

    Examples
    --------
    >>> smooth_factors([16.0, 1.0, 0.0], [[1.0, 4.0, 2.0]]).tolist()
    [4.0, 0.5, 1.0]
    """
    a = _real("act_absmax", act_absmax, ndim=1)
    if (a < 0).any():
        raise ValueError(f"act_absmax must be ≥ 0, not {float(a[a < 0][0])!r}")
    W = _real("W", W, ndim=2)
    if W.shape[1] != a.shape[0]:
        raise ValueError(f"act_absmax must have shape ({W.shape[1]},) (the inputs of W), not {a.shape}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], not {alpha!r}")
    wmax = np.abs(W).max(axis=0)
    ok = (a > 0) & (wmax > 0)
    with np.errstate(divide="ignore"):
        s = np.where(ok, np.where(ok, a, 1.0) ** alpha / np.where(ok, wmax, 1.0) ** (1.0 - alpha), 1.0)
    return s
