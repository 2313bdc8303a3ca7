"""The behaviour every number format shares: encode, decode, quantize.

A concrete format is a frozen dataclass that subclasses :class:`Format`, has
a ``bits`` attribute (code width) and implements two hooks on flat arrays:
``_encode_bits`` (input float bits to codes) and ``_decode_codes`` (codes to
float64).
"""

from __future__ import annotations

import numpy as np

from .. import _inputs
from ..modes import Rounding

__all__ = ["Format"]

_MAX_SR_BITS = 32


def _random_bits(rng, n: int, sr_bits: int):
    """``n`` uniform integers in ``[0, 2**sr_bits)`` from ``rng`` (a Generator or a seed)."""
    if rng is None:
        raise ValueError("rounding='stochastic' needs rng (a numpy.random.Generator or an int seed)")
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        else:
            raise TypeError(f"rng must be a numpy.random.Generator or an int seed, not {rng!r}")
    return rng.integers(0, 1 << sr_bits, size=n, dtype=np.int64)


class Format:
    """Base class of all number formats (abstract)."""

    __slots__ = ()

    # -- hooks for subclasses -------------------------------------------------
    # ``bits``: the width of one code, a property (FloatFormat, FixedFormat)
    # or a dataclass field (IntFormat) of every subclass.

    #: True if the format converts int64/uint64 inputs exactly with ``_encode_ints``;
    #: otherwise integers are read as float64 (and refused where float64 would round them).
    _exact_ints = False

    @property
    def default_rounding(self) -> Rounding:
        """Rounding used by :meth:`encode` when none is given."""
        return Rounding.NEAREST_EVEN

    def _encode_bits(self, bits, in_e, in_m, rounding: Rounding, rand, sr_bits):  # pragma: no cover
        raise NotImplementedError

    def _encode_ints(self, neg, mag, rounding: Rounding, rand, sr_bits):  # pragma: no cover
        """Codes of the integers ``-mag if neg else mag`` (flat bool and uint64 arrays)."""
        raise NotImplementedError

    def _decode_codes(self, codes):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public API ------------------------------------------------------------
    @property
    def code_dtype(self) -> np.dtype:
        """The unsigned dtype of :meth:`encode`'s output (uint8/16/32/64)."""
        return _inputs.code_dtype(self.bits)

    def encode(self, x, rounding=None, *, rng=None, sr_bits: int = 32):
        """Round ``x`` to this format and return the codes (unsigned integers).

        Parameters
        ----------
        x : array_like
            float64, float32, float16 or ml_dtypes bfloat16 values (Python
            numbers and integer arrays are read as float64), in either byte
            order. Any shape. Integer, fixed-point and sign-magnitude formats
            convert int64/uint64 inputs exactly; the others raise
            ``ValueError`` for an integer that float64 cannot hold exactly.
        rounding : Rounding or str, optional
            Rounding mode; default :attr:`default_rounding`.
        rng : numpy.random.Generator or int, optional
            Source of randomness for ``rounding="stochastic"``. One integer of
            ``sr_bits`` random bits is drawn per element, in C order, with
            ``rng.integers(0, 2**sr_bits)``; the same seed gives the same codes.
        sr_bits : int
            Random bits per element for stochastic rounding (1..32). The value
            rounds up iff that integer is below the discarded fraction read to
            ``sr_bits`` bits, so the rounding is unbiased to within
            ``2**-sr_bits`` of one unit in the last place.

        Returns
        -------
        numpy.ndarray of :attr:`code_dtype`, the shape of ``x``.
        """
        return self._encode_with(x, rounding, rng, sr_bits)

    def _encode_with(self, x, rounding, rng, sr_bits, **options):
        """Check the arguments of :meth:`encode`, then call the ``_encode_bits`` (or ``_encode_ints``) hook."""
        rounding = self.default_rounding if rounding is None else Rounding.parse(rounding, field="rounding")
        arr = _inputs.as_native(x)
        ints = self._exact_ints and _inputs.is_wide_int(arr)
        if ints:
            neg, mag = _inputs.int_parts(arr)
            shape, size = arr.shape, mag.size
        else:
            bits, in_e, in_m, shape = _inputs.float_bits(arr)
            size = bits.size
        if rounding is Rounding.STOCHASTIC:
            if isinstance(sr_bits, bool) or not isinstance(sr_bits, (int, np.integer)) or not 1 <= sr_bits <= _MAX_SR_BITS:
                raise ValueError(f"sr_bits must be an integer in 1..{_MAX_SR_BITS}, not {sr_bits!r}")
            rand = _random_bits(rng, size, int(sr_bits))
        else:
            rand = np.zeros(1, dtype=np.int64)
        if ints:
            codes = self._encode_ints(neg, mag, rounding, rand, int(sr_bits), **options)
        else:
            codes = self._encode_bits(bits, in_e, in_m, rounding, rand, int(sr_bits), **options)
        return codes.reshape(shape)

    def decode(self, codes):
        """Return the float64 value of each code (exact; NaN codes give NaN).

        Raises ``ValueError`` for codes that do not fit in :attr:`bits` bits.
        """
        flat, shape = _inputs.as_codes(codes, self.bits)
        return self._decode_codes(flat).reshape(shape)

    def quantize(self, x, rounding=None, *, rng=None, sr_bits: int = 32):
        """``decode(encode(x, ...))``: the nearest value of this format, as float64."""
        return self.decode(self.encode(x, rounding, rng=rng, sr_bits=sr_bits))

    def codes(self):
        """All codes of this format in increasing code order (≤ 24-bit formats)."""
        if self.bits > 24:
            raise ValueError(f"codes() lists formats of at most 24 bits, not {self.bits}")
        return np.arange(1 << self.bits, dtype=np.uint64).astype(self.code_dtype)

    def values(self):
        """The value of every code, indexed by code (≤ 24-bit formats)."""
        return self.decode(self.codes())
