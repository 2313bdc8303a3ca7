"""Power-of-two (shift) weights without zero, DenseShift style.

X. Li, B. Liu, R. H. Yang, V. Courville, C. Xing, V. P. Nia, "DenseShift: Towards
Accurate and Efficient Low-Bit Power-of-Two Quantization", ICCV 2023: a ``b``-bit weight
is ``±2**p`` — one sign bit and ``b − 1`` exponent bits, no code for zero — so every code
is a useful level and a multiplication is a shift.

``ShiftFormat(bits, p_max=0)``: exponents ``p ∈ [p_min, p_max]``,
``p_min = p_max − 2**(bits−1) + 1``. Code = sign bit (bit ``bits−1``, 1 = negative) |
``e = p − p_min`` in the low ``bits − 1`` bits. ``bits = 1``: the weights are ``±2**p_max``.

Quantizer (``encode``/``quantize``): the nearest power of two in the log domain,
``p* = round(log2 |x|)``, then clamped to ``[p_min, p_max]`` (the nearest level in the log
domain among the representable ones). It is computed from the float64 bits: with
``|x| = M·2**E``, ``M ∈ [1, 2)`` the integer significand ``s = M·2**52``, ``p* = E + 1``
iff ``M > √2``, i.e. ``s > isqrt(2**105)`` (``s² > 2**105``), else ``E``. A tie
(``M = √2``) cannot occur since ``√2`` is irrational; if it could, it would round up.
``rounding="linear"`` instead picks the nearest power of two in value (``M ≥ 3/2`` → up,
ties up). Zero has no code: ``+0 → +2**p_min``, ``−0 → −2**p_min``. ``±inf`` → ``±2**p_max``;
NaN raises. Integer inputs (any width, int64 and uint64 included) are read exactly, never
through float64: with ``|x|`` of bit length ``E + 1``, ``p* = E + 1`` iff
``|x| > isqrt(2**(2E+1))`` (log; ``√2·2**E`` is irrational for ``E ≥ 0``) or
``|x| ≥ 3·2**(E−1)`` (linear).

Dot product model (:func:`shift_matmul`): ``out[m, n] = Σ_k sign·(A[m, k] << p)`` with
integer activations; results are exact (``values`` float64, exact: each term is an
integer times ``2**min(p_min, 0)``). Counts: ``shifts = add_subs = M·N·K`` (one shift and
one add or subtract per weight use); ``cycles = K`` (one term per cycle, all outputs in
parallel).

>>> from numfmt.units import ShiftFormat
>>> f = ShiftFormat(3)                 # ±{1/8, 1/4, 1/2, 1}
>>> f.quantize([0.7, 0.70710678, 0.0, -5.0, 0.01]).tolist()
[0.5, 0.5, 0.125, -1.0, 0.125]
>>> f.encode([0.7, -1.0]).tolist(), f.decode([2, 7]).tolist()
([2, 7], [0.5, -1.0])
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .._checks import check_int
from ._common import UnitResult, check_choice, index_str, int_operand

__all__ = ["ShiftFormat", "shift_dot", "shift_matmul"]

_SQRT2_SIG = math.isqrt(1 << 105)     # s > this  <=>  (s / 2**52)**2 > 2
#: integer |x| of bit length E + 1 is above √2·2**E iff |x| > _SQRT2_INT[E]
_SQRT2_INT = np.array([math.isqrt(1 << (2 * e + 1)) for e in range(64)], dtype=np.uint64)
_ROUNDINGS = ("log", "linear")


@dataclasses.dataclass(frozen=True)
class ShiftFormat:
    """Zero-free power-of-two weights ``±2**p``, ``p ∈ [p_max − 2**(bits−1) + 1, p_max]``.

    Parameters
    ----------
    bits : int
        Code width, 1..16 (1 sign bit + ``bits − 1`` exponent bits).
    p_max : int
        The largest exponent, −1074..1023 (default 0: the largest weight is ±1); the
        smallest, ``p_min``, must be ≥ −1074 too (every weight is a float64).

    Examples
    --------
    >>> f = ShiftFormat(4, p_max=2)
    >>> f.p_min, f.values().tolist()[:3], str(f)
    (-5, [-4.0, -2.0, -1.0], 'shift4(p_max=2)')
    """

    bits: int
    p_max: int = dataclasses.field(default=0, kw_only=True)

    def __post_init__(self):
        object.__setattr__(self, "bits", check_int("bits", self.bits, 1, 16))
        object.__setattr__(self, "p_max", check_int("p_max", self.p_max, -1074, 1023))
        if self.p_min < -1074:
            raise ValueError(f"p_min = p_max - 2**(bits-1) + 1 must be ≥ -1074 (float64's smallest power "
                             f"of two), not {self.p_min}; raise p_max")

    @property
    def p_min(self) -> int:
        """The smallest exponent, ``p_max − 2**(bits−1) + 1``."""
        return self.p_max - (1 << (self.bits - 1)) + 1

    def __str__(self) -> str:
        return f"shift{self.bits}" + (f"(p_max={self.p_max})" if self.p_max else "")

    def encode(self, x, rounding="log"):
        """Codes (uint16) of the nearest weights; see the module docstring for the rule.

        >>> ShiftFormat(3).encode([0.3, 0.4, -0.2]).tolist()   # √2/4 ≈ 0.354
        [1, 2, 5]
        """
        rounding = check_choice("rounding", rounding, _ROUNDINGS)
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"x must be a real numeric array, not dtype {arr.dtype}")
        if arr.dtype.kind in "biu":
            return self._encode_ints(arr, rounding)
        arr = np.asarray(arr, dtype=np.float64)
        bad = np.flatnonzero(np.isnan(arr).reshape(-1))
        if bad.size:
            idx = np.unravel_index(int(bad[0]), arr.shape)
            raise ValueError(f"x{index_str(idx)} is NaN, which has no power-of-two weight")
        u = arr.view(np.uint64)
        neg = (u >> np.uint64(63)).astype(np.int64)
        bexp = ((u >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
        frac = (u & np.uint64((1 << 52) - 1)).astype(np.int64)
        # normalise subnormal float64 inputs: significand s in [2**52, 2**53)
        sub = (bexp == 0) & (frac != 0)
        shift = np.where(sub, 53 - np.frexp(np.where(sub, frac, 1).astype(np.float64))[1], 0)
        s = np.where(sub, frac << shift, frac | (1 << 52))
        E = np.where(sub, -1022 - shift, bexp - 1023)
        if rounding == "log":
            up = s > _SQRT2_SIG
        else:
            up = s >= 3 << 51
        p = E + up
        p = np.where(bexp == 0x7FF, self.p_max, p)            # ±inf
        p = np.where((bexp == 0) & (frac == 0), self.p_min, p)  # ±0
        p = np.clip(p, self.p_min, self.p_max)
        return ((neg << (self.bits - 1)) | (p - self.p_min)).astype(np.uint16)

    def _encode_ints(self, arr, rounding):
        """:meth:`encode` of an integer array, exactly (magnitudes as uint64)."""
        if arr.dtype.kind == "u":
            neg = np.zeros(arr.shape, dtype=np.int64)
            mag = arr.astype(np.uint64)
        else:
            a = arr.astype(np.int64)
            neg = (a < 0).astype(np.int64)
            u = a.view(np.uint64)
            mag = np.where(a < 0, ~u + np.uint64(1), u)          # |int64 min| = 2**63 fits
        E = np.zeros(mag.shape, dtype=np.int64)                  # bit_length(mag) - 1 (0 for mag 0)
        rest = mag.copy()
        for step in (32, 16, 8, 4, 2, 1):
            big = rest >= (np.uint64(1) << np.uint64(step))
            E += np.where(big, step, 0)
            rest = np.where(big, rest >> np.uint64(step), rest)
        if rounding == "log":
            up = mag > _SQRT2_INT[E]
        else:
            up = (E >= 1) & (mag >= (np.uint64(3) << np.maximum(E - 1, 0).astype(np.uint64)))
        p = np.where(mag == 0, self.p_min, E + up)
        p = np.clip(p, self.p_min, self.p_max)
        return ((neg << (self.bits - 1)) | (p - self.p_min)).astype(np.uint16)

    def decode(self, codes):
        """float64 weights ``(−1)**sign · 2**(p_min + e)`` of ``codes``.

        >>> ShiftFormat(2).decode([0, 1, 2, 3]).tolist()
        [0.5, 1.0, -0.5, -1.0]
        """
        c = np.asarray(codes)
        if c.dtype.kind not in "iu":
            raise ValueError(f"codes must be an integer array, not dtype {c.dtype}")
        c = c.astype(np.int64)
        bad = np.flatnonzero(((c < 0) | (c >= 1 << self.bits)).reshape(-1))
        if bad.size:
            idx = np.unravel_index(int(bad[0]), c.shape)
            raise ValueError(f"codes{index_str(idx)} = {int(c[idx])} is not a {self.bits}-bit code of {self}")
        sign, p = self.fields(c)
        return np.where(sign == 1, -1.0, 1.0) * np.ldexp(1.0, p)

    def fields(self, codes):
        """``(sign, p)`` int64 arrays of (valid) codes."""
        c = np.asarray(codes).astype(np.int64)
        return (c >> (self.bits - 1)) & 1 if self.bits > 1 else c & 1, \
            self.p_min + (c & ((1 << (self.bits - 1)) - 1))

    def quantize(self, x, rounding="log"):
        """``decode(encode(x, rounding))``."""
        return self.decode(self.encode(x, rounding))

    def values(self):
        """Every weight, ascending (``2**bits`` values, no zero)."""
        return np.sort(self.decode(np.arange(1 << self.bits)))


def shift_matmul(A, W_codes, w_format) -> UnitResult:
    """``A @ W`` with integer activations and shift weights given by their codes.

    Parameters
    ----------
    A : array_like, shape (M, K)
        Integer activations (integer dtype, or floats with integer values).
    W_codes : array_like, shape (K, N)
        Codes of ``w_format``.
    w_format : ShiftFormat

    Returns
    -------
    UnitResult
        ``values`` (float64, exact), ``cycles = K``, ``ops``: ``shifts = add_subs = M·N·K``.

    Examples
    --------
    >>> import numpy as np
    >>> f = ShiftFormat(3)
    >>> r = shift_matmul([[8, -4]], f.encode([[0.5], [-0.25]]), f)
    >>> r.values.tolist(), r.cycles, dict(r.ops)
    ([[5.0]], 2, {'shifts': 2, 'add_subs': 2})
    """
    if not isinstance(w_format, ShiftFormat):
        raise ValueError(f"w_format must be a ShiftFormat, not {w_format!r}")
    A = int_operand(A, "A", 2)
    C = np.asarray(W_codes)
    if C.ndim != 2:
        raise ValueError(f"W_codes must have 2 dimensions, not shape {C.shape}")
    w_format.decode(C)                                  # validates the codes
    (M, K), (K2, N) = A.shape, C.shape
    if K != K2:
        raise ValueError(f"A and W_codes must agree on K: A has shape {A.shape}, W_codes has shape {C.shape}")
    sign, p = w_format.fields(C)
    q = min(w_format.p_min, 0)                          # unit of the result: 2**q
    amax = max(int(A.max()), -int(A.min())) if A.size else 0     # no int64 overflow at -2**63
    top = (max(amax, 1) * max(K, 1)).bit_length() + (w_format.p_max - q)
    if top > 62:
        raise ValueError(f"the shifted sums need {top} bits; they must fit int64 (use a narrower ShiftFormat)")
    Wint = np.where(sign == 1, -1, 1) * (np.int64(1) << (p - q))   # weight in units of 2**q
    R = A @ Wint
    if R.size and int(np.abs(R).max()) >= 1 << 53:
        raise ValueError("the result has more than 53 significant bits and is not a float64")
    values = np.ldexp(R.astype(np.float64), q)
    return UnitResult(values, K, {"shifts": M * N * K, "add_subs": M * N * K})


def shift_dot(a, w_codes, w_format) -> UnitResult:
    """``Σ_k a[k]·w[k]`` by shifts and adds; :func:`shift_matmul` with ``M = N = 1``.

    >>> f = ShiftFormat(4)
    >>> float(shift_dot([3, 5], f.encode([1.0, -0.125]), f).values)
    2.375
    """
    a = int_operand(a, "a", 1)
    c = np.asarray(w_codes)
    if c.ndim != 1 or c.shape != a.shape:
        raise ValueError(f"a and w_codes must be 1-D of the same length, not shapes {a.shape} and {c.shape}")
    r = shift_matmul(a[None, :], c[:, None], w_format)
    return UnitResult(r.values.reshape(()), r.cycles, r.ops)
