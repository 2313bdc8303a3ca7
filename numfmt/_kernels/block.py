"""One-pass block (MX) quantization of float32 input, blocks along the last axis.

:meth:`numfmt.BlockFormat.encode` computes, block by block, the largest
magnitude, the shared exponent ``e`` and the element codes of ``x / 2**e``
in several NumPy passes. :func:`kernel` does the same per block in one
compiled loop, for the cases ``BlockFormat._fused_plan`` admits; the tests
check it against the general path on inputs that reach every branch.

Per element, with ``b`` the float32 bits of ``x``:

* If ``x`` is ±0, or normal with ``x / 2**e`` still a float32 normal, the
  quotient's bits are ``b - (e << 23)`` (only the exponent field changes),
  and its code is read from the element format's table indexed by the top
  16 bits and whether the low 16 are zero (the table of
  ``FloatFormat._lut_exact``, or its fixed-point counterpart), built by the
  element format's own ``encode``.
* Otherwise (float32 subnormal ``x``, a quotient outside float32's normal
  range, inf or NaN) the element is listed; the caller encodes the listed
  elements' exact float64 quotients ``x * 2**-e`` with the element format's
  ``encode``, as the general path does for every element.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from ._core import bit_length, bits_f32, bits_f64, f32_bits

RULE_OCP, RULE_CEIL, RULE_NEAREST = 0, 1, 2
# block parameter vector: (per_element, rule, emax_elem, k_shift, m_int, up, down, lo, hi)
(B_PER_ELEMENT, B_RULE, B_EMAX, B_KSHIFT, B_MINT, B_UP, B_DOWN, B_LO, B_HI, B_COUNT) = range(10)

_jit = numba.njit(cache=True, nogil=True, inline="always")
_U = np.uint32


@_jit
def block_exponent(amax, bp):
    """The clamped shared exponent of a block whose largest magnitude has float32 bits ``amax`` (> 0, finite)."""
    field = amax >> 23
    frac = amax & 0x7FFFFF
    if field == 0:                           # subnormal maximum: normalise
        bl = bit_length(frac)
        ex = (1 - 127 - 23) + bl - 1
        sig = frac << (24 - bl)
    else:
        ex = field - 127
        sig = frac | 0x800000
    e = ex - bp[B_EMAX]
    rule = bp[B_RULE]
    if rule != RULE_OCP:
        s = sig << bp[B_KSHIFT]
        if rule == RULE_CEIL:
            e += np.int64(s > bp[B_MINT])
        else:
            e += np.int64(s >= bp[B_UP]) - np.int64(s <= bp[B_DOWN])
    return min(max(e, bp[B_LO]), bp[B_HI])


@_jit
def _magnitudes(bits, start, count, per_element):
    """``(amax, top, low)`` of ``bits[start:start+count]`` (uint32 magnitudes).

    ``amax`` is the largest magnitude (non-finite ones skipped if
    ``per_element``), ``top`` the largest including non-finite ones, and
    ``low`` the smallest nonzero one minus 1 (``0xFFFFFFFF`` if all are zero).
    """
    amax = _U(0)
    top = _U(0)
    low = _U(0xFFFFFFFF)
    for i in range(count):
        m = _U(bits[start + np.uint64(i)] & _U(0x7FFFFFFF))
        top = max(top, m)
        low = min(low, _U(m - _U(1)))
        if per_element:
            m = m if m < _U(0x7F800000) else _U(0)
        amax = max(amax, m)
    return amax, top, low


@_jit
def _pow2(e):
    """``2.0**e`` for ``-1022 <= e <= 1023`` (the plan keeps ``|e| <= 800``), from its bits."""
    return bits_f64((e + 1023) << 52)


@_jit
def _fast_range(e):
    """``(lo, span, never)``: ``x / 2**e`` keeps float32 bits ``b - (e << 23)`` when ``b``'s exponent
    field ``f`` has ``f - lo ≤ span`` as unsigned numbers, i.e. ``f`` and ``f - e`` both in 1..254
    (``never``: no field does)."""
    lo = max(np.int64(1), 1 + e)
    hi = min(np.int64(254), 254 + e)
    if lo > hi:
        return _U(1), _U(0), True
    return _U(lo), _U(hi - lo), False


@_jit
def _elements(bits, start, count, e, values, table, vtable, codes, out, all_fast, slow, n_slow):
    """Codes (or values) of ``bits[start:start+count]`` divided by ``2**e`` (a finite block).

    With ``all_fast`` (every element is ±0 or passes :func:`_fast_range`) the
    loop has no test; otherwise the other elements' indices are appended to
    ``slow`` from ``n_slow`` on. Returns the new ``n_slow``.
    """
    shift = _U((e << 23) & 0xFFFFFFFF)
    scale = _pow2(e)
    lo_u, span, never = _fast_range(e)
    for i in range(count):
        k = start + np.uint64(i)                  # unsigned: no negative-index wraparound code
        b = _U(bits[k])
        m = _U(b & _U(0x7FFFFFFF))
        y = _U(b - shift) if m != _U(0) else b
        c = table[_U(_U(y >> _U(16)) << _U(1)) | _U(_U(y & _U(0xFFFF)) != _U(0))]
        if values:
            out[k] = vtable[c] * scale
        else:
            codes[k] = c
        if not all_fast and not (m == _U(0) or (not never and _U(_U(m >> _U(23)) - lo_u) <= span)):
            slow[n_slow] = k
            n_slow += 1
    return n_slow


# value parameters of the vectorised round to nearest even (numfmt.formats.block._nearest_values_plan)
(V_MINNORM, V_STEP, V_MAX, V_COUNT) = range(4)


@_jit
def _nearest_values(bits, start, shift, scale, vp, tmp, out, sh, half, keep, implicit_odd, signed_zero):
    """``-> bad``: the values ``out[start:start+32]`` of a full block of 32 (every quotient's bits
    ``b - shift`` a float32 normal or ±0, ``scale = 2**e``), in round to nearest even,
    vectorised; ``tmp`` is 32 int32 of scratch.

    An element format's grid at a quotient ``y`` is the float32 grid of ``man`` fraction bits
    (for ``|y| >= 2**emin``: integer rounding of the bits, the carry moving into the exponent)
    or a fixed step (below: ``|y| + step - step`` in float32, with ``step`` the float32 whose
    last place is the format's quantum; a fixed-point element has only this grid, its
    ``V_MINNORM`` above every float32). ``sh = 23 - man``, ``half``, ``keep`` and
    ``implicit_odd`` (:func:`_nearest_constants`) and ``signed_zero`` (the element format has a
    negative zero) are the caller's compile-time constants (inlined: they stay constants here).
    ``bad`` when some rounded magnitude exceeds ``V_MAX`` (the element's largest finite
    magnitude, as float32 bits): the caller then uses the table loop.
    """
    i32 = np.int32
    minnorm, step, vmax = i32(vp[V_MINNORM]), i32(vp[V_STEP]), i32(vp[V_MAX])
    src = bits[start:start + np.uint64(32)]
    dst = out[start:start + np.uint64(32)]          # slices, not index bounds: the loop vectorises
    bad = i32(0)
    for i in range(32):
        b = i32(src[i])
        u = i32(b & i32(0x7FFFFFFF))
        y = i32(u - shift) if u != i32(0) else u
        normal = i32(i32(i32(y + half) + i32(i32(i32(y >> sh) & i32(1)) | implicit_odd)) & keep)
        sub = f32_bits(np.float32(bits_f32(y) + bits_f32(step)) - bits_f32(step))
        v = normal if y >= minnorm else sub
        bad = i32(bad | i32(v > vmax))
        sign = i32(b & i32(-0x80000000))
        if signed_zero:
            v = i32(v | sign)
        else:
            v = i32(v | sign) if v != i32(0) else v
        tmp[i] = v
    for i in range(dst.size):       # a loop of its own: the int32 one above runs 8 lanes wide
        dst[i] = np.float64(bits_f32(tmp[i])) * scale
    return bad != 0


def _nearest_constants(man: int) -> tuple:
    """``(sh, half, keep, implicit_odd)`` of :func:`_nearest_values` for ``man`` fraction bits."""
    i32 = np.int32
    return (i32(23 - man), i32((1 << (22 - man)) - 1),
            i32(-(1 << (23 - man))),                    # clears the bits below the kept fraction
            i32(1 if man == 0 else 0))                  # man = 0: the kept significand is the implicit 1


@functools.lru_cache(maxsize=None)
def kernel(block: int, man: int = -1, signed_zero: bool = False):
    """The compiled loop, with ``block`` a compile-time constant (32 for OCP MX) or 0 for any length.

    With ``block = 32`` and ``man >= 0``, full blocks of values in range are written by the
    vectorised loop of :func:`_nearest_values` (``man``, ``signed_zero``; parameters ``vp``
    from ``numfmt.formats.block._nearest_values_plan``), the element format's round to nearest even;
    ``man = -1``: the table loop everywhere.

    A constant block gives the per-block loops a known trip count.
    ``kern(bits, n, block, g0, g1, bp, table, vtable, values, codes, out,
    e_out, nan_out, slow, vp)`` handles blocks ``g0 .. g1-1`` of the ``(rows,
    n)`` input (``nb = ceil(n / block)`` blocks per row; block ``g`` is block
    ``g % nb`` of row ``g // nb``). ``bits`` is the flat float32 input seen as
    uint32; ``bp`` the block parameters (``B_*``); ``table`` the element
    codes by ``(hi16, low != 0)``; ``vtable`` the element values by code. It
    writes the element codes to ``codes`` (``values=False``) or the decoded
    values ``vtable[code] * 2**e`` to ``out`` (``values=True``; NaN in a NaN
    block), each block's ``e`` and NaN flag to ``e_out`` and ``nan_out``, and
    the flat indices of the elements the table does not cover to ``slow``,
    starting at the chunk's first element. Returns how many it listed.
    """
    fixed_block = block
    vector_values = block == 32 and man >= 0
    sh, half, keep, implicit_odd = _nearest_constants(max(man, 0))

    @numba.njit(cache=True, nogil=True)
    def kern(bits, n, block, g0, g1, bp, table, vtable, values, codes, out, e_out, nan_out, slow, vp):
        nb = (n + block - 1) // block
        per_element = bp[B_PER_ELEMENT] != 0
        tmp = np.empty(32, dtype=np.int32)
        r = g0 // nb
        j = g0 - r * nb
        first = r * n + j * block
        n_slow = first
        for g in range(g0, g1):
            start = np.uint64(r * n + j * block)     # unsigned indices: no wraparound code
            count = min(block, n - j * block)
            full = fixed_block != 0 and count == fixed_block
            if full:
                amax, top, low = _magnitudes(bits, start, fixed_block, per_element)
            else:
                amax, top, low = _magnitudes(bits, start, count, per_element)
            nan = amax >= _U(0x7F800000)
            if nan:
                e = np.int64(0)
            elif amax == _U(0):
                e = bp[B_LO]
            else:
                e = block_exponent(np.int64(amax), bp)
            e_out[g] = e
            nan_out[g] = nan
            if nan:
                for i in range(count):
                    if values:
                        out[start + np.uint64(i)] = np.nan
                    else:
                        codes[start + np.uint64(i)] = 0
            else:
                # the nonzero magnitudes lie in [low + 1, top]: all fast if both ends' fields pass
                lo_u, span, never = _fast_range(e)
                all_fast = top == _U(0) or (
                    top < _U(0x7F800000) and not never
                    and _U(_U(_U(low + _U(1)) >> _U(23)) - lo_u) <= span
                    and _U(_U(top >> _U(23)) - lo_u) <= span)
                if full and all_fast and vector_values and values and \
                        not _nearest_values(bits, start, np.int32(e << 23), _pow2(e), vp, tmp, out,
                                           sh, half, keep, implicit_odd, signed_zero):
                    pass
                elif full and all_fast:
                    n_slow = _elements(bits, start, fixed_block, e, values, table, vtable, codes, out,
                                       True, slow, n_slow)
                else:
                    n_slow = _elements(bits, start, count, e, values, table, vtable, codes, out,
                                       False, slow, n_slow)
            j += 1
            if j == nb:
                j = 0
                r += 1
        return n_slow - first

    return kern
