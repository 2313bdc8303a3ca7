"""Integer-domain helpers of the quantized datapath (see ``docs/nn.md``).

Values of an integer, fixed-point or floating-point format are integers times
the format's quantum ``2**q``; these helpers convert between the two and round
an exact dyadic product ``P * 2**-c`` once to an activation format. The common
datapath is int64; integers wider than 64 bits (exact accumulators of wide
minifloats, their biases and requantization products) are Python ints in
object arrays (:func:`to_pyint`, :func:`exact_matmul`, :func:`round_pyint`).
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

__all__ = ["quantum_exp", "max_abs_int", "to_int", "to_pyint", "to_int_wide", "exact_matmul", "exact_pow2", "converter",
           "requantize", "round_pyint", "wide_reducible", "split_pow2", "round_dyadic_sum"]


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


def _shift(M, s):
    """Object array ``M * 2**s`` for Python-int ``M`` and int64 ``s`` (exact when ``s < 0`` drops zeros)."""
    M, s = np.broadcast_arrays(np.asarray(M, dtype=object), np.asarray(s, dtype=np.int64))
    out = np.empty(M.shape, dtype=object)
    pos = s >= 0
    out[pos] = M[pos] << s[pos].astype(object)
    out[~pos] = M[~pos] >> (-s[~pos]).astype(object)
    return out


def to_pyint(values, q):
    """``values * 2**-q`` as an object array of Python ints, for integers of any width.

    ``values`` (float64) must be multiples of ``2**q`` (format values are); ``q`` broadcasts.

    >>> to_pyint(np.array([2.0 ** 70, -0.75]), -2).tolist()
    [4722366482869645213696, -3]
    """
    values = np.asarray(values, dtype=np.float64)
    scaled = np.abs(np.ldexp(values, -np.asarray(q)))
    if scaled.size == 0 or scaled.max() < 2.0 ** 62:
        return to_int(values, q).astype(object)
    m, e = np.frexp(values)
    return _shift(np.ldexp(m, 53).astype(np.int64), e - 53 - np.asarray(q, dtype=np.int64))


def exact_matmul(X, qx, W, qw):
    """``Σ_k X[:, k] * W[k, :]`` in units of ``2**(qx + qw)``, exactly, as Python ints (any width).

    ``X`` (rows, n) and ``W`` (n, out): float64 values, multiples of
    ``2**qx`` and ``2**qw`` (``qw`` per output column). The integers are cut
    into limbs of ``L ≤ 20`` bits (``n · 2**(2L) < 2**53``), every pair of limb
    matrices is multiplied by float64 BLAS (exact: integer sums below
    ``2**53``), and the limb products are summed as int64 per weight
    ``2**(L·d)`` and joined once in Python ints: a multi-word accumulator.

    >>> X, W = np.array([[2.0 ** 60, 3.0]]), np.array([[2.0 ** 40], [-1.0]])
    >>> exact_matmul(X, 0, W, np.array([0])).tolist() == [[2 ** 100 - 3]]
    True
    """
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    n = X.shape[1]
    L = min(20, (52 - max(n, 1).bit_length()) // 2)
    xi = np.ldexp(np.abs(X), -np.asarray(qx))
    wi = np.ldexp(np.abs(W), -np.asarray(qw)[None, :])
    xl, wl = _limbs(xi, np.sign(X), L), _limbs(wi, np.sign(W), L)
    D = {}
    for a, xa in xl:
        for b, wb in wl:
            p = (xa @ wb).astype(np.int64)
            D[a + b] = D[a + b] + p if a + b in D else p
    K = np.zeros((X.shape[0], W.shape[1]), dtype=object)
    for d in sorted(D):
        K = K + (D[d].astype(object) << (L * d) if d else D[d].astype(object))
    return K


def _limbs(t, sign, L):
    """``[(a, sign * limb_a)]``: the nonzero ``L``-bit limbs of the exact float integers ``t`` (float64)."""
    top = int(np.frexp(t.max())[1]) if t.size else 0
    out = []
    for a in range(max((top + L - 1) // L, 1)):
        limb = np.fmod(np.floor(np.ldexp(t, -L * a)), 2.0 ** L)
        if limb.any():
            out.append((a, sign * limb))
    return out


def to_int_wide(values, q):
    """:func:`to_int` when every ``|values * 2**-q|`` is below ``2**62``, else :func:`to_pyint`.

    >>> to_int_wide(np.array([1.5]), -1).dtype, to_int_wide(np.array([1.5]), -80).dtype
    (dtype('int64'), dtype('O'))
    """
    scaled = np.ldexp(np.abs(np.asarray(values, dtype=np.float64)), -np.asarray(q))
    if scaled.size == 0 or scaled.max() < 2.0 ** 62:
        return to_int(values, q)
    return to_pyint(values, q)


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
    (``B = b << max(-c, 0)``) is rounded by ``fmt``'s encoder. ``K`` may also
    be an object array of Python ints (an accumulator wider than 64 bits): the
    product is then formed exactly in Python ints and rounded by
    :func:`round_pyint` (the wide requantizer).

    >>> import numfmt as nf
    >>> requantize(np.array([[100, -7]]), np.array([3, 3]), np.array([5, 5]), nf.parse("e2m1fn")).tolist()
    [[6.0, -0.5]]
    """
    if isinstance(K, np.ndarray) and K.dtype == object:        # a wide accumulator: Python ints
        B = np.asarray(b, dtype=np.int64)
        c = np.broadcast_to(np.asarray(c, dtype=np.int64), B.shape)
        P = K * _shift(B.astype(object), np.maximum(-c, 0))
        return round_pyint(P, np.maximum(c, 0), fmt)
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


