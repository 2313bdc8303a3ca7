"""Streaming dataflow accelerators generated from a :class:`numfmt.nn.QuantizedGraph`.

One stage per layer (:mod:`numfmt.hw.accel.stages`), valid/ready streams between them,
weights in ROMs, the :class:`numfmt.hw.rtl.Requantizer` between layers and an argmax
at the end; :class:`Accelerator` is a :class:`numfmt.hw.rtl.Unit`, so
:func:`numfmt.sim.check` streams images through its Verilog and compares every logit
and label with the QuantizedGraph. It covers Dense, Conv2d (a sliding window feeding a
matrix–vector unit, :mod:`numfmt.hw.accel.window`), ReLU, ReLU6, MaxPool2d, AvgPool2d,
Flatten and residual Add; Dense layers in integer, fixed-point, minifloat
(:mod:`~numfmt.hw.accel.float_mvu`) or MX (:mod:`~numfmt.hw.accel.block_mvu`) formats, on
multiplier, bit-serial or LUT-GEMM units (:mod:`~numfmt.hw.accel.variants`). See ``docs/accel.md``.

>>> from numfmt import nn
>>> x_train = nn.digits_data()[0]
>>> q = nn.quantize(nn.digits_mlp(), nn.QConfig(weight="int4", act="int8"), x_train)
>>> acc = Accelerator(q)                      # fully serial: pe = simd = 1
>>> [s.cycles for s in acc.mvus], acc.ii
([4096, 2048, 320], 4099)
"""

from .accelerator import FIFO_LATENCY, Accelerator
from .stages import MVU_OVERHEAD, Activation, Argmax, MatrixVector
from .float_mvu import FloatMatrixVector
from .block_mvu import BlockMatrixVector, BlockQuantizer
from .window import Add, AvgPool, Convolution, MaxPool
from .variants import VARIANTS, BitSerialMatrixVector, LutMatrixVector

__all__ = ["Accelerator", "Activation", "Add", "Argmax", "AvgPool", "BlockMatrixVector", "BlockQuantizer", "Convolution", "MaxPool", "BitSerialMatrixVector", "FIFO_LATENCY", "FloatMatrixVector", "LutMatrixVector",
           "MVU_OVERHEAD", "MatrixVector", "VARIANTS"]
