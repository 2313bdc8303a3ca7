"""numfmt: bit-exact emulation of the number formats of quantized-NN hardware.

>>> import numfmt as nf
>>> e4m3 = nf.parse("e4m3fn")
>>> e4m3.quantize([0.3, 500.0, -1e-3]).tolist()
[0.3125, nan, -0.001953125]
>>> nf.FloatFormat(3, 2, specials="none").max
28.0
"""

from . import arith, interop, nn, ptq, quant, units
from .arith import (ExactAccumulator, FixedAccumulator, FloatAccumulator, Order, conv2d, dot,
                    kulisch_width, matmul)
from .catalogue import FLOATS
from .quant import AffineQuantizer, Requantizer, dyadic_approx, scale_zero_point
from .lfsr import LFSR
from .formats import BLOCKS, BlockCodes, BlockFormat, FixedFormat, FloatFormat, Format, IntFormat, SignMagFormat
from .modes import Overflow, Rounding, Specials
from .packing import pack, unpack
from .parse import parse
from ._threads import get_threads, set_threads, threads

__all__ = [
    "ExactAccumulator", "FixedAccumulator", "FloatAccumulator", "Order", "arith", "conv2d", "dot",
    "kulisch_width", "matmul",
    "AffineQuantizer", "Requantizer", "dyadic_approx", "quant", "scale_zero_point", "units",
    "BLOCKS", "BlockCodes", "BlockFormat", "FLOATS", "FixedFormat", "FloatFormat", "Format",
    "IntFormat", "LFSR", "Overflow", "Rounding", "SignMagFormat", "Specials", "interop", "nn", "pack", "parse",
    "ptq", "unpack", "get_threads", "set_threads", "threads",
]
__version__ = "0.1.0"

