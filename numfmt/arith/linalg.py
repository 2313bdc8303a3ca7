"""Dot products, matrix products and 2-D convolutions with an explicit accumulator.

Operands are float64 arrays whose values are exactly those of their formats
(e.g. ``e4m3.quantize(x)`` or ``e4m3.decode(codes)``). Passing the formats
(``a_format=``, ``b_format=``; ``x_format=``, ``w_format=`` for
:func:`conv2d`) checks that every operand is a value of its format; without
them any finite float64 values are accepted. Inf and NaN operands are errors
unless the accumulator says ``nonfinite="ieee"`` (:class:`NonFinite`); then
they follow IEEE 754 arithmetic (``docs/arithmetic.md``, *Non-finite values*).
Results are float64 values: those of ``out_format`` when it is given, else the
accumulator's result (which must then be a float64).

Every product is exact. The sum of products is formed as the accumulator
says (see :mod:`numfmt.arith.accumulators` and ``docs/arithmetic.md``):

* :class:`ExactAccumulator`: by float64 BLAS (``numpy.matmul``) when that is
  provably exact — every product and every partial sum, in any order BLAS
  may use, is an integer multiple of ``2**Q`` (``Q`` = the sum of the lowest
  set-bit weights of the two operands) of magnitude at most ``2**(53+Q)``
  (checked from the operands' exponent ranges and ``n``); otherwise by an
  exact int64 loop when the sum fits 63 bits in units of ``2**Q``; otherwise
  with Python integers (slow).
* :class:`FixedAccumulator`: a compiled sequential loop on an int64 register.
* :class:`FloatAccumulator`: a compiled loop, every addition computed exactly
  (TwoSum) and rounded to the register's format in the integer domain.

>>> import numpy as np, numfmt as nf
>>> from numfmt.arith import ExactAccumulator, FloatAccumulator, dot
>>> e4m3, e5m2 = nf.FLOATS["e4m3fn"], nf.FLOATS["e5m2"]
>>> a = np.array([448.0, 1.0, -448.0])          # 448 + 1 - 448
>>> b = np.ones(3)
>>> float(dot(a, b, ExactAccumulator(), a_format=e4m3, b_format=e4m3))
1.0
>>> float(dot(a, b, FloatAccumulator(e4m3)))    # 448 + 1 rounds back to 448
0.0
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..formats import FixedFormat, FloatFormat, IntFormat
from ..modes import Overflow, Rounding
from . import _fast
from . import _kernels as _k
from .accumulators import ExactAccumulator, FixedAccumulator, FloatAccumulator, NonFinite, Order

__all__ = ["dot", "matmul", "conv2d", "multiply"]

_FP32 = FloatFormat(8, 23)


# -- operand checks ---------------------------------------------------------------------------
def _as_float64(x, name):
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, not dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


class _Stats:
    """Exponent ranges of an array's nonzero finite values (from :func:`_k.scan`),
    and whether it holds inf or NaN (``nonfinite``)."""

    __slots__ = ("lo", "hi", "sig", "empty", "nonfinite")

    def __init__(self, x):
        nonfinite, lo, hi, sig = _k.scan(x.reshape(-1))
        self.lo, self.hi, self.sig = int(lo), int(hi), int(sig)
        self.empty = sig == 0   # no nonzero finite value
        self.nonfinite = bool(nonfinite)


def _refuse_nonfinite(x, acc, name, element):
    """ValueError naming the first inf/NaN of ``x`` (``element(idx)`` names it)."""
    idx = np.unravel_index(int(np.flatnonzero(~np.isfinite(x.reshape(-1)))[0]), x.shape)
    if isinstance(acc, FixedAccumulator):
        hint = " (a FixedAccumulator holds no inf or NaN)"
    else:
        args = "nonfinite='ieee'" if isinstance(acc, ExactAccumulator) else "..., nonfinite='ieee'"
        hint = f"; {type(acc).__name__}({args}) continues as IEEE 754 hardware does"
    raise ValueError(f"{name} must be finite, not {element(idx)} = {float(x[idx])!r}{hint}")


def _index(idx):
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _ieee(acc) -> bool:
    return getattr(acc, "nonfinite", NonFinite.RAISE) is NonFinite.IEEE


def _check_format(x, fmt, name):
    if fmt is None:
        return
    if not isinstance(fmt, (FloatFormat, FixedFormat, IntFormat)):
        raise ValueError(f"{name}_format must be a FloatFormat, FixedFormat or IntFormat, not {fmt!r}")
    with np.errstate(invalid="ignore"):
        q = fmt.quantize(x, Rounding.NEAREST_EVEN)
    bad = np.flatnonzero(((q != x) & ~(np.isnan(q) & np.isnan(x))).reshape(-1))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), x.shape)
        raise ValueError(f"{name}{_index(idx)} = {float(x[idx])!r} is not a value of {name}_format {fmt}")


def _products_exact(sa: _Stats, sb: _Stats) -> bool:
    """Every product of the two arrays is a float64 (no rounding, underflow or overflow)."""
    if sa.empty or sb.empty:
        return True
    return sa.sig + sb.sig <= 53 and sa.lo + sb.lo >= -1074 and sa.hi + sb.hi + 2 <= 1024


def _check_acc(acc):
    if not isinstance(acc, (ExactAccumulator, FixedAccumulator, FloatAccumulator)):
        raise ValueError(f"acc must be an ExactAccumulator, FixedAccumulator or FloatAccumulator, not {acc!r}")


# -- exact integer sums -------------------------------------------------------------------
def _round_odd_py(k: int, q: int):
    """``(value, inexact)``: ``k * 2**q`` rounded to odd at 53 bits, as a float64."""
    neg, mag = k < 0, abs(k)
    s = max(mag.bit_length() - 53, 0)
    kept, inexact = mag >> s, bool(mag & ((1 << s) - 1))
    kept |= inexact
    e = q + s
    if kept and (e + kept.bit_length() > 1024):
        raise ValueError(f"the exact sum {'-' if neg else ''}{mag} * 2**{q} is beyond float64's range")
    if kept and e < -1074 and inexact:
        raise ValueError(f"the exact sum {mag} * 2**{q} is too small to round exactly through float64")
    v = float(Fraction(kept) * Fraction(2) ** e)   # exact unless e < -1074 and not inexact (then correctly rounded)
    if kept and not inexact and Fraction(v) != Fraction(kept) * Fraction(2) ** e:
        inexact = True
    return (-v if neg else v), inexact


def _int_scaled(x, q):
    """Python integers ``x * 2**-q`` (exact; every value a multiple of ``2**q``)."""
    out = np.empty(x.shape, dtype=object)
    flat = out.reshape(-1)
    for i, v in enumerate(x.reshape(-1).tolist()):
        num, den = float(v).as_integer_ratio()
        shift = -q - (den.bit_length() - 1)
        flat[i] = num << shift if shift >= 0 else num >> -shift
    return out


def _finish(values, inexact, out_format, out_rounding):
    """Convert accumulator results (float64, exact or rounded to odd) to ``out_format``."""
    if out_format is None:
        if inexact:
            raise ValueError("the result has more than 53 significant bits and is not a float64; "
                             "pass out_format to round it")
        return values
    if isinstance(out_format, FloatFormat):
        # values are exact or rounded to odd at 53 bits; rounding to ≤ 32 bits is then exact
        return out_format.quantize(values, out_rounding)
    if not isinstance(out_format, (FixedFormat, IntFormat)):
        raise ValueError(f"out_format must be a FloatFormat, FixedFormat or IntFormat, not {out_format!r}")
    if inexact:
        raise ValueError(f"the result has more than 53 significant bits; converting it to {out_format} "
                         "is only supported when it is a float64 (use a FloatFormat or a narrower accumulator)")
    return out_format.quantize(values, out_rounding)


def _from_register(K, q):
    """Register integers ``K`` (int64 or Python ints) in units of ``2**q`` → (float64, inexact)."""
    if K.dtype == object:
        vals = np.empty(K.shape, dtype=np.float64)
        inexact = False
        for i, k in enumerate(K.reshape(-1).tolist()):
            vals.reshape(-1)[i], ie = _round_odd_py(int(k), q)
            inexact |= ie
        return vals, inexact
    vals = np.empty(K.shape, dtype=np.float64)
    inexact, overflow = _k.round_odd_scaled(K.reshape(-1), q, vals.reshape(-1))
    if overflow:
        raise ValueError("the accumulated sum is beyond float64's range")
    return vals, bool(inexact)


# -- the three accumulators on (A, BT) ----------------------------------------------------------
def _exact(A, BT, init, sa, sb, si):
    m, n = A.shape
    terms = []
    if not (sa.empty or sb.empty):
        terms.append((sa.lo + sb.lo, n, sa.hi + sb.hi + 2))
    if not si.empty:
        terms.append((si.lo, 1, si.hi + 1))
    if not terms:
        return np.zeros((m, BT.shape[0])), False
    if n == 1 and si.empty and _products_exact(sa, sb):
        # one product per output and a zero initial value: the (exact) product itself
        return A[:, 0][:, None] * BT[:, 0][None, :] + 0.0, False   # + 0.0: -0 → +0
    Q = min(t[0] for t in terms)
    bound = sum(count << (top - Q) for _, count, top in terms)   # |partial sum| < bound * 2**Q
    if bound <= 1 << 53 and Q >= -1074 and _products_exact(sa, sb):
        # BLAS: every partial sum in any order is k * 2**Q with |k| <= 2**53, hence a float64
        C = A @ BT.T
        C += init
        C += 0.0                    # the exact sum has no sign of zero: -0 → +0
        return C, False
    if bound <= 1 << 63 and Q >= -1074 and _products_exact(sa, sb):
        K0 = np.ldexp(init, -Q).astype(np.int64)
        K = np.empty((m, BT.shape[0]), dtype=np.int64)
        _k.fixed_matmul(A, BT, K0, -Q, 64, False, K, np.zeros(3, dtype=np.int64))
        return _from_register(K, Q)
    # Python integers
    qa, qb = (sa.lo, sb.lo) if not (sa.empty or sb.empty) else (0, 0)
    Q = min(Q, qa + qb)
    K = _int_scaled(A, qa).dot(_int_scaled(BT, qb).T) if n else np.zeros((m, BT.shape[0]), dtype=object)
    K = K * (1 << (qa + qb - Q)) + _int_scaled(init, Q)
    return _from_register(K.astype(object), Q)


def _fixed(A, BT, init, acc, sa, sb, describe):
    F = acc.frac_bits
    K0 = _int_scaled(init, -F) if not np.all(init == 0) else np.zeros(init.shape, dtype=object)
    bad = [(idx, v) for idx, v in np.ndenumerate(init)
           if not (acc.min_int <= int(K0[idx]) <= acc.max_int) or Fraction(v) * 2 ** F != int(K0[idx])]
    if bad:
        idx, v = bad[0]
        raise ValueError(f"init{_index(idx)} = {float(v)!r} is not a value of {acc}")
    sat = acc.overflow is Overflow.SATURATE
    m, n = A.shape
    if _products_exact(sa, sb):
        K = np.empty((m, BT.shape[0]), dtype=np.int64)
        err = np.zeros(3, dtype=np.int64)
        if not _k.fixed_matmul(A, BT, K0.astype(np.int64), F, acc.width, sat, K, err):
            i, j, k = (int(v) for v in err)
            _not_multiple(describe, i, j, k, A[i, k], BT[j, k], F)
        return _from_register(K, -F)
    # products beyond float64: the same register with Python integers
    K = np.empty((m, BT.shape[0]), dtype=object)
    mod = 1 << acc.width
    for i in range(m):
        for j in range(BT.shape[0]):
            r = int(K0[i, j])
            for k in range(n):
                prod = Fraction(A[i, k]) * Fraction(BT[j, k]) * Fraction(2) ** F
                if prod.denominator != 1:
                    _not_multiple(describe, i, j, k, A[i, k], BT[j, k], F)
                r += int(prod)
                if sat:
                    r = min(max(r, acc.min_int), acc.max_int)
                else:
                    r = (r - acc.min_int) % mod + acc.min_int
            K[i, j] = r
    return _from_register(K, -F)


def _not_multiple(describe, i, j, k, a, b, F):
    an, bn = describe(i, j, k)
    raise ValueError(f"the product {an} * {bn} = {float(a)!r} * {float(b)!r} is not a multiple of "
                     f"the accumulator's quantum 2**{-F}")


def _float(A, BT, init, acc, sa, sb):
    fmt = acc.fmt
    if not _products_exact(sa, sb):
        raise ValueError(f"the products are not exact in float64 (operands with {sa.sig} and {sb.sig} "
                         "significant bits); a FloatAccumulator needs ≤ 53 bits per product")
    top = max(fmt.max_exp + 1, (sa.hi + sb.hi + 2) if not (sa.empty or sb.empty) else -1074)
    if top + 1 > 1024:
        raise ValueError(f"sums of {fmt} values and these products may exceed float64's range")
    with np.errstate(invalid="ignore"):
        q = fmt.quantize(init, acc.rounding)
    bad = np.flatnonzero(((q != init) & ~(np.isnan(q) & np.isnan(init))).reshape(-1))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), init.shape)
        raise ValueError(f"init{_index(idx)} = {float(init[idx])!r} is not a value of {fmt}")
    fast32 = fmt == _FP32 and acc.rounding is Rounding.NEAREST_EVEN
    out = np.empty((A.shape[0], BT.shape[0]), dtype=np.float64)
    init = np.ascontiguousarray(init)
    si = _Stats(init)
    finite = not (sa.nonfinite or sb.nonfinite or si.nonfinite)
    if acc.order is Order.SEQUENTIAL and finite and _sums_exact(fmt, A.shape[1], sa, sb, si):
        kernel = _k.float_matmul_exact_adds(acc.rounding.code, fast32)
        kernel(A, np.ascontiguousarray(BT.T), init, fmt._kernel_params(), out)
    else:
        kernel = _k.float_matmul(acc.rounding.code, fast32)
        kernel(A, BT, init, fmt._kernel_params(), acc.order.code, acc.chunk or 1, out)
    return out, False


def _sums_exact(fmt, n, sa, sb, si) -> bool:
    """True if every ``acc + product`` of a sequential sum is exact in float64.

    All addends are multiples of ``2**Qs`` (products of ``2**(lo_a + lo_b)``,
    the initial value of ``2**lo_init``; rounding to ``fmt`` keeps a multiple
    of ``2**Qs`` one, as its grid there is either coarser, or finer and then
    the value is on it). Each rounding grows a magnitude by at most a factor
    ``1 + 2**-man`` plus one subnormal step ``2**qf``, so after ``k`` steps
    ``|acc| <= (1 + 2**-man)**n * (n*P + I + n*2**qf)`` with ``P``, ``I``
    bounds on the products and the initial value. If ``|acc| + P`` is at most
    ``2**(53 + Qs)``, every sum is an integer multiple of ``2**Qs`` below
    ``2**53`` units: a float64.
    """
    los, P, I = [], 0.0, 0.0
    if not (sa.empty or sb.empty):
        los.append(sa.lo + sb.lo)
        P = math.ldexp(1.0, sa.hi + sb.hi + 2)
    if not si.empty:
        los.append(si.lo)
        I = math.ldexp(1.0, si.hi + 1)
    if not los:
        return True
    Qs = min(los)
    growth_log = n * math.log1p(math.ldexp(1.0, -fmt.man))
    if Qs < -1074 or growth_log > 600 or P > 1e300:
        return False
    qf = math.ldexp(1.0, fmt.min_exp - fmt.man)
    bound = math.exp(growth_log) * (n * P + I + n * qf) * (1 + 1e-9) + P
    return bound <= math.ldexp(1.0, 53 + Qs)


def _special_products(A, BT):
    """``(nan, pos, neg)``, each (m, p): some product ``A[i, k]·BT[j, k]`` is NaN / +inf / −inf
    in IEEE arithmetic (``0·inf = NaN``, a NaN operand gives NaN), from counts of indicator
    matrices (exact float64 products of 0/1 matrices: no NaN ever enters BLAS)."""
    def some(x, y):
        return (x.astype(np.float64) @ y.astype(np.float64).T) > 0

    pinf_a, ninf_a, pinf_b, ninf_b = A == np.inf, A == -np.inf, BT == np.inf, BT == -np.inf
    pos_a, neg_a, pos_b, neg_b = A > 0, A < 0, BT > 0, BT < 0
    nan = (np.isnan(A).any(axis=1)[:, None] | np.isnan(BT).any(axis=1)[None, :]
           | some(pinf_a | ninf_a, BT == 0) | some(A == 0, pinf_b | ninf_b))
    pos = some(pinf_a, pos_b) | some(ninf_a, neg_b) | some(pos_a, pinf_b) | some(neg_a, ninf_b)
    neg = some(pinf_a, neg_b) | some(ninf_a, pos_b) | some(pos_a, ninf_b) | some(neg_a, pinf_b)
    return nan, pos, neg


def _ieee_total(nan, pos, neg, init):
    """The IEEE sum of the products classified by :func:`_special_products` and ``init``:
    +NaN, ±inf, or 0.0 where no product and not ``init`` is inf or NaN."""
    pos = pos | (init == np.inf)
    neg = neg | (init == -np.inf)
    nan = nan | np.isnan(init) | (pos & neg)
    return np.where(nan, np.nan, np.where(pos, np.inf, np.where(neg, -np.inf, 0.0)))


def _nonfinite_sums(A, BT, init):
    """``(mask, values)``: the outputs with an inf/NaN among their products or initial
    value, and their IEEE sums (+NaN, +inf or −inf; every such output is one of them).

    Order does not matter: any order of IEEE additions of the exact products gives
    NaN if some product is NaN or infinities of both signs occur, else the infinity.
    """
    bad_a = ~np.isfinite(A).all(axis=1)
    bad_b = ~np.isfinite(BT).all(axis=1)
    mask = bad_a[:, None] | bad_b[None, :] | ~np.isfinite(init)
    values = np.where(np.isfinite(init), 0.0, init)      # outputs whose products are all finite
    rows, cols = np.flatnonzero(bad_a), np.flatnonzero(bad_b)
    if rows.size:
        values[rows] = _ieee_total(*_special_products(A[rows], BT), init[rows])
    if cols.size:
        values[:, cols] = _ieee_total(*_special_products(A, BT[cols]), init[:, cols])
    values[np.isnan(values)] = np.nan      # the positive NaN
    return mask, values


def _accumulate(A, BT, acc, init, out_format, out_rounding, names, describe):
    """The core: ``C[i, j] = Σ_k A[i, k] * BT[j, k]`` with ``acc``, from ``init``."""
    _check_acc(acc)
    m, p = A.shape[0], BT.shape[0]
    init = np.zeros((m, p)) if init is None else np.ascontiguousarray(
        np.broadcast_to(_as_float64(init, "init"), (m, p)))
    sa, sb, si = _Stats(A), _Stats(BT), _Stats(init)
    if not _ieee(acc):
        for x, st, name, element in ((A, sa, names[0], lambda idx: describe(idx[0], 0, idx[1])[0]),
                                     (BT, sb, names[1], lambda idx: describe(0, idx[0], idx[1])[1]),
                                     (init, si, "init", lambda idx: "init" + _index(idx))):
            if st.nonfinite:
                _refuse_nonfinite(x, acc, name, element)
    if isinstance(acc, ExactAccumulator):
        if sa.nonfinite or sb.nonfinite or si.nonfinite:
            mask, special = _nonfinite_sums(A, BT, init)
            # the other outputs meet finite operands only: clear the rows and columns that hold
            # inf/NaN (every output they enter is in mask) and the non-finite initial values
            A = np.where(np.isfinite(A).all(axis=1)[:, None], A, 0.0)
            BT = np.where(np.isfinite(BT).all(axis=1)[:, None], BT, 0.0)
            init = np.where(np.isfinite(init), init, 0.0)
            vals, inexact = _exact(A, BT, init, _Stats(A), _Stats(BT), _Stats(init))
            vals[mask] = special[mask]
        else:
            vals, inexact = _exact(A, BT, init, sa, sb, si)
    elif isinstance(acc, FixedAccumulator):
        vals, inexact = _fixed(A, BT, init, acc, sa, sb, describe)
    else:
        vals, inexact = _float(A, BT, init, acc, sa, sb)
    return _finish(vals, inexact, out_format, out_rounding)


# -- public API --------------------------------------------------------------------------------
def matmul(A, B, acc, *, a_format=None, b_format=None, init=None, out_format=None, out_rounding=None):
    """``C[i, j] = Σ_k A[i, k] * B[k, j]`` summed by ``acc`` for ``k = 0, 1, ..., n-1``.

    Parameters
    ----------
    A, B : array_like
        (m, n) and (n, p) arrays of finite float64 values.
    acc : ExactAccumulator, FixedAccumulator or FloatAccumulator
        How the products are summed (register, rounding, order).
    a_format, b_format : Format, optional
        If given, every element of ``A`` (``B``) must be a value of it.
    init : array_like, optional
        The accumulator's initial value per output (e.g. a bias), broadcast to
        (m, p); default +0. It must be a value of the accumulator (a value of
        a FloatAccumulator's format, a register value of a FixedAccumulator).
    out_format : Format, optional
        Round the accumulator's result to this format (with ``out_rounding``,
        default the format's own); the result is then its value as float64.
    out_rounding : Rounding or str, optional

    Returns
    -------
    numpy.ndarray of float64, shape (m, p).

    Raises
    ------
    ValueError
        Shapes that do not match (naming both), operands that are not values
        of their formats or not finite, products that are not multiples of a
        FixedAccumulator's quantum (naming the operands).

    Examples
    --------
    >>> import numpy as np, numfmt as nf
    >>> from numfmt.arith import FixedAccumulator
    >>> A = np.array([[100.0, 100.0, -100.0]]); B = np.ones((3, 1))
    >>> matmul(A, B, FixedAccumulator(8, overflow="sat")).tolist()   # 100+100 saturates at 127
    [[27.0]]
    >>> matmul(A, B, FixedAccumulator(8, overflow="wrap")).tolist()
    [[100.0]]
    """
    A, B = _as_float64(A, "A"), _as_float64(B, "B")
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        detail = (f"the inner dimensions {A.shape[1]} and {B.shape[0]} differ"
                  if A.ndim == 2 and B.ndim == 2 else "both must be 2-D")
        raise ValueError(f"matmul: A has shape {A.shape} and B has shape {B.shape}: {detail}")
    fast = _fast.exact_matmul(A, B, acc, a_format, b_format, init, out_format, out_rounding)
    if fast is not None:        # exact, formats that guarantee a BLAS-exact sum: one check pass, one BLAS call
        return fast
    _check_format(A, a_format, "a")
    _check_format(B, b_format, "b")
    BT = np.ascontiguousarray(B.T)
    return _accumulate(A, BT, acc, init, out_format, out_rounding, ("A", "B"),
                       lambda i, j, k: (f"A[{i}, {k}]", f"B[{k}, {j}]"))


def dot(a, b, acc, *, a_format=None, b_format=None, init=None, out_format=None, out_rounding=None):
    """``Σ_k a[k] * b[k]`` summed by ``acc`` in the order ``k = 0, 1, ..., n-1``.

    The 1-D case of :func:`matmul` (same keyword arguments; ``init`` is a
    scalar). Returns a numpy float64 scalar.

    >>> import numfmt as nf
    >>> from numfmt.arith import FloatAccumulator
    >>> bf16 = nf.FLOATS["bf16"]
    >>> float(dot([1.0] * 300, [1.0] * 300, FloatAccumulator(bf16)))   # 256 + 1 rounds to 256
    256.0
    >>> float(dot([1.0] * 300, [1.0] * 300, FloatAccumulator(bf16, order="pairwise")))
    300.0
    """
    a, b = _as_float64(a, "a"), _as_float64(b, "b")
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"dot: a has shape {a.shape} and b has shape {b.shape}; "
                         "they must be 1-D of the same length")
    _check_format(a, a_format, "a")
    _check_format(b, b_format, "b")
    if init is not None and np.ndim(init) != 0:
        raise ValueError(f"dot: init must be a scalar, not shape {np.shape(init)}")
    out = _accumulate(a[None, :], b[None, :], acc, init, out_format, out_rounding, ("a", "b"),
                      lambda i, j, k: (f"a[{k}]", f"b[{k}]"))
    return out[0, 0]


def multiply(a, b, *, a_format=None, b_format=None):
    """The exact products ``a * b``, elementwise (broadcast), with IEEE 754 special cases.

    What a hardware multiplier forms before it rounds: the exact product of two
    values, ``x·inf = ±inf`` (``x ≠ 0``), ``0·inf = NaN`` and NaN for a NaN operand.
    Every product, a NaN included, has the sign ``sign(a) XOR sign(b)`` (a NaN
    operand's sign bit counts), so that rounding it with ``fmt.encode`` gives one
    defined code even where ``fmt`` has a NaN of each sign.

    Parameters
    ----------
    a, b : array_like
        float64 values (inf and NaN allowed). The products must be exact in
        float64: the operands' significands together at most 53 bits and no
        product beyond float64's range (checked from the operands' bits).
    a_format, b_format : Format, optional
        If given, every element of ``a`` (``b``) must be a value of it.

    Returns
    -------
    numpy.ndarray of float64, the broadcast shape.

    Examples
    --------
    >>> import numpy as np
    >>> p = multiply([3.0, -0.0, np.inf, np.nan], [0.5, 2.0, -0.0, -1.0])
    >>> p.tolist(), np.signbit(p).tolist()          # inf·(−0) is NaN with the sign +·− = −
    ([1.5, -0.0, nan, nan], [False, True, True, True])
    """
    shapes = np.shape(a), np.shape(b)
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"multiply: a has shape {shapes[0]} and b has shape {shapes[1]}; "
                         "they do not broadcast") from None
    a, b = (np.broadcast_to(_as_float64(v, n).reshape(s), shape) for v, n, s in ((a, "a", shapes[0]),
                                                                                (b, "b", shapes[1])))
    _check_format(a, a_format, "a")
    _check_format(b, b_format, "b")
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    sa, sb = _Stats(a), _Stats(b)
    if not _products_exact(sa, sb):
        raise ValueError(f"multiply: the products are not exact in float64 (operands with {sa.sig} and "
                         f"{sb.sig} significant bits, exponents up to {sa.hi} and {sb.hi}, down to "
                         f"{sa.lo} and {sb.lo})")
    with np.errstate(invalid="ignore"):
        p = np.multiply(a, b)
    nan_sign = np.where(np.signbit(a) ^ np.signbit(b), -1.0, 1.0)
    return np.where(np.isnan(p), np.copysign(np.nan, nan_sign), p).reshape(shape)


def _pair(name, v):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    if (not isinstance(v, tuple) or len(v) != 2
            or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in v)):
        raise ValueError(f"{name} must be an int or a pair of ints, not {v!r}")
    return int(v[0]), int(v[1])


def conv2d(x, w, acc, *, stride=1, padding=0, bias=None, x_format=None, w_format=None,
           out_format=None, out_rounding=None):
    """2-D cross-correlation (a convolution layer) with an explicit accumulator.

    ``out[n, o, i, j] = Σ_{c, kh, kw} xp[n, c, i*sh + kh, j*sw + kw] * w[o, c, kh, kw]``
    where ``xp`` is ``x`` zero-padded by ``padding`` on each side. The sum
    runs over ``(c, kh, kw)`` in C order (``kw`` fastest), i.e. over the
    flattened index ``(c * KH + kh) * KW + kw``; products with padding zeros
    are terms like any other (they matter for the pairwise tree's shape and
    the sign of a zero). This is :func:`matmul` of the im2col matrix
    ``(N*OH*OW, C*KH*KW)`` with ``w.reshape(O, -1).T``.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    w : array_like, shape (O, C, KH, KW)
    acc : accumulator
    stride, padding : int or (int, int)
    bias : array_like of shape (O,), optional
        The accumulator's initial value for each output channel (default +0).
    x_format, w_format, out_format, out_rounding
        As ``a_format``, ``b_format``, ... of :func:`matmul`.

    Returns
    -------
    numpy.ndarray of float64, shape (N, O, OH, OW) with
    ``OH = (H + 2*ph - KH) // sh + 1`` and likewise ``OW``.

    >>> import numpy as np
    >>> from numfmt.arith import ExactAccumulator
    >>> conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), ExactAccumulator(), padding=1)[0, 0].tolist()
    [[1.0, 2.0, 2.0, 1.0], [2.0, 4.0, 4.0, 2.0], [2.0, 4.0, 4.0, 2.0], [1.0, 2.0, 2.0, 1.0]]
    """
    x, w = _as_float64(x, "x"), _as_float64(w, "w")
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d: x has shape {x.shape} and w has shape {w.shape}; "
                         "they must be 4-D (N, C, H, W) and (O, C, KH, KW)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d: x has shape {x.shape} and w has shape {w.shape}: "
                         f"the channel counts {x.shape[1]} and {w.shape[1]} differ")
    sh, sw = _pair("stride", stride)
    ph, pw = _pair("padding", padding)
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"stride must be ≥ 1 and padding ≥ 0, not stride={stride!r}, padding={padding!r}")
    _check_format(x, x_format, "x")
    _check_format(w, w_format, "w")
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    OH, OW = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"conv2d: the kernel {KH}x{KW} does not fit the padded input "
                         f"{H + 2 * ph}x{W + 2 * pw}")
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))  # N, C, H', W', KH, KW
    win = win[:, :, ::sh, ::sw][:, :, :OH, :OW]
    cols = np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(N * OH * OW, C * KH * KW)
    wm = np.ascontiguousarray(w.reshape(O, C * KH * KW))
    init = None
    if bias is not None:
        bias = _as_float64(bias, "bias")
        if bias.shape != (O,):
            raise ValueError(f"conv2d: bias has shape {bias.shape}; it must be ({O},), one per output channel")
        init = bias[None, :]

    def describe(i, j, k):
        n, rest = divmod(i, OH * OW)
        oi, oj = divmod(rest, OW)
        c, r = divmod(k, KH * KW)
        kh, kw = divmod(r, KW)
        return (f"x[{n}, {c}, {oi * sh + kh - ph}, {oj * sw + kw - pw}]", f"w[{j}, {c}, {kh}, {kw}]")

    out = _accumulate(cols, wm, acc, init, out_format, out_rounding, ("x", "w"), describe)
    return out.reshape(N, OH, OW, O).transpose(0, 3, 1, 2).copy()
