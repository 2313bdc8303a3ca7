"""Shared pieces of the unit models: the result type and operand checks (private)."""

from __future__ import annotations

import dataclasses
import types

import numpy as np

from ..formats import IntFormat


@dataclasses.dataclass(frozen=True)
class UnitResult:
    """What a unit model computed, and what it cost.

    Attributes
    ----------
    values : numpy.ndarray
        The results (int64 for the exact integer units, float64 otherwise).
    cycles : int
        Cycles of the unit's schedule, by the formula its module documents.
    ops : Mapping[str, int]
        Operation counts by kind (read-only), by the formulas its module documents.
    """

    values: np.ndarray
    cycles: int
    ops: types.MappingProxyType

    def __post_init__(self):
        object.__setattr__(self, "ops", types.MappingProxyType({k: int(v) for k, v in dict(self.ops).items()}))


def index_str(idx) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, not {value!r}")
    return value


def int_format(name, fmt) -> IntFormat:
    if not isinstance(fmt, IntFormat):
        raise ValueError(f"{name} must be an IntFormat, not {fmt!r}")
    return fmt


def int_operand(x, name, ndim) -> np.ndarray:
    """An integer-valued array of ``ndim`` dimensions as int64 (floats must be integers)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf" or arr.dtype == np.uint64:
        raise ValueError(f"{name} must be an integer (or integer-valued float) array, not dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension{'s' if ndim != 1 else ''}, not shape {arr.shape}")
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~(np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0 ** 62)).reshape(-1))
        if bad.size:
            idx = np.unravel_index(int(bad[0]), arr.shape)
            raise ValueError(f"{name}{index_str(idx)} = {float(arr[idx])!r} is not an integer")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_in_format(x, fmt: IntFormat, name, fmt_name, offset=None):
    """ValueError naming the first element of ``x`` outside ``fmt``'s range.

    ``offset`` is added to the index reported (``x`` may be a slice of ``name``).
    """
    bad = np.flatnonzero(((x < fmt.min) | (x > fmt.max)).reshape(-1))
    if bad.size:
        idx = np.unravel_index(int(bad[0]), x.shape)
        value = int(x[idx])
        if offset is not None:
            idx = tuple(int(i) + int(o) for i, o in zip(idx, offset))
        raise ValueError(f"{name}{index_str(idx)} = {value} is not a value of {fmt_name} {fmt}")


def planes(x, fmt: IntFormat):
    """Bit planes of ``x`` (values of ``fmt``) and their weights, LSB first.

    Plane ``i`` is bit ``i`` of the two's-complement (or unsigned) code, as int64
    0/1; its weight is ``2**i``, except ``-2**(bits-1)`` for a signed format's MSB.
    """
    u = x & ((1 << fmt.bits) - 1)
    out = []
    for i in range(fmt.bits):
        w = -(1 << i) if (fmt.signed and i == fmt.bits - 1) else (1 << i)
        out.append(((u >> i) & 1, w))
    return out
