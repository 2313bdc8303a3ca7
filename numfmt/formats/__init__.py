"""Format families: floating, fixed point, integer, sign-magnitude, block (BFP / OCP MX)."""

from ._base import Format
from .block import BLOCKS, BlockCodes, BlockFormat
from .fixed import FixedFormat
from .floating import FloatFormat
from .integer import IntFormat
from .signmag import SignMagFormat

__all__ = ["Format", "FloatFormat", "FixedFormat", "IntFormat", "SignMagFormat",
           "BlockFormat", "BlockCodes", "BLOCKS"]
