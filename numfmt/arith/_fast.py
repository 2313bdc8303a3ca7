"""Shortcuts that compute exactly what the general arithmetic paths compute, faster.

:func:`exact_block_matmul` — ``block_matmul`` with exact accumulators
-----------------------------------------------------------------------
With ``block_acc`` and ``acc`` both :class:`ExactAccumulator` (refusing inf/NaN),
``block_matmul`` forms, for each output, the exact sum over the blocks ``j`` of the
scaled exact block sums ``2**(eA + eB) · Σ_{k ∈ j} a_k b_k``, and rounds that exact
value once (``_finish``). Exact addition is associative and ``2**(eA+eB) a_k b_k =
(a_k 2**eA)(b_k 2**eB)``, so the exact value is the exact sum of the products of the
decoded operands ``a_k 2**eA`` and ``b_k 2**eB``: ``matmul`` of the decoded matrices
with the same ``ExactAccumulator`` rounds the same value the same way (and raises the
same error when a result is not a float64 and no ``out_format`` is given). The
shortcut applies when no step of the block path can fail or round:

* every element is finite (the block path raises otherwise);
* decoding is exact and every scaled block sum is a float64 (the block path raises
  otherwise): with element magnitudes in ``[2**lo, 2**(hi+1))`` (from the element
  formats) and shared exponents in ``[emin, emax]``, it suffices that ``2**e`` is a
  float64 (``-1074 ≤ emin``, ``emax ≤ 1023``), and
  ``lo + emin ≥ -1074`` and ``hi + 1 + emax < 1024`` for each operand (decoded values
  are multiples of ``2**(lo + e)`` below ``2**(hi + 1 + e)``), and
  ``loA + loB + eminA + eminB ≥ -1074`` and ``hiA + hiB + 2 + bitlen(block) + emaxA + emaxB
  < 1024`` for the block sums (multiples of ``2**(loA + loB + eA + eB)`` below
  ``block · 2**(hiA + hiB + 2 + eA + eB)``).

A block with a NaN scale makes every output whose contraction meets it NaN, as in the
block path; its elements are taken as 0 in the product.

:func:`exact_matmul` — ``matmul`` with an ExactAccumulator and float formats
----------------------------------------------------------------------------
``matmul(A, B, ExactAccumulator(), a_format=fa, b_format=fb)`` checks that every
operand is a value of its format, scans both operands for their exponent ranges and
uses float64 BLAS when every product is a float64 and every partial sum, in any order,
is ``k · 2**Q`` with ``|k| ≤ 2**53`` (``docs/arithmetic.md``). When the *formats*
already guarantee that — with ``lo``, ``hi``, ``sig`` the format's lowest set-bit
weight, top exponent and significand width, ``sig_a + sig_b ≤ 53``,
``lo_a + lo_b ≥ -1074``, ``hi_a + hi_b + 2 ≤ 1024`` and ``n · 2**(hi_a + hi_b + 2 -
lo_a - lo_b) ≤ 2**53`` — the operands' own ranges (inside the formats') satisfy it too,
so the general path takes BLAS; and since every partial sum is exact, any BLAS order
gives the same exact sums. The shortcut then skips the scans and checks the operands
with the one-pass ``FloatFormat.quantize`` (``quantize(x) == x`` and finite); any other
case, or an operand that fails the check, goes to the general path (which raises its
own error).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from ..formats import FloatFormat
from ..formats.block import _smallest_positive
from .accumulators import ExactAccumulator, NonFinite

__all__ = ["exact_block_matmul", "exact_matmul"]


def _is_plain_exact(acc) -> bool:
    return type(acc) is ExactAccumulator and acc.nonfinite is NonFinite.RAISE


@functools.lru_cache(maxsize=64)
def _bounds(element):
    """``(lo, hi)``: every nonzero element value ``v`` has ``2**lo ≤ |v| < 2**(hi + 1)``."""
    lo = _smallest_positive(element)
    lo_exp = lo.numerator.bit_length() - lo.denominator.bit_length()
    lo_exp = lo_exp if Fraction(2) ** lo_exp <= lo else lo_exp - 1
    hi_exp = math.frexp(float(max(abs(element.max), abs(element.min))))[1] - 1
    return lo_exp, hi_exp


def _exp_range(e, nan):
    live = e[~nan]
    return (int(live.min()), int(live.max())) if live.size else (0, 0)


def _decoded(v, e, nan, block, axis):
    """``v * 2**e`` per element, 0 where the block's scale is NaN (``v`` finite).

    Each product is exact here: ``2**e`` is a float64 (``-1074 ≤ e ≤ 1023`` by the
    conditions of the module docstring) and so is the product, so IEEE multiplication
    returns it unrounded.
    """
    pow2 = np.where(nan, 0.0, np.ldexp(1.0, e.astype(np.int32)))
    n = v.shape[axis]
    nb = e.shape[axis]
    pad = nb * block - n
    if axis == 1:
        vp = np.pad(v, ((0, 0), (0, pad))) if pad else v
        return (vp.reshape(v.shape[0], nb, block) * pow2[:, :, None]).reshape(v.shape[0], nb * block)[:, :n]
    vp = np.pad(v, ((0, pad), (0, 0))) if pad else v
    return (vp.reshape(nb, block, v.shape[1]) * pow2[:, None, :]).reshape(nb * block, v.shape[1])[:n]


def exact_block_matmul(A, B, va, ea, nan_a, vb, eb, nan_b, acc, block_acc, out_format, out_rounding):
    """``block_matmul(A, B, acc, block_acc=...)`` as one exact ``matmul`` of the decoded operands, or None.

    None when the shortcut does not apply (see the module docstring); the caller then
    runs the block path.
    """
    if not (_is_plain_exact(acc) and _is_plain_exact(block_acc)):
        return None
    if not (np.isfinite(va).all() and np.isfinite(vb).all()):
        return None
    block = A.format.block
    (lo_a, hi_a), (lo_b, hi_b) = _bounds(A.format.element), _bounds(B.format.element)
    (ea_lo, ea_hi), (eb_lo, eb_hi) = _exp_range(ea, nan_a), _exp_range(eb, nan_b)
    if not (min(ea_lo, eb_lo) >= -1074 and max(ea_hi, eb_hi) <= 1023        # 2**e is a float64
            and lo_a + ea_lo >= -1074 and hi_a + 1 + ea_hi < 1024 and lo_b + eb_lo >= -1074 and hi_b + 1 + eb_hi < 1024
            and lo_a + lo_b + ea_lo + eb_lo >= -1074
            and hi_a + hi_b + 2 + block.bit_length() + ea_hi + eb_hi < 1024):
        return None
    from .linalg import matmul
    C = matmul(_decoded(va, ea, nan_a, block, 1), _decoded(vb, eb, nan_b, block, 0), acc,
               out_format=out_format, out_rounding=out_rounding)
    if nan_a.any() or nan_b.any():     # output [i, q] meets every block of row i of A and column q of B
        nan = nan_a.any(axis=1)[:, None] | nan_b.any(axis=0)[None, :]
        C[nan] = np.nan if out_format is None else out_format.quantize(np.nan)
    return C


@functools.lru_cache(maxsize=64)
def _float_bounds(fmt):
    """``(lo, hi, sig)`` of a FloatFormat's nonzero finite values (see the module docstring)."""
    lo, hi = _bounds(fmt)
    return lo, hi, fmt.man + 1


