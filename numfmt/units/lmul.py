"""L-Mul: floating-point multiplication by additions (Luo & Sun 2024).

H. Luo, W. Sun, "Addition is All You Need for Energy-Efficient Language Models",
arXiv:2410.00907 (2024), §3.1, Eq. (3)–(4): for ``x = (1 + x_m)·2**x_e`` and
``y = (1 + y_m)·2**y_e``

    Mul(x, y)   = (1 + x_m + y_m + x_m·y_m) · 2**(x_e + y_e)
    L-Mul(x, y) = (1 + x_m + y_m + 2**-l(m)) · 2**(x_e + y_e),
    l(m) = m if m ≤ 3;  3 if m = 4;  4 if m > 4,

with ``m`` the mantissa width and the sign the XOR of the operands' signs. The term
``x_m·y_m`` is replaced by the constant ``2**-l(m)``.

The mantissa sum ``1 + x_m + y_m + 2**-l`` may reach 2 or more. ``mode="formula"`` (the
default) returns the real value of Eq. (3). ``mode="adder"`` models the paper's
implementation (its Fig. 2: one integer adder on the exponent|mantissa fields, the
mantissa carry spilling into the exponent): with ``S = f_x + f_y + 2**(m-l)`` (``f`` the
``m``-bit fraction fields) and ``c = S >> m``, the result is
``(1 + (S − c·2**m)/2**m) · 2**(x_e + y_e + c)``. The two agree when ``S < 2**m``.

numfmt's definition, for operands that are values of one :class:`~numfmt.FloatFormat`:

* Normal operands: ``x_m = f/2**m``, ``x_e = e_field − bias`` from the code.
* Subnormal operands (``subnormals="normalize"``, the default): normalised exactly,
  ``x = (1 + x_m)·2**x_e`` with ``x_m`` an ``m``-bit fraction (the value is unchanged),
  then the same formula. ``subnormals="flush"``: a subnormal operand is ±0 (its sign kept).
* Zero: ``0 × finite = ±0`` (sign XOR). NaN operand, or ``0 × inf``: NaN.
  ``inf × nonzero``: ±inf.
* ``offset_exp`` overrides ``l(m)`` (the paper defines it for ``m ≥ 1``; for ``m = 0``
  the formula gives ``l = 0``, i.e. an offset of 1).
* The exact L-Mul value (at most ``m + 3`` significant bits) is returned as a float64, or
  rounded once to ``out_format`` with ``out_rounding`` (``out_format.quantize``, its
  overflow, underflow and specials rules included).

>>> import numfmt as nf
>>> from numfmt.units import lmul
>>> e4m3 = nf.FLOATS["e4m3fn"]
>>> lmul([1.5, 3.0, -0.0], [1.5, 1.25, 2.0], e4m3).tolist()   # (1 + .5 + .5 + 2**-3), (1 + .5 + .25 + 2**-3)·2
[2.125, 3.75, -0.0]
"""

from __future__ import annotations

import numpy as np

from ..arith import ExactAccumulator, FloatAccumulator, FixedAccumulator, dot
from ..formats import FloatFormat
from .._checks import check_int
from ._common import UnitResult, check_choice, index_str

__all__ = ["lmul", "lmul_dot", "lmul_offset_exp"]

_SUBNORMALS = ("normalize", "flush")
_MODES = ("formula", "adder")


def lmul_offset_exp(man: int) -> int:
    """``l(m)`` of Luo & Sun 2024, Eq. (4): ``m`` if ``m ≤ 3``, 3 if ``m = 4``, 4 if ``m > 4``.

    >>> [lmul_offset_exp(m) for m in range(7)]
    [0, 1, 2, 3, 3, 4, 4]
    """
    man = check_int("man", man, 0)
    return man if man <= 3 else (3 if man == 4 else 4)


