"""Bit-serial integer dot products and matrix products (BISMO, BitMoD style).

An integer ``x`` of an :class:`~numfmt.IntFormat` with ``b`` bits is the weighted sum
of its bit planes: ``x = Σ_i w_i · x_i`` with ``x_i`` bit ``i`` of its two's-complement
(or unsigned) code and ``w_i = 2**i``, except ``w_{b-1} = -2**(b-1)`` for a signed
format (the MSB plane is negated). A bit-serial unit processes one plane (or plane
pair) per step and combines the partial results with shifts and adds:

* ``mode="serial_a"`` (Stripes, BitMoD: ``A`` serial, ``B`` parallel):
  ``A @ B = Σ_i w_i · (A_i @ B)``; each ``A_i @ B`` element is a *plane dot*, a dot
  product of a 0/1 vector with parallel integers (gated adds into an adder tree).
* ``mode="serial_both"`` (BISMO: both serial):
  ``A @ B = Σ_i Σ_j w_i w_j · popcount(A_i[m, :] AND B_j[:, n])``; each term is an
  AND + popcount of two bit vectors.

Schedule and counts. The array is one K-wide lane per output element (``M × N``
lanes), all lanes stepping together, one plane (``serial_a``) or plane pair
(``serial_both``) per step, ``planes_per_cycle`` steps per cycle. With ``P`` the planes
(``b_a``) or plane pairs (``b_a · b_b``) of a format:

* ``cycles = ceil(P / planes_per_cycle)``.
* ``serial_a``: ``plane_dots = shift_adds = M·N·b_a``; ``negations = M·N·[a signed]``.
* ``serial_both``: ``and_popcounts = shift_adds = M·N·b_a·b_b``;
  ``negations = M·N·(s_a·b_b + s_b·b_a − 2·s_a·s_b)`` (pairs with exactly one
  negative weight; ``s`` = 1 for a signed format).

Mixed data types per group (BitMoD). ``a_format`` may instead be a sequence of ``G``
formats, one per group of ``group_size`` consecutive elements along ``K`` (group ``g``
is ``k ∈ [g·group_size, (g+1)·group_size)``, the last may be shorter), or an ``M × G``
nested sequence, one per (row, group). Groups are processed one after the other, each
by the lanes above restricted to its ``k`` range, rows in parallel (a row whose group
is narrower idles). Then

* ``cycles = Σ_g max_m ceil(P(a_format[m][g]) / planes_per_cycle)``,
* every per-format count above is summed over ``(m, g)`` with ``M`` replaced by 1 and
  ``b_a`` by that group's width (``plane_dots = N · Σ_{m,g} b_{m,g}``, ...).

With one format (``a_format`` an IntFormat) there is a single group of all ``K``.

>>> import numpy as np, numfmt as nf
>>> from numfmt.units import bitserial_matmul
>>> A = np.array([[3, -4], [-1, 2]]); B = np.array([[1, 0], [-2, 3]])
>>> r = bitserial_matmul(A, B, nf.IntFormat(3), nf.IntFormat(3), mode="serial_both")
>>> r.values.tolist(), r.cycles, r.ops["and_popcounts"]
([[11, -12], [-5, 6]], 9, 36)
"""

from __future__ import annotations

import math

import numpy as np

from ..formats import IntFormat
from .._checks import check_int
from ._common import UnitResult, check_choice, check_in_format, int_format, int_operand, planes

__all__ = ["bitserial_dot", "bitserial_matmul"]

_MODES = ("serial_a", "serial_both")


def _group_formats(a_format, M, K, group_size):
    """``(bounds, F)``: the K ranges of the groups and an ``M × G`` list of formats."""
    if isinstance(a_format, IntFormat):
        if group_size is not None:
            group_size = check_int("group_size", group_size, 1)
            G = max(1, math.ceil(K / group_size))
            return [(g * group_size, min(K, (g + 1) * group_size)) for g in range(G)], [[a_format] * G] * M
        return [(0, K)], [[a_format]] * M
    if isinstance(a_format, (str, bytes)) or not hasattr(a_format, "__len__"):
        raise ValueError(f"a_format must be an IntFormat or a sequence of IntFormats (one per group), "
                         f"not {a_format!r}")
    if group_size is None:
        raise ValueError("group_size must be given when a_format is a sequence of formats, not None")
    group_size = check_int("group_size", group_size, 1)
    G = max(1, math.ceil(K / group_size))
    items = list(a_format)
    nested = bool(items) and not isinstance(items[0], IntFormat) and hasattr(items[0], "__len__")
    if nested:
        if len(items) != M:
            raise ValueError(f"a_format must have one row of group formats per row of A ({M}), not {len(items)}")
        F = [list(row) for row in items]
    else:
        F = [items] * M
    for m, row in enumerate(F):
        where = f"a_format[{m}]" if nested else "a_format"
        if len(row) != G:
            raise ValueError(f"{where} must have one format per group ({G} groups of {group_size} along "
                             f"K = {K}), not {len(row)}")
        for g, f in enumerate(row):
            int_format(f"{where}[{g}]", f)
    return [(g * group_size, min(K, (g + 1) * group_size)) for g in range(G)], F


