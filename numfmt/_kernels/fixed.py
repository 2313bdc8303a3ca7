"""Compiled encode loop for fixed-point and integer formats (``ap_fixed`` semantics).

The conversion reproduces ``ap_fixed_base(double)`` of the HLS ``ap_types``
headers bit for bit; :mod:`numfmt.formats.fixed` documents the semantics and
:func:`numfmt._kernels._reference_fixed.encode_fixed` is the pure-Python twin.

How an input is read (as the header reads a double)
---------------------------------------------------
* ±0 gives code 0.
* float64 subnormals keep the hidden bit: the header reads the significand
  as ``1.f`` with exponent −1023, so ``f * 2**-1074`` is taken as
  ``(2**52 + f) * 2**-1075``. Visible only for formats with more than about
  1020 fraction bits.
* ±inf is ``±2**1024``; a NaN is ``±(2**52 + payload) * 2**972`` (the header
  warns "assign NaN to fixed point value" and goes on). Narrower input floats
  are widened to float64 first, which quiets a NaN and shifts its payload up.

Then the value is scaled by ``2**frac_bits`` and rounded to an integer ``q``
in the integer domain; overflow handling sees ``q``, its low ``width`` bits,
and ``lD``, bit ``width`` of ``floor(x * 2**frac_bits)`` in two's complement
(before rounding), which AP_WRAP_SM uses.

:func:`encode_mag` does that for any exact value ``±mag * 2**exp`` with a
64-bit ``mag``; float inputs reach it through :func:`encode_one`, int64/uint64
inputs through :func:`encode_ints`, which never passes through float64.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from ._core import (FINITE, INF, STOCHASTIC, bit_length, round_shift, round_up, round_up_by_table,
                    round_up_table, unpack_float)

# Overflow codes: the order of numfmt.modes.Overflow (checked by a test).
SAT, INFINITY, SAT_ZERO, SAT_SYM, WRAP, WRAP_SM = range(6)

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_MAG62 = np.uint64(1 << 62)


@numba.njit(cache=True, nogil=True, inline="always")
def _bit(v, k):
    """Bit ``k`` (≥ 0) of a uint64 ``v`` (False for ``k ≥ 64``)."""
    if k >= 64:
        return False
    return ((v >> np.uint64(k)) & _U1) == _U1


@numba.njit(cache=True, nogil=True, inline="always")
def _bit_length64(v):
    """Number of bits of a uint64 (0 for 0)."""
    if (v >> np.uint64(63)) != _U0:
        return np.int64(64)
    return bit_length(np.int64(v))


@numba.njit(cache=True, nogil=True, inline="always")
def _set_range(v, lo, hi, ones):
    """``v`` (uint64) with bits ``lo..hi`` (inclusive, ``lo <= hi < 64``) all ``ones``."""
    n = hi - lo + 1
    m = ~_U0 if n >= 64 else (_U1 << np.uint64(n)) - _U1
    m = m << np.uint64(lo)
    return (v | m) if ones else (v & ~m)


@numba.njit(cache=True, nogil=True, inline="always")
def _set_bit(v, k, one):
    return _set_range(v, k, k, one)


@numba.njit(cache=True, nogil=True, inline="always")
def _round_shift64(mag, s, neg, mode, rnd, sr_bits):
    """``(q, trunc, inexact)``: ``mag / 2**s`` (uint64 ``mag``, ``s ≥ 1``) rounded, truncated, inexact.

    ``q ≤ 2**63``. A magnitude below ``2**62`` (every float input) takes the
    int64 :func:`round_shift` of the float kernels. Wider ones (64-bit integer
    inputs) take :func:`round_up`'s decision here; for ``s > 64`` the
    remainder (below ``2**64``) is less than half a unit, which a remainder
    of 0 or 1 against a half of ``2**63`` reproduces.
    """
    if mag < _MAG62:
        m = np.int64(mag)
        sc = min(s, np.int64(63))    # s ≥ 63: the quotient is 0 and the remainder all of m
        inexact = (m & ((np.int64(1) << sc) - 1)) != 0
        return np.uint64(round_shift(m, s, neg, mode, rnd, sr_bits)), np.uint64(m >> sc), inexact
    if s >= 64:
        trunc = _U0
        rem = mag
    else:
        trunc = mag >> np.uint64(s)
        rem = mag & ((_U1 << np.uint64(s)) - _U1)
    inexact = rem != _U0
    if mode != STOCHASTIC:
        if s > 64:
            rem = _U1 if inexact else _U0
        half = _U1 << np.uint64(min(s, np.int64(64)) - 1)
        up = round_up(np.int64(trunc & _U1), rem, half, neg, mode)
    else:                            # the discarded fraction read to sr_bits bits, truncated
        t = s - sr_bits
        if t >= 64:
            frac = _U0
        elif t >= 0:
            frac = rem >> np.uint64(t)
        else:
            frac = rem << np.uint64(-t)
        up = rnd < np.int64(frac)
    return trunc + (_U1 if up else _U0), trunc, inexact


@numba.njit(cache=True, nogil=True, inline="always")
def encode_mag(neg, mag, exp, width, frac_bits, signed, mode, overflow, sat_bits, rnd, sr_bits):
    """The code (uint64) of the exact value ``±mag * 2**exp`` (uint64 ``mag ≥ 1``).

    Scales by ``2**frac_bits``, rounds to an integer ``q`` and applies the
    overflow mode, as ``ap_fixed_base`` does for a value it holds exactly.
    """
    # -- scale by 2**frac_bits and round: |q| = Q, t = floor(x * 2**frac_bits) --
    w = width
    e = exp + frac_bits
    huge = False                     # |q| >= 2**64 (then low64 holds |q| mod 2**64)
    if e >= 0:                       # exact: Q = T = mag * 2**e
        if e >= 64:
            low64 = _U0
            huge = True
        else:
            low64 = mag << np.uint64(e)
            huge = _bit_length64(mag) + e > 64
        # lD = bit w of t = +-T; for -T that is not(bit w of T - 1)
        if neg:
            ld = False if w < e else not _bit(mag - _U1, w - e)
        else:
            ld = False if w < e else _bit(mag, w - e)
    else:
        low64, trunc, inexact = _round_shift64(mag, -e, neg, mode, rnd, sr_bits)
        # t = trunc, or -(trunc + inexact) = ~(trunc + inexact - 1) when negative
        ld = (not _bit(trunc + (_U1 if inexact else _U0) - _U1, w)) if neg else _bit(trunc, w)

    q_neg = neg and (huge or low64 != _U0)
    mask = ~_U0 if w == 64 else (_U1 << np.uint64(w)) - _U1
    v = ((_U0 - low64) if neg else low64) & mask
    if overflow == WRAP and sat_bits == 0:
        return v

    # -- overflow flags: q above the largest or below the smallest integer ----
    if signed:
        lim_pos = (_U1 << np.uint64(w - 1)) - _U1
        lim_neg = _U1 << np.uint64(w - 1)
    else:
        lim_pos = mask
        lim_neg = _U0
    ovf = (not neg) and (huge or low64 > lim_pos)
    unf = q_neg and (huge or low64 > lim_neg)
    if overflow == SAT_SYM and signed and q_neg and low64 == lim_neg:
        unf = True                   # the asymmetric minimum saturates too
    if not (ovf or unf):
        return v

    # -- overflow_adjust ---------------------------------------------------
    sign = q_neg
    top = w - 1
    if overflow == WRAP:
        if signed:
            v = _set_bit(v, top, sign)
            if sat_bits > 1:
                v = _set_range(v, w - sat_bits, top - 1, not sign)
        else:
            v = _set_range(v, w - sat_bits, top, True)
    elif overflow == SAT_ZERO:
        v = _U0
    elif overflow == WRAP_SM:      # signed only (ap_ufixed rejects AP_WRAP_SM)
        ro = ((v >> np.uint64(top)) & _U1) == _U1
        if sat_bits == 0:
            if ld != ro:
                v = (~v) & mask
                v = _set_bit(v, top, ld)
        else:
            if sat_bits == 1:
                if sign != ro:
                    v = (~v) & mask
            else:
                lno = ((v >> np.uint64(w - sat_bits)) & _U1) == _U1
                if lno == sign:
                    v = (~v) & mask
                v = _set_range(v, w - sat_bits, top - 1, not sign)
            v = _set_bit(v, top, sign)
    else:                          # SAT, SAT_SYM
        if signed:
            if ovf:
                v = lim_pos
            else:
                v = lim_neg | (_U1 if overflow == SAT_SYM else _U0)
        else:
            v = mask if ovf else _U0
    return v


@numba.njit(cache=True, nogil=True, inline="always")
def encode_one(b, in_e, in_m, width, frac_bits, signed, mode, overflow, sat_bits, rnd, sr_bits):
    """The code (uint64) of the float with bits ``b`` in ``ap_fixed<width, width - frac_bits>``."""
    neg, cls, mag, exp = unpack_float(b, in_e, in_m)
    # -- read the input as ap_fixed_base(double) does -------------------------
    if cls == INF:
        mag = np.int64(1) << 52
        exp = np.int64(972)
    elif cls != FINITE:  # NaN: widen to float64 (quiet bit set), then 1.payload * 2**1024
        if in_m < 52:
            mag = (mag << (52 - in_m)) | (np.int64(1) << 51)
        mag = mag | (np.int64(1) << 52)
        exp = np.int64(972)
    elif mag == 0:
        return _U0
    elif in_e == 11 and mag < (np.int64(1) << 52):  # float64 subnormal: hidden bit kept
        mag = mag | (np.int64(1) << 52)
        exp = np.int64(-1075)
    return encode_mag(neg, np.uint64(mag), exp, width, frac_bits, signed, mode, overflow, sat_bits,
                      rnd, sr_bits)


@functools.lru_cache(maxsize=None)
def encoder(in_e: int, in_m: int):
    """The compiled loop of :func:`encode_one` for one input type.

    The input layout is a compile-time constant of the loop (Numba freezes
    closure variables and keys its disk cache on them); the modes are not,
    to keep the number of compiled variants small — the float64 cases that
    need speed take :func:`fast_encoder`. :func:`encode_fixed` runs only the
    float64 loop, into uint64 codes: each variant compiles for about 10 s.
    """

    @numba.njit(cache=True, nogil=True)
    def kernel(bits, width, frac_bits, signed, mode, overflow, sat_bits, rand, sr_bits, out):
        stochastic = rand.size == bits.size
        for i in range(bits.size):
            rnd = rand[i] if stochastic else np.int64(0)
            out[i] = encode_one(bits[i], in_e, in_m, width, frac_bits, signed, mode, overflow,
                                sat_bits, rnd, sr_bits)

    return kernel


@numba.njit(cache=True, nogil=True)
def encode_ints(neg, mag, width, frac_bits, signed, mode, overflow, sat_bits, rand, sr_bits, out):
    """Write the code of each integer ``-mag[i] if neg[i] else mag[i]`` (uint64 ``mag``) to ``out``.

    The integers are exact (no float64 in between), so int64/uint64 inputs
    beyond 2**53 convert as the exact values they are.
    """
    stochastic = rand.size == mag.size
    for i in range(mag.size):
        if mag[i] == _U0:
            out[i] = 0
        else:
            rnd = rand[i] if stochastic else np.int64(0)
            out[i] = encode_mag(neg[i], mag[i], np.int64(0), width, frac_bits, signed, mode, overflow,
                                sat_bits, rnd, sr_bits)


def fast_path_applies(in_e, width, mode, overflow, sat_bits) -> bool:
    """True if :func:`fast_encoder` computes exactly what :func:`encode_one` does.

    float64 inputs, width ≤ 32, a deterministic rounding, and the overflow
    modes that only clamp or wrap (``sat``, ``sat_zero``, ``sat_sym``, and
    ``wrap`` without saturation bits).
    """
    return (in_e == 11 and width <= 32 and mode != STOCHASTIC
            and (overflow in (SAT, SAT_ZERO, SAT_SYM) or (overflow == WRAP and sat_bits == 0)))


@functools.lru_cache(maxsize=None)
def _fast_loop(overflow: int):
    """The compiled loop of :func:`fast_encoder` for one overflow mode (a compile-time
    constant: with it and the rounding mode both read at run time the loop ran up to 1.6x
    slower on one thread than with both constant; with the overflow mode constant, about
    1.15x); the rounding mode arrives at run time as its :func:`round_up_table`."""
    wrap, sat_zero = overflow == WRAP, overflow == SAT_ZERO

    @numba.njit(cache=True, nogil=True)
    def kernel(bits, width, frac_bits, lo, hi, table, out):
        mask = (np.int64(1) << width) - 1
        for i in range(bits.size):
            b = bits[i]
            neg = (b >> np.uint64(63)) != np.uint64(0)
            field = np.int64((b >> np.uint64(52)) & np.uint64(0x7FF))
            m = np.int64(b & np.uint64(0xFFFFFFFFFFFFF)) | (np.int64(1) << 52)
            is_zero = (b << np.uint64(1)) == np.uint64(0)
            t = 1075 - frac_bits - field           # value * 2**frac_bits = m / 2**t
            big = t <= 0                           # |q| >= 2**52 > 2**width: overflow
            tc = min(max(t, np.int64(1)), np.int64(63))
            q = m >> tc
            mag = q + round_up_by_table(m, tc, neg, table)
            v = -mag if neg else mag
            if wrap:
                sh = min(-t, np.int64(63))
                wrapped = (m << sh) if sh < width else np.int64(0)
                v = (-wrapped if neg else wrapped) if big else v
            elif sat_zero:
                v = np.int64(0) if big | (v < lo) | (v > hi) else v
            else:                                  # SAT, SAT_SYM: lo, hi are the clamp limits
                v = (lo if neg else hi) if big else min(max(v, lo), hi)
            out[i] = 0 if is_zero else v & mask

    return kernel


@functools.lru_cache(maxsize=None)
def fast_encoder(mode: int, overflow: int):
    """A branch-free loop for the cases of :func:`fast_path_applies` (float64 input).

    It reads a double as ``ap_fixed_base(double)`` does — hidden bit always
    set, so ±inf, NaN and subnormals need no special case — and every choice
    is a select, so the loop vectorises. ``kernel(bits, width, frac_bits,
    lo, hi, out)`` with ``[lo, hi]`` the integer range that does not overflow.
    The rounding mode is read from its :func:`round_up_table` at run time, so
    the loop is compiled per overflow mode and output dtype, not per rounding mode
    (about 15 % slower on one thread than a compile-time mode; with threads the
    loop runs at memory-copy speed either way, ``bench/bench_scalar_casts.py``).
    """
    if overflow not in (SAT, SAT_ZERO, SAT_SYM, WRAP):
        raise ValueError(f"overflow must be SAT, SAT_ZERO, SAT_SYM or WRAP for the fast loop, not {overflow!r}")
    loop, table = _fast_loop(SAT if overflow == SAT_SYM else overflow), np.int64(round_up_table(mode))

    def kernel(bits, width, frac_bits, lo, hi, out):
        loop(bits, width, frac_bits, lo, hi, table, out)

    return kernel


def widened_bits(bits, in_e: int, in_m: int) -> np.ndarray:
    """The float64 bits of float16 ``(5, 10)``, bfloat16 ``(8, 7)`` or float32 ``(8, 23)`` input
    bits, as the header reads them: every number exact, a NaN quiet with its sign and its
    payload shifted to the top of float64's (numpy widens a float16 NaN without quieting it).

    >>> import numpy as np
    >>> hex(int(widened_bits(np.array([0x3C00, 0x7D01], np.uint16), 5, 10)[1]))   # a signalling NaN
    '0x7ffc040000000000'
    """
    layouts = {(5, 10): np.float16, (8, 23): np.float32, (8, 7): None}
    if (in_e, in_m) not in layouts:
        raise ValueError(f"(in_e, in_m) must be a float16, bfloat16 or float32 layout {tuple(layouts)}, "
                         f"not {(in_e, in_m)!r}")
    if layouts[in_e, in_m] is None:            # bfloat16: the top half of a float32
        narrow = (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
    else:
        narrow = bits.view(layouts[in_e, in_m])
    with np.errstate(invalid="ignore"):
        wide = narrow.astype(np.float64).view(np.uint64)
    wide[np.isnan(narrow)] |= np.uint64(1 << 51)
    return wide


def encode_fixed(bits, in_e, in_m, width, frac_bits, signed, mode, overflow, sat_bits,
                 rand, sr_bits, out):
    """Write the code of each input float (given by its bits) to ``out`` (any unsigned dtype that holds it).

    ``rand`` holds one random integer per element for stochastic rounding;
    any other length means "not stochastic". Narrower floats are widened to float64 first
    (:func:`widened_bits`; exact, as the header reads them). Dispatches to the branch-free
    :func:`fast_encoder` where :func:`fast_path_applies`, else to :func:`encoder`, whose one
    compiled loop (float64 in, uint64 out: it compiles for about 10 s) serves every input
    type and code width.
    """
    if in_e != 11:
        bits, in_e, in_m = widened_bits(bits, in_e, in_m), 11, 52
    if fast_path_applies(in_e, width, mode, overflow, sat_bits):
        lo, hi = clamp_limits(width, signed, overflow)
        fast_encoder(mode, overflow)(bits, width, frac_bits, lo, hi, out)
        return
    wide = out if out.dtype == np.uint64 else np.empty(out.size, np.uint64)
    encoder(in_e, in_m)(bits, width, frac_bits, signed, mode, overflow, sat_bits, rand, sr_bits, wide)
    if wide is not out:
        out[:] = wide


def clamp_limits(width: int, signed: bool, overflow: int) -> tuple[int, int]:
    """The integer range ``[lo, hi]`` a code may hold without overflow handling.

    For ``sat_sym`` the signed minimum saturates too (to ``-max``), except for
    width 1, where ``-max`` is 0 and the headers give the minimum itself.
    """
    if not signed:
        return 0, (1 << width) - 1
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if overflow == SAT_SYM and width > 1:
        lo += 1
    return lo, hi
