"""A slow, independent reference for numfmt.arith, written from docs/arithmetic.md.

Sums are formed with :class:`fractions.Fraction` (exact); rounding to a float
format is :func:`round_to_format`, written here from the format's definition
(unit in the last place ``2**(max(e, min_exp) - man)``, then overflow and
signed zeros) — not from numfmt's kernels. Values are Python floats (every
value of a format and every product of the tested operands is one).
"""

from __future__ import annotations

import math
from fractions import Fraction

from numfmt.arith import ExactAccumulator, FixedAccumulator, FloatAccumulator, Order
from numfmt.formats import FloatFormat
from numfmt.modes import Overflow, Rounding, Specials

__all__ = ["round_to_format", "ref_sum", "ref_dot", "same"]


def _floor_log2(a: Fraction) -> int:
    """``e`` with ``2**e <= a < 2**(e+1)`` for ``a > 0``, in integers."""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    return e


def round_to_format(fmt: FloatFormat, q: Fraction, rounding, neg_zero: bool = False) -> float:
    """The float value of the real ``q`` rounded to ``fmt`` (a signed format with zero).

    ``neg_zero`` gives the sign of an exact zero.
    """
    rounding = Rounding.parse(rounding)
    if q == 0:
        return -0.0 if neg_zero and fmt.specials is not Specials.FNUZ else 0.0
    neg = q < 0
    a = abs(q)
    emin = fmt.min_exp
    e = _floor_log2(a)
    zero = -0.0 if neg and fmt.specials is not Specials.FNUZ else 0.0
    if not fmt.subnormals and e < emin:
        return zero
    ulp = Fraction(2) ** (max(e, emin) - fmt.man)
    r = a / ulp
    lo = r.numerator // r.denominator
    rem = r - lo
    if rem == 0:
        up = False
    elif rounding in (Rounding.FLOOR, Rounding.CEIL, Rounding.TOWARD_ZERO, Rounding.AWAY):
        up = {Rounding.FLOOR: neg, Rounding.CEIL: not neg, Rounding.TOWARD_ZERO: False,
              Rounding.AWAY: True}[rounding]
    elif rem != Fraction(1, 2):
        up = rem > Fraction(1, 2)
    else:
        up = {Rounding.NEAREST_EVEN: lo % 2 == 1, Rounding.NEAREST_AWAY: True,
              Rounding.NEAREST_UP: not neg, Rounding.NEAREST_DOWN: neg,
              Rounding.NEAREST_ZERO: False}[rounding]
    mag = (lo + up) * ulp
    if mag == 0:
        return zero
    if mag > Fraction(fmt.max):
        toward_zero = (rounding is Rounding.TOWARD_ZERO or (rounding is Rounding.FLOOR and not neg)
                       or (rounding is Rounding.CEIL and neg))
        if fmt.overflow is Overflow.SATURATE or toward_zero:
            mag = Fraction(fmt.max)
        elif fmt.specials is Specials.IEEE:
            return -math.inf if neg else math.inf
        else:
            return math.nan
    v = float(mag)
    assert Fraction(v) == mag
    return -v if neg else v


def _add(fmt, rounding, x: float, y: float) -> float:
    """``R(x + y)`` with IEEE signed zeros and inf/NaN arithmetic."""
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
        s = x + y     # inf/NaN propagation
        return _round_special(fmt, s)
    q = Fraction(x) + Fraction(y)
    if q == 0:
        nx, ny = math.copysign(1, x) < 0, math.copysign(1, y) < 0
        neg_zero = (nx and ny) or (Rounding.parse(rounding) is Rounding.FLOOR and (nx or ny))
        return round_to_format(fmt, q, rounding, neg_zero)
    return round_to_format(fmt, q, rounding)


def _round_special(fmt, s):
    if math.isnan(s):
        return math.nan
    if fmt.specials is Specials.IEEE:
        return s
    if fmt.overflow is Overflow.SATURATE:
        return math.copysign(fmt.max, s)
    return math.nan


def ref_sum(products, acc, init=0.0):
    """The accumulator's result for the given exact products (floats), from ``init``.

    Returns a Fraction for ExactAccumulator and FixedAccumulator (the exact
    register value), a float for FloatAccumulator.
    """
    if isinstance(acc, ExactAccumulator):
        return Fraction(init) + sum((Fraction(p) for p in products), Fraction(0))
    if isinstance(acc, FixedAccumulator):
        unit = Fraction(2) ** -acc.frac_bits
        r = Fraction(init) / unit
        assert r.denominator == 1 and acc.min_int <= r <= acc.max_int
        r = int(r)
        for i, p in enumerate(products):
            k = Fraction(p) / unit
            if k.denominator != 1:
                raise ValueError(f"product {i} is not a multiple")
            r += int(k)
            if acc.overflow is Overflow.SATURATE:
                r = min(max(r, acc.min_int), acc.max_int)
            else:
                r = (r - acc.min_int) % (1 << acc.width) + acc.min_int
        return r * unit
    fmt, rnd = acc.fmt, acc.rounding
    if acc.order is Order.SEQUENTIAL:
        s = float(init)
        for p in products:
            s = _add(fmt, rnd, s, p)
        return s
    if acc.order is Order.PAIRWISE:
        level = list(products)
        while len(level) > 1:
            nxt = [_add(fmt, rnd, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        return _add(fmt, rnd, float(init), level[0] if level else 0.0)
    s = float(init)
    for c in range(0, len(products), acc.chunk):
        part = 0.0
        for p in products[c:c + acc.chunk]:
            part = _add(fmt, rnd, part, p)
        s = _add(fmt, rnd, s, part)
    return s


def ref_dot(a, b, acc, init=0.0, out_format=None, out_rounding=None):
    """Reference :func:`numfmt.arith.dot` (products must be exact float64)."""
    products = []
    for x, y in zip(a, b):
        p = float(x) * float(y)
        assert Fraction(p) == Fraction(float(x)) * Fraction(float(y)), "product not exact"
        products.append(p)
    r = ref_sum(products, acc, init)
    if out_format is None:
        v = float(r)
        assert isinstance(r, float) or Fraction(v) == r, "result not a float64"
        return v
    if isinstance(out_format, FloatFormat):
        if isinstance(r, float):
            if math.isnan(r) or math.isinf(r):
                return float(out_format.quantize(r, out_rounding))
            return round_to_format(out_format, Fraction(r), out_rounding or "rne", math.copysign(1, r) < 0)
        return round_to_format(out_format, r, out_rounding or "rne")
    v = float(r)
    assert Fraction(v) == r
    return float(out_format.quantize(v, out_rounding))


def same(x: float, y: float) -> bool:
    """Bit-identical floats (NaN equals NaN, signed zeros differ)."""
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y and math.copysign(1, x) == math.copysign(1, y)
