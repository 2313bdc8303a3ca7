"""Integer-domain building blocks shared by every compiled kernel.

Everything here works on int64 values and plain integer constants; no Format
object enters compiled code. The pure-Python twins live in
:mod:`numfmt._kernels._reference` and the tests check one against the other.

Conventions
-----------
* An input float is split by :func:`unpack_float` into ``(neg, cls, mag, exp)``
  with ``|x| = mag * 2**exp`` exactly; ``cls`` is ``FINITE``, ``INF`` or ``NAN``.
* :func:`round_shift` divides a non-negative integer by ``2**s`` and rounds the
  quotient under a :class:`numfmt.Rounding` mode (given by its ``code``), for a
  value whose sign is ``neg``. Magnitudes stay below ``2**62``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic

FINITE = 0
INF = 1
NAN = 2

# Rounding codes: the order of numfmt.modes.Rounding (checked by a test).
RNE, RNA, RNP, RNM, RNZ, FLOOR, CEIL, RTZ, RTA, STOCHASTIC = range(10)

_jit = numba.njit(cache=True, nogil=True, inline="always")


def _bitcast(src, dst):
    """A compiled function from ``src`` to ``dst`` (same width) keeping the bits: a register bitcast."""
    @intrinsic
    def cast(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    return cast


f64_bits = _bitcast(types.float64, types.int64)    # the IEEE bits of a float64, as int64
bits_f64 = _bitcast(types.int64, types.float64)    # the float64 of those bits
f32_bits = _bitcast(types.float32, types.int32)    # the IEEE bits of a float32, as int32
bits_f32 = _bitcast(types.int32, types.float32)    # the float32 of those bits


@_jit
def bit_length(v):
    """Number of bits of a non-negative int64 (0 for 0), branch-light."""
    n = 0
    if v >= (1 << 32):
        v >>= 32
        n += 32
    if v >= (1 << 16):
        v >>= 16
        n += 16
    if v >= (1 << 8):
        v >>= 8
        n += 8
    if v >= (1 << 4):
        v >>= 4
        n += 4
    if v >= (1 << 2):
        v >>= 2
        n += 2
    if v >= (1 << 1):
        v >>= 1
        n += 1
    return n + v


@_jit
def unpack_float(bits, in_e, in_m):
    """Split IEEE binary bits (exponent ``in_e``, mantissa ``in_m`` bits).

    Returns ``(neg, cls, mag, exp)`` with ``|x| = mag * 2**exp``; for a NaN,
    ``mag`` is its payload (the mantissa field) and ``exp`` is 0.
    """
    b = np.uint64(bits)
    m_mask = (np.uint64(1) << np.uint64(in_m)) - np.uint64(1)
    e_mask = (np.uint64(1) << np.uint64(in_e)) - np.uint64(1)
    neg = ((b >> np.uint64(in_e + in_m)) & np.uint64(1)) != np.uint64(0)
    ef = np.int64((b >> np.uint64(in_m)) & e_mask)
    frac = np.int64(b & m_mask)
    bias = (np.int64(1) << (in_e - 1)) - 1
    if ef == np.int64(e_mask):
        if frac == 0:
            return neg, INF, np.int64(0), np.int64(0)
        return neg, NAN, frac, np.int64(0)
    if ef == 0:
        return neg, FINITE, frac, np.int64(1 - bias - in_m)
    return neg, FINITE, frac | (np.int64(1) << in_m), ef - bias - in_m


@_jit
def round_up(q, rem, half, neg, mode):
    """Whether a truncated magnitude ``q`` rounds away from zero (deterministic modes).

    ``rem`` is the discarded part and ``half`` half a unit of ``q``, both in
    the same scale; ``neg`` is the value's sign. The decisions are combined
    with ``&`` and ``|`` (not ``and``/``or``) so that they compile to selects
    instead of mispredicted branches.
    """
    nonzero = rem != 0
    above = rem > half
    at = rem == half
    if mode == RNE:
        return above | (at & ((q & 1) == 1))
    if mode == RNA:
        return above | at
    if mode == RNP:
        return above | (at & (not neg))
    if mode == RNM:
        return above | (at & neg)
    if mode == RNZ:
        return above
    if mode == FLOOR:
        return nonzero & neg
    if mode == CEIL:
        return nonzero & (not neg)
    if mode == RTZ:
        return False
    return nonzero  # RTA



def round_up_table(mode: int) -> int:
    """:func:`round_up`'s decision for the deterministic ``mode`` as a 16-bit truth table.

    Bit ``half | odd << 1 | low << 2 | neg << 3`` is whether a magnitude rounds
    away from zero, with ``half`` the top discarded bit, ``odd`` the last kept
    bit, ``low`` whether any discarded bit below ``half`` is set and ``neg`` the
    value's sign. :func:`round_up_by_table` reads it with the mode as a run-time
    value and no branch, so one compiled loop serves every mode. The table is
    computed from :func:`round_up` itself.

    >>> round_up_table(RTZ)
    0
    >>> bool(round_up_table(RNE) >> 0b0011 & 1), bool(round_up_table(RNE) >> 0b0001 & 1)  # ties
    (True, False)
    """
    if mode not in range(STOCHASTIC):
        raise ValueError(f"mode must be a deterministic rounding code 0-{STOCHASTIC - 1}, not {mode!r}")
    table = 0
    for idx in range(16):
        half, odd, low, neg = (idx >> k & 1 for k in range(4))
        if round_up.py_func(odd, 2 * half + low, 2, bool(neg), mode):
            table |= 1 << idx
    return table


@_jit
def round_up_by_table(m, s, neg, table):
    """Whether ``m >> s`` (``m >= 0``, ``1 <= s <= 63``) rounds away from zero under the mode
    whose :func:`round_up_table` is ``table``: 1 or 0."""
    low = (m & ((np.int64(1) << (s - 1)) - 1)) != 0
    idx = ((m >> (s - 1)) & 3) | (np.int64(low) << 2) | (np.int64(neg) << 3)
    return (table >> idx) & 1

@_jit
def round_shift(mag, s, neg, mode, rnd, sr_bits):
    """Round ``mag / 2**s`` (``s >= 1``, ``0 <= mag < 2**62``) to an integer.

    ``neg`` is the sign of the value whose magnitude is ``mag``; it matters
    for the directed modes. For ``STOCHASTIC``, ``rnd`` is a uniform integer
    in ``[0, 2**sr_bits)`` and the result rounds up iff ``rnd`` is below the
    discarded fraction read to ``sr_bits`` bits (truncated).
    """
    sc = min(s, np.int64(63))   # for s ≥ 63 (mag < 2**62): q = 0, rem = mag < half
    q = mag >> sc
    rem = mag & ((np.int64(1) << sc) - 1)
    if mode != STOCHASTIC:
        return q + np.int64(round_up(q, rem, np.int64(1) << (sc - 1), neg, mode))
    # STOCHASTIC: the discarded fraction read to sr_bits bits
    t = s - sr_bits
    if t >= 63:
        frac = np.int64(0)
    elif t >= 0:
        frac = (mag >> t) & ((np.int64(1) << sr_bits) - 1)
    else:
        frac = rem << (-t)
    return q + np.int64(rnd < frac)
