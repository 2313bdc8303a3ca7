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

__all__ = ["round_to_format", "ref_sum", "ref_dot", "same", "ref_product", "ieee_add", "ieee_sum", "exact_ieee_sum", "hold_inf",
           "same_bits"]


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


# -- non-finite mode (nonfinite="ieee"), NaN signs included ---------------------------------------
def ref_product(x: float, y: float) -> float:
    """``x·y`` exactly (a float64 by assumption), IEEE specials, every sign ``sign(x) XOR sign(y)``."""
    neg = (math.copysign(1, x) < 0) != (math.copysign(1, y) < 0)
    sign = -1.0 if neg else 1.0
    if math.isnan(x) or math.isnan(y) or (math.isinf(x) and y == 0) or (x == 0 and math.isinf(y)):
        return math.copysign(math.nan, sign)
    if math.isinf(x) or math.isinf(y):
        return sign * math.inf
    p = Fraction(x) * Fraction(y)
    v = float(p)
    assert Fraction(v) == p, "product not exact"
    return math.copysign(abs(v), sign)


def hold_inf(fmt: FloatFormat, neg: bool) -> float:
    """An infinite sum held in ``fmt``: inf, ±max (saturating) or a NaN of its sign."""
    if fmt.specials is Specials.IEEE:
        return -math.inf if neg else math.inf
    if fmt.overflow is Overflow.SATURATE:
        return -fmt.max if neg else fmt.max
    return math.copysign(math.nan, -1.0 if neg else 1.0)


def ieee_add(fmt: FloatFormat, rounding, x: float, y: float) -> float:
    """``R(x + y)`` by docs/arithmetic.md, *Non-finite values*: NaN from a NaN addend or
    ``inf + (−inf)`` is +NaN; an infinity is held as ``fmt`` holds it; a finite sum that
    overflows to NaN keeps its sign."""
    if math.isnan(x) or math.isnan(y) or (math.isinf(x) and math.isinf(y) and x != y):
        return math.nan
    if math.isinf(x) or math.isinf(y):
        return hold_inf(fmt, (x if math.isinf(x) else y) < 0)
    q = Fraction(x) + Fraction(y)
    if q == 0:
        nx, ny = math.copysign(1, x) < 0, math.copysign(1, y) < 0
        neg_zero = (nx and ny) or (Rounding.parse(rounding) is Rounding.FLOOR and (nx or ny))
        return round_to_format(fmt, q, rounding, neg_zero)
    v = round_to_format(fmt, q, rounding)
    return math.copysign(math.nan, q) if math.isnan(v) else v


def ieee_sum(products, acc: FloatAccumulator, init: float = 0.0) -> float:
    """:func:`ref_sum` of a FloatAccumulator with :func:`ieee_add` (any order)."""
    fmt, rnd = acc.fmt, acc.rounding
    add = lambda x, y: ieee_add(fmt, rnd, x, y)  # noqa: E731
    if acc.order is Order.SEQUENTIAL:
        s = float(init)
        for p in products:
            s = add(s, p)
        return s
    if acc.order is Order.PAIRWISE:
        level = list(products)
        while len(level) > 1:
            nxt = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        return add(float(init), level[0] if level else 0.0)
    s = float(init)
    for c in range(0, len(products), acc.chunk):
        part = 0.0
        for p in products[c:c + acc.chunk]:
            part = add(part, p)
        s = add(s, part)
    return s


def exact_ieee_sum(products, init: float = 0.0) -> float:
    """ExactAccumulator(nonfinite="ieee"): +NaN if a term is NaN or infinities of both signs
    meet, else the infinity, else the exact sum (a float64 by assumption; zero is +0)."""
    terms = [float(init), *products]
    if any(math.isnan(t) for t in terms) or (math.inf in terms and -math.inf in terms):
        return math.nan
    if math.inf in terms or -math.inf in terms:
        return math.inf if math.inf in terms else -math.inf
    s = sum((Fraction(t) for t in terms), Fraction(0))
    v = float(s)
    assert Fraction(v) == s, "sum not a float64"
    return v + 0.0


def same_bits(x: float, y: float) -> bool:
    """Identical floats: signed zeros differ, NaNs equal only with the same sign bit."""
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y) and math.copysign(1, x) == math.copysign(1, y)
    return x == y and math.copysign(1, x) == math.copysign(1, y)
