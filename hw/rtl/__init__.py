"""Amaranth RTL generators for the units numfmt emulates.

Every unit is a :class:`Unit`: a ``wiring.Component`` with a stream in (``i``) and a
stream out (``o``) whose payload fields carry the codes of numfmt formats, plus a
:meth:`Unit.model` that computes the expected outputs with numfmt. Pages:
``docs/hw_float.md`` (converter, multiplier, L-Mul), ``docs/hw_mac.md`` (MACs,
requantizer), ``docs/hw_units.md`` (block dot product, bit-serial, LUT-based).

>>> import numfmt as nf
>>> from numfmt.hw.rtl import FloatMul
>>> unit = FloatMul(nf.parse("e4m3fn"))
>>> sorted(unit.in_fields), sorted(unit.out_fields), unit.latency
(['a', 'b'], ['p'], 1)
"""

from ._unit import Field, Group, Lanes, Unit, pipeline
from .bitserial import BitSerialDot
from .blockdot import BlockDot
from .convert import Convert
from .fpmul import FloatMul
from .lfsr import WithLfsr
from .lmul import LMul
from .lutgemm import LutDot
from .mac import FixedMac, FloatAccMac, FloatKulischMac, IntMac
from .requant import Requantizer

__all__ = ["BitSerialDot", "BlockDot", "Convert", "Field", "FixedMac", "FloatAccMac", "FloatKulischMac", "FloatMul",
           "Group", "IntMac", "LMul", "Lanes", "LutDot", "Requantizer", "Unit", "WithLfsr", "pipeline"]
