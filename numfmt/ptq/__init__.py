"""Post-training quantization (PTQ) for any element format: integer, minifloat, fixed, block.

Array level: a weight matrix ``W`` (out, in) and its layer inputs ``X``
(n_samples, in). :func:`weight_grid` fixes the scales; the methods round ``W``
onto that grid. Exact definitions and references: ``docs/ptq.md``.

>>> import numpy as np
>>> from numfmt import ptq
>>> W = np.array([[0.375, -1.75, 0.26], [3.5, 0.1, -0.2]])
>>> grid = ptq.weight_grid(W, "int4")                  # per-row scales 0.25, 0.5
>>> grid.fake(W).tolist()
[[0.5, -1.75, 0.25], [3.5, 0.0, 0.0]]
"""

from .grid import CALIBRATIONS, GRANULARITIES, MSE_SHRINKS, WeightGrid, activation_scale, weight_grid
from .methods import METHODS, adaround, gptq, quantize_weight, rtn
from .transforms import bias_correction, equalize_pair, smooth_factors

__all__ = ["CALIBRATIONS", "GRANULARITIES", "METHODS", "MSE_SHRINKS", "WeightGrid",
           "activation_scale", "adaround", "bias_correction", "equalize_pair", "gptq",
           "quantize_weight", "rtn", "smooth_factors", "weight_grid"]
