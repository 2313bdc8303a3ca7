"""Integer-domain helpers of the quantized datapath (see ``docs/nn.md``).

Values of an integer, fixed-point or floating-point format are integers times
the format's quantum ``2**q``; these helpers convert between the two and round
an exact dyadic product ``P * 2**-c`` once to an activation format.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from .._inputs import bit_length
from ..formats import FixedFormat, FloatFormat, IntFormat, SignMagFormat
from ..modes import Overflow
from ..quant import Requantizer

__all__ = ["quantum_exp", "max_abs_int", "to_int", "exact_pow2", "converter", "requantize", "split_pow2",
           "round_dyadic_sum"]


def quantum_exp(fmt) -> int:
    """``q`` with every value of ``fmt`` an integer multiple of ``2**q``.

    >>> import numfmt as nf
    >>> quantum_exp(nf.parse("e4m3fn")), quantum_exp(nf.parse("ap_fixed<8,3>")), quantum_exp(nf.IntFormat(8))
    (-9, -5, 0)
    """
    if isinstance(fmt, FloatFormat):
        return fmt.min_exp - fmt.man
    if isinstance(fmt, FixedFormat):
        return -fmt.frac_bits
    if isinstance(fmt, (IntFormat, SignMagFormat)):
        return 0
    raise TypeError(f"format must be an IntFormat, FixedFormat, FloatFormat or SignMagFormat, not {fmt!r}")


def max_abs_int(fmt) -> int:
    """Largest ``|value| / 2**q`` of ``fmt`` (an exact integer).

    >>> import numfmt as nf
    >>> max_abs_int(nf.IntFormat(8)), max_abs_int(nf.parse("e4m3fn"))
    (128, 229376)
    """
    q = quantum_exp(fmt)
    m = max(abs(Fraction(fmt.max)), abs(Fraction(fmt.min)))
    return int(m / Fraction(2) ** q)


def to_int(values, q):
    """``values * 2**-q`` as int64 (exact for format values; ``q`` broadcasts)."""
    return np.ldexp(values, -np.asarray(q)).astype(np.int64)


def exact_pow2(P, c):
    """float64 ``P * 2**-c`` for int64 ``P``; exact if ``|P| < 2**53``, else rounded to odd at 53 bits.

    Rounding to odd keeps a sticky bit, so a second rounding to a format of at
    most 51 significant bits equals one rounding of the exact value (Boldo &
    Melquiond 2008) — every activation format here has at most 32.

    >>> float(exact_pow2(np.array([3]), 2)[0])
    0.75
    >>> float(exact_pow2(np.array([2**60 + 1]), 0)[0]) == 2.0**60 + 2**8
    True
    """
    P = np.asarray(P, dtype=np.int64)
    c = np.broadcast_to(np.asarray(c, dtype=np.int64), P.shape)
    mag = np.abs(P).astype(np.uint64)
    big = mag >= np.uint64(1 << 53)
    if big.any():
        m = mag[big]
        bl = bit_length(m)
        s = (bl - 53).astype(np.uint64)
        hi = m >> s
        sticky = (m & ((np.uint64(1) << s) - np.uint64(1))) != 0
        hi = hi | sticky.astype(np.uint64)
        mant = np.where(big, 0, mag).astype(np.float64)
        exps = np.zeros(P.shape, dtype=np.int64)
        mant[big] = hi.astype(np.float64)
        exps[big] = s.astype(np.int64)
    else:
        mant, exps = mag.astype(np.float64), np.zeros(P.shape, dtype=np.int64)
    out = np.ldexp(mant, exps - c)
    return np.where(P < 0, -out, out)


def converter(fmt):
    """The format activations are rounded with: ``fmt``, with float overflow saturating to ±max.

    >>> import numfmt as nf
    >>> converter(nf.parse("e4m3fn")).quantize(1000.0).item()
    448.0
    """
    if isinstance(fmt, FloatFormat) and fmt.overflow is not Overflow.SATURATE:
        return dataclasses.replace(fmt, overflow=Overflow.SATURATE)
    return fmt


def _requantizer_ok(fmt):
    return isinstance(fmt, IntFormat) and fmt.overflow in (Overflow.SATURATE, Overflow.WRAP)


def make_requantizer(b, c, fmt):
    """A :class:`numfmt.quant.Requantizer` for an IntFormat output (sat/wrap), else None."""
    if not _requantizer_ok(fmt):
        return None
    return Requantizer(np.asarray(b, dtype=np.int64), np.asarray(c, dtype=np.int64), fmt,
                       rounding=fmt.rounding, axis=-1)


def requantize(K, b, c, fmt, requantizer=None):
    """Values of ``fmt`` nearest to ``K * b * 2**-c`` (rounded once, ``fmt``'s rounding and overflow).

    ``K``: int64 accumulators, channels last; ``b``, ``c``: per channel (or
    scalars). For an IntFormat with ``sat``/``wrap`` overflow this is
    :meth:`Requantizer.requantize`; otherwise the exact product ``K * B``
    (``B = b << max(-c, 0)``) is rounded by ``fmt``'s encoder.

    >>> import numfmt as nf
    >>> requantize(np.array([[100, -7]]), np.array([3, 3]), np.array([5, 5]), nf.parse("e2m1fn")).tolist()
    [[6.0, -0.5]]
    """
    K = np.asarray(K, dtype=np.int64)
    if requantizer is not None:
        return requantizer.requantize(K).astype(np.float64)
    b = np.asarray(b, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    B = b << np.maximum(-c, 0)
    v = exact_pow2(K * B, np.maximum(c, 0))
    return converter(fmt).quantize(v) + 0.0


def split_pow2(values):
    """``(S, F)`` int64 with ``values == S * 2**F`` exactly (finite float64; zeros give ``S = 0``).

    >>> S, F = split_pow2(np.array([0.75, -3.0, 0.0]))
    >>> (S * 2.0 ** F).tolist()
    [0.75, -3.0, 0.0]
    """
    m, e = np.frexp(np.asarray(values, dtype=np.float64))
    return np.ldexp(m, 53).astype(np.int64), (e - 53).astype(np.int64)


def _round_odd_int(K: int, U: int) -> float:
    """float64 of ``K * 2**U`` (Python ints), rounded to odd at 53 bits when inexact."""
    mag = abs(K)
    bl = mag.bit_length()
    if bl > 53:
        s = bl - 53
        mag = (mag >> s) | (1 if mag & ((1 << s) - 1) else 0)
        U += s
    v = math.ldexp(float(mag), U)
    return -v if K < 0 else v


def round_dyadic_sum(S, F, fmt):
    """Values of ``fmt`` nearest to the exact sum ``Σ_t S[..., t] * 2**F[..., t]`` (one rounding).

    ``S``, ``F``: int64 terms along the last axis. The sum is formed exactly in
    integers relative to the smallest exponent of a nonzero term (int64 when
    it fits 62 bits, else Python integers), rounded to odd at 53 bits
    (:func:`exact_pow2`) and then by ``converter(fmt)``; a zero sum is +0.

    >>> import numfmt as nf
    >>> S, F = np.array([[1, 1, 1]]), np.array([[0, -24, -80]])     # 1 + 2**-24 + 2**-80: above the tie
    >>> float(round_dyadic_sum(S, F, nf.parse("fp32"))[0]) == 1 + 2.0 ** -23
    True
    """
    S = np.asarray(S, dtype=np.int64)
    F = np.asarray(F, dtype=np.int64)
    nz = S != 0
    big = np.iinfo(np.int64).max
    U = np.where(nz, F, big).min(axis=-1)
    U = np.where(U == big, 0, U)
    sh = np.where(nz, F - U[..., None], 0)
    width = np.frexp(np.abs(S).astype(np.float64))[1] + sh      # bit lengths (may overestimate by 1)
    t = max(S.shape[-1], 1)
    ok = width.max(axis=-1, initial=0) + (t - 1).bit_length() <= 62
    safe_sh = np.where(ok[..., None], sh, 0)
    K = np.where(ok, (S << safe_sh).sum(axis=-1), 0)
    v = exact_pow2(K, -U)
    if not ok.all():
        for idx in zip(*np.nonzero(~ok)):
            total = sum(int(s) << int(f) for s, f, z in zip(S[idx], sh[idx], nz[idx]) if z)
            v[idx] = _round_odd_int(total, int(U[idx]))
    return converter(fmt).quantize(v) + 0.0
