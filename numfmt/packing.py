"""Dense storage of sub-byte codes: ``pack`` / ``unpack``.

Code ``i`` occupies bits ``[i*b, (i+1)*b)`` of the byte stream, least
significant bit first (two FP4 codes per byte: the first in the low nibble).

>>> import numpy as np
>>> pack(np.array([1, 2, 3], np.uint8), 4).tolist()
[33, 3]
>>> unpack(np.array([33, 3], np.uint8), 4, 3).tolist()
[1, 2, 3]
"""

from __future__ import annotations

import numpy as np

from . import _inputs

__all__ = ["pack", "unpack"]


def _width(fmt_or_bits) -> int:
    bits = getattr(fmt_or_bits, "bits", fmt_or_bits)
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 64:
        raise ValueError(f"bits must be an integer in 1..64 or a format, not {fmt_or_bits!r}")
    return int(bits)


def pack(codes, fmt_or_bits) -> np.ndarray:
    """Pack ``b``-bit codes (any shape, read in C order) into a flat uint8 array.

    ``fmt_or_bits`` is a format or a code width ``b``. Raises ``ValueError``
    for codes that do not fit in ``b`` bits.
    """
    b = _width(fmt_or_bits)
    flat, _ = _inputs.as_codes(codes, b)
    planes = ((flat[:, None] >> np.arange(b, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    return np.packbits(planes.reshape(-1), bitorder="little")


def unpack(data, fmt_or_bits, count: int) -> np.ndarray:
    """Unpack ``count`` codes of ``b`` bits from the uint8 array ``data``.

    Returns a flat array of the smallest unsigned dtype holding ``b`` bits.
    """
    b = _width(fmt_or_bits)
    data = np.asarray(data)
    if data.dtype != np.uint8:
        raise ValueError(f"data must be a uint8 array, not dtype {data.dtype}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative integer, not {count!r}")
    need = (int(count) * b + 7) // 8
    if data.size < need:
        raise ValueError(f"data holds {data.size} bytes; {count} codes of {b} bits need {need}")
    stream = np.unpackbits(data.reshape(-1)[:need], bitorder="little")[: count * b]
    weights = np.uint64(1) << np.arange(b, dtype=np.uint64)
    codes = (stream.reshape(count, b).astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return codes.astype(_inputs.code_dtype(b))
