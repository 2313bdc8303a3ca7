"""Affine (scale, zero-point) quantization with min–max calibration.

The integer value ``q`` stands for the real number ``scale * (q - zero_point)``
(Jacob et al., CVPR 2018). ``scale`` is a float64 and ``zero_point`` an integer
of the target :class:`~numfmt.IntFormat`, per tensor, per channel or per group
of consecutive elements. See ``docs/quantization.md`` for the exact formulas.

>>> import numfmt as nf
>>> q = AffineQuantizer.calibrate([-1.0, 0.0, 2.0], nf.IntFormat(8, signed=False))
>>> float(q.scale), int(q.zero_point)
(0.011764705882352941, 85)
>>> q.quantize([-1.0, 0.0, 0.5, 2.0]).tolist()
[0, 85, 127, 255]
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from ..formats.fixed import FixedFormat, _check_bool, _check_int
from ..formats.integer import IntFormat

__all__ = ["AffineQuantizer", "scale_zero_point"]

_GRANULARITIES = ("tensor", "channel", "group")
_RAGGED = ("error", "allow")


# -- argument checks ----------------------------------------------------------
def _check_fmt(fmt):
    if not isinstance(fmt, IntFormat):
        raise TypeError(f"fmt must be a numfmt.IntFormat, not {fmt!r}")
    return fmt


def _check_choice(name, value, choices):
    if value not in choices:
        accepted = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {accepted}, not {value!r}")
    return value


def _finite_float64(x, name):
    """``x`` as a float64 array; ValueError naming the first non-finite element."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf" and arr.dtype.kind != "V":
        raise TypeError(f"{name} must be a real array, not dtype {arr.dtype}")
    arr = arr.astype(np.float64)   # exact from every narrower float and from int ≤ 53 bits
    bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite, not {float(arr[index])!r} at index {index}")
    return arr


def _normalise_axis(axis, ndim, name="axis"):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{name} must be an integer in {-ndim}..{ndim - 1} for a {ndim}-d input, "
                         f"not {axis!r}")
    return int(axis) % ndim


# -- scale and zero point -------------------------------------------------------
def scale_zero_point(min, max, fmt, symmetric=False, *, power_of_two=False):  # noqa: A002
    """Min–max scale and zero point for the real range ``[min, max]``.

    Parameters
    ----------
    min, max : array_like of float
        Finite bounds (broadcast together), ``min <= max``.
    fmt : IntFormat
        Target format, with ``qmin = fmt.min`` and ``qmax = fmt.max``.
    symmetric : bool
        Symmetric: ``scale = fl(m / qmax)`` with ``m = max(|min|, |max|)``
        and ``zero_point = 0`` (needs ``qmax >= 1``). Asymmetric: the range is
        widened to ``lo = min(min, 0)``, ``hi = max(max, 0)``,
        ``scale = fl(fl(hi - lo) / (qmax - qmin))`` and
        ``zero_point = clamp(qmin + RNE(-lo / scale), qmin, qmax)`` with the
        quotient ``-lo / scale`` taken exactly (rational arithmetic) and
        rounded half to even. ``fl`` is float64 rounding to nearest even.
        A zero range (all zeros) gives ``scale = 1``.
    power_of_two : bool
        Round the scale up to the nearest power of two (exact, from the
        float's exponent) before computing the zero point, so that ``x /
        scale`` in :meth:`AffineQuantizer.quantize` is exact.

    Returns
    -------
    (scale, zero_point) : float64 array, int64 array

    Examples
    --------
    >>> import numfmt as nf
    >>> s, z = scale_zero_point(-1.0, 3.0, nf.IntFormat(8, signed=False))
    >>> float(s), int(z)
    (0.01568627450980392, 64)
    >>> s, z = scale_zero_point(-1.0, 3.0, nf.IntFormat(8), symmetric=True, power_of_two=True)
    >>> float(s), int(z)
    (0.03125, 0)
    """
    fmt = _check_fmt(fmt)
    symmetric = _check_bool("symmetric", symmetric)
    power_of_two = _check_bool("power_of_two", power_of_two)
    lo_in = _finite_float64(min, "min")
    hi_in = _finite_float64(max, "max")
    lo_in, hi_in = np.broadcast_arrays(lo_in, hi_in)
    wrong = lo_in > hi_in
    if wrong.any():
        index = tuple(int(i) for i in np.argwhere(wrong)[0])
        raise ValueError(f"min must be ≤ max, not min={float(lo_in[index])!r} > max={float(hi_in[index])!r}"
                         + (f" at index {index}" if index else ""))
    qmin, qmax = fmt.min, fmt.max
    with np.errstate(over="ignore"):
        if symmetric:
            if qmax < 1:
                raise ValueError(f"symmetric quantization needs fmt.max ≥ 1, not {qmax} ({fmt})")
            span = np.maximum(np.abs(lo_in), np.abs(hi_in))
            scale = span / np.float64(qmax)
        else:
            lo = np.minimum(lo_in, 0.0)
            hi = np.maximum(hi_in, 0.0)
            span = hi - lo
            scale = span / np.float64(qmax - qmin)
    scale = np.where(span == 0.0, 1.0, scale)
    bad = ~np.isfinite(scale) | (scale == 0.0)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"the range [{float(lo_in[index])!r}, {float(hi_in[index])!r}]"
                         + (f" at index {index}" if index else "")
                         + f" gives scale {float(scale[index])!r}; it must be a positive finite float64")
    if power_of_two:
        mant, exp = np.frexp(scale)         # exact: scale = mant * 2**exp, 0.5 <= mant < 1
        scale = np.ldexp(1.0, np.where(mant == 0.5, exp - 1, exp))
        if not np.isfinite(scale).all():
            raise ValueError("power_of_two: the scale rounded up to a power of two overflows float64")
    if symmetric:
        zero_point = np.zeros(scale.shape, dtype=np.int64)
    else:
        flat_lo, flat_s = np.minimum(lo_in, 0.0).ravel(), scale.ravel()
        zp = [qmin + round(-Fraction(float(v)) / Fraction(float(s))) for v, s in zip(flat_lo, flat_s)]
        zero_point = np.clip(np.array(zp, dtype=np.int64).reshape(scale.shape), qmin, qmax)
    return scale.astype(np.float64), zero_point


