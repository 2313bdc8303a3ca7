"""Format families: floating, fixed point, integer."""

from ._base import Format
from .fixed import FixedFormat
from .floating import FloatFormat
from .integer import IntFormat

__all__ = ["Format", "FloatFormat", "FixedFormat", "IntFormat"]