_SATURATING = (Overflow.SATURATE, Overflow.SATURATE_ZERO, Overflow.SATURATE_SYMMETRIC)


def wide_reducible(fmt) -> bool:
    """Whether :func:`round_pyint` can round to ``fmt`` exactly from any product width.

    Floats, and integer/fixed formats that saturate or wrap plainly (``wrap``
    without saturated top bits); the sign-dependent wrap modes are not
    periodic in the value, so a wide product cannot be reduced for them.

    >>> import numfmt as nf
    >>> wide_reducible(nf.IntFormat(8)), wide_reducible(nf.parse("ap_fixed<8,3,AP_RND,AP_WRAP_SM>"))
    (True, False)
    """
    if isinstance(fmt, FloatFormat):
        return True
    return fmt.overflow in _SATURATING or (fmt.overflow is Overflow.WRAP and not getattr(fmt, "sat_bits", 0))


def round_pyint(P, c, fmt):
    """Values of ``fmt`` nearest to ``P * 2**-c`` for Python-int ``P`` of any width (one rounding).

    ``P``: object array of Python ints; ``c``: int64, broadcast to it. Each
    product is rounded to odd at 52 or 53 bits (a sticky bit for everything
    below) and then by ``converter(fmt)``, which equals one rounding of the
    exact value (see :func:`exact_pow2`). For an integer or fixed-point
    ``fmt`` a product beyond twice the format's range is first moved to the
    edge of that span (saturation) or reduced modulo twice the wrap period,
    neither of which changes its rounding, so the first step stays exact to
    the format's quantum.

    >>> import numfmt as nf
    >>> P = np.array([(1 << 100) + 1, -(3 << 98)], dtype=object)
    >>> round_pyint(P, np.array([100, 100]), nf.parse("e4m3fn")).tolist()
    [1.0, -0.75]
    >>> round_pyint(np.array([1 << 90, 3 << 90], dtype=object), np.array([0, 82]), nf.IntFormat(8)).tolist()
    [127.0, 127.0]
    """
    if not wide_reducible(fmt):
        raise ValueError(f"fmt {fmt} wraps with its sign (overflow {fmt.overflow}); a wide product cannot be "
                         "rounded to it exactly")
    P, c = np.broadcast_arrays(np.asarray(P, dtype=object), np.asarray(c, dtype=np.int64))
    P, c = P.copy(), c.copy()
    if isinstance(fmt, (IntFormat, FixedFormat)):       # the values lie within ±2**(span - 1)
        span = quantum_exp(fmt) + (fmt.bits if isinstance(fmt, IntFormat) else fmt.width) + 1
        k = np.maximum(-(c + span), 0)
        P, c = _shift(P, k), c + k
        bound = _shift(np.ones(P.shape, dtype=object), c + span)
        big = np.asarray((P > bound) | (P < -bound), dtype=bool)
        if big.any():
            if fmt.overflow is Overflow.WRAP:           # shift by a multiple of the wrap period bound / 2
                period = _shift(bound[big], -1)
                P[big] = (P[big] + period) % bound[big] - period
            else:                                       # saturates either way
                P[big] = np.where(np.asarray(P[big] > 0, dtype=bool), bound[big], -bound[big])
    mag = np.abs(P)
    try:
        e = np.frexp(mag.astype(np.float64))[1].astype(np.int64)     # bit length, or one more
    except OverflowError:
        e = np.frompyfunc(int.bit_length, 1, 1)(mag).astype(np.int64)
    s = np.maximum(e - 53, 0)
    hi = _shift(mag, -s)
    sticky = np.asarray(mag != _shift(hi, s), dtype=bool)
    mant = hi.astype(np.int64) | sticky
    v = np.ldexp(mant.astype(np.float64), s - c)
    v = np.where(np.asarray(P < 0, dtype=bool), -v, v)
    return converter(fmt).quantize(v) + 0.0


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
