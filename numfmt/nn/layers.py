"""Layers of a small inference graph, in float64 (the reference the quantized graph approximates).

Every layer is a frozen dataclass holding read-only float64 NumPy parameters.
Tensors are batch-first; images are NCHW. Each layer has ``out_shape`` (shape
inference without the batch axis) and ``forward`` (float64 reference).

>>> import numpy as np
>>> from numfmt.nn.layers import Dense, ReLU
>>> d = Dense(np.array([[1.0, -2.0]]), np.array([0.5]))
>>> d.forward(np.array([[3.0, 1.0]])).tolist()
[[1.5]]
>>> ReLU().forward(np.array([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Layer", "Dense", "Conv2d", "ReLU", "ReLU6", "Flatten", "MaxPool2d", "AvgPool2d",
           "BatchNorm", "Add", "im2col"]


def _param(name, value, ndim=None, shape=None):
    """``value`` as a read-only finite float64 array of the required rank/shape."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real array, not {type(value).__name__}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-d, not shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite, not {float(arr[index])!r} at index {index}")
    arr.setflags(write=False)
    return arr


def _pair(name, value, low):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value)):
        raise ValueError(f"{name} must be an int or a pair of ints, not {value!r}")
    value = (int(value[0]), int(value[1]))
    if min(value) < low:
        raise ValueError(f"{name} must be ≥ {low}, not {value!r}")
    return value


def _need_rank(layer, shape, rank, what):
    if len(shape) != rank:
        raise ValueError(f"{type(layer).__name__} needs a {what} input (without the batch axis), "
                         f"not shape {tuple(shape)}")


def im2col(x, kernel, stride, padding):
    """Patches of an NCHW array as a matrix ``(N*OH*OW, C*KH*KW)``.

    Rows run over ``(n, i, j)`` in C order; columns over ``(c, kh, kw)`` in C
    order (``kw`` fastest), the reduction order of :func:`numfmt.arith.conv2d`.
    Padding inserts zeros of ``x``'s dtype.

    >>> im2col(np.arange(4.0).reshape(1, 1, 2, 2), (2, 2), (1, 1), (0, 0)).tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    """
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    win = win[:, :, :oh, :ow]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * oh * ow, c * kh * kw)


class Layer:
    """Base class: ``arity`` inputs, ``out_shape(*shapes)``, ``forward(*xs)``."""

    arity = 1

    def out_shape(self, *shapes):  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def forward(self, *xs):  # pragma: no cover - every layer overrides it
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, eq=False)
class Dense(Layer):
    """Fully connected layer ``y = x @ weight.T + bias``.

    Parameters
    ----------
    weight : array_like, shape (out, in)
    bias : array_like, shape (out,), optional (default zeros)

    >>> Dense(np.eye(2)).out_shape((2,))
    (2,)
    """

    weight: np.ndarray
    bias: np.ndarray | None = None

    def __post_init__(self):
        w = _param("weight", self.weight, ndim=2)
        b = np.zeros(w.shape[0]) if self.bias is None else self.bias
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", _param("bias", b, shape=(w.shape[0],)))

    def out_shape(self, shape):
        _need_rank(self, shape, 1, "1-d (features)")
        if shape[0] != self.weight.shape[1]:
            raise ValueError(f"Dense with weight {self.weight.shape} needs {self.weight.shape[1]} "
                             f"input features, not {shape[0]}")
        return (self.weight.shape[0],)

    def forward(self, x):
        return x @ self.weight.T + self.bias


@dataclasses.dataclass(frozen=True, eq=False)
class Conv2d(Layer):
    """2-D convolution (cross-correlation, NCHW), ``weight`` (oc, ic, kh, kw).

    ``stride`` and ``padding`` (zeros) are an int or an (h, w) pair.

    >>> Conv2d(np.ones((4, 1, 3, 3)), padding=1).out_shape((1, 8, 8))
    (4, 8, 8)
    """

    weight: np.ndarray
    bias: np.ndarray | None = None
    stride: tuple = 1
    padding: tuple = 0

    def __post_init__(self):
        w = _param("weight", self.weight, ndim=4)
        b = np.zeros(w.shape[0]) if self.bias is None else self.bias
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", _param("bias", b, shape=(w.shape[0],)))
        object.__setattr__(self, "stride", _pair("stride", self.stride, 1))
        object.__setattr__(self, "padding", _pair("padding", self.padding, 0))

    @property
    def kernel(self):
        """``(kh, kw)``."""
        return self.weight.shape[2:]

    def out_shape(self, shape):
        _need_rank(self, shape, 3, "(C, H, W)")
        oc, ic, kh, kw = self.weight.shape
        if shape[0] != ic:
            raise ValueError(f"Conv2d with weight {self.weight.shape} needs {ic} input channels, "
                             f"not {shape[0]} (input shape {tuple(shape)})")
        (sh, sw), (ph, pw) = self.stride, self.padding
        oh, ow = (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"Conv2d kernel {kh}x{kw} does not fit the padded input "
                             f"{shape[1] + 2 * ph}x{shape[2] + 2 * pw}")
        return (oc, oh, ow)

    def forward(self, x):
        n = x.shape[0]
        oc, oh, ow = self.out_shape(x.shape[1:])
        cols = im2col(x, self.kernel, self.stride, self.padding)
        y = cols @ self.weight.reshape(oc, -1).T + self.bias
        return y.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2)