def bitserial_matmul(A, B, a_format, b_format, *, mode="serial_both", planes_per_cycle=1,
                     group_size=None) -> UnitResult:
    """Integer ``A @ B`` computed plane by plane, with cycle and operation counts.

    Parameters
    ----------
    A : array_like, shape (M, K)
        Integers (any integer dtype, or floats with integer values) of ``a_format``.
    B : array_like, shape (K, N)
        Integers of ``b_format``.
    a_format : IntFormat, or sequence of IntFormat
        The format of ``A``; a sequence gives one format per group of ``group_size``
        elements along ``K`` (length ``G = ceil(K / group_size)``), or per (row, group)
        as an ``M × G`` nested sequence (BitMoD-style mixed precision).
    b_format : IntFormat
        The format of ``B``.
    mode : {"serial_both", "serial_a"}
        Both operands bit-serial (AND + popcount per plane pair), or only ``A``.
    planes_per_cycle : int
        Planes (``serial_a``) or plane pairs (``serial_both``) processed per cycle.
    group_size : int, optional
        Group length along ``K`` (needed when ``a_format`` is a sequence).

    Returns
    -------
    UnitResult
        ``values`` (int64, exact: equal to ``A @ B``), ``cycles`` and ``ops``
        (``plane_dots`` or ``and_popcounts``, ``shift_adds``, ``negations``) as the
        module docstring defines them.

    Examples
    --------
    >>> import numpy as np, numfmt as nf
    >>> A = np.array([[5, 7, 1, 0]]); B = np.array([[1], [2], [3], [-1]])
    >>> r = bitserial_matmul(A, B, [nf.IntFormat(3, signed=False), nf.IntFormat(1, signed=False)],
    ...                      nf.IntFormat(3), mode="serial_a", group_size=2)
    >>> r.values.tolist(), r.cycles, dict(r.ops)
    ([[22]], 4, {'plane_dots': 4, 'shift_adds': 4, 'negations': 0})
    """
    mode = check_choice("mode", mode, _MODES)
    ppc = check_int("planes_per_cycle", planes_per_cycle, 1)
    A = int_operand(A, "A", 2)
    B = int_operand(B, "B", 2)
    b_format = int_format("b_format", b_format)
    (M, K), (K2, N) = A.shape, B.shape
    if K != K2:
        raise ValueError(f"A and B must agree on K: A has shape {A.shape}, B has shape {B.shape}")
    bounds, F = _group_formats(a_format, M, K, group_size)
    check_in_format(B, b_format, "B", "b_format")
    widest = max(f.bits for row in F for f in row)
    if widest + b_format.bits + max(K, 1).bit_length() > 62:
        raise ValueError(f"the sums of {K} products of {widest}-bit and {b_format.bits}-bit integers may "
                         "exceed int64; use narrower formats or a shorter K")
    bplanes = planes(B, b_format) if mode == "serial_both" else None
    sb, bb = int(b_format.signed), b_format.bits

    out = np.zeros((M, N), dtype=np.int64)
    cycles = 0
    ops = {"plane_dots": 0, "shift_adds": 0, "negations": 0} if mode == "serial_a" else \
        {"and_popcounts": 0, "shift_adds": 0, "negations": 0}
    for g, (k0, k1) in enumerate(bounds):
        column = [F[m][g] for m in range(M)]
        step = 0
        for fmt in dict.fromkeys(column):          # distinct formats of this group, in row order
            rows = np.array([m for m in range(M) if column[m] == fmt], dtype=np.intp)
            sub = A[np.ix_(rows, np.arange(k0, k1))]
            bad = np.flatnonzero(((sub < fmt.min) | (sub > fmt.max)).reshape(-1))
            if bad.size:
                r, c = np.unravel_index(int(bad[0]), sub.shape)
                name = "a_format" if isinstance(a_format, IntFormat) else f"a_format for group {g}"
                raise ValueError(f"A[{int(rows[r])}, {k0 + int(c)}] = {int(sub[r, c])} is not a value of {name} {fmt}")
            ba, sa = fmt.bits, int(fmt.signed)
            acc = np.zeros((rows.size, N), dtype=np.int64)
            if mode == "serial_a":
                for plane, w in planes(sub, fmt):
                    acc += w * (plane @ B[k0:k1])
                P = ba
                ops["plane_dots"] += rows.size * N * ba
                ops["shift_adds"] += rows.size * N * ba
                ops["negations"] += rows.size * N * sa
            else:
                for plane, w in planes(sub, fmt):
                    for bplane, v in bplanes:
                        acc += (w * v) * (plane @ bplane[k0:k1])     # AND + popcount
                P = ba * bb
                ops["and_popcounts"] += rows.size * N * P
                ops["shift_adds"] += rows.size * N * P
                ops["negations"] += rows.size * N * (sa * bb + sb * ba - 2 * sa * sb)
            out[rows] += acc
            step = max(step, -(-P // ppc))
        cycles += step
    return UnitResult(out, cycles, ops)


def bitserial_dot(a, b, a_format, b_format, *, mode="serial_both", planes_per_cycle=1,
                  group_size=None) -> UnitResult:
    """Integer dot product ``Σ a[k]·b[k]`` computed bit-serially (``M = N = 1``).

    The parameters and counts are those of :func:`bitserial_matmul` with
    ``A = a[None, :]`` and ``B = b[:, None]``; ``values`` is a 0-d int64 array.

    Examples
    --------
    >>> import numfmt as nf
    >>> r = bitserial_dot([1, -2, 3], [3, 3, -1], nf.IntFormat(4), nf.IntFormat(4))
    >>> int(r.values), r.cycles, r.ops["negations"]
    (-6, 16, 6)
    """
    a = int_operand(a, "a", 1)
    b = int_operand(b, "b", 1)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, not {a.shape[0]} and {b.shape[0]}")
    r = bitserial_matmul(a[None, :], b[:, None], a_format, b_format, mode=mode,
                         planes_per_cycle=planes_per_cycle, group_size=group_size)
    return UnitResult(r.values.reshape(()), r.cycles, r.ops)
