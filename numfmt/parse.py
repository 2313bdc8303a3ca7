"""``parse(name)``: any format from its canonical name (``str(fmt)``).

>>> from numfmt import parse
>>> parse("e4m3fn").max
448.0
>>> str(parse("ap_fixed<8, 3, AP_RND_CONV, AP_SAT>"))
'ap_fixed<8,3,AP_RND_CONV,AP_SAT>'
>>> str(parse("int4(overflow=wrap)"))
'int4(overflow=wrap)'
"""

from __future__ import annotations

import re

from .catalogue import parse_float
from .formats.block import parse_block
from .formats.fixed import FixedFormat
from .formats.integer import IntFormat
from .formats.signmag import SignMagFormat

__all__ = ["parse"]

_FIXED = re.compile(r"\s*(ap_)?u?fixed\s*<", re.IGNORECASE)
_INT = re.compile(r"\s*u?int\d", re.IGNORECASE)
_BLOCK = re.compile(r"\s*(mx|bfp)", re.IGNORECASE)
_SIGNMAG = re.compile(r"\s*smint\d", re.IGNORECASE)


def parse(name: str):
    """Return the format named ``name``; ``parse(str(fmt)) == fmt`` for every format.

    Accepts float names (``e4m3fn``, ``fp6_e3m2``, ``e5m2(overflow=sat)``,
    ``e3m2(bias=5,specials=fn)``), ``ap_fixed<W,I,Q,O,N>`` / ``ap_ufixed`` and
    hls4ml's ``fixed<...>`` / ``ufixed<...>``, and ``int8`` / ``uint4`` with
    optional ``(rounding=...,overflow=...)``, sign-magnitude ``smint8``, and
    block formats (``mxfp4``, ``bfp8``, ``mx(element=...,block=...)``). Raises ``ValueError`` naming the
    text when it is not a format name.
    """
    if not isinstance(name, str):
        raise ValueError(f"format name must be a string, not {name!r}")
    if _FIXED.match(name):
        return FixedFormat.from_string(name)
    if _BLOCK.match(name):
        return parse_block(name)
    if _SIGNMAG.match(name):
        return SignMagFormat.from_string(name)
    if _INT.match(name):
        return IntFormat.from_string(name)
    return parse_float(name)
