"""Streaming dataflow accelerators generated from a :class:`numfmt.nn.QuantizedGraph`.

One stage per layer (:mod:`numfmt.hw.accel.stages`), valid/ready streams between them,
weights in ROMs, the :class:`numfmt.hw.rtl.Requantizer` between layers and an argmax
at the end; :class:`Accelerator` is a :class:`numfmt.hw.rtl.Unit`, so
:func:`numfmt.sim.check` streams images through its Verilog and compares every logit
and label with the QuantizedGraph. This first slice covers chains of Dense, ReLU,
ReLU6 and Flatten with integer activations. See ``docs/accel.md``.

>>> from numfmt import nn
>>> x_train = nn.digits_data()[0]
>>> q = nn.quantize(nn.digits_mlp(), nn.QConfig(weight="int4", act="int8"), x_train)
>>> acc = Accelerator(q)                      # fully serial: pe = simd = 1
>>> [s.cycles for s in acc.mvus], acc.ii
([4096, 2048, 320], 4099)
"""

from .accelerator import FIFO_LATENCY, Accelerator
from .stages import MVU_OVERHEAD, Activation, Argmax, MatrixVector

__all__ = ["Accelerator", "Activation", "Argmax", "FIFO_LATENCY", "MVU_OVERHEAD", "MatrixVector"]
