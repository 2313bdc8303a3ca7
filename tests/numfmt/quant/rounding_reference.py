"""Rounding of a rational to an integer, written from each mode's definition (test reference)."""

from __future__ import annotations

import math
from fractions import Fraction

from numfmt.modes import Rounding


def ref_round(v: Fraction, mode: Rounding) -> int:
    """Round the rational ``v`` to an integer under ``mode``, from the mode's definition."""
    lo = math.floor(v)
    frac = v - lo
    if mode is Rounding.FLOOR:
        return lo
    if mode is Rounding.CEIL:
        return lo + (frac != 0)
    if mode is Rounding.TOWARD_ZERO:
        return lo if v >= 0 else lo + (frac != 0)
    if mode is Rounding.AWAY:
        return lo + (frac != 0) if v >= 0 else lo
    if frac != Fraction(1, 2):
        return lo + (frac > Fraction(1, 2))
    return {  # exact ties between lo and lo + 1
        Rounding.NEAREST_EVEN: lo + (lo % 2),
        Rounding.NEAREST_AWAY: lo + 1 if v > 0 else lo,
        Rounding.NEAREST_UP: lo + 1,
        Rounding.NEAREST_DOWN: lo,
        Rounding.NEAREST_ZERO: lo if v > 0 else lo + 1,
    }[mode]