@dataclasses.dataclass(frozen=True)
class ReLU(Layer):
    """``max(x, 0)``.

    >>> ReLU().out_shape((3, 2))
    (3, 2)
    """

    def out_shape(self, shape):
        return tuple(shape)

    def forward(self, x):
        return np.maximum(x, 0.0)


@dataclasses.dataclass(frozen=True)
class ReLU6(Layer):
    """``min(max(x, 0), 6)``.

    >>> ReLU6().forward(np.array([-1.0, 7.0])).tolist()
    [0.0, 6.0]
    """

    def out_shape(self, shape):
        return tuple(shape)

    def forward(self, x):
        return np.clip(x, 0.0, 6.0)


@dataclasses.dataclass(frozen=True)
class Flatten(Layer):
    """Reshape ``(N, ...)`` to ``(N, prod(...))`` in C order.

    >>> Flatten().out_shape((16, 2, 2))
    (64,)
    """

    def out_shape(self, shape):
        return (int(np.prod(shape, dtype=np.int64)),)

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


@dataclasses.dataclass(frozen=True)
class _Pool(Layer):
    kernel: tuple = 2
    stride: tuple | None = None

    def __post_init__(self):
        k = _pair("kernel", self.kernel, 1)
        object.__setattr__(self, "kernel", k)
        object.__setattr__(self, "stride", k if self.stride is None else _pair("stride", self.stride, 1))

    def out_shape(self, shape):
        _need_rank(self, shape, 3, "(C, H, W)")
        (kh, kw), (sh, sw) = self.kernel, self.stride
        if shape[1] < kh or shape[2] < kw:
            raise ValueError(f"{type(self).__name__} kernel {kh}x{kw} does not fit the input "
                             f"{shape[1]}x{shape[2]}")
        return (shape[0], (shape[1] - kh) // sh + 1, (shape[2] - kw) // sw + 1)

    def windows(self, x):
        """``(N, C, OH, OW, KH, KW)`` view of the pooling windows."""
        (sh, sw) = self.stride
        _, oh, ow = self.out_shape(x.shape[1:])
        win = np.lib.stride_tricks.sliding_window_view(x, self.kernel, axis=(2, 3))
        return win[:, :, ::sh, ::sw][:, :, :oh, :ow]


@dataclasses.dataclass(frozen=True)
class MaxPool2d(_Pool):
    """Maximum over ``kernel`` windows (no padding); ``stride`` defaults to ``kernel``.

    A zero maximum is +0 (NumPy's ``max`` returns either zero of a window holding both,
    depending on its reduction order; the accelerator's ``MaxPool`` gives +0 too).

    >>> MaxPool2d(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    >>> float(MaxPool2d(2).forward(np.array([-0.0, -0.0, -1.0, -0.0]).reshape(1, 1, 2, 2))[0, 0, 0, 0])
    0.0
    """

    def forward(self, x):
        return self.windows(x).max(axis=(4, 5)) + 0.0       # -0 + 0 is +0


@dataclasses.dataclass(frozen=True)
class AvgPool2d(_Pool):
    """Mean over ``kernel`` windows (no padding); ``stride`` defaults to ``kernel``.

    >>> AvgPool2d(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """

    def forward(self, x):
        return self.windows(x).mean(axis=(4, 5))


@dataclasses.dataclass(frozen=True, eq=False)
class BatchNorm(Layer):
    """Inference batch normalisation over axis 1: ``(x - mean) / sqrt(var + eps) * gamma + beta``.

    :func:`numfmt.nn.fold_batchnorm` folds it into a preceding Dense/Conv2d.

    >>> bn = BatchNorm([2.0], [1.0], [3.0], [4.0], eps=0.0)
    >>> bn.forward(np.array([[5.0]])).tolist()
    [[3.0]]
    """

    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float = 1e-5

    def __post_init__(self):
        g = _param("gamma", self.gamma, ndim=1)
        object.__setattr__(self, "gamma", g)
        for name in ("beta", "mean", "var"):
            object.__setattr__(self, name, _param(name, getattr(self, name), shape=g.shape))
        if (self.var < 0).any():
            raise ValueError(f"var must be ≥ 0, not {float(self.var.min())!r}")
        if not (isinstance(self.eps, (int, float)) and self.eps >= 0) or not np.isfinite(self.eps):
            raise ValueError(f"eps must be a finite number ≥ 0, not {self.eps!r}")
        if ((self.var + self.eps) == 0).any():
            raise ValueError("var + eps must be > 0 for every channel")

    @property
    def factor(self):
        """Per-channel multiplier ``gamma / sqrt(var + eps)``."""
        return self.gamma / np.sqrt(self.var + self.eps)

    def out_shape(self, shape):
        if len(shape) < 1 or shape[0] != self.gamma.shape[0]:
            raise ValueError(f"BatchNorm with {self.gamma.shape[0]} channels needs an input with "
                             f"{self.gamma.shape[0]} channels on axis 1, not shape {tuple(shape)}")
        return tuple(shape)

    def forward(self, x):
        view = (1, -1) + (1,) * (x.ndim - 2)
        return (x - self.mean.reshape(view)) * self.factor.reshape(view) + self.beta.reshape(view)


@dataclasses.dataclass(frozen=True)
class Add(Layer):
    """Residual addition of two inputs of the same shape.

    >>> Add().forward(np.array([1.0]), np.array([2.0])).tolist()
    [3.0]
    """

    arity = 2

    def out_shape(self, a, b):
        if tuple(a) != tuple(b):
            raise ValueError(f"Add needs two inputs of the same shape, not {tuple(a)} and {tuple(b)}")
        return tuple(a)

    def forward(self, a, b):
        return a + b
