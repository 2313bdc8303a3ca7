"""Exact comparisons of a float64 against a product of two float64s (no FMA needed).

A grid value is the real product ``v * s`` of a format value and a scale;
deciding on which side of it a weight ``w`` lies must not depend on how
``v * s`` rounds. Dekker's two-product gives ``v * s = p + e`` exactly (``p``
the rounded product, ``e`` its error), so ``sign(w - v*s) = sign((w - p) - e)``:
where ``w`` and ``p`` are within a factor of two, ``w - p`` is exact
(Sterbenz) and the final subtraction keeps the sign of the exact difference;
elsewhere ``|w - p| ≥ |p| / 2`` dwarfs ``|e| ≤ ulp(p) / 2``.
"""

from __future__ import annotations

import numpy as np

_SPLIT = 134217729.0  # 2**27 + 1 (Veltkamp split of a 53-bit significand)


def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a, b):
    """``(p, e)`` with ``p = fl(a*b)`` and ``a*b = p + e`` exactly (for |a|, |b| < 2**995)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def sign_diff_prod(w, v, s):
    """``sign(w - v*s)`` (−1, 0 or +1, int8) with the product taken exactly."""
    p, e = two_prod(v, s)
    with np.errstate(over="ignore", invalid="ignore"):
        d = (np.asarray(w, dtype=np.float64) - p) - e
    return np.sign(d).astype(np.int8)
