"""Arithmetic with explicit accumulators: dot, matmul, conv2d.

A hardware MAC and its emulation agree bit for bit only if they agree on the
accumulator: its register (exact, fixed-width, floating) and the order of the
additions. See ``docs/arithmetic.md`` for the exact definitions.

>>> import numpy as np, numfmt as nf
>>> from numfmt.arith import FloatAccumulator, matmul
>>> e4m3 = nf.FLOATS["e4m3fn"]
>>> A = e4m3.quantize(np.array([[0.3, -1.7], [2.2, 0.1]]))
>>> matmul(A, A, FloatAccumulator(nf.FLOATS["fp32"]), a_format=e4m3, b_format=e4m3).tolist()
[[-3.83984375, -0.724609375], [0.931640625, -3.92718505859375]]
"""

from .accumulators import (ExactAccumulator, FixedAccumulator, FloatAccumulator, NonFinite, Order,
                           exact_fixed_accumulator, kulisch_width, product_range)
from .block import block_dot, block_matmul
from .linalg import conv2d, dot, matmul, multiply

__all__ = ["block_dot", "block_matmul", "ExactAccumulator", "FixedAccumulator", "FloatAccumulator", "NonFinite",
           "Order", "conv2d", "dot", "exact_fixed_accumulator", "kulisch_width", "matmul", "multiply",
           "product_range"]
