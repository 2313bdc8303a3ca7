"""Compiled encode/decode loops for floating formats (minifloats to fp32).

The format arrives as an int64 parameter vector built by
:func:`numfmt.formats.floating.FloatFormat._kernel_params`; the layout is the
``P_*`` indices below. The pure-Python twin is
:func:`numfmt._kernels._reference.encode_float`.
"""

from __future__ import annotations

import numba
import numpy as np

from ._core import FINITE, INF, CEIL, FLOOR, RTZ, bit_length, round_shift, unpack_float

# Parameter vector layout.
(P_EXP, P_MAN, P_BIAS, P_SIGNED, P_FTZ, P_HAS_ZERO, P_EMIN, P_MAX_MAG, P_OVF_INF,
 P_NAN_POS, P_NAN_NEG, P_INF_POS, P_INF_NEG, P_ZERO_NEG, P_NEG_UNSIGNED,
 P_SPECIALS, P_COUNT) = range(17)


@numba.njit(cache=True, nogil=True)
def encode_float(bits, in_e, in_m, p, mode, rand, sr_bits, nan_payload, out):
    """Round each input float (given by its bits) to the format ``p``; write codes to ``out``.

    With ``nan_payload`` (IEEE formats only), a NaN keeps the top bits of its
    payload (1 if those are all zero), as numpy's float16 cast does; otherwise
    it becomes the canonical quiet NaN of its sign.
    """
    man = p[P_MAN]
    bias = p[P_BIAS]
    signed = p[P_SIGNED] != 0
    ftz = p[P_FTZ] != 0
    has_zero = p[P_HAS_ZERO] != 0
    emin = p[P_EMIN]
    max_mag = p[P_MAX_MAG]
    ovf_inf = p[P_OVF_INF] != 0
    sign_bit = np.int64(1) << (p[P_EXP] + man) if signed else np.int64(0)
    one = np.int64(1) << man
    ieee_nan = nan_payload and p[P_SPECIALS] == 0
    exp_field_ones = ((np.int64(1) << p[P_EXP]) - 1) << man
    stochastic = rand.size == bits.size
    for i in range(bits.size):
        neg, cls, mag, e = unpack_float(bits[i], in_e, in_m)
        rnd = rand[i] if stochastic else np.int64(0)
        if cls == FINITE and mag != 0:
            ex = bit_length(mag) - 1 + e          # |x| in [2**ex, 2**(ex+1))
            if ftz and ex < emin:
                code = p[P_ZERO_NEG] if neg else np.int64(0)
            else:
                q = max(ex, emin) - man           # exponent of one unit in the last place
                s = q - e
                if s <= 0:
                    r = mag << (-s)
                else:
                    r = round_shift(mag, s, neg, mode, rnd, sr_bits)
                if r == 0 and has_zero:
                    code = p[P_ZERO_NEG] if neg else np.int64(0)
                elif neg and not signed:
                    code = p[P_NEG_UNSIGNED]
                else:
                    if r < one and not has_zero:
                        r = one                    # no zero: underflow to the smallest value
                    mag_code = ((q + man + bias - 1) << man) + r
                    if mag_code > max_mag:
                        toward_zero = (mode == RTZ or (mode == FLOOR and not neg)
                                       or (mode == CEIL and neg))
                        if ovf_inf and not toward_zero:
                            code = p[P_INF_NEG] if neg else p[P_INF_POS]
                        else:
                            code = max_mag | (sign_bit if neg else 0)
                    else:
                        code = mag_code | (sign_bit if neg else 0)
        elif cls == FINITE:  # ±0
            if not has_zero:
                code = p[P_NAN_NEG] if neg else p[P_NAN_POS]
            else:
                code = p[P_ZERO_NEG] if neg else np.int64(0)
        elif cls == INF:
            if neg and not signed:
                code = p[P_NEG_UNSIGNED]
            else:
                code = p[P_INF_NEG] if neg else p[P_INF_POS]
        elif ieee_nan:
            pay = mag << (man - in_m) if man >= in_m else mag >> (in_m - man)
            code = exp_field_ones | max(pay, np.int64(1)) | (sign_bit if neg else 0)
        else:
            code = p[P_NAN_NEG] if neg else p[P_NAN_POS]
        out[i] = code


@numba.njit(cache=True, nogil=True)
def encode_lut_hi16(bits, low_bits, table, out):
    """Encode 32/64-bit input bits through a table indexed by ``(hi16, low != 0)``.

    ``low_bits`` is the number of bits below the top 16. Exact when the result
    depends on the low bits only through whether they are zero: see
    ``FloatFormat._lut_exact``.
    """
    low_mask = (bits.dtype.type(1) << bits.dtype.type(low_bits)) - bits.dtype.type(1)
    for i in range(bits.size):
        b = bits[i]
        out[i] = table[(np.int64(b >> low_bits) << 1) | np.int64((b & low_mask) != 0)]


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
