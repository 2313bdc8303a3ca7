"""Quantization: affine (scale, zero-point) quantizers and dyadic requantization.

See ``docs/quantization.md`` for the exact definitions.

>>> import numfmt as nf
>>> from numfmt.quant import AffineQuantizer, Requantizer
>>> q = AffineQuantizer.calibrate([0.0, 1.0, -0.5], nf.IntFormat(8), symmetric=True)
>>> q.quantize([0.5, -0.5]).tolist()
[64, -64]
>>> Requantizer.from_scale(0.25, nf.IntFormat(8)).requantize([6, -6]).tolist()
[2, -1]
"""

from .affine import AffineQuantizer, scale_zero_point
from .dyadic import MAX_MULT_BITS, MAX_SHIFT, MIN_SHIFT, Requantizer, dyadic_approx

__all__ = ["AffineQuantizer", "MAX_MULT_BITS", "MAX_SHIFT", "MIN_SHIFT", "Requantizer",
           "dyadic_approx", "scale_zero_point"]
