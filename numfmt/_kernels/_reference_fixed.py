"""Pure-Python twin of :mod:`numfmt._kernels.fixed` (Python ints and Fractions).

Slow and short on purpose: the tests check the compiled kernel against it on
random inputs for many formats, and both against the ``ap_fixed`` headers.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..modes import Overflow, Rounding

__all__ = ["ap_double_value", "round_fraction", "encode_fixed"]


def ap_double_value(bits64: int) -> Fraction:
    """The value ``ap_fixed_base(double)`` reads from the float64 with bits ``bits64``.

    Finite normal doubles read as themselves. The header sets the hidden bit
    unconditionally, so a subnormal ``f * 2**-1074`` reads as
    ``(2**52 + f) * 2**-1075``, ±inf as ``±2**1024`` and a NaN as
    ``±(2**52 + payload) * 2**972``.
    """
    neg = bits64 >> 63
    field = (bits64 >> 52) & 0x7FF
    frac = bits64 & ((1 << 52) - 1)
    if field == 0 and frac == 0:
        return Fraction(0)
    value = Fraction((1 << 52) | frac) * Fraction(2) ** (field - 1023 - 52)
    return -value if neg else value


def round_fraction(v: Fraction, rounding: Rounding, rnd: int = 0, sr_bits: int = 32) -> int:
    """Round ``v`` to an integer under ``rounding``.

    STOCHASTIC rounds the magnitude up iff ``rnd`` is below the discarded
    fraction of the magnitude read to ``sr_bits`` bits (truncated).
    """
    neg = v < 0
    mag = -v if neg else v
    t = math.floor(mag)
    f = mag - t
    half = Fraction(1, 2)
    up = {
        Rounding.NEAREST_EVEN: f > half or (f == half and t % 2 == 1),
        Rounding.NEAREST_AWAY: f >= half,
        Rounding.NEAREST_UP: f > half or (f == half and not neg),
        Rounding.NEAREST_DOWN: f > half or (f == half and neg),
        Rounding.NEAREST_ZERO: f > half,
        Rounding.FLOOR: f > 0 and neg,
        Rounding.CEIL: f > 0 and not neg,
        Rounding.TOWARD_ZERO: False,
        Rounding.AWAY: f > 0,
        Rounding.STOCHASTIC: rnd < math.floor(f * (1 << sr_bits)),
    }[rounding]
    q = t + (1 if up and f else 0)
    return -q if neg else q


def encode_fixed(value: Fraction, width: int, frac_bits: int, signed: bool, rounding: Rounding,
                 overflow: Overflow, sat_bits: int = 0, rnd: int = 0, sr_bits: int = 32) -> int:
    """The ``ap_fixed<width, width - frac_bits, ...>`` code of the exact ``value``.

    Mirrors ``ap_fixed_base(double)``: round ``value * 2**frac_bits`` to an
    integer ``q``; keep its low ``width`` bits if ``q`` is in range, else apply
    ``overflow_adjust`` (which reads the sign of ``q``, the wrapped bits and
    bit ``width`` of ``floor(value * 2**frac_bits)``).
    """
    w, n = width, sat_bits
    scaled = value * Fraction(2) ** frac_bits
    q = round_fraction(scaled, rounding, rnd, sr_bits)
    mask = (1 << w) - 1
    v = q & mask
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, mask)
    ovf, unf = q > hi, q < lo
    if overflow is Overflow.SATURATE_SYMMETRIC and signed and q == lo:
        unf = True
    if (overflow is Overflow.WRAP and n == 0) or not (ovf or unf):
        return v

    def set_range(v, first, last, ones):
        m = ((1 << (last - first + 1)) - 1) << first
        return v | m if ones else v & ~m

    sign = q < 0
    top = w - 1
    if overflow is Overflow.WRAP:
        if not signed:
            return set_range(v, w - n, top, True)
        v = set_range(v, top, top, sign)
        return set_range(v, w - n, top - 1, not sign) if n > 1 else v
    if overflow is Overflow.SATURATE_ZERO:
        return 0
    if overflow is Overflow.WRAP_SIGN_MAGNITUDE:
        ro = bool(v >> top & 1)
        if n == 0:
            ld = bool(math.floor(scaled) >> w & 1)
            if ld != ro:
                v = set_range(~v & mask, top, top, ld)
            return v
        if n == 1 and sign != ro:
            v = ~v & mask
        elif n > 1:
            if bool(v >> (w - n) & 1) == sign:
                v = ~v & mask
            v = set_range(v, w - n, top - 1, not sign)
        return set_range(v, top, top, sign)
    # SATURATE, SATURATE_SYMMETRIC
    if ovf:
        return hi & mask
    if signed and overflow is Overflow.SATURATE_SYMMETRIC:
        return (lo & mask) | 1
    return lo & mask
