"""Amaranth RTL generators for the units numfmt emulates.

Every unit is a :class:`~hw.rtl._unit.Unit`: a ``wiring.Component`` with a stream in
(``i``) and a stream out (``o``) whose payload fields carry the codes of numfmt formats,
plus a :meth:`~hw.rtl._unit.Unit.model` that computes the expected outputs with numfmt.
"""

from ._unit import Field, Lanes, Unit, pipeline

__all__ = ["Field", "Lanes", "Unit", "pipeline"]
