"""Dyadic requantization: integer-only rescaling of accumulators.

An integer accumulator ``acc`` holding ``acc * s_x * s_w`` is rescaled to the
output's scale ``s_y`` by the real factor ``s = s_x * s_w / s_y``. Hardware
multiplies by a dyadic number ``b * 2**-c`` instead (an integer multiply and a
rounding right shift): gemmlowp/TFLite's fixed-point multiplier (Jacob et al.,
CVPR 2018) and HAWQ-V3's dyadic scaling (Yao et al., ICML 2021).
:func:`dyadic_approx` chooses ``(b, c)``; :class:`Requantizer` is the exact
integer model of the requantizer. See ``docs/quantization.md``.

>>> import numfmt as nf
>>> b, c = dyadic_approx(0.1, 8)
>>> int(b), int(c), int(b) / 2**int(c)
(205, 11, 0.10009765625)
>>> r = Requantizer(b, c, nf.IntFormat(8), zero_point=3)
>>> r.requantize([100, 5, -5, 2000]).tolist()
[13, 4, 2, 127]
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from ..formats.fixed import _check_int
from ..formats.integer import IntFormat
from ..modes import Overflow, Rounding

__all__ = ["dyadic_approx", "Requantizer", "MAX_SHIFT", "MIN_SHIFT", "MAX_MULT_BITS"]

MAX_SHIFT = 63
"""Largest right shift ``c`` (a scale below ``2**(mult_bits-64)`` gets a denormalised ``b``)."""
MIN_SHIFT = -63
"""Smallest shift ``c`` (a left shift by up to 63 bits)."""
MAX_MULT_BITS = 32
"""Widest multiplier: with ``|acc| <= 2**31``, ``acc * b`` fits in int64."""
_INT64_MAX = (1 << 63) - 1


def _index_text(index):
    return f" at index {index}" if index else ""


def _scales(real_scale, name="real_scale"):
    arr = np.asarray(real_scale)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real array, not dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be positive and finite, not {float(arr[index])!r}{_index_text(index)}")
    return arr


def _approx_one(s: float, mult_bits: int):
    """Best ``(b, c)`` for one positive finite float ``s`` (exact, Python ints)."""
    _, e = math.frexp(s)                       # 2**(e-1) <= s < 2**e, exact
    c = min(mult_bits - e, MAX_SHIFT)          # normalised: 2**(mult_bits-1) <= s * 2**c < 2**mult_bits
    exact = Fraction(s) * (Fraction(2) ** c)
    b = round(exact)                           # nearest integer, ties to even (exact rational)
    if b == 1 << mult_bits:                    # rounded up out of range: same value, one bit less
        b, c = b >> 1, c - 1
    return b, c


def dyadic_approx(real_scale, mult_bits=32):
    """The dyadic number ``b * 2**-c`` nearest to each ``real_scale``.

    Parameters
    ----------
    real_scale : array_like of float
        Positive finite scales (any shape; per-channel scales are 1-d).
    mult_bits : int
        Width of the unsigned multiplier ``b``, 1..32.

    Returns
    -------
    (b, c) : int64 arrays of ``real_scale``'s shape
        ``0 < b < 2**mult_bits``, ``MIN_SHIFT <= c <= MAX_SHIFT``. ``b`` is
        normalised, ``2**(mult_bits-1) <= b < 2**mult_bits``, which uses the
        full multiplier and minimises ``|b * 2**-c - s|`` over all ``b`` of at
        most ``mult_bits`` bits and all ``c <= 63`` (ties go to even ``b``).
        The relative error is then at most ``2**-mult_bits``. Only when
        ``s < 2**(mult_bits - 64)`` is ``c`` capped at 63 and ``b`` smaller
        (still the nearest at ``c = 63``; the relative error can then be
        larger).

    Raises
    ------
    ValueError
        ``mult_bits`` out of range; a scale that is not positive and finite;
        a scale too small (``b`` would be 0: ``s < 2**-64``) or too large
        (``c < -63``). The message names the index and value.

    Notes
    -----
    Computed exactly from the float's bits: ``e`` from ``math.frexp`` (exact),
    ``c = mult_bits - e``, ``b = round(Fraction(s) * 2**c)`` (ties to even);
    if that gives ``2**mult_bits``, ``(b, c) = (2**(mult_bits-1), c - 1)``.
    No ``log2`` or other rounded float operation is involved.

    Examples
    --------
    >>> b, c = dyadic_approx([0.5, 0.3, 1000.0], 16)
    >>> b.tolist(), c.tolist()
    ([32768, 39322, 64000], [16, 17, 6])
    """
    mult_bits = _check_int("mult_bits", mult_bits, 1, MAX_MULT_BITS)
    arr = _scales(real_scale)
    b = np.empty(arr.shape, dtype=np.int64)
    c = np.empty(arr.shape, dtype=np.int64)
    for index in np.ndindex(arr.shape):
        s = float(arr[index])
        bi, ci = _approx_one(s, mult_bits)
        if bi == 0:
            raise ValueError(f"real_scale must be ≥ 2**-64 to have a dyadic approximation with "
                             f"shift ≤ {MAX_SHIFT}, not {s!r}{_index_text(index)}")
        if ci < MIN_SHIFT:
            raise ValueError(f"real_scale is too large for mult_bits={mult_bits}: {s!r}"
                             f"{_index_text(index)} needs a shift below {MIN_SHIFT}")
        b[index], c[index] = bi, ci
    return b, c


def _readonly(a):
    a = np.array(a, dtype=np.int64, copy=True)
    a.setflags(write=False)
    return a


def _round_shift(p, c, rounding: Rounding):
    """``p / 2**c`` rounded to an integer (int64 ``p``, ``0 <= c <= 63``, broadcast).

    Works on the magnitude so that nothing overflows: ``|p| = q * 2**c + rem``.
    """
    neg = p < 0
    mag = np.abs(p)                           # |p| <= 2**63 - 1: no overflow
    q = mag >> c
    rem = mag - (q << c)
    half = np.where(c > 0, np.int64(1) << np.maximum(c - 1, 0), 1)   # unused where c == 0 (rem = 0)
    nonzero, above, at = rem != 0, rem > half, (rem == half) & (c > 0)
    if rounding is Rounding.NEAREST_EVEN:
        up = above | (at & ((q & 1) == 1))
    elif rounding is Rounding.NEAREST_AWAY:
        up = above | at
    elif rounding is Rounding.NEAREST_UP:
        up = above | (at & ~neg)
    elif rounding is Rounding.NEAREST_DOWN:
        up = above | (at & neg)
    elif rounding is Rounding.NEAREST_ZERO:
        up = above
    elif rounding is Rounding.FLOOR:
        up = nonzero & neg
    elif rounding is Rounding.CEIL:
        up = nonzero & ~neg
    elif rounding is Rounding.TOWARD_ZERO:
        up = np.zeros_like(nonzero)
    else:  # AWAY
        up = nonzero
    r = q + up.astype(np.int64)
    return np.where(neg, -r, r)


@dataclasses.dataclass(frozen=True, eq=False)
class Requantizer:
    """Integer-only requantizer ``y = sat(round(acc * b / 2**c) + zero_point)``.

    Parameters
    ----------
    multiplier : int or array_like of int
        ``b`` (≥ 1); 1-d for per-channel values along ``axis``.
    shift : int or array_like of int
        ``c``, ``MIN_SHIFT..MAX_SHIFT``; a negative ``c`` is a left shift
        (exact, no rounding). Broadcast with ``multiplier``.
    out_format : IntFormat
        The output integers. Its overflow must be ``"sat"`` (clamp to
        ``[min, max]``) or ``"wrap"`` (keep the low ``bits`` bits).
    rounding : Rounding or str
        Rounding of the right shift, any deterministic mode. Default
        ``"rnp"`` (:attr:`Rounding.NEAREST_UP`, round half up): add
        ``2**(c-1)``, then shift right arithmetically, the common hardware
        choice. ``"rne"`` and ``"floor"`` (a bare arithmetic shift) are the
        other usual ones. (TFLite's ``MultiplyByQuantizedMultiplier`` is a
        different two-step rounding and is not modelled.)
    zero_point : int
        Output zero point, a value of ``out_format``.
    axis : int
        Axis of ``acc`` that per-channel parameters run along (default -1).

    Notes
    -----
    :meth:`requantize` computes, per element and exactly in int64,
    ``p = acc * (b << max(-c, 0))``, then ``r = round(p / 2**max(c, 0))``
    with ``rounding`` (on the exact rational, via the integer quotient and
    remainder of ``|p|``), then ``y = sat(r + zero_point)``. ``p`` fits in
    int64 if ``|acc| <= max_abs_acc = (2**63 - 1) // (b << max(-c, 0))``;
    this holds for every int32 ``acc`` when ``b < 2**32`` and ``c >= 0``
    (``dyadic_approx`` with ``mult_bits <= 32`` and a scale below
    ``2**mult_bits - 1/2``). Larger ``|acc|`` raise ``ValueError`` naming
    the index and value.

    Examples
    --------
    >>> import numfmt as nf
    >>> r = Requantizer([3, 5], [2, 1], nf.IntFormat(8), rounding="rne")
    >>> r.requantize([[2, 1], [-2, -1]]).tolist()     # 6/4 -> 2, 5/2 -> 2, ...
    [[2, 2], [-2, -2]]
    >>> r.error([0.75, 2.4]).tolist()
    [0.0, 0.041666666666666706]
    """

    multiplier: np.ndarray
    shift: np.ndarray
    out_format: IntFormat
    rounding: Rounding = dataclasses.field(default=Rounding.NEAREST_UP, kw_only=True)
    zero_point: int = dataclasses.field(default=0, kw_only=True)
    axis: int = dataclasses.field(default=-1, kw_only=True)

    def __post_init__(self):
        b = np.asarray(self.multiplier)
        c = np.asarray(self.shift)
        for name, a in (("multiplier", b), ("shift", c)):
            if a.dtype.kind not in "iu":
                raise TypeError(f"{name} must be an integer or integer array, not dtype {a.dtype}")
            if a.ndim > 1:
                raise ValueError(f"{name} must be 0-d or 1-d (per channel), not shape {a.shape}")
        if (b < 1).any() or (b > _INT64_MAX).any():
            bad = b[(b < 1) | (b > _INT64_MAX)].ravel()[0]
            raise ValueError(f"multiplier must be an integer in 1..2**63-1, not {int(bad)}")
        if ((c < MIN_SHIFT) | (c > MAX_SHIFT)).any():
            bad = c[(c < MIN_SHIFT) | (c > MAX_SHIFT)].ravel()[0]
            raise ValueError(f"shift must be an integer in {MIN_SHIFT}..{MAX_SHIFT}, not {int(bad)}")
        try:
            b, c = np.broadcast_arrays(b.astype(np.int64), c.astype(np.int64))
        except ValueError:
            raise ValueError(f"multiplier and shift must broadcast together, not shapes {b.shape} "
                             f"and {c.shape}") from None
        for bi, ci in zip(b.ravel().tolist(), c.ravel().tolist()):
            if ci < 0 and bi << -ci > _INT64_MAX:
                raise ValueError(f"multiplier << -shift must fit in int64, not {bi} << {-ci}")
        if not isinstance(self.out_format, IntFormat):
            raise TypeError(f"out_format must be a numfmt.IntFormat, not {self.out_format!r}")
        if self.out_format.overflow not in (Overflow.SATURATE, Overflow.WRAP):
            raise ValueError(f"out_format's overflow must be 'sat' or 'wrap', not "
                             f"{self.out_format.overflow.value!r}")
        rounding = Rounding.parse(self.rounding, field="rounding")
        if rounding is Rounding.STOCHASTIC:
            raise ValueError("rounding must be a deterministic mode, not 'stochastic'")
        zp = self.zero_point
        if isinstance(zp, bool) or not isinstance(zp, (int, np.integer)) or not (
                self.out_format.min <= zp <= self.out_format.max):
            raise ValueError(f"zero_point must be an integer in {self.out_format.min}.."
                             f"{self.out_format.max} ({self.out_format}), not {zp!r}")
        if isinstance(self.axis, bool) or not isinstance(self.axis, (int, np.integer)):
            raise ValueError(f"axis must be an integer, not {self.axis!r}")
        object.__setattr__(self, "multiplier", _readonly(b))
        object.__setattr__(self, "shift", _readonly(c))
        object.__setattr__(self, "rounding", rounding)
        object.__setattr__(self, "zero_point", int(zp))
        object.__setattr__(self, "axis", int(self.axis))

    def __eq__(self, other):
        if not isinstance(other, Requantizer):
            return NotImplemented
        return (np.array_equal(self.multiplier, other.multiplier)
                and np.array_equal(self.shift, other.shift)
                and self.multiplier.shape == other.multiplier.shape
                and self.out_format == other.out_format and self.rounding is other.rounding
                and self.zero_point == other.zero_point and self.axis == other.axis)

    __hash__ = None

    @classmethod
    def from_scale(cls, real_scale, out_format, *, mult_bits=32, rounding=Rounding.NEAREST_UP,
                   zero_point=0, axis=-1):
        """The requantizer for ``real_scale`` (``(b, c) = dyadic_approx(real_scale, mult_bits)``).

        >>> import numfmt as nf
        >>> r = Requantizer.from_scale(0.0123, nf.IntFormat(8), mult_bits=16)
        >>> int(r.multiplier), int(r.shift), r.requantize([1000, -1000, 40]).tolist()
        (51590, 22, [12, -12, 0])
        """
        b, c = dyadic_approx(real_scale, mult_bits)
        return cls(b, c, out_format, rounding=rounding, zero_point=zero_point, axis=axis)

    # -- introspection ---------------------------------------------------------
    @property
    def scale(self) -> np.ndarray:
        """``b * 2**-c`` as float64 (correctly rounded; exact for ``b < 2**53`` without underflow)."""
        out = [float(Fraction(bi) / Fraction(2) ** ci)
               for bi, ci in zip(self.multiplier.ravel().tolist(), self.shift.ravel().tolist())]
        return np.array(out, dtype=np.float64).reshape(self.multiplier.shape)

    @property
    def max_abs_acc(self) -> np.ndarray:
        """Largest ``|acc|`` accepted, per channel: ``(2**63 - 1) // (b << max(-c, 0))``."""
        out = [_INT64_MAX // (bi << max(-ci, 0))
               for bi, ci in zip(self.multiplier.ravel().tolist(), self.shift.ravel().tolist())]
        return np.array(out, dtype=np.int64).reshape(self.multiplier.shape)

    def error(self, real_scale) -> np.ndarray:
        """Relative error ``|b * 2**-c - s| / s`` for the scales ``s`` (exact, then rounded to float64)."""
        s = _scales(real_scale)
        b, c, s = np.broadcast_arrays(self.multiplier, self.shift, s)
        out = [float(abs(Fraction(bi) / Fraction(2) ** ci - Fraction(si)) / Fraction(si))
               for bi, ci, si in zip(b.ravel().tolist(), c.ravel().tolist(), s.ravel().tolist())]
        return np.array(out, dtype=np.float64).reshape(s.shape)

    # -- the model ---------------------------------------------------------------
    def _expand(self, param, ndim):
        if param.ndim == 0:
            return param
        if ndim == 0:
            raise ValueError("acc must have an axis for per-channel parameters, not be 0-d")
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"axis must be in {-ndim}..{ndim - 1} for a {ndim}-d acc, not {self.axis}")
        view = [1] * ndim
        view[self.axis] = param.shape[0]
        return param.reshape(view)

    def requantize(self, acc) -> np.ndarray:
        """Integer outputs ``sat(round(acc * b / 2**c) + zero_point)`` as int64 (see the class Notes).

        ``acc`` is an integer array (any integer dtype); per-channel
        parameters run along ``axis`` and must match its length.
        """
        arr = np.asarray(acc)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"acc must be an integer array, not dtype {arr.dtype}")
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > _INT64_MAX:
            raise ValueError(f"acc must fit in int64, not {int(arr.max())}")
        arr = arr.astype(np.int64)
        b = self._expand(self.multiplier, arr.ndim)
        c = self._expand(self.shift, arr.ndim)
        if self.multiplier.ndim and arr.shape[self.axis] != self.multiplier.shape[0]:
            raise ValueError(f"acc.shape[{self.axis}] must be {self.multiplier.shape[0]} (the number of "
                             f"channels), not {arr.shape[self.axis]}")
        big = b << np.maximum(-c, 0)
        right = np.maximum(c, 0)
        bound = _INT64_MAX // big
        # |acc| without overflow: -2**63 is out of bound for every b >= 1
        over = (arr < -bound) | (arr > bound)
        if over.any():
            index = tuple(int(i) for i in np.argwhere(over)[0])
            bnd = int(np.broadcast_to(bound, arr.shape)[index])
            raise ValueError(f"|acc| must be ≤ {bnd} so that acc * multiplier fits in int64, not "
                             f"{int(arr[index])}{_index_text(index)}")
        p = arr * big
        r = _round_shift(p, right, self.rounding) + self.zero_point
        fmt = self.out_format
        if fmt.overflow is Overflow.SATURATE:
            return np.clip(r, fmt.min, fmt.max).astype(np.int64)
        low = r & ((1 << fmt.bits) - 1)
        return (low - ((low >> (fmt.bits - 1)) << fmt.bits) if fmt.signed else low).astype(np.int64)
