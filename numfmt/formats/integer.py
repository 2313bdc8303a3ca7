"""Integer formats: ``int8``, ``uint4``, ... with rounding and overflow modes.

>>> from numfmt.formats.integer import IntFormat
>>> i4 = IntFormat(4)
>>> i4.encode([2.5, 3.5, -100.0]).tolist()
[2, 4, 8]
>>> i4.decode([2, 4, 8]).tolist()
[2.0, 4.0, -8.0]
"""

from __future__ import annotations

import dataclasses
import re

from .. import _inputs
from ..modes import Overflow, Rounding
from ._base import Format
from .fixed import (_check_bool, _check_int, _check_overflow, _check_own_rounding, _decode, _encode, _encode_ints,
                    _to_int)

__all__ = ["IntFormat"]

_DEFAULTS = {"rounding": Rounding.NEAREST_EVEN, "overflow": Overflow.SATURATE}
_INT_RE = re.compile(r"\s*(u?)int(\d+)\s*(?:\((.*)\))?\s*", re.ASCII | re.DOTALL)
_KEY_RE = re.compile(r"\s*([a-z_]+)\s*=(.*)", re.ASCII | re.DOTALL)


@dataclasses.dataclass(frozen=True)
class IntFormat(Format):
    """A ``bits``-bit two's-complement (or unsigned) integer format.

    Conversion is that of :class:`~numfmt.formats.fixed.FixedFormat` with no
    fraction bits, i.e. ``ap_fixed<bits, bits, Q, O>`` (``ap_ufixed`` when
    unsigned), computed by the same kernel.

    Parameters
    ----------
    bits : int
        Code width, 1..32.
    signed : bool
        False for ``uint``.
    rounding : Rounding or str
        Any deterministic :class:`~numfmt.Rounding` (default ``"rne"``);
        ``encode(x, rounding="stochastic", rng=...)`` may override it.
    overflow : Overflow or str
        ``"sat"`` (default), ``"sat_zero"``, ``"sat_sym"``, ``"wrap"`` or
        ``"wrap_sm"`` (signed only), with the ``ap_fixed`` meaning.

    Examples
    --------
    >>> IntFormat(8).max, IntFormat(8).min, IntFormat(4, signed=False).max
    (127, -128, 15)
    >>> f = IntFormat.from_string("int8(rounding=floor,overflow=wrap)")
    >>> f.encode([-0.5, 128.0]).tolist(), str(f)
    ([255, 128], 'int8(rounding=floor,overflow=wrap)')
    """

    bits: int
    signed: bool = dataclasses.field(default=True, kw_only=True)
    rounding: Rounding = dataclasses.field(default=Rounding.NEAREST_EVEN, kw_only=True)
    overflow: Overflow = dataclasses.field(default=Overflow.SATURATE, kw_only=True)

    def __post_init__(self):
        bits = _check_int("bits", self.bits, 1, 32)
        signed = _check_bool("signed", self.signed)
        rounding = _check_own_rounding(self.rounding, ap_only=False)
        overflow = _check_overflow(self.overflow, signed)
        for name, value in (("bits", bits), ("signed", signed), ("rounding", rounding),
                            ("overflow", overflow)):
            object.__setattr__(self, name, value)

    # -- Format hooks ---------------------------------------------------------
    @property
    def default_rounding(self) -> Rounding:
        """The format's own rounding, :attr:`rounding`."""
        return self.rounding

    def _encode_bits(self, bits, in_e, in_m, rounding, rand, sr_bits):
        return _encode(bits, in_e, in_m, width=self.bits, frac_bits=0, signed=self.signed,
                       rounding=rounding, overflow=self.overflow, sat_bits=0,
                       rand=rand, sr_bits=sr_bits, dtype=self.code_dtype)

    _exact_ints = True

    def _encode_ints(self, neg, mag, rounding, rand, sr_bits):
        return _encode_ints(neg, mag, width=self.bits, frac_bits=0, signed=self.signed, rounding=rounding,
                            overflow=self.overflow, sat_bits=0, rand=rand, sr_bits=sr_bits, dtype=self.code_dtype)

    def _decode_codes(self, codes):
        return _decode(codes, self.bits, 0, self.signed)

    # -- introspection --------------------------------------------------------
    @property
    def max(self) -> int:
        """Largest value (as ``np.iinfo(...).max``)."""
        return (1 << (self.bits - self.signed)) - 1

    @property
    def min(self) -> int:
        """Smallest value: ``-2**(bits-1)``, or 0 when unsigned."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    def decode_int(self, codes):
        """The integer value of each code, as int64.

        >>> IntFormat(4).decode_int([7, 8, 15]).tolist()
        [7, -8, -1]
        """
        flat, shape = _inputs.as_codes(codes, self.bits)
        return _to_int(flat, self.bits, self.signed).reshape(shape)

    # -- names ----------------------------------------------------------------
    def __str__(self) -> str:
        name = f"{'' if self.signed else 'u'}int{self.bits}"
        options = [f"{key}={getattr(self, key).value}" for key, default in _DEFAULTS.items()
                   if getattr(self, key) is not default]
        return f"{name}({','.join(options)})" if options else name

    @classmethod
    def from_string(cls, s: str) -> "IntFormat":
        """Parse ``int8``, ``uint4`` or ``int8(rounding=floor,overflow=wrap)``.

        >>> IntFormat.from_string("uint4") == IntFormat(4, signed=False)
        True
        """
        m = _INT_RE.fullmatch(s) if isinstance(s, str) else None
        if m is None:
            raise ValueError(f"cannot parse {s!r} as an integer format: expected intN or uintN, "
                             "optionally followed by (rounding=...,overflow=...)")
        kw = {"signed": not m.group(1)}
        if m.group(3) is not None and m.group(3).strip():
            for item in m.group(3).split(","):
                km = _KEY_RE.fullmatch(item)
                if km is None or km.group(1) not in _DEFAULTS:
                    raise ValueError(f"cannot parse {s!r}: expected rounding=... or overflow=..., "
                                     f"not {item.strip()!r}")
                if km.group(1) in kw:
                    raise ValueError(f"cannot parse {s!r}: {km.group(1)} is given twice")
                kw[km.group(1)] = km.group(2).strip()
        try:
            return cls(int(m.group(2)), **kw)
        except ValueError as exc:
            raise ValueError(f"cannot parse {s!r}: {exc}") from None