# -- the quantizer ------------------------------------------------------------------
def _readonly(a):
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True, eq=False)
class AffineQuantizer:
    """Calibrated affine quantizer: ``q = clamp(round(x / scale) + zero_point)``.

    Build it with :meth:`calibrate`; the constructor only checks consistency.

    Parameters
    ----------
    fmt : IntFormat
        The integer format of ``q``; its ``rounding`` rounds ``x / scale``.
    symmetric : bool
        Whether the parameters came from symmetric calibration (zero point 0).
    granularity : {"tensor", "channel", "group"}
        ``tensor``: ``scale`` and ``zero_point`` are 0-d. ``channel``: 1-d,
        one entry per index of ``axis``. ``group``: the input's shape with
        ``axis`` replaced by the number of groups, ``ceil(n / group_size)``;
        group ``g`` holds elements ``g*group_size .. (g+1)*group_size - 1``
        along ``axis``.
    axis : int or None
        Non-negative channel/group axis (None for ``tensor``).
    group_size : int or None
        Elements per group (``group`` only).
    scale : numpy.ndarray of float64
        Positive, finite scales.
    zero_point : numpy.ndarray of int64
        Zero points, values of ``fmt``.
    ragged : {"error", "allow"}
        ``group`` only: whether the last group may be shorter than
        ``group_size`` (then it is the remaining elements).

    Examples
    --------
    >>> import numfmt as nf
    >>> w = np.array([[0.5, -1.0, 0.25, 0.0], [2.0, 4.0, -4.0, 1.0]])
    >>> q = AffineQuantizer.calibrate(w, nf.IntFormat(4), symmetric=True, granularity="channel", axis=0)
    >>> q.scale.tolist(), q.quantize(w).tolist()
    ([0.14285714285714285, 0.5714285714285714], [[4, -7, 2, 0], [4, 7, -7, 2]])
    >>> q.dequantize(q.quantize(w))[1].tolist()
    [2.2857142857142856, 4.0, -4.0, 1.1428571428571428]
    """

    fmt: IntFormat
    symmetric: bool = dataclasses.field(kw_only=True)
    granularity: str = dataclasses.field(kw_only=True)
    axis: int | None = dataclasses.field(kw_only=True)
    group_size: int | None = dataclasses.field(kw_only=True)
    scale: np.ndarray = dataclasses.field(kw_only=True)
    zero_point: np.ndarray = dataclasses.field(kw_only=True)
    ragged: str = dataclasses.field(default="error", kw_only=True)

    def __post_init__(self):
        _check_fmt(self.fmt)
        _check_bool("symmetric", self.symmetric)
        _check_choice("granularity", self.granularity, _GRANULARITIES)
        _check_choice("ragged", self.ragged, _RAGGED)
        scale = np.asarray(self.scale, dtype=np.float64)
        zp = np.asarray(self.zero_point)
        if zp.dtype.kind not in "iu":
            raise TypeError(f"zero_point must be an integer array, not dtype {zp.dtype}")
        zp = zp.astype(np.int64)
        if scale.shape != zp.shape:
            raise ValueError(f"scale and zero_point must have the same shape, not {scale.shape} "
                             f"and {zp.shape}")
        bad = ~(np.isfinite(scale) & (scale > 0))
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"scale must be positive and finite, not {float(scale[index])!r}"
                             + (f" at index {index}" if index else ""))
        out = (zp < self.fmt.min) | (zp > self.fmt.max)
        if out.any():
            index = tuple(int(i) for i in np.argwhere(out)[0])
            raise ValueError(f"zero_point must be in {self.fmt.min}..{self.fmt.max} ({self.fmt}), "
                             f"not {int(zp[index])}" + (f" at index {index}" if index else ""))
        if self.symmetric and (zp != 0).any():
            raise ValueError("zero_point must be 0 when symmetric=True")
        if self.granularity == "tensor":
            if scale.ndim != 0:
                raise ValueError(f"granularity='tensor' needs 0-d scale, not shape {scale.shape}")
            if self.axis is not None or self.group_size is not None:
                raise ValueError("granularity='tensor' takes no axis or group_size")
        else:
            if isinstance(self.axis, bool) or not isinstance(self.axis, (int, np.integer)) or self.axis < 0:
                raise ValueError(f"axis must be a non-negative integer, not {self.axis!r}")
            object.__setattr__(self, "axis", int(self.axis))
            if self.granularity == "channel":
                if scale.ndim != 1:
                    raise ValueError(f"granularity='channel' needs 1-d scale, not shape {scale.shape}")
                if self.group_size is not None:
                    raise ValueError("granularity='channel' takes no group_size")
            else:
                object.__setattr__(self, "group_size", _check_int("group_size", self.group_size, 1, 2**62))
                if scale.ndim <= self.axis:
                    raise ValueError(f"granularity='group' needs scale with more than axis={self.axis} "
                                     f"dimensions, not shape {scale.shape}")
        object.__setattr__(self, "scale", _readonly(scale))
        object.__setattr__(self, "zero_point", _readonly(zp))

    def __eq__(self, other):
        if not isinstance(other, AffineQuantizer):
            return NotImplemented
        return (self.fmt == other.fmt and self.symmetric == other.symmetric
                and self.granularity == other.granularity and self.axis == other.axis
                and self.group_size == other.group_size and self.ragged == other.ragged
                and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))

    __hash__ = None

    # -- calibration -----------------------------------------------------------
    @classmethod
    def calibrate(cls, x, fmt, *, symmetric=False, granularity="tensor", axis=None,
                  group_size=None, ragged="error", method="minmax", power_of_two=False):
        """Min–max calibration on ``x`` (see :func:`scale_zero_point`).

        The minimum and maximum are taken over the whole tensor, over every
        index of ``axis`` (``channel``) or over each group of ``group_size``
        consecutive elements along ``axis`` (``group``; every other index is
        its own group). ``x`` must be finite: ``ValueError`` names the index
        of the first NaN or infinity. ``ragged="error"`` requires
        ``group_size`` to divide ``x.shape[axis]``; ``"allow"`` lets the last
        group be shorter.

        >>> import numfmt as nf
        >>> q = AffineQuantizer.calibrate([[1.0, -3.0, 2.0, 8.0]], nf.IntFormat(4), symmetric=True,
        ...                               granularity="group", axis=1, group_size=2)
        >>> q.scale.tolist()
        [[0.42857142857142855, 1.1428571428571428]]
        """
        fmt = _check_fmt(fmt)
        _check_choice("method", method, ("minmax",))
        _check_choice("granularity", granularity, _GRANULARITIES)
        _check_choice("ragged", ragged, _RAGGED)
        arr = _finite_float64(x, "x")
        if arr.size == 0:
            raise ValueError(f"x must not be empty, not shape {arr.shape}")
        if granularity == "tensor":
            if axis is not None or group_size is not None:
                raise ValueError("granularity='tensor' takes no axis or group_size")
            lo, hi = arr.min(), arr.max()
        else:
            if axis is None:
                raise ValueError(f"granularity={granularity!r} needs axis")
            axis = _normalise_axis(axis, arr.ndim)
            if granularity == "channel":
                if group_size is not None:
                    raise ValueError("granularity='channel' takes no group_size")
                moved = np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1)
                lo, hi = moved.min(axis=1), moved.max(axis=1)
            else:
                group_size = _check_int("group_size", group_size, 1, 2**62)
                n = arr.shape[axis]
                if n % group_size and ragged == "error":
                    raise ValueError(f"group_size={group_size} must divide x.shape[{axis}] = {n} "
                                     "(or pass ragged='allow')")
                starts = np.arange(0, n, group_size)
                lo = np.minimum.reduceat(arr, starts, axis=axis)
                hi = np.maximum.reduceat(arr, starts, axis=axis)
        scale, zp = scale_zero_point(lo, hi, fmt, symmetric, power_of_two=power_of_two)
        return cls(fmt, symmetric=symmetric, granularity=granularity,
                   axis=None if granularity == "tensor" else axis,
                   group_size=group_size if granularity == "group" else None,
                   scale=scale, zero_point=zp, ragged=ragged)

    # -- broadcasting ------------------------------------------------------------
    def _expand(self, param, shape):
        """``param`` broadcastable against an input of ``shape``."""
        if self.granularity == "tensor":
            return param
        ndim = len(shape)
        if self.axis >= ndim:
            raise ValueError(f"the quantizer's axis {self.axis} is out of range for an input of "
                             f"shape {shape}")
        n = shape[self.axis]
        if self.granularity == "channel":
            if n != param.shape[0]:
                raise ValueError(f"x.shape[{self.axis}] must be {param.shape[0]} (the number of "
                                 f"channels), not {n}")
            view = [1] * ndim
            view[self.axis] = n
            return param.reshape(view)
        groups = -(-n // self.group_size)
        expected = shape[:self.axis] + (groups,) + shape[self.axis + 1:]
        if param.shape != expected or (n % self.group_size and self.ragged == "error"):
            raise ValueError(f"x of shape {shape} does not match groups of {self.group_size} along "
                             f"axis {self.axis} with parameters of shape {param.shape}")
        return np.repeat(param, self.group_size, axis=self.axis).take(np.arange(n), axis=self.axis)

    # -- conversion ---------------------------------------------------------------
    def quantize(self, x, rounding=None, *, rng=None, sr_bits=32):
        """Integer values ``q = clamp(round(x / scale) + zero_point, fmt.min, fmt.max)``.

        ``x / scale`` is one float64 division (correctly rounded, the only
        floating-point operation; exact when ``scale`` is a power of two and
        no underflow occurs). Its result is rounded to an integer in the
        integer domain with ``rounding`` (default ``fmt.rounding``; any
        :class:`~numfmt.Rounding`, stochastic with ``rng`` as in
        :meth:`numfmt.Format.encode`); the zero point is added and the sum
        clamped, in int64. ``fmt``'s overflow mode is not used: out-of-range
        values always saturate.

        Returns
        -------
        numpy.ndarray of int64, the shape of ``x``. ``fmt.encode(q)`` gives
        the codes.
        """
        arr = _finite_float64(x, "x")
        scale = self._expand(self.scale, arr.shape)
        zp = self._expand(self.zero_point, arr.shape)
        with np.errstate(over="ignore", under="ignore"):
            t = arr / scale
        # round(t) saturated to ±2**(bits+1), a range holding qmin - zp .. qmax - zp
        width = self.fmt.bits + 3
        rounder = FixedFormat(width, width, signed=True, overflow="sat")
        r = rounder.decode_int(rounder.encode(t, self.fmt.rounding if rounding is None else rounding,
                                              rng=rng, sr_bits=sr_bits))
        return np.clip(r + zp, self.fmt.min, self.fmt.max).astype(np.int64)

    def dequantize(self, q):
        """``scale * (q - zero_point)`` in float64 (``q - zero_point`` exact, one rounded product).

        ``q`` must be integers (any integer dtype); values are not range-checked.
        """
        arr = np.asarray(q)
        if arr.dtype.kind not in "biu":
            raise TypeError(f"q must be an integer array, not dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        scale = self._expand(self.scale, arr.shape)
        zp = self._expand(self.zero_point, arr.shape)
        return scale * (arr - zp).astype(np.float64)

    def fake_quantize(self, x, rounding=None, *, rng=None, sr_bits=32):
        """``dequantize(quantize(x))``: ``x`` snapped to the quantization grid, as float64."""
        return self.dequantize(self.quantize(x, rounding, rng=rng, sr_bits=sr_bits))

