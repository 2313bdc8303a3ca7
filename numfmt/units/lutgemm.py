"""LUT-based mixed-precision GEMM (T-MAC, LUT Tensor Core).

``lut_matmul(A, W, w_format, g=...)`` computes ``A @ W`` for integer activations ``A``
(``M × K``) and low-bit integer weights ``W`` (``K × N``, an :class:`~numfmt.IntFormat`
of ``b`` bits) without multiplications:

1. ``K`` is padded with zeros to ``G·g`` (``G = ceil(K/g)``); group ``j`` is
   ``k ∈ [j·g, (j+1)·g)``.
2. Weights are split into bit planes ``W_i`` with weights ``w_i = 2**i`` (the MSB plane
   of a signed format: ``-2**(b-1)``). In plane ``i`` the ``g`` bits of group ``j`` of
   column ``n`` form the pattern ``p = Σ_t W_i[j·g+t, n]·2**t``.
3. For each activation row ``m`` and group ``j`` a table holds partial sums of the
   group's activations ``a_t = A[m, j·g+t]``:

   * plain (``sign_symmetric=False``): ``T[p] = Σ_t bit_t(p)·a_t`` for all ``2**g``
     patterns; plane ``i`` of output ``(m, n)`` is ``L_i = Σ_j T_j[p_ij]``, and
     ``out = Σ_i w_i·L_i``.
   * sign-symmetric (LUT Tensor Core): each bit ``β`` is read as ``σ = 2β − 1 ∈ {−1, +1}``,
     ``T±[p] = Σ_t σ_t(p)·a_t``. Since ``T±[p ^ (2**g − 1)] = −T±[p]``, only the
     ``2**(g-1)`` patterns with bit ``g−1`` clear are stored; a pattern with it set is
     looked up as ``−T±[p ^ (2**g − 1)]``. With ``S_m = Σ_k A[m, k]`` and
     ``Σβa = (Σσa + Σa)/2``: ``out = (Σ_i w_i·L±_i + S_m·Σ_i w_i) / 2``, exactly (the
     numerator is even).

4. ``table="exact"``: tables are int64, ``out`` equals ``A @ W`` bit for bit.
   ``table="int8"`` (T-MAC's table quantization): each stored table gets its own
   scale ``s = t/127`` with ``t = max |entry|`` over the stored entries; an entry ``T``
   becomes ``q = round(127·T / t)`` rounded to nearest, ties to even, computed on
   integers (``|q| ≤ 127``; a table of zeros gives ``q = 0``). Each lookup returns
   ``s·q`` and the result is the exact value of the formula of step 3 with ``T``
   replaced by ``s·q`` — ``R/127`` (plain) or ``(R + 127·S_m·Σw_i)/254`` (symmetric),
   with ``R = Σ_i w_i Σ_j t_j·q_j[p_ij]`` an integer — returned as the nearest float64.
   Each lookup is off by at most ``t_j/254``, hence
   ``|out − A@W| ≤ Σ_i |w_i| · Σ_j t_j / 254`` (plain; half of that when symmetric).

Counts (``E = 2**g`` entries per table, or ``2**(g-1)`` symmetric):

* ``table_entries = M·G·E``;
* ``table_adds = M·G·(E − 1)`` (entry ``p > 0`` is entry ``p − 2**h`` plus ``a_h``, ``h``
  the top bit of ``p``) or, symmetric, ``M·G·(E − 1 + g − 1)`` (entry 0 is
  ``−(a_0 + … + a_{g−1})``: ``g − 1`` adds; then entry ``p`` is entry ``p − 2**h`` plus
  ``2·a_h``);
* ``lookups = lookup_adds = M·N·G·b`` (each looked-up value is added into its plane sum);
* ``shift_adds = M·N·b`` (plane sums combined);
* symmetric only: ``row_sum_adds = M·(G − 1)`` (``S_m = −Σ_j T±_j[0]``) and
  ``correction_adds = M·N``;
* int8 only: ``scale_muls = M·N·G`` (one per table per output);
* ``cycles = G·b``: one lookup per (group, plane) step, all ``M × N`` outputs in parallel.

>>> import numpy as np, numfmt as nf
>>> from numfmt.units import lut_matmul
>>> A = np.array([[3, -1, 2, 5]]); W = np.array([[1], [-2], [0], [1]])
>>> r = lut_matmul(A, W, nf.IntFormat(2), g=2, sign_symmetric=True)
>>> r.values.tolist(), r.cycles, r.ops["table_entries"]
([[10]], 4, 4)
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import check_bool, check_int
from ._common import UnitResult, check_choice, check_in_format, int_format, int_operand, planes

__all__ = ["lut_matmul"]

_TABLES = ("exact", "int8")


def _round_div_even(n, d):
    """``round(n / d)`` to nearest, ties to even, for int64 arrays with ``d > 0``."""
    q = n // d
    r2 = 2 * (n - q * d)
    return q + ((r2 > d) | ((r2 == d) & (q % 2 == 1)))


def lut_matmul(A, W, w_format, *, g=4, sign_symmetric=False, table="exact", a_format=None) -> UnitResult:
    """``A @ W`` by table lookups over weight bit planes, with operation counts.

    Parameters
    ----------
    A : array_like, shape (M, K)
        Integer activations (integer dtype, or floats with integer values).
    W : array_like, shape (K, N)
        Integer weights, values of ``w_format``.
    w_format : IntFormat
        Weight format (``b`` bits, signed or unsigned).
    g : int
        Weight bits per lookup (group length along ``K``), 1..8.
    sign_symmetric : bool
        Store half the table and negate (the ``{−1, +1}`` reading of LUT Tensor Core).
    table : {"exact", "int8"}
        int64 tables (exact result), or tables quantized to int8 with a per-table scale.
    a_format : IntFormat, optional
        When given, every activation must be a value of it.

    Returns
    -------
    UnitResult
        ``values`` (int64 for ``"exact"``, float64 for ``"int8"``), ``cycles`` and ``ops``
        as the module docstring defines them.

    Examples
    --------
    >>> import numpy as np, numfmt as nf
    >>> A = np.array([[100, -3, 7, 1]]); W = np.array([[1], [1], [-1], [0]])
    >>> int(lut_matmul(A, W, nf.IntFormat(2), g=4).values[0, 0])
    90
    >>> float(lut_matmul(A, W, nf.IntFormat(2), g=4, table="int8").values[0, 0])  # t = 108
    90.14173228346456
    """
    g = check_int("g", g, 1, 8)
    sign_symmetric = check_bool("sign_symmetric", sign_symmetric)
    table = check_choice("table", table, _TABLES)
    A = int_operand(A, "A", 2)
    W = int_operand(W, "W", 2)
    w_format = int_format("w_format", w_format)
    (M, K), (K2, N) = A.shape, W.shape
    if K != K2:
        raise ValueError(f"A and W must agree on K: A has shape {A.shape}, W has shape {W.shape}")
    check_in_format(W, w_format, "W", "w_format")
    if a_format is not None:
        check_in_format(A, int_format("a_format", a_format), "A", "a_format")
    amax = int(np.abs(A).max()) if A.size else 0
    if (max(amax, 1) * max(K, 1) * 127 * 2).bit_length() + w_format.bits + 1 > 62:
        raise ValueError(f"the sums of {K} activations up to {amax} times {w_format.bits}-bit weights "
                         "may exceed int64; use smaller activations or a shorter K")
    b = w_format.bits
    G = max(1, math.ceil(K / g))
    Kp = G * g
    Ap = np.zeros((M, Kp), dtype=np.int64)
    Ap[:, :K] = A
    Wp = np.zeros((Kp, N), dtype=np.int64)
    Wp[:K] = W
    ag = Ap.reshape(M, G, g)
    pats = np.arange(1 << g)
    bits = (pats[:, None] >> np.arange(g)[None, :]) & 1             # (2**g, g)
    if sign_symmetric:
        E = 1 << (g - 1)
        T = ag @ (2 * bits[:E] - 1).T                                  # (M, G, E): T±[p], bit g-1 clear
    else:
        E = 1 << g
        T = ag @ bits.T                                                # (M, G, 2**g)
    if table == "int8":
        t = np.abs(T).max(axis=2, keepdims=True)                        # (M, G, 1)
        q = np.where(t > 0, _round_div_even(127 * T, np.maximum(t, 1)), 0)
        stored = t * q                                                  # 127 × (s·q), an integer
    else:
        stored = T
    full = stored if not sign_symmetric else np.concatenate([stored, -stored[:, :, ::-1]], axis=2)
    # (for p with bit g-1 set, p ^ (2**g - 1) = 2**g - 1 - p: the reversed half, negated)
    total = np.zeros((M, N), dtype=np.int64)
    sum_w = 0
    jidx = np.arange(G)[:, None]
    for plane, w in planes(Wp, w_format):
        P = (plane.reshape(G, g, N) << np.arange(g)[None, :, None]).sum(axis=1)   # (G, N) patterns
        L = full[:, jidx, P].sum(axis=1)                                 # (M, N)
        total += w * L
        sum_w += w
    ops = {"table_entries": M * G * E,
           "table_adds": M * G * ((E - 1) + (g - 1 if sign_symmetric else 0)),
           "lookups": M * N * G * b, "lookup_adds": M * N * G * b, "shift_adds": M * N * b}
    if sign_symmetric:
        ops["row_sum_adds"] = M * (G - 1)
        ops["correction_adds"] = M * N
    if table == "int8":
        ops["scale_muls"] = M * N * G
    S = Ap.sum(axis=1)[:, None]
    if table == "exact":
        values = (total + S * sum_w) // 2 if sign_symmetric else total
    elif sign_symmetric:
        values = _exact_ratio(total + 127 * S * sum_w, 254)
    else:
        values = _exact_ratio(total, 127)
    return UnitResult(values, G * b, ops)


def _exact_ratio(R, d):
    """The float64 nearest to ``R / d`` (``R`` int64 below ``2**53`` in magnitude)."""
    if R.size and int(np.abs(R).max()) >= 1 << 53:
        raise ValueError("the quantized-table result needs more than 53 bits; use a shorter K")
    return R.astype(np.float64) / d
