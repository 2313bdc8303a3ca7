"""Turn user input into the raw bits of an IEEE binary float array.

The kernels never see floats: they read the sign, exponent and significand
from the input's bits. This module is the only place that knows which input
dtypes are accepted and how their bits are laid out: any byte order (read by
value), and integers only where float64 holds them exactly, except for the
formats that take int64/uint64 inputs as exact integers (:func:`int_parts`).
"""

from __future__ import annotations

import numpy as np

# dtype name -> (unsigned view dtype, exponent bits, mantissa bits)
_LAYOUTS = {
    "float64": (np.uint64, 11, 52),
    "float32": (np.uint32, 8, 23),
    "float16": (np.uint16, 5, 10),
    "bfloat16": (np.uint16, 8, 7),
}


def as_native(x, *, name: str = "x"):
    """``x`` as an array in the machine's byte order (a copy only when it is not).

    The kernels read an input's bits, so a big-endian array must be swapped
    first: its values, not its bytes, are what is converted. A Python
    sequence that NumPy reads as float64 although it holds an integer that
    float64 would round (``[2**63 + 1, -1]``, ``[0.5, 2**53 + 1]``) raises
    ``ValueError``.

    >>> as_native(np.array([1.5], dtype=">f8")).dtype.isnative
    True
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        arr = np.asarray(x)
        if arr.dtype == np.float64 and arr.size and not isinstance(x, np.generic):
            _check_sequence_ints(x, arr, name)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _check_sequence_ints(x, arr, name):
    """Raise ``ValueError`` if NumPy rounded a Python integer of ``x`` into the float array ``arr``."""
    with np.errstate(invalid="ignore"):
        big = ~(np.abs(arr) < 2.0 ** 53)          # also NaN: cheap, and rare
    if not big.any():
        return
    values, items = arr.reshape(-1), np.array(x, dtype=object).reshape(-1)
    for i in np.flatnonzero(big.reshape(-1)):
        item = items[i]
        if (isinstance(item, (int, np.integer)) and not isinstance(item, bool)
                and not (np.isfinite(values[i]) and int(values[i]) == int(item))):
            raise ValueError(f"{name} holds the integer {int(item)}, which float64 cannot hold exactly; NumPy "
                             "reads this sequence as float64 and would round it (pass an int64 or uint64 array)")


def is_wide_int(arr) -> bool:
    """True for 64-bit integer arrays, whose values float64 may not hold exactly."""
    return arr.dtype.kind in "iu" and arr.dtype.itemsize == 8


def int_parts(arr):
    """``(neg, mag)`` of an integer array: flat sign (bool) and magnitude (uint64).

    >>> neg, mag = int_parts(np.array([-2**63, 5]))
    >>> neg.tolist(), mag.tolist()
    ([True, False], [9223372036854775808, 5])
    """
    flat = np.ascontiguousarray(arr).reshape(-1)
    mag = flat.astype(np.uint64)
    if arr.dtype.kind == "i":
        neg = flat < 0
        mag[neg] = np.uint64(0) - mag[neg]         # two's complement: |-2**63| = 2**63
    else:
        neg = np.zeros(flat.shape, dtype=bool)
    return neg, mag


def significant_bits(mag):
    """Bits from the highest to the lowest set bit of each uint64 (0 for 0), as int64.

    A nonzero integer is a float64 (up to its exponent) iff this is ≤ 53.

    >>> significant_bits(np.array([0, 1, 12, 2**53 + 1, 2**63], dtype=np.uint64)).tolist()
    [0, 1, 2, 54, 1]
    """
    mag = np.asarray(mag, dtype=np.uint64)
    lowest = mag & (np.uint64(0) - mag)
    return np.where(mag != 0, bit_length(mag) - bit_length(lowest) + 1, 0)


def first_inexact(neg, mag):
    """The first integer ``-mag if neg else mag`` that float64 cannot hold exactly (a Python int), or None.

    >>> first_inexact(np.array([False, True]), np.array([2**60, 2**53 + 1], dtype=np.uint64))
    -9007199254740993
    """
    if not mag.size or int(mag.max()) <= 1 << 53:
        return None
    inexact = significant_bits(mag) > 53
    if not inexact.any():
        return None
    i = int(np.argmax(inexact))
    return -int(mag[i]) if neg[i] else int(mag[i])


def float_bits(x, *, name: str = "x"):
    """Return ``(bits, in_e, in_m, shape)`` for an array-like of floats.

    ``bits`` is a flat contiguous unsigned array of the input's bit patterns,
    in native byte order (a big-endian input is read by value).
    float16/32/64 and ml_dtypes bfloat16 are read as they are; other ml_dtypes
    floats (exactly representable in float32) are widened to float32; Python
    numbers, lists and integer arrays become float64. A 64-bit integer that
    float64 cannot hold exactly raises ``ValueError``: it would be rounded.

    >>> bits, e, m, shape = float_bits([1.0])
    >>> hex(int(bits[0])), e, m, shape
    ('0x3ff0000000000000', 11, 52, (1,))
    """
    arr = as_native(x, name=name)
    kind = arr.dtype.kind
    dname = arr.dtype.name
    if dname not in _LAYOUTS:
        if kind == "V" or (kind == "f" and dname not in _LAYOUTS):
            # ml_dtypes types other than bfloat16 (float8/6/4, e8m0) live in float32
            try:
                arr = arr.astype(np.float32)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} has dtype {arr.dtype}, which is not a float type") from exc
            dname = "float32"
        elif kind in "biu":
            value = first_inexact(*int_parts(arr)) if is_wide_int(arr) else None
            if value is not None:
                raise ValueError(f"{name} holds the integer {value}, which float64 cannot hold exactly; this "
                                 f"format reads integers as float64 (cast {name} to float64 to accept "
                                 "the rounding)")
            arr = arr.astype(np.float64)
            dname = "float64"
        else:
            raise TypeError(f"{name} must be a real float array, not dtype {arr.dtype}")
    view, in_e, in_m = _LAYOUTS[dname]
    shape = arr.shape
    bits = np.ascontiguousarray(arr).reshape(-1).view(view)
    return bits, in_e, in_m, shape


def code_dtype(bits: int):
    """The smallest unsigned dtype that holds ``bits``-bit codes."""
    for dtype, width in ((np.uint8, 8), (np.uint16, 16), (np.uint32, 32), (np.uint64, 64)):
        if bits <= width:
            return np.dtype(dtype)
    raise ValueError(f"bits must be ≤ 64, not {bits}")


def as_codes(codes, bits: int, *, name: str = "codes"):
    """Validate an array of codes for a ``bits``-bit format; return it as flat uint64.

    Raises ``ValueError`` if any code is negative or does not fit in ``bits``.
    """
    arr = np.asarray(codes)
    if arr.dtype.kind not in "biu":
        raise TypeError(f"{name} must be an integer array, not dtype {arr.dtype}")
    flat = np.ascontiguousarray(arr).reshape(-1)
    if arr.dtype.kind == "i" and flat.size and flat.min() < 0:
        raise ValueError(f"{name} must be non-negative, not {int(flat.min())}")
    flat = flat.astype(np.uint64, copy=False)
    if bits < 64 and flat.size and int(flat.max()) >> bits:
        raise ValueError(f"{name} must fit in {bits} bits, not {int(flat.max())}")
    return flat, arr.shape


def bit_length(v):
    """Bit length of each element of an unsigned integer array (0 for 0), as int64.

    >>> bit_length(np.array([0, 1, 5, 2**63], dtype=np.uint64)).tolist()
    [0, 1, 3, 64]
    """
    v = np.asarray(v).astype(np.uint64)
    n = np.zeros(v.shape, dtype=np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        big = (v >> np.uint64(shift)) != 0
        n += np.where(big, shift, 0)
        v = np.where(big, v >> np.uint64(shift), v)
    return n + (v != 0)
