"""Compiled encode/decode loops for floating formats (minifloats to fp32).

The format arrives as a tuple of ints built by
:func:`numfmt.formats.floating.FloatFormat._kernel_params`; the layout is the
``P_*`` indices below. ``encode_one.py_func`` is the plain-Python twin of the
encoder; the tests also hold an independent reference built from the format's
value set (``tests/numfmt/formats/float_reference.py``).
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from ._core import FINITE, INF, CEIL, FLOOR, RNE, RTZ, bit_length, bits_f32, f32_bits, round_shift, unpack_float

# Parameter vector layout.
(P_EXP, P_MAN, P_BIAS, P_SIGNED, P_FTZ, P_HAS_ZERO, P_EMIN, P_MAX_MAG, P_OVF_INF,
 P_NAN_POS, P_NAN_NEG, P_INF_POS, P_INF_NEG, P_ZERO_NEG, P_NEG_UNSIGNED,
 P_SPECIALS, P_NEG_NAN, P_COUNT) = range(18)


@numba.njit(cache=True, nogil=True, inline="always")
def encode_one(b, in_e, in_m, p, mode, rnd, sr_bits, nan_payload):
    """The code of one input float (given by its bits) in the format ``p``.

    ``p`` is the tuple of ``FloatFormat._kernel_params``. With ``nan_payload``
    (IEEE formats only), a NaN keeps the top bits of its payload (1 if those
    are all zero), as numpy's float16 cast does; otherwise it becomes the
    canonical quiet NaN of its sign. ``encode_one.py_func`` runs the same
    steps in plain Python.
    """
    man = p[P_MAN]
    signed = p[P_SIGNED] != 0
    has_zero = p[P_HAS_ZERO] != 0
    emin = p[P_EMIN]
    sign_bit = (np.int64(1) << (p[P_EXP] + man)) if signed else np.int64(0)
    neg, cls, mag, e = unpack_float(b, in_e, in_m)
    if cls == FINITE and mag != 0:
        if neg and p[P_NEG_NAN] != 0:             # negative_nan: even values that round to 0
            return p[P_NEG_UNSIGNED]
        ex = bit_length(mag) - 1 + e              # |x| in [2**ex, 2**(ex+1))
        if p[P_FTZ] != 0 and ex < emin:
            return p[P_ZERO_NEG] if neg else np.int64(0)
        q = max(ex, emin) - man                   # exponent of one unit in the last place
        s = q - e
        r = mag << (-s) if s <= 0 else round_shift(mag, s, neg, mode, rnd, sr_bits)
        if r == 0 and has_zero:
            return p[P_ZERO_NEG] if neg else np.int64(0)
        if neg and not signed:
            return p[P_NEG_UNSIGNED]
        if not has_zero:
            r = max(r, np.int64(1) << man)        # no zero: underflow to the smallest value
        mag_code = ((q + man + p[P_BIAS] - 1) << man) + r
        if mag_code > p[P_MAX_MAG]:
            toward_zero = (mode == RTZ) | ((mode == FLOOR) & (not neg)) | ((mode == CEIL) & neg)
            if p[P_OVF_INF] != 0 and not toward_zero:
                return p[P_INF_NEG] if neg else p[P_INF_POS]
            mag_code = p[P_MAX_MAG]
        return mag_code | (sign_bit if neg else np.int64(0))
    if cls == FINITE:  # ±0
        if not has_zero:
            return p[P_NAN_NEG] if neg else p[P_NAN_POS]
        return p[P_ZERO_NEG] if neg else np.int64(0)
    if cls == INF:
        if neg and not signed:
            return p[P_NEG_UNSIGNED]
        return p[P_INF_NEG] if neg else p[P_INF_POS]
    if nan_payload and p[P_SPECIALS] == 0:
        pay = mag << (man - in_m) if man >= in_m else mag >> (in_m - man)
        exp_ones = ((np.int64(1) << p[P_EXP]) - 1) << man
        return exp_ones | max(pay, np.int64(1)) | (sign_bit if neg else np.int64(0))
    return p[P_NAN_NEG] if neg else p[P_NAN_POS]


@functools.lru_cache(maxsize=None)
def _encode_loop(in_e: int, in_m: int, frozen_mode: int):
    """The compiled loop ``loop(bits, p, rand, sr_bits, nan_payload, mode, out)`` of :func:`encoder`.

    The input layout is a compile-time constant (Numba freezes closure variables and keys
    its disk cache on them); so is the rounding mode when ``frozen_mode >= 0``, else the
    loop reads ``mode`` at run time. ``out`` is always uint64 (:func:`encoder` narrows it),
    so the loop is compiled once per input type and mode, not again per code width.
    """

    @numba.njit(cache=True, nogil=True)
    def loop(bits, p, rand, sr_bits, nan_payload, mode, out):
        m = frozen_mode if frozen_mode >= 0 else mode
        stochastic = rand.size == bits.size
        for i in range(bits.size):
            rnd = rand[i] if stochastic else np.int64(0)
            out[i] = encode_one(bits[i], in_e, in_m, p, m, rnd, sr_bits, nan_payload)

    return loop


@functools.lru_cache(maxsize=None)
def encoder(in_e: int, in_m: int, mode: int):
    """A loop ``kernel(bits, p, rand, sr_bits, nan_payload, out)`` for one input type and mode.

    Round to nearest even, every fast path's fallback, is compiled with the mode as a
    constant; the other nine modes share one loop per input type that reads the mode at run
    time: one compilation (seconds each) instead of nine, and no speed difference measurable
    on a shared 2-core machine (single thread, float32/float64 into e4m3fn, e5m2, fp16).
    ``out`` may be any unsigned integer array; the loop writes uint64 codes, through a
    buffer narrowed on copy for the others (one compiled loop for every code width).
    """
    loop = _encode_loop(in_e, in_m, RNE if mode == RNE else -1)

    def kernel(bits, p, rand, sr_bits, nan_payload, out):
        if out.dtype == np.uint64:
            loop(bits, p, rand, sr_bits, nan_payload, mode, out)
            return
        # the loop writes uint64 codes: through a buffer of ENCODE_BLOCK, narrowed on copy
        if bits.size <= ENCODE_BLOCK:
            buf = np.empty(bits.size, dtype=np.uint64)
            loop(bits, p, rand, sr_bits, nan_payload, mode, buf)
            out[:] = buf
            return
        stochastic = rand.size == bits.size
        buf = np.empty(ENCODE_BLOCK, dtype=np.uint64)
        for a in range(0, bits.size, ENCODE_BLOCK):
            b = min(a + ENCODE_BLOCK, bits.size)
            loop(bits[a:b], p, rand[a:b] if stochastic else rand, sr_bits, nan_payload, mode, buf[:b - a])
            out[a:b] = buf[:b - a]

    return kernel


ENCODE_BLOCK = 1 << 15   # elements :func:`encoder` encodes into its uint64 buffer at a time (256 KiB)


F32_BLOCK = 1024        # elements per block of encode_f32_nearest; a block with an exception is redone


def f32_nearest_ok(p) -> bool:
    """True if :func:`encode_f32_nearest` applies to the format ``p`` (round to nearest even).

    The format must be signed with a zero and subnormals, not ``negative_nan``, at most 16
    bits wide with at most 22 fraction bits, its normal range starting inside float32's
    (``emin >= -126``), its smallest quantum at least ``2**-125`` (float32 subnormal inputs
    then round to zero whatever a denormals-are-zero CPU flag says) and the float32 whose
    last place is that quantum, ``2**(emin - man + 23)``, finite, and ``128 + bias >= 2**exp``
    (float32's inf lands above every code of the format).
    """
    return (p[P_SIGNED] != 0 and p[P_HAS_ZERO] != 0 and p[P_FTZ] == 0 and p[P_NEG_NAN] == 0
            and p[P_EXP] + p[P_MAN] <= 15 and p[P_MAN] <= 22 and p[P_EMIN] >= -126
            and -125 <= p[P_EMIN] - p[P_MAN] <= 127 - 23 and 128 + p[P_BIAS] >= 1 << p[P_EXP])


@numba.njit(cache=True, nogil=True, inline="always")
def _f32_nearest_block(bits, offset, minnorm, step, max_mag, sign_bit, zero_neg, out,
                       sh, half, implicit_odd, signed_zero):
    """One block of :func:`encode_f32_nearest`; True if some code exceeds ``max_mag``.
    Inlined, so the caller's compile-time ``sh``, ``half``, ``implicit_odd`` and
    ``signed_zero`` are constants here too."""
    # every operation stays in int32 (Numba would widen to int64): 8 lanes per AVX2 vector
    i32 = np.int32
    top = i32(0)
    for i in range(bits.size):
        x = i32(bits[i])
        u = min(i32(x & i32(0x7FFFFFFF)), i32(0x7F800000))     # inf and NaN: as inf
        # normal: round the significand at bit sh to nearest even and rebias the exponent,
        # both in the addition of offset = half an ulp - 1 - (rebias << sh)
        normal = i32(i32(i32(u + offset) + i32(i32(i32(u >> sh) & i32(1)) | implicit_odd)) >> sh)
        # subnormal: |x| + 2**(emin - man + 23) in float32 puts the step in the last place
        sub = i32(f32_bits(bits_f32(u) + bits_f32(step)) - step)
        code = normal if u >= minnorm else sub
        top = max(top, code)
        neg = i32(x >> i32(31))                              # all ones when x < 0
        if signed_zero:
            out[i] = i32(code | i32(sign_bit & neg))
        else:
            out[i] = i32(code | i32(sign_bit & neg)) if code != 0 else i32(zero_neg & neg)
    return top > max_mag


_GENERAL_F32 = _encode_loop(8, 23, RNE)     # a global of the loop below, not a closure cell (see there)


@functools.lru_cache(maxsize=None)
def _f32_nearest_loop(man: int, signed_zero: bool):
    """The compiled loop of :func:`encode_f32_nearest` for ``man`` fraction bits; ``signed_zero``
    when the format's negative zero is its sign bit alone. Both are compile-time constants
    (a shift by a run-time amount, or the select of the zero's sign, made the loop 1.3-3x
    slower).

    The loop's closure holds plain numbers only: Numba keys its disk cache on the pickled
    closure, and a compiled function in it pickles with a per-process id, so a closure that
    held one was compiled again in every process (``tests/numfmt/kernels/test_disk_cache.py``).
    """
    sh = np.int32(23 - man)
    half = np.int32((1 << (22 - man)) - 1)
    implicit_odd = np.int32(1 if man == 0 else 0)     # man = 0: the kept significand is the implicit 1

    @numba.njit(cache=True, nogil=True)
    def kernel(bits, p, nan_payload, out):
        i32 = np.int32
        offset = i32(half - ((127 - p[P_BIAS]) << 23))      # the rebias, shifted up by sh
        minnorm = i32((p[P_EMIN] + 127) << 23)
        step = i32((p[P_EMIN] - p[P_MAN] + 23 + 127) << 23)
        max_mag = i32(p[P_MAX_MAG])
        sign_bit = i32(1 << (p[P_EXP] + p[P_MAN]))
        zero_neg = i32(p[P_ZERO_NEG])
        rand = np.zeros(1, dtype=np.int64)
        redo = np.empty(min(bits.size, F32_BLOCK), dtype=np.uint64)   # the general loop's uint64 codes
        for a in range(0, bits.size, F32_BLOCK):
            b = min(a + F32_BLOCK, bits.size)           # slices, not index bounds: the loop vectorises
            if _f32_nearest_block(bits[a:b], offset, minnorm, step, max_mag, sign_bit, zero_neg, out[a:b],
                                  sh, half, implicit_odd, signed_zero):
                _GENERAL_F32(bits[a:b], p, rand, 32, nan_payload, RNE, redo[:b - a])
                for i in range(b - a):
                    out[a + i] = redo[i]

    return kernel


def encode_f32_nearest(bits, p, nan_payload, out):
    """Encode float32 input bits to the format ``p`` in round to nearest even, vectorised.

    For the formats of :func:`f32_nearest_ok`. A branch-free loop handles the values that
    round to a finite code of the format: a normal result by integer rounding of the input's
    bits (the encoder's ``((q + man + bias - 1) << man) + r``, whose carry moves into the
    exponent), a subnormal one by a float32 addition. A block of ``F32_BLOCK`` inputs where
    some value overflows the largest finite code (or is inf or NaN) is encoded again by the
    general loop, :func:`encoder`, which defines every case. About 2x the table lookup of
    :func:`encode_lut_hi16` on one core (AVX2).
    """
    signed_zero = p[P_ZERO_NEG] == 1 << (p[P_EXP] + p[P_MAN])
    _f32_nearest_loop(p[P_MAN], signed_zero)(bits, p, nan_payload, out)


def encode_lut_hi16(bits, low_bits, table, out):
    """Encode 32/64-bit input bits through a table indexed by ``(hi16, low != 0)``.

    ``low_bits`` is the number of bits below the top 16 (16 for float32, 48 for
    float64); the loop is compiled with it as a constant (about 10 % faster than
    reading it at run time). Exact when the result depends on the low bits only
    through whether they are zero: see ``FloatFormat._lut_exact``.
    """
    _lut_hi16_loop(low_bits)(bits, table, out)


@functools.lru_cache(maxsize=None)
def _lut_hi16_loop(low_bits: int):
    """The compiled loop of :func:`encode_lut_hi16` for one ``low_bits`` (a compile-time constant)."""

    @numba.njit(cache=True, nogil=True)
    def kernel(bits, table, out):
        one = bits.dtype.type(1)
        shift = bits.dtype.type(low_bits)
        low_mask = (one << shift) - one
        for i in range(bits.size):
            b = bits[i]
            out[i] = table[(np.int64(b >> shift) << 1) | np.int64((b & low_mask) != 0)]

    return kernel


@numba.njit(cache=True, nogil=True)
def quantize_lut_hi16(bits, low_bits, table, values, out):
    """``values[code]`` of each input's code from the ``(hi16, low != 0)`` table: decode(encode(x)) in one pass."""
    low_mask = (bits.dtype.type(1) << bits.dtype.type(low_bits)) - bits.dtype.type(1)
    for i in range(bits.size):
        b = bits[i]
        out[i] = values[table[(np.int64(b >> low_bits) << 1) | np.int64((b & low_mask) != 0)]]


@numba.njit(cache=True, nogil=True)
def encode_lut16(bits, table, out):
    """Encode 16-bit input bits through a table of all 2**16 results."""
    for i in range(bits.size):
        out[i] = table[bits[i]]


@numba.njit(cache=True, nogil=True)
def decode_float(codes, p, out):
    """Write the float64 value of each code of the format ``p`` to ``out``."""
    man = p[P_MAN]
    bias = p[P_BIAS]
    signed = p[P_SIGNED] != 0
    ftz = p[P_FTZ] != 0
    has_zero = p[P_HAS_ZERO] != 0
    specials = p[P_SPECIALS]
    nan_pos = p[P_NAN_POS]
    max_mag = p[P_MAX_MAG]
    sign_shift = p[P_EXP] + man
    mag_mask = (np.int64(1) << sign_shift) - 1
    m_mask = (np.int64(1) << man) - 1
    exp_ones = (np.int64(1) << p[P_EXP]) - 1
    for i in range(codes.size):
        c = np.int64(codes[i])
        neg = signed and ((c >> sign_shift) & 1) == 1
        mc = c & mag_mask
        b = mc >> man
        f = mc & m_mask
        if specials == 0 and b == exp_ones:      # IEEE: inf and NaN
            v = np.inf if f == 0 else np.nan
        elif specials == 1 and mc > max_mag:    # FN: NaN at the all-ones magnitude
            v = np.nan
        elif specials == 2 and c == nan_pos:    # FNUZ: NaN at the negative-zero code
            v = np.nan
        elif b == 0 and has_zero:
            v = 0.0 if ftz else np.ldexp(np.float64(f), 1 - bias - man)
        else:
            v = np.ldexp(np.float64(f | (np.int64(1) << man)), b - bias - man)
        out[i] = -v if neg else v
