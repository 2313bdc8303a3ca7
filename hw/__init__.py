"""Hardware generators built from numfmt formats.

* :mod:`hw.rtl` — Amaranth components for the units numfmt emulates, each with a
  numfmt model (``unit.model``) that :mod:`sim` checks it against.
* :func:`emit` — Verilog plus a JSON manifest (formats, ports, latency), written atomically.

``hw`` depends only on ``numfmt``.
"""

from .emit import emit

__all__ = ["emit"]
