"""Conversion between numfmt codes and ml_dtypes arrays (optional dependency).

>>> import numfmt as nf
>>> e4m3 = nf.parse("e4m3fn")
>>> a = to_ml_dtypes(e4m3.encode([1.0, 2.5]), e4m3)
>>> a.dtype.name, from_ml_dtypes(a)[0] == e4m3
('float8_e4m3fn', True)
"""

from __future__ import annotations

import numpy as np

from . import _inputs
from .catalogue import FLOATS, ML_DTYPES_NAMES
from .formats.floating import FloatFormat

__all__ = ["ml_dtype", "to_ml_dtypes", "from_ml_dtypes"]


def _ml_dtypes():
    try:
        import ml_dtypes
    except ImportError as exc:  # pragma: no cover - ml_dtypes is in the [all] extra
        raise ImportError("ml_dtypes is needed for this conversion: pip install ml_dtypes") from exc
    return ml_dtypes


def _ml_dtypes_attr(fmt: FloatFormat) -> str | None:
    """The ml_dtypes attribute name of ``fmt``'s type (installed or not), or None."""
    for name, attr in ML_DTYPES_NAMES.items():
        if FLOATS[name] == fmt:
            return attr
    return None


def ml_dtype(fmt: FloatFormat) -> np.dtype | None:
    """The ml_dtypes (or numpy) dtype with exactly the semantics of ``fmt``, or None.

    None also when the installed ml_dtypes predates the type (``float8_e5m3fnu``
    needs ml_dtypes 0.7).

    >>> import numfmt as nf
    >>> ml_dtype(nf.parse("e8m0fnu")).name
    'float8_e8m0fnu'
    >>> ml_dtype(nf.parse("e3m3")) is None
    True
    """
    if fmt == FLOATS["fp16"]:
        return np.dtype(np.float16)
    if fmt == FLOATS["fp32"]:
        return np.dtype(np.float32)
    attr = _ml_dtypes_attr(fmt)
    if attr is None:
        return None
    dtype = getattr(_ml_dtypes(), attr, None)
    return None if dtype is None else np.dtype(dtype)


def to_ml_dtypes(codes, fmt: FloatFormat) -> np.ndarray:
    """View ``codes`` of ``fmt`` as an array of the matching ml_dtypes/numpy dtype.

    Raises ``ValueError`` if ``fmt`` has no matching dtype, or if the installed
    ml_dtypes lacks it.
    """
    dtype = ml_dtype(fmt)
    if dtype is None:
        attr = _ml_dtypes_attr(fmt)
        if attr is not None:
            raise ValueError(f"fmt {fmt} is ml_dtypes.{attr}, which the installed ml_dtypes "
                             f"{_ml_dtypes().__version__} lacks; upgrade ml_dtypes")
        raise ValueError(f"fmt {fmt} has no matching ml_dtypes dtype")
    store = np.dtype(f"uint{dtype.itemsize * 8}")
    flat = np.asarray(codes)
    if flat.dtype.kind not in "biu":
        raise TypeError(f"codes must be an integer array, not dtype {flat.dtype}")
    if flat.size and (flat.min() < 0 or int(flat.max()) >> fmt.bits):
        raise ValueError(f"codes must fit in {fmt.bits} bits")
    return flat.astype(store).view(dtype)


def from_ml_dtypes(array) -> tuple[FloatFormat, np.ndarray]:
    """``(fmt, codes)`` for an array of an ml_dtypes float type, float16 or float32.

    Either byte order is read by value. Raises ``ValueError`` for dtypes numfmt
    has no format for.
    """
    array = _inputs.as_native(array, name="array")
    name = array.dtype.name
    if name == "float16":
        fmt = FLOATS["fp16"]
    elif name == "float32":
        fmt = FLOATS["fp32"]
    else:
        matches = [n for n, attr in ML_DTYPES_NAMES.items() if attr == name]
        if not matches:
            raise ValueError(f"array has dtype {array.dtype}, which matches no numfmt format")
        fmt = FLOATS[matches[0]]
    store = np.dtype(f"uint{array.dtype.itemsize * 8}")
    codes = array.view(store)
    if fmt.bits < store.itemsize * 8:
        codes = codes & store.type((1 << fmt.bits) - 1)
    return fmt, codes.astype(fmt.code_dtype)