def _fields(x, fmt: FloatFormat, name, flush):
    """``(sign, frac, exp, zero, nan, inf)`` of values ``x`` of ``fmt`` (frac: m-bit integer)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, not dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    q = fmt.quantize(arr, "rne")
    bad = np.flatnonzero(~((q == arr) | (np.isnan(q) & np.isnan(arr))).reshape(-1))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), arr.shape)
        raise ValueError(f"{name}{index_str(idx)} = {float(arr[idx])!r} is not a value of fmt {fmt}")
    m = fmt.man
    codes = fmt.encode(arr, "rne").astype(np.int64)
    sign = np.signbit(arr)
    efield = (codes >> m) & ((1 << fmt.exp) - 1)
    frac = codes & ((1 << m) - 1)
    nan, inf = np.isnan(arr), np.isinf(arr)
    zero = arr == 0
    sub = (efield == 0) & fmt.has_zero & ~zero & ~nan
    e = efield - fmt.bias
    if flush:
        zero = zero | sub
    elif sub.any():
        # f·2**(1-bias-m) with top bit h: (1 + (f - 2**h)/2**h)·2**(h+1-bias-m)
        h = np.frexp(np.where(sub, frac, 1).astype(np.float64))[1].astype(np.int64) - 1
        frac = np.where(sub, (frac - (1 << h)) << (m - h), frac)
        e = np.where(sub, h + 1 - fmt.bias - m, e)
    return sign, frac, e, zero, nan, inf


def _check_fmt(fmt):
    if not isinstance(fmt, FloatFormat):
        raise ValueError(f"fmt must be a FloatFormat, not {fmt!r}")
    if 2 * fmt.max_exp + 2 > 1023 or 2 * (fmt.min_exp - fmt.man) - fmt.man < -1074:
        raise ValueError(f"L-Mul results of {fmt} leave float64's range")
    return fmt


def lmul(x, y, fmt, out_format=None, *, out_rounding=None, subnormals="normalize", offset_exp=None,
         mode="formula"):
    """Elementwise L-Mul of ``x`` and ``y``, values of ``fmt`` (broadcast together).

    Parameters
    ----------
    x, y : array_like
        Values of ``fmt`` (float64; NaN and ±inf where ``fmt`` has them).
    fmt : FloatFormat
        The operands' format (gives ``m``, the bias and the subnormal binade).
    out_format : Format, optional
        Round the L-Mul value once to this format; without it the exact value is returned.
    out_rounding : Rounding or str, optional
        Rounding for ``out_format`` (default: its own).
    subnormals : {"normalize", "flush"}
        Subnormal operands normalised exactly (default), or read as ±0.
    offset_exp : int, optional
        ``l`` in the offset ``2**-l``; default :func:`lmul_offset_exp` ``(fmt.man)``.
    mode : {"formula", "adder"}
        The real value of Eq. (3), or the integer-adder datapath (mantissa carry into the
        exponent); see the module docstring.

    Returns
    -------
    numpy.ndarray
        float64: the exact L-Mul values, or their rounding to ``out_format``.

    Examples
    --------
    >>> import numfmt as nf
    >>> e5m2 = nf.FLOATS["e5m2"]
    >>> lmul([1.75, 1.75], [1.75, float("inf")], e5m2).tolist()   # 1 + .75 + .75 + 2**-2
    [2.75, inf]
    >>> lmul([1.75], [1.75], e5m2, out_format=e5m2).tolist()      # 2.75: a tie, to even
    [3.0]
    >>> lmul([1.75], [1.75], e5m2, mode="adder").tolist()   # S = 3 + 3 + 1 = 7: carry 1, (1 + 3/4)·2
    [3.5]
    """
    fmt = _check_fmt(fmt)
    check_choice("subnormals", subnormals, _SUBNORMALS)
    check_choice("mode", mode, _MODES)
    m = fmt.man
    l = lmul_offset_exp(m) if offset_exp is None else check_int("offset_exp", offset_exp, 0, m)
    sx, fx, ex, zx, nx, ix = _fields(x, fmt, "x", subnormals == "flush")
    sy, fy, ey, zy, ny, iy = _fields(y, fmt, "y", subnormals == "flush")
    S = fx + fy + (1 << (m - l))
    if mode == "formula":
        v = np.ldexp(((1 << m) + S).astype(np.float64), ex + ey - m)
    else:
        c = S >> m
        v = np.ldexp(((1 << m) + S - (c << m)).astype(np.float64), ex + ey + c - m)
    v = np.where(ix | iy, np.inf, v)
    v = np.where(zx | zy, 0.0, v)
    v = np.where(nx | ny | ((zx | zy) & (ix | iy)), np.nan, v)
    v = np.where(sx ^ sy, -v, v)
    if out_format is None:
        return v
    return out_format.quantize(v, out_rounding)


def lmul_dot(x, y, fmt, acc=None, *, product_format=None, product_rounding=None, out_format=None,
             out_rounding=None, subnormals="normalize", offset_exp=None, mode="formula") -> UnitResult:
    """Dot product of L-Mul products: ``Σ_k lmul(x[k], y[k])`` through an accumulator.

    Each product is the exact L-Mul value, rounded to ``product_format`` when given; the
    products are summed by ``acc`` (default :class:`~numfmt.ExactAccumulator`) in order
    ``k = 0..n-1`` exactly as :func:`numfmt.dot` defines it (``dot(p, ones, acc)``).

    Returns
    -------
    UnitResult
        ``values`` (0-d float64), ``cycles = n`` (one L-Mul and one accumulation per
        cycle) and ``ops``: ``exponent_adds = mantissa_adds = sign_xors = accumulations = n``
        (the mantissa add is the three-input ``x_m + y_m + 2**-l``).

    Examples
    --------
    >>> import numfmt as nf
    >>> e4m3 = nf.FLOATS["e4m3fn"]
    >>> r = lmul_dot([1.5, 2.0], [1.5, -1.0], e4m3, nf.FloatAccumulator(nf.FLOATS["bf16"]))
    >>> float(r.values), r.cycles   # 2.125 + (-2.25)
    (-0.125, 2)
    """
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.ndim != 1 or ya.shape != xa.shape:
        raise ValueError(f"x and y must be 1-D of the same length, not shapes {xa.shape} and {ya.shape}")
    acc = ExactAccumulator() if acc is None else acc
    if not isinstance(acc, (ExactAccumulator, FixedAccumulator, FloatAccumulator)):
        raise ValueError(f"acc must be an ExactAccumulator, FixedAccumulator or FloatAccumulator, not {acc!r}")
    p = lmul(xa, ya, fmt, product_format, out_rounding=product_rounding, subnormals=subnormals,
             offset_exp=offset_exp, mode=mode)
    bad = np.flatnonzero(~np.isfinite(p))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"the L-Mul product of x[{k}] = {float(xa[k])!r} and y[{k}] = {float(ya[k])!r} "
                         f"is {float(p[k])!r}; the accumulators take finite products only")
    value = dot(p, np.ones_like(p), acc, out_format=out_format, out_rounding=out_rounding)
    n = xa.shape[0]
    ops = {"exponent_adds": n, "mantissa_adds": n, "sign_xors": n, "accumulations": n}
    return UnitResult(np.asarray(value, dtype=np.float64).reshape(()), n, ops)
