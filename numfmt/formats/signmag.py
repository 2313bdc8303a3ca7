"""Sign-magnitude integers: the mantissas of classic block floating point.

A ``smint{N}`` code is a sign bit above an ``N-1``-bit magnitude ``k``; its
value is ``(-1)**sign * k``, so the values are symmetric, ``-(2**(N-1)-1)``
to ``2**(N-1)-1``, and there are two zeros (the code ``1 << (N-1)`` is −0).
Microsoft's MSFP and HBFP store block mantissas this way.

>>> from numfmt.formats.signmag import SignMagFormat
>>> sm8 = SignMagFormat(8)
>>> sm8.encode([2.5, -3.5, -200.0, -0.25]).tolist()
[2, 132, 255, 128]
>>> sm8.decode([2, 132, 255, 128]).tolist()
[2.0, -4.0, -127.0, -0.0]
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from .. import _inputs
from ..modes import Overflow, Rounding
from ._base import Format
from .fixed import _check_int, _check_own_rounding, _encode, _encode_ints, _to_int

__all__ = ["SignMagFormat"]

_SM_RE = re.compile(r"\s*smint(\d+)\s*(?:\((.*)\))?\s*", re.ASCII | re.DOTALL)
_KEY_RE = re.compile(r"\s*([a-z_]+)\s*=(.*)", re.ASCII | re.DOTALL)


@dataclasses.dataclass(frozen=True)
class SignMagFormat(Format):
    """A ``bits``-bit sign-magnitude integer (sign bit + ``bits - 1`` magnitude bits).

    Conversion rounds ``x`` to an integer ``q`` with the rounding mode (the
    same integer-domain rounding as :class:`~numfmt.IntFormat`), then
    saturates ``q`` to ``±(2**(bits-1) - 1)``. The code is the sign bit of
    ``q`` over ``|q|``; a result of zero keeps the sign bit of the input, as
    a float format does (``-0.25`` gives −0). Infinities saturate. NaN gives
    what the integer conversion gives for it: ``±max`` with the NaN's sign.
    int64/uint64 inputs convert as the exact integers they are.

    Parameters
    ----------
    bits : int
        Code width, 2..32.
    rounding : Rounding or str
        Any deterministic :class:`~numfmt.Rounding` (default ``"rne"``);
        ``encode(x, rounding="stochastic", rng=...)`` may override it.

    Examples
    --------
    >>> SignMagFormat(4).max, SignMagFormat(4).min
    (7, -7)
    >>> str(SignMagFormat(12, rounding="rtz"))
    'smint12(rounding=rtz)'
    """

    bits: int
    rounding: Rounding = dataclasses.field(default=Rounding.NEAREST_EVEN, kw_only=True)

    def __post_init__(self):
        object.__setattr__(self, "bits", _check_int("bits", self.bits, 2, 32))
        object.__setattr__(self, "rounding", _check_own_rounding(self.rounding, ap_only=False))

    # -- Format hooks ---------------------------------------------------------
    @property
    def default_rounding(self) -> Rounding:
        """The format's own rounding, :attr:`rounding`."""
        return self.rounding

    _exact_ints = True

    def _encode_bits(self, bits, in_e, in_m, rounding, rand, sr_bits):
        twos = _encode(bits, in_e, in_m, width=self.bits, frac_bits=0, signed=True,
                       rounding=rounding, overflow=Overflow.SATURATE_SYMMETRIC, sat_bits=0,
                       rand=rand, sr_bits=sr_bits, dtype=np.uint64)
        return self._from_twos(twos, (bits >> (in_e + in_m)).astype(bool))

    def _encode_ints(self, neg, mag, rounding, rand, sr_bits):
        twos = _encode_ints(neg, mag, width=self.bits, frac_bits=0, signed=True, rounding=rounding,
                            overflow=Overflow.SATURATE_SYMMETRIC, sat_bits=0, rand=rand, sr_bits=sr_bits,
                            dtype=np.uint64)
        return self._from_twos(twos, neg)

    def _from_twos(self, twos, in_sign):
        """Sign-magnitude codes from the symmetric two's-complement codes; zero keeps ``in_sign``."""
        q = _to_int(twos, self.bits, True)
        negative = (q < 0) | ((q == 0) & in_sign)
        codes = np.abs(q).astype(np.uint64) | (negative.astype(np.uint64) << np.uint64(self.bits - 1))
        return codes.astype(self.code_dtype)

    def _decode_codes(self, codes):
        sign_bit = np.uint64(1 << (self.bits - 1))
        mag = (codes & (sign_bit - np.uint64(1))).astype(np.float64)
        return np.where((codes & sign_bit) != 0, -mag, mag)

    # -- introspection --------------------------------------------------------
    @property
    def max(self) -> int:
        """Largest value, ``2**(bits-1) - 1``."""
        return (1 << (self.bits - 1)) - 1

    @property
    def min(self) -> int:
        """Smallest value, ``-max``."""
        return -self.max

    def decode_int(self, codes):
        """The integer value of each code, as int64 (−0 gives 0).

        >>> SignMagFormat(4).decode_int([7, 15, 8]).tolist()
        [7, -7, 0]
        """
        flat, shape = _inputs.as_codes(codes, self.bits)
        mag = (flat & np.uint64(self.max)).astype(np.int64)
        return np.where((flat >> np.uint64(self.bits - 1)) != 0, -mag, mag).reshape(shape)

    # -- names ----------------------------------------------------------------
    def __str__(self) -> str:
        name = f"smint{self.bits}"
        return name if self.rounding is Rounding.NEAREST_EVEN else f"{name}(rounding={self.rounding.value})"

    @classmethod
    def from_string(cls, s: str) -> "SignMagFormat":
        """Parse ``smint8`` or ``smint8(rounding=rtz)``.

        >>> SignMagFormat.from_string("smint16") == SignMagFormat(16)
        True
        """
        m = _SM_RE.fullmatch(s) if isinstance(s, str) else None
        if m is None:
            raise ValueError(f"cannot parse {s!r} as a sign-magnitude integer format: expected "
                             "smintN, optionally followed by (rounding=...)")
        kw = {}
        if m.group(2) is not None and m.group(2).strip():
            for item in m.group(2).split(","):
                km = _KEY_RE.fullmatch(item)
                if km is None or km.group(1) != "rounding":
                    raise ValueError(f"cannot parse {s!r}: expected rounding=..., not {item.strip()!r}")
                if "rounding" in kw:
                    raise ValueError(f"cannot parse {s!r}: rounding is given twice")
                kw["rounding"] = km.group(2).strip()
        try:
            return cls(int(m.group(1)), **kw)
        except ValueError as exc:
            raise ValueError(f"cannot parse {s!r}: {exc}") from None