def _holds(x, fmt) -> bool:
    """True if every element of ``x`` is a finite value of ``fmt`` (what the general check accepts, finite)."""
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(x).all()) and np.array_equal(fmt.quantize(x, "rne"), x)


def exact_matmul(A, B, acc, a_format, b_format, init, out_format, out_rounding):
    """``matmul(A, B, acc, a_format=, b_format=, ...)`` by one BLAS call, or None (see the module docstring).

    ``A`` and ``B`` are the float64 (m, n) and (n, p) operands after the shape checks.
    """
    if not (type(acc) is ExactAccumulator and init is None and isinstance(a_format, FloatFormat)
            and isinstance(b_format, FloatFormat)):
        return None
    n = A.shape[1]
    (lo_a, hi_a, sig_a), (lo_b, hi_b, sig_b) = _float_bounds(a_format), _float_bounds(b_format)
    if not (sig_a + sig_b <= 53 and lo_a + lo_b >= -1074 and hi_a + hi_b + 2 <= 1024
            and n << (hi_a + hi_b + 2 - lo_a - lo_b) <= 1 << 53):
        return None
    if not (_holds(A, a_format) and _holds(B, b_format)):
        return None
    from .linalg import _finish
    C = A @ B
    C += 0.0                    # the exact sum has no sign of zero: -0 → +0
    return _finish(C, False, out_format, out_rounding)
