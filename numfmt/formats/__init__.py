"""Format families: floating, fixed point, integer."""

from ._base import Format
from .floating import FloatFormat

__all__ = ["Format", "FloatFormat", "FixedFormat", "IntFormat"]


def __getattr__(name):  # TEMPORARY until fixed/integer land
    if name == "FixedFormat":
        from .fixed import FixedFormat
        return FixedFormat
    if name == "IntFormat":
        from .integer import IntFormat
        return IntFormat
    raise AttributeError(name)
