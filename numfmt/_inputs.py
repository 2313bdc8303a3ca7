"""Turn user input into the raw bits of an IEEE binary float array.

The kernels never see floats: they read the sign, exponent and significand
from the input's bits. This module is the only place that knows which input
dtypes are accepted and how their bits are laid out.
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


def float_bits(x, *, name: str = "x"):
    """Return ``(bits, in_e, in_m, shape)`` for an array-like of floats.

    ``bits`` is a flat contiguous unsigned array of the input's bit patterns.
    float16/32/64 and ml_dtypes bfloat16 are read as they are; other ml_dtypes
    floats (exactly representable in float32) are widened to float32; Python
    numbers, lists and integer arrays become float64.

    >>> bits, e, m, shape = float_bits([1.0])
    >>> hex(int(bits[0])), e, m, shape
    ('0x3ff0000000000000', 11, 52, (1,))
    """
    arr = np.asarray(x)
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
