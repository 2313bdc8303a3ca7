"""Compiled loops for the accumulators (integer-domain rounding, exact sums).

Conventions: matrices arrive as ``A`` (m, n) and ``BT`` (p, n), both C-contiguous
float64, so that the reduction index ``k`` is the fast axis of both. Products
``A[i, k] * BT[j, k]`` are exact in float64 (the caller checks this from the
operands' exponent and significand ranges, see ``linalg._Stats``).

Each loop has a plain-Python twin: ``kernel.py_func`` runs the same steps;
the tests compare both with an independent ``fractions`` reference.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from .._kernels._core import FLOOR, FINITE, RNE, bit_length, bits_f64, f64_bits, unpack_float
from .._kernels import floating as _fk

_jit = numba.njit(cache=True, nogil=True)
_inline = numba.njit(cache=True, nogil=True, inline="always")

SEQUENTIAL, PAIRWISE, CHUNKED = 0, 1, 2    # the order of numfmt.arith.Order (checked by a test)
_SIGN = np.int64(-0x8000000000000000)
_MAG = np.int64(0x7FFFFFFFFFFFFFFF)
_EXP = np.int64(0x7FF0000000000000)
_HALF = np.int64(1) << 51


# -- operand statistics ---------------------------------------------------------------------
@_jit
def scan(x):
    """``(nonfinite, lo, hi, sig)`` over a flat float64 array.

    For the nonzero finite elements ``v = m * 2**e`` with ``m`` odd: ``lo`` is
    the smallest ``e`` (the lowest set bit's weight), ``hi`` the largest
    exponent ``floor(log2 |v|)`` and ``sig`` the largest ``bitlen(m)``.
    Without nonzero elements ``lo = 2**30``, ``hi = -2**30``, ``sig = 0``.
    ``nonfinite`` counts inf/NaN elements.
    """
    nonfinite = 0
    lo = np.int64(1 << 30)
    hi = np.int64(-(1 << 30))
    sig = np.int64(0)
    for i in range(x.size):
        neg, cls, mag, e = unpack_float(f64_bits(x[i]), 11, 52)
        if cls != FINITE:
            nonfinite += 1
            continue
        if mag == 0:
            continue
        tz = bit_length(mag & (-mag)) - 1          # trailing zeros
        top = bit_length(mag) - 1
        lo = min(lo, e + tz)
        hi = max(hi, e + top)
        sig = max(sig, top - tz + 1)
    return nonfinite, lo, hi, sig


# -- exact integer sums to float64 ------------------------------------------------------------
@_jit
def round_odd_scaled(k, q, out):
    """``out[i]`` = ``k[i] * 2**q`` rounded to odd at 53 bits; returns ``(inexact, overflow)``.

    Rounding to odd (truncate, then set the last bit if anything was
    discarded) at 53 bits, followed by any rounding to at most 51 bits, equals
    that rounding applied to the exact value (Boldo & Melquiond 2008).
    ``q >= -1074``; a value at or beyond ``2**1024`` sets ``overflow``.
    """
    inexact = False
    overflow = False
    for i in range(k.size):
        v = k[i]
        neg = v < 0
        mag = np.uint64(-v) if neg else np.uint64(v)       # |int64 min| fits in uint64
        s = np.int64(0)
        if mag >= np.uint64(1 << 53):
            n = np.int64(64)
            while (mag >> np.uint64(n - 1)) == np.uint64(0):
                n -= 1
            s = n - 53
            rem = mag & ((np.uint64(1) << np.uint64(s)) - np.uint64(1))
            mag = mag >> np.uint64(s)
            if rem != np.uint64(0):
                mag |= np.uint64(1)
                inexact = True
        e = q + s
        if e + 53 > 1024:
            overflow = True
        r = np.float64(mag) * _pow2(e) if e <= 1023 else np.inf
        out[i] = -r if neg else r
    return inexact, overflow


@_inline
def _pow2(e):
    """``2.0**e`` for ``-1074 <= e <= 1023``, built from its bits."""
    if e >= -1022:
        return bits_f64(np.int64(e + 1023) << 52)
    return bits_f64(np.int64(1) << (e + 1074))


# -- fixed-point register ------------------------------------------------------------------
@_inline
def _product_int(p, frac_bits, sat):
    """``(ok, K)``: the product ``p`` in units of ``2**-frac_bits``.

    ``ok`` is False when ``p`` is not a multiple of the unit. For a wrapping
    register ``K`` is exact modulo ``2**64``; for a saturating one it is
    exact or, when ``|K| >= 2**63``, clamped to ``±(2**63 - 1)``, which
    saturates any register of ≤ 63 bits exactly as the true value would.
    """
    neg, cls, mag, e = unpack_float(f64_bits(p), 11, 52)
    if mag == 0:
        return True, np.int64(0)
    t = e + frac_bits
    if t < 0:
        if t <= -53 or (mag & ((np.int64(1) << (-t)) - 1)) != 0:
            return False, np.int64(0)
        k = mag >> (-t)
    elif sat:
        if bit_length(mag) + t <= 63:
            k = mag << t
        else:
            k = _MAG
    else:   # wrap: modulo 2**64
        k = np.int64(np.uint64(mag) << np.uint64(t)) if t < 64 else np.int64(0)
    return True, (np.int64(0) - k) if neg else k


@_inline
def _fixed_add(r, k, width, sat, lo, hi):
    """One register update: ``r + k`` wrapped or clamped to ``[lo, hi]`` (``width`` bits)."""
    if sat:
        if k >= 0:
            return hi if r > hi - k else r + k
        return lo if r < lo - k else r + k
    u = np.uint64(r) + np.uint64(k)                         # modulo 2**64
    sh = np.uint64(64 - width)
    return np.int64(u << sh) >> np.int64(sh)                # sign-extend from width bits


@_jit
def fixed_matmul(A, BT, init, frac_bits, width, sat, out, err):
    """``out[i, j]``: sequential sum of ``A[i, k] * BT[j, k]`` in a fixed register.

    ``init`` and ``out`` are int64 register values (units ``2**-frac_bits``).
    On a product that is not a multiple of the unit, writes ``(i, j, k)`` to
    ``err`` and returns False.
    """
    m, n = A.shape
    p = BT.shape[0]
    hi = (np.int64(1) << (width - 1)) - 1
    lo = -hi - 1
    for i in range(m):
        for j in range(p):
            r = init[i, j]
            for k in range(n):
                ok, kk = _product_int(A[i, k] * BT[j, k], frac_bits, sat)
                if not ok:
                    err[0], err[1], err[2] = i, j, k
                    return False
                r = _fixed_add(r, kk, width, sat, lo, hi)
            out[i, j] = r
    return True


# -- floating register ----------------------------------------------------------------------
@_inline
def decode_one(c, p):
    """The float64 value of the code ``c`` of the float format ``p`` (see ``decode_float``)."""
    man = p[_fk.P_MAN]
    sign_shift = p[_fk.P_EXP] + man
    neg = p[_fk.P_SIGNED] != 0 and ((c >> sign_shift) & 1) == 1
    mc = c & ((np.int64(1) << sign_shift) - 1)
    b = mc >> man
    f = mc & ((np.int64(1) << man) - 1)
    specials = p[_fk.P_SPECIALS]
    if specials == 0 and b == (np.int64(1) << p[_fk.P_EXP]) - 1:
        v = np.inf if f == 0 else np.nan
    elif specials == 1 and mc > p[_fk.P_MAX_MAG]:
        v = np.nan
    elif specials == 2 and c == p[_fk.P_NAN_POS]:
        v = np.nan
    elif b == 0 and p[_fk.P_HAS_ZERO] != 0:
        v = 0.0 if p[_fk.P_FTZ] != 0 else np.float64(f) * _pow2(1 - p[_fk.P_BIAS] - man)
    else:
        v = np.float64(f | (np.int64(1) << man)) * _pow2(b - p[_fk.P_BIAS] - man)
    return -v if neg else v


@_inline
def nearest_even_fast(s, emin, man):
    """``s`` (finite, nonzero) rounded to nearest even on the grid of a format with ``man``
    fraction bits and smallest normal exponent ``emin`` (subnormals below it): ``(s + C) - C``
    with ``C = 1.5·2**(q+52)`` and ``2**q`` the format's quantum at ``s`` (see
    :func:`round_to_format`, which says when the result is the format's rounding)."""
    e = ((f64_bits(s) & _MAG) >> 52) - 1023
    q = max(e, emin) - man
    c = bits_f64(((q + 52 + 1023) << 52) | (np.int64(1) << 51))
    return (s + c) - c


@_inline
def fast_range(p):
    """``(ok, top)`` for :func:`nearest_even_fast` in the format ``p``: ``ok`` when its grid
    constants stay in float64's range, and ``top = 2**E``, ``E`` the exponent of the format's
    second-highest exponent field (results at or above it go to the encoder: overflow)."""
    top_exp = (np.int64(1) << p[_fk.P_EXP]) - 2 - p[_fk.P_BIAS]
    ok = top_exp - p[_fk.P_MAN] <= 960 and p[_fk.P_EMIN] >= -1022 and top_exp <= 1023
    return ok, bits_f64((min(max(top_exp, -1022), 1023) + 1023) << 52)


@_inline
def round_to_format(s, p, mode, fast32):
    """``R(s)``: a float64 ``s`` that is exact, or rounded to odd at 53 bits, rounded once to
    the format ``p`` (at most 32 significant bits) in ``mode``; the value, as a float64.

    The common case — round to nearest even, a nonzero result below the format's two top
    exponent fields, a normal or (with subnormals) subnormal result — is the float64 addition
    of a constant ``C = 1.5·2**(q+52)`` that puts the format's quantum ``2**q`` at ``s``
    in the last place: ``(s + C) - C`` rounds ``s`` to a multiple of ``2**q`` to nearest
    even in one hardware rounding (``|s| < 2**(q+51)``, so ``s + C`` stays in C's binade). A
    round to odd at 53 bits leaves at least two bits below the format's last place, so that
    second rounding is the correct single one. Anything else (zero, overflow, flush to zero,
    other modes, non-finite values) is the float encoder's: ``decode(encode(s))``.
    """
    if fast32:
        return np.float64(np.float32(s))
    if mode == RNE and s == s and s != 0.0:
        ok, top = fast_range(p)
        emin = p[_fk.P_EMIN]
        if ok and abs(s) < top and (p[_fk.P_FTZ] == 0 or abs(s) >= bits_f64((emin + 1023) << 52)):
            r = nearest_even_fast(s, emin, p[_fk.P_MAN])
            if r != 0.0 and abs(r) < top:
                return r
    return _round_by_encoder(s, p, mode)


@_jit
def _round_by_encoder(s, p, mode):
    """``decode(encode(s))`` in the format ``p``: :func:`round_to_format` outside its fast case."""
    return decode_one(_fk.encode_one(f64_bits(s), 11, 52, p, mode, np.int64(0), 32, False), p)


@_jit
def round_exact_sum(s, x, y, p, mode, fast32):
    """``R(s)`` for ``s = x + y`` computed exactly in float64 (see :func:`add_round`)."""
    if s == 0.0 and mode == FLOOR and (f64_bits(x) < 0 or f64_bits(y) < 0):
        s = -0.0        # IEEE 754 §6.3: an exact zero sum is -0 under roundTowardNegative
    elif s != s:
        s = np.nan      # a NaN addend or inf - inf: the positive NaN, whatever the CPU made
    return round_to_format(s, p, mode, fast32)


@_jit
def add_round(x, y, p, mode, fast32):
    """``R(x + y)``: the exact sum of two float64 values rounded to the format ``p``.

    The sum is split exactly as ``s + t`` (Knuth's TwoSum), rounded to odd at
    53 bits (a sticky bit in the last place), then rounded to the format by the
    float encoder: a correct single rounding, as the format has at most 32
    significant bits. ``fast32`` (fp32 with round-to-nearest-even only) does
    the last step with the hardware float64→float32 conversion.

    Non-finite addends follow IEEE 754 (``inf + -inf = NaN``, NaN stays NaN); a NaN
    sum is the positive NaN (the CPU's NaN sign and payload are not used).
    """
    s = x + y
    if s != s:
        s = np.nan
        if fast32:
            return s
        return decode_one(_fk.encode_one(f64_bits(s), 11, 52, p, mode, np.int64(0), 32, False), p)
    bb = s - x
    t = (x - (s - bb)) + (y - bb)
    if s == 0.0:
        # exact zero (t is 0 too): IEEE 754 §6.3 signs
        both_neg = f64_bits(x) < 0 and f64_bits(y) < 0
        both_pos = f64_bits(x) >= 0 and f64_bits(y) >= 0
        s = -0.0 if both_neg or (mode == FLOOR and not both_pos) else 0.0
        return round_exact_sum(s, s, s, p, mode, fast32)
    elif t != 0.0 and np.isfinite(s):   # inexact: round to odd at 53 bits
        b = f64_bits(s)
        mag = b & _MAG
        if (t > 0.0) == (s > 0.0):
            mag |= 1
        else:
            mag = (mag - 1) | 1
        s = bits_f64((b & _SIGN) | mag)
    return round_to_format(s, p, mode, fast32)


def float_matmul(mode: int, fast32: bool):
    """A compiled loop ``kernel(A, BT, init, p, order, chunk, out)`` for the rounding mode ``mode``.

    ``out[i, j]`` is the sum of ``A[i, k] * BT[j, k]`` in the order ``order``
    (``SEQUENTIAL``, ``PAIRWISE`` or ``CHUNKED`` with ``chunk``), every
    addition rounded by :func:`add_round`, starting from ``init[i, j]``.
    """
    return functools.partial(_float_matmul[fast32], mode=mode)


def _make_float_matmul(fast32):
    @numba.njit(cache=True, nogil=True)
    def kernel(A, BT, init, p, order, chunk, out, mode):
        m, n = A.shape
        q = BT.shape[0]
        buf = np.empty(max(n, 1), dtype=np.float64)
        for i in range(m):
            for j in range(q):
                if order == SEQUENTIAL:
                    acc = init[i, j]
                    for k in range(n):
                        acc = add_round(acc, A[i, k] * BT[j, k], p, mode, fast32)
                elif order == PAIRWISE:
                    for k in range(n):
                        buf[k] = A[i, k] * BT[j, k]
                    length = n
                    while length > 1:
                        half = length >> 1
                        for k in range(half):
                            buf[k] = add_round(buf[2 * k], buf[2 * k + 1], p, mode, fast32)
                        if length & 1:
                            buf[half] = buf[length - 1]
                        length = half + (length & 1)
                    root = buf[0] if n > 0 else 0.0
                    acc = add_round(init[i, j], root, p, mode, fast32)
                else:
                    acc = init[i, j]
                    for c0 in range(0, n, chunk):
                        part = 0.0
                        for k in range(c0, min(c0 + chunk, n)):
                            part = add_round(part, A[i, k] * BT[j, k], p, mode, fast32)
                        acc = add_round(acc, part, p, mode, fast32)
                out[i, j] = acc

    return kernel


_COLUMNS = 512         # outputs of a row computed together: their running sums stay in L1


@_jit
def _nearest_even_stretch(acc, a, B, j0, j1, cmin, man_shift, top, low):
    """``acc[j] = R(acc[j] + a[k]*B[k, j])`` for every ``k`` in turn and ``j0 <= j < j1``, in round
    to nearest even, each sum exact in float64; True if some result is not the format's
    rounding.

    The rounding is :func:`nearest_even_fast` written without branches, so that the ``j``
    loop vectorises: the constant ``C`` takes its exponent from the sum's exponent field
    (``cmin``, the format's subnormal quantum, below the normal range). A result is the
    format's rounding when it is nonzero, below ``top`` (no overflow; a sum at or above
    ``top`` rounds to at least ``top``, or to NaN where ``C`` leaves float64's range) and its
    sum is at least ``low`` (no flush to zero), or when the sum is exactly +0 (any other zero:
    the encoder decides its sign). A function of its own, compiled apart from the caller's
    slow path: the loop ran 2-3x faster that way.
    """
    bad = np.int64(0)
    acc = acc[j0:j1]          # slices, not index bounds: the loop vectorises
    for k in range(a.shape[0]):
        ak = a[k]
        b = B[k, j0:j1]
        for j in range(acc.shape[0]):
            s = acc[j] + ak * b[j]
            sb = f64_bits(s)
            ce = (sb & _EXP) - man_shift
            ce = ce if ce > cmin else cmin
            c = bits_f64(ce | _HALF)
            r = (s + c) - c
            good = ((f64_bits(r) & _MAG) != 0) & (abs(r) < top) & (abs(s) >= low)
            bad |= np.int64(1) - np.int64(good | (sb == 0))
            acc[j] = r
    return bad != 0


def float_matmul_exact_adds(mode: int, fast32: bool):
    """Sequential order when every ``acc + product`` is exact in float64 (caller's proof).

    ``kernel(A, B, init, p, out)`` with ``B`` of shape (n, p): the same
    result as :func:`float_matmul` with ``SEQUENTIAL``. In round to nearest
    even (where :func:`fast_range` allows) the sums of up to ``_COLUMNS``
    outputs of a row advance together, ``k`` outer and ``j`` inner, in a
    branch-free loop that vectorises; a stretch of a row where some result
    is not the format's plain rounding (a zero of the wrong sign, overflow,
    flush to zero) is computed again by the encoder, as in every other mode.
    """
    return functools.partial(_float_matmul_exact_adds[fast32], mode=mode)


def _make_float_matmul_exact_adds(fast32):
    @numba.njit(cache=True, nogil=True)
    def kernel(A, B, init, p, out, mode):
        m, n = A.shape
        q = B.shape[1]
        ok, top = fast_range(p)
        fast = mode == RNE and ok
        emin, man = p[_fk.P_EMIN], p[_fk.P_MAN]
        cmin = (emin - man + 1075) << 52            # C's bits at the format's smallest quantum
        man_shift = (man - 52) << 52                 # C's exponent: the sum's, less man, plus 52
        low = bits_f64((emin + 1023) << 52) if p[_fk.P_FTZ] != 0 else 0.0
        for i in range(m):
            for j0 in range(0, q, _COLUMNS):
                j1 = min(j0 + _COLUMNS, q)
                acc = out[i]
                for j in range(j0, j1):
                    acc[j] = init[i, j]
                bad = not fast
                if fast:
                    bad = _nearest_even_stretch(acc, A[i], B, j0, j1, cmin, man_shift, top, low)
                if bad:
                    for j in range(j0, j1):
                        acc[j] = init[i, j]
                    for k in range(n):
                        a = A[i, k]
                        for j in range(j0, j1):
                            x = acc[j]
                            y = a * B[k, j]
                            acc[j] = round_exact_sum(x + y, x, y, p, mode, fast32)

    return kernel


_float_matmul = {f: _make_float_matmul(f) for f in (False, True)}
_float_matmul_exact_adds = {f: _make_float_matmul_exact_adds(f) for f in (False, True)}
