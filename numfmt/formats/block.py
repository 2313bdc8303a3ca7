"""Block formats: OCP Microscaling (MX) and classic block floating point (BFP).

A block format splits a tensor along one axis into blocks of ``block``
consecutive elements. Each block stores one shared power-of-two scale
``2**e`` (a code of the ``scale`` format) and one code of the ``element``
format per element; the value of an element is ``element_value * 2**e``.
The exact definitions, with references, are in ``docs/block_formats.md``.

>>> import numpy as np
>>> from numfmt.formats.block import BLOCKS
>>> mxfp4 = BLOCKS["mxfp4"]
>>> enc = mxfp4.encode(np.float32([[0.3, -5.0, 1.0, 12.0]]))
>>> enc.scales.tolist()        # amax 12 = 1.5 * 2**3, e2m1's emax 2: scale 2**1
[[128]]
>>> enc.elements.tolist()      # 0.15 -> 0, -2.5 -> -2 (tie to even), 0.5, 6
[[0, 12, 1, 7]]
>>> mxfp4.decode(enc).tolist()
[[0.0, -4.0, 1.0, 12.0]]
>>> str(mxfp4), mxfp4.bits_per_element
('mxfp4', 4.25)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from fractions import Fraction

import numpy as np

from .. import _inputs, _threads
from .._kernels import block as _kb
from .._kernels import floating as _kf
from ..modes import Overflow, Rounding, _ParsedEnum
from .fixed import FixedFormat
from .floating import FloatFormat
from .integer import IntFormat
from .signmag import SignMagFormat

__all__ = ["BLOCKS", "MAX_BLOCK", "BlockCodes", "BlockFormat", "NanPolicy", "Ragged", "ScaleRule", "parse_block"]

_ELEMENT_TYPES = (FloatFormat, IntFormat, FixedFormat, SignMagFormat)
_SCALE_TYPES = (FloatFormat, IntFormat)
#: Elements whose smallest positive value is at least this are scaled exactly (see Notes)
_MIN_ELEMENT_QUANTUM = Fraction(1, 1 << 989)
#: The largest ``block``: far above any hardware block (OCP MX: 32; BFP: up to a few
#: hundred), small enough that a one-block tensor's padding stays small.
MAX_BLOCK = 1 << 16
#: Element overflow modes that wrap; inside a block they saturate instead (see BlockFormat Notes)
_WRAPPING = (Overflow.WRAP, Overflow.WRAP_SIGN_MAGNITUDE)


class ScaleRule(_ParsedEnum):
    """How the shared exponent ``e`` of a block follows from its largest magnitude ``amax``.

    With ``amax = s * 2**E`` (``1 ≤ s < 2``, read from the input's bits) and
    the element format's largest value ``max = t * 2**emax`` (``1 ≤ t < 2``):

    * ``OCP`` (``"ocp"``, alias ``"floor"``): ``e = E - emax`` (OCP MX v1.0,
      §6.3). Elements may round above ``max`` and saturate.
    * ``CEIL`` (``"ceil"``): the smallest ``e`` with ``amax / 2**e ≤ max``,
      i.e. ``E - emax + (s > t)``. No element saturates.
    * ``NEAREST`` (``"nearest"``): ``round(log2(amax / max))``, i.e.
      ``E - emax + (s/t ≥ √2) - (s/t < 1/√2)``. The comparisons are exact
      integer comparisons of ``s`` against ``⌈√2·t⌉`` and ``⌊t/√2⌋`` taken to
      the input's significand width with integer square roots; an exact tie
      would need ``s/t = √2``, which no pair of binary numbers reaches.
    """

    OCP = "ocp"
    CEIL = "ceil"
    NEAREST = "nearest"

    @classmethod
    def _aliases(cls):
        return {"floor": cls.OCP}


class NanPolicy(_ParsedEnum):
    """What a NaN or an infinity inside a block does.

    * ``OCP`` (``"ocp"``): the block's scale is NaN (E8M0 0xFF) and every
      element of the block decodes to NaN; the element codes are 0. This is
      the behaviour of OCP MX v1.0 §5.2 (a NaN scale makes the whole block
      NaN) with the reference implementation's handling of a NaN or ±inf
      maximum (microsoft/microxcaling: the shared exponent overflows to NaN).
    * ``PER_ELEMENT`` (``"propagate-per-element"``): the scale comes from the
      block's finite values; NaN and ±inf are encoded per element by the
      element format (NaN where it has NaN, inf where it has inf; otherwise
      its saturating rules: ±inf → ±max, NaN → the format's NaN substitute).
    """

    OCP = "ocp"
    PER_ELEMENT = "propagate-per-element"

    @classmethod
    def _aliases(cls):
        return {"per-element": cls.PER_ELEMENT, "propagate": cls.PER_ELEMENT,
                "per_element": cls.PER_ELEMENT}


class Ragged(_ParsedEnum):
    """A last block shorter than ``block``: ``"pad"`` (a shorter block) or ``"error"``."""

    PAD = "pad"
    ERROR = "error"


@dataclasses.dataclass(frozen=True, eq=False)
class BlockCodes:
    """The result of :meth:`BlockFormat.encode`.

    Attributes
    ----------
    scales : numpy.ndarray
        Scale codes, shaped like the input with the blocked axis of length
        ``ceil(n / block)`` (block ``j`` covers elements ``j*block`` to
        ``(j+1)*block - 1`` along that axis).
    elements : numpy.ndarray
        Element codes, the shape of the input.
    format : BlockFormat
        The format that produced them.
    """

    scales: np.ndarray
    elements: np.ndarray
    format: "BlockFormat"

    def __post_init__(self):
        if not isinstance(self.format, BlockFormat):
            raise TypeError(f"format must be a BlockFormat, not {self.format!r}")

    def decode(self):
        """``format.decode(self)``."""
        return self.format.decode(self)

    def factors(self):
        """The two factors hardware multiplies: element values and shared exponents.

        Returns ``(values, exponents, nan)``: the element values (float64, the shape
        of ``elements``, *not* scaled), the shared exponent ``e`` of each block
        (int64, the shape of ``scales``) and a mask of the blocks whose scale is
        NaN. Element ``k`` of block ``j`` decodes to ``values[k] * 2**e[j]``.

        >>> from numfmt.formats.block import BLOCKS
        >>> v, e, nan = BLOCKS["mxfp4"].encode([1.0, 3.0, 12.0]).factors()
        >>> v.tolist(), e.tolist(), nan.tolist()
        ([0.5, 1.5, 6.0], [1], [False])
        """
        fmt = self.format
        elements = np.asarray(self.elements)
        axis = fmt._axis_for(elements.ndim, name="elements")
        values = _decode_elements(fmt.element, elements)
        e, nan = fmt._scale_exponents(np.moveaxis(np.asarray(self.scales), axis, -1))
        return values, np.moveaxis(e, -1, axis), np.moveaxis(nan, -1, axis)


def _check_format(name, value, types):
    if isinstance(value, str):
        value = _parse_scalar(value, name)
    if not isinstance(value, types):
        kinds = " or ".join(t.__name__ for t in types)
        raise ValueError(f"{name} must be a scalar format ({kinds}), not {value!r}")
    return value


def _parse_scalar(text, name="format"):
    from ..parse import parse
    try:
        if re.match(r"\s*smint", text):
            return SignMagFormat.from_string(text)
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _floor_log2(value: Fraction) -> int:
    """``floor(log2(value))`` for a positive rational, exactly."""
    e = value.numerator.bit_length() - value.denominator.bit_length()
    return e if Fraction(2) ** e <= value else e - 1


@dataclasses.dataclass(frozen=True)
class BlockFormat:
    """Blocks of ``block`` elements sharing a power-of-two scale.

    Parameters
    ----------
    element : FloatFormat, IntFormat, FixedFormat, SignMagFormat or str
        The format of each element (≤ 32 bits, largest value > 0).
    block : int
        Elements per block, 1..:data:`MAX_BLOCK` (2**16); default 32.
    axis : int
        Axis along which blocks run (keyword-only; default −1). Checked
        against the input's dimensions at :meth:`encode`.
    scale : FloatFormat or IntFormat or str
        The format of the shared scale ``2**e``; default E8M0 (``e8m0fnu``).
        A FloatFormat stores the power of two itself (every power of two
        between its smallest positive value and its largest binade). An
        IntFormat stores the exponent ``e`` as an integer (e.g. ``int8``:
        ``e`` in −128..127); it has no NaN, so it needs
        ``nan_policy="propagate-per-element"``.
    rule : ScaleRule, str or callable
        ``"ocp"`` (default), ``"ceil"`` or ``"nearest"`` (see
        :class:`ScaleRule`), or ``rule(amax, element) -> e``: given the
        float64 array of block maxima (finite, ≥ 0; 0 for an all-zero block)
        and the element format, return an integer array of exponents. The
        exponent is then clamped to the scale format's range.
    nan_policy : NanPolicy or str
        ``"ocp"`` (default) or ``"propagate-per-element"`` (see :class:`NanPolicy`).
    ragged : Ragged or str
        ``"pad"`` (default): a last partial block is a shorter block;
        ``"error"``: a length that is not a multiple of ``block`` raises.

    Notes
    -----
    Encoding, per block: ``amax`` is the largest magnitude, found by integer
    comparison of the inputs' bits; the rule gives ``e`` (an all-zero block
    gets the smallest exponent), clamped to the scale format's range; each
    element is ``element.encode(x / 2**e)`` with element overflow
    saturating to ``±element.max`` (OCP MX v1.0 §6.3: "clamping normal
    numbers to max normal"; a FloatFormat element is encoded with
    ``overflow="sat"``; an integer or fixed-point element that wraps —
    ``wrap`` or ``wrap_sm``, e.g. ``ap_fixed``'s default AP_WRAP — is
    encoded with ``overflow="sat"`` (and no saturation bits); the saturating
    modes ``sat``, ``sat_sym`` and ``sat_zero`` are kept). ``x / 2**e`` is
    computed in float64, which is exact for float32/16/bfloat16 inputs; for
    float64 inputs, a quotient below ``2**-1022`` is replaced by
    ``±2**-1074``, which rounds the same in every element format whose
    smallest positive value is at least ``2**-989`` (required), for every
    rounding mode.

    Examples
    --------
    >>> from numfmt import FLOATS
    >>> f = BlockFormat(FLOATS["e2m1fn"], 16, rule="ceil")
    >>> str(f)
    'mxfp4(block=16,rule=ceil)'
    >>> BlockFormat.from_string(str(f)) == f
    True
    """

    element: object
    block: int = 32
    axis: int = dataclasses.field(default=-1, kw_only=True)
    scale: object = dataclasses.field(default=None, kw_only=True)
    rule: object = dataclasses.field(default=ScaleRule.OCP, kw_only=True)
    nan_policy: NanPolicy = dataclasses.field(default=NanPolicy.OCP, kw_only=True)
    ragged: Ragged = dataclasses.field(default=Ragged.PAD, kw_only=True)

    def __post_init__(self):
        set_ = object.__setattr__
        element = _check_format("element", self.element, _ELEMENT_TYPES)
        if element.bits > 32:
            raise ValueError(f"element must have at most 32 bits, not {element.bits} ({element})")
        if not element.max > 0:
            raise ValueError(f"element must have a positive largest value, not {element.max} ({element})")
        if _smallest_positive(element) < _MIN_ELEMENT_QUANTUM:
            raise ValueError(f"element's smallest positive value must be ≥ 2**-989, "
                             f"not {float(_smallest_positive(element))!r} ({element})")
        if (isinstance(self.block, bool) or not isinstance(self.block, (int, np.integer))
                or not 1 <= self.block <= MAX_BLOCK):
            raise ValueError(f"block must be an integer in 1..{MAX_BLOCK}, not {self.block!r}")
        if isinstance(self.axis, bool) or not isinstance(self.axis, (int, np.integer)):
            raise ValueError(f"axis must be an integer, not {self.axis!r}")
        scale = _default_scale() if self.scale is None else _check_format("scale", self.scale, _SCALE_TYPES)
        rule = self.rule
        if not callable(rule):
            rule = ScaleRule.parse(rule, field="rule")
        nan_policy = NanPolicy.parse(self.nan_policy, field="nan_policy")
        ragged = Ragged.parse(self.ragged, field="ragged")
        for name, value in (("element", element), ("block", int(self.block)), ("axis", int(self.axis)),
                            ("scale", scale), ("rule", rule), ("nan_policy", nan_policy),
                            ("ragged", ragged)):
            set_(self, name, value)
        lo, hi = self._scale_range
        if lo > hi:
            raise ValueError(f"scale {scale} holds no power of two")
        if nan_policy is NanPolicy.OCP and not (isinstance(scale, FloatFormat) and scale.has_nan):
            raise ValueError(f"nan_policy='ocp' needs a scale format with a NaN code, not {scale}; "
                             "use nan_policy='propagate-per-element'")

    # -- derived constants ------------------------------------------------------
    @property
    def bits_per_element(self) -> float:
        """Storage per element: ``element.bits + scale.bits / block``."""
        return self.element.bits + self.scale.bits / self.block

    @property
    def emax_elem(self) -> int:
        """Exponent of the element format's largest binade: ``floor(log2(element.max))``.

        The OCP MX spec's ``emax_elem`` (8 for E4M3, 15 for E5M2, 4 for E3M2,
        2 for E2M3 and E2M1, 0 for MXINT8's INT8).
        """
        return _floor_log2(Fraction(self.element.max))

    @property
    def _scale_range(self) -> tuple[int, int]:
        """The exponents ``e`` whose ``2**e`` the scale format holds."""
        s = self.scale
        if isinstance(s, IntFormat):
            return max(s.min, -1 << 20), min(s.max, 1 << 20)
        lo = s.min_exp - (s.man if s.subnormals and s.has_zero else 0)
        return lo, s.max_exp

    @property
    def _element_encoder(self):
        """The element format encode() uses: FloatFormat elements saturate; wrapping ones clamp."""
        e = self.element
        if isinstance(e, FloatFormat) and e.overflow is not Overflow.SATURATE:
            return dataclasses.replace(e, overflow=Overflow.SATURATE)
        if isinstance(e, FixedFormat) and e.overflow in _WRAPPING:
            return dataclasses.replace(e, overflow=Overflow.SATURATE, sat_bits=0)
        if isinstance(e, IntFormat) and e.overflow in _WRAPPING:
            return dataclasses.replace(e, overflow=Overflow.SATURATE)
        return e

    # -- encode / decode ----------------------------------------------------------
    def encode(self, x, rounding=None, *, rng=None, sr_bits: int = 32) -> BlockCodes:
        """Quantize ``x`` block by block; return the scale and element codes.

        Parameters
        ----------
        x : array_like
            float64, float32, float16 or bfloat16 values (either byte order;
            integers that float64 holds exactly), any shape with at least one
            dimension; any axis may be empty.
        rounding, rng, sr_bits
            Element rounding (default: the element format's default, RNE for
            the catalogue), as :meth:`numfmt.Format.encode`. Stochastic
            rounding draws one number per element in C order of ``x``.

        Returns
        -------
        BlockCodes

        >>> from numfmt.formats.block import BLOCKS
        >>> enc = BLOCKS["mxint8"].encode([1.0, 0.5, -0.25, 0.0])
        >>> enc.scales.tolist(), enc.elements.tolist()   # 1.0 = 64 * 2**-6
        ([127], [64, 32, 240, 0])
        """
        bits, in_e, in_m, shape = _inputs.float_bits(x)
        axis = self._axis_for(len(shape))
        n = shape[axis]
        self._check_ragged(n)
        plan = self._fused_plan(in_e, in_m, len(shape), bits.size, rounding)
        if plan is not None:
            codes, e, nan_block = self._fused(plan, bits, shape, values=False)
            return BlockCodes(scales=self._scale_codes(e, nan_block), elements=codes, format=self)
        bits = bits.reshape(shape)
        sign_shift = in_e + in_m
        mag_mask = (1 << sign_shift) - 1
        inf_bits = ((1 << in_e) - 1) << in_m
        utype = bits.dtype.type

        # per-block maximum magnitude, by unsigned comparison of the bits
        mag = bits & utype(mag_mask)
        if self.nan_policy is NanPolicy.PER_ELEMENT:
            mag = np.where(mag < utype(inf_bits), mag, utype(0))
        blocked, _ = _blocked(mag, axis, self.block)
        amax_bits = blocked.max(axis=-1) if blocked.shape[-1] else np.zeros(blocked.shape[:-1], bits.dtype)
        amax_bits = amax_bits.astype(np.uint64)
        nan_block = amax_bits >= np.uint64(inf_bits)
        zero_block = amax_bits == 0

        e = self._exponents(amax_bits, nan_block | zero_block, in_e, in_m)
        lo, hi = self._scale_range
        e = np.where(zero_block, lo, np.clip(e, lo, hi))
        e = np.where(nan_block, 0, e)

        # elements: x / 2**e (exact in float64, see Notes), then the element format
        xf = _as_float64(bits, in_e, in_m)
        xb, _ = _blocked(xf, axis, self.block)
        scaled_b = _times_pow2(xb, -e)
        if nan_block.any():
            scaled_b[nan_block] = 0.0
        in_emax = (1 << (in_e - 1)) - 1
        if e.size and in_e == 11 and e.max() > 0:
            tiny = (np.abs(scaled_b) < 2.0 ** -1022) & (xb != 0)
            scaled_b[tiny] = np.copysign(2.0 ** -1074, xb[tiny])
        if e.size and in_emax + 1 - e.min() > 1023:
            big = np.isinf(scaled_b) & np.isfinite(xb)
            scaled_b[big] = np.copysign(np.finfo(np.float64).max, xb[big])
        scaled = _unblocked(scaled_b, n, axis)
        elements = self._element_encoder.encode(scaled, rounding, rng=rng, sr_bits=sr_bits)
        if nan_block.any():
            elements[_unblocked(np.broadcast_to(nan_block[..., None], scaled_b.shape), n, axis)] = 0

        scales = self._scale_codes(e, nan_block)
        return BlockCodes(scales=np.moveaxis(scales, -1, axis), elements=elements, format=self)

    def decode(self, scales, elements=None):
        """Values (float64, shaped like the elements) of ``encode``'s result.

        Call as ``decode(codes)`` with a :class:`BlockCodes` of this format
        (codes of another format raise ``ValueError``) or as
        ``decode(scales, elements)`` with the two code arrays. A NaN scale
        makes its whole block NaN.
        """
        if elements is None:
            if not isinstance(scales, BlockCodes):
                raise ValueError("decode needs a BlockCodes or both scales and elements, "
                                 f"not {type(scales).__name__} alone")
            if scales.format != self:
                raise ValueError(f"codes were encoded by {scales.format}, not {self}; decode them with "
                                 f"codes.decode() or {scales.format}.decode(codes)")
            scales, elements = scales.scales, scales.elements
        elements = np.asarray(elements)
        scales = np.asarray(scales)
        axis = self._axis_for(elements.ndim, name="elements")
        n = elements.shape[axis]
        nb = -(-n // self.block)
        expect = elements.shape[:axis] + (nb,) + elements.shape[axis + 1:] if elements.ndim else ()
        if scales.shape != expect:
            raise ValueError(f"scales must have shape {expect} for elements of shape "
                             f"{elements.shape} (block={self.block}, axis={self.axis}), not {scales.shape}")
        values = _decode_elements(self.element, elements)
        e, nan = self._scale_exponents(np.moveaxis(scales, axis, -1))
        vb, _ = _blocked(values, axis, self.block)
        out_b = _times_pow2(vb, e)
        if nan.any():
            out_b[nan] = np.nan
        return np.ascontiguousarray(_unblocked(out_b, n, axis))

    def quantize(self, x, rounding=None, *, rng=None, sr_bits: int = 32):
        """``decode(encode(x, ...))``, float64 shaped like ``x``.

        >>> from numfmt.formats.block import BLOCKS
        >>> BLOCKS["mxfp8_e4m3"].quantize([1.0, 3.0, 500.0]).tolist()   # 500 -> 512 saturates
        [1.0, 3.0, 448.0]
        """
        bits, in_e, in_m, shape = _inputs.float_bits(x)
        self._check_ragged(shape[self._axis_for(len(shape))])
        plan = self._fused_plan(in_e, in_m, len(shape), bits.size, rounding)
        if plan is not None:
            return self._fused(plan, bits, shape, values=True)[0]
        return self.decode(self.encode(x, rounding, rng=rng, sr_bits=sr_bits))

    # -- one-pass kernel -----------------------------------------------------------
    def _fused_plan(self, in_e, in_m, ndim, size, rounding):
        """The arguments of the one-pass kernel when it computes exactly what the general path does, else None.

        It takes float32 input (``in_e, in_m = 8, 23``) blocked along the last
        axis, a :class:`ScaleRule` (not a callable), a deterministic rounding and
        shared exponents within ±800, so that ``x / 2**e`` is exact in float64 and
        the general path's float64 corrections never apply. The element encoder's
        codes of float32 input must depend on the bits below the top 16 only
        through their being zero, so that one table serves every element: a
        FloatFormat of ≤ 16 bits with ``_lut_exact(8, 23)``, or a signed FixedFormat
        of ≤ 8 bits that clamps (``sat``, ``sat_sym``). For the latter, a value
        below ``2**(width-1-frac_bits)`` in magnitude has its rounding bit among
        the top 16 bits (sign, exponent, 7 fraction bits: ≥ 8 significant bits
        against at most ``width - 1 ≤ 7`` kept), and every larger one clamps to
        the same code whatever its low bits.
        """
        if (in_e, in_m) != (8, 23) or size == 0 or self.axis % ndim != ndim - 1 or callable(self.rule):
            return None
        enc = self._element_encoder
        mode = enc.default_rounding if rounding is None else Rounding.parse(rounding, field="rounding")
        lo, hi = self._scale_range
        if mode is Rounding.STOCHASTIC or lo < -800 or hi > 800:
            return None
        if not ((isinstance(enc, FloatFormat) and enc.bits <= 16 and enc._lut_exact(8, 23))
                or (isinstance(enc, FixedFormat) and enc.signed and enc.width <= 8
                    and enc.overflow in (Overflow.SATURATE, Overflow.SATURATE_SYMMETRIC))):
            return None
        rule = {ScaleRule.OCP: _kb.RULE_OCP, ScaleRule.CEIL: _kb.RULE_CEIL,
                ScaleRule.NEAREST: _kb.RULE_NEAREST}[self.rule]
        k, m_int, up, down = self._rule_thresholds(23)
        bp = (int(self.nan_policy is NanPolicy.PER_ELEMENT), rule, self.emax_elem, k - 23, m_int,
              min(up, 1 << 62), down, lo, hi)
        vtable = _value_table(self.element)
        return enc, mode, bp, _float32_table(enc, mode), vtable, _nearest_values_plan(enc, mode, vtable)

    def _fused(self, plan, bits, shape, *, values):
        """Run the one-pass kernel: ``(codes or values, e, nan_block)``, the latter two per block."""
        enc, mode, bp, table, vtable, (man, signed_zero, vp) = plan
        n = shape[-1]
        rows = bits.size // n
        nb = -(-n // self.block)
        e = np.empty(rows * nb, dtype=np.int64)
        nan_block = np.empty(rows * nb, dtype=np.bool_)
        if values:
            out, codes = np.empty(bits.size, dtype=np.float64), np.empty(0, dtype=table.dtype)
        else:
            out, codes = np.empty(0, dtype=np.float64), np.empty(bits.size, dtype=table.dtype)
        slow = np.empty(bits.size, dtype=np.int64)      # pages are touched only where written
        kern = _kb.kernel(32 if self.block == 32 else 0, man if values else -1, signed_zero)

        def chunk(g0, g1):
            first = (g0 // nb) * n + (g0 % nb) * self.block
            count = kern(bits, n, self.block, g0, g1, bp, table, vtable, values, codes, out, e, nan_block, slow,
                         vp)
            return slow[first:first + count]

        listed = _threads.run(chunk, rows * nb, max(1, _threads.MIN_CHUNK // self.block))
        idx = np.concatenate(listed)
        if idx.size:     # the elements the table does not cover: the element format's encode, as in general
            g = (idx // n) * nb + (idx % n) // self.block
            with np.errstate(invalid="ignore"):    # a signalling NaN is quieted, as in the general path
                y = bits[idx].view(np.float32).astype(np.float64) * np.ldexp(1.0, -e[g])   # exact: |e| ≤ 800
            c = enc.encode(y, mode)
            if values:
                out[idx] = vtable[c] * np.ldexp(1.0, e[g])
            else:
                codes[idx] = c
        block_shape = shape[:-1] + (nb,)
        result = out if values else codes
        return result.reshape(shape), e.reshape(block_shape), nan_block.reshape(block_shape)

    # -- helpers -------------------------------------------------------------------
    def _axis_for(self, ndim: int, name: str = "x") -> int:
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"axis {self.axis} is out of range for {name} with {ndim} dimension"
                             f"{'' if ndim == 1 else 's'}")
        return self.axis % ndim

    def _check_ragged(self, n: int):
        if self.ragged is Ragged.ERROR and n % self.block:
            raise ValueError(f"ragged='error': the blocked axis has length {n}, "
                             f"which is not a multiple of block={self.block}")

    def _exponents(self, amax_bits, special, in_e, in_m):
        """The rule's exponent per block (garbage where ``special``)."""
        safe = np.where(special, np.uint64(1 << in_m), amax_bits)   # 1.0 where special
        if callable(self.rule):
            amax = _as_float64(safe.astype(_inputs.code_dtype(in_e + in_m + 1)), in_e, in_m)
            amax = np.where(special, 0.0, amax)
            e = np.asarray(self.rule(amax, self.element))
            if e.dtype.kind not in "iu":
                raise ValueError(f"rule must return an integer array, not dtype {e.dtype}")
            if e.shape != amax.shape:
                raise ValueError(f"rule must return one exponent per block, shape {amax.shape}, "
                                 f"not {e.shape}")
            return e.astype(np.int64)
        exp, sig = _exp_sig(safe, in_e, in_m)
        e = exp - self.emax_elem
        if self.rule is ScaleRule.OCP:
            return e
        k, m_int, up, down = self._rule_thresholds(in_m)
        s = sig << np.uint64(k - in_m)
        if self.rule is ScaleRule.CEIL:
            return e + (s > np.uint64(m_int))
        return e + (s >= np.uint64(min(up, 1 << 63))) - (s <= np.uint64(down))

    def _rule_thresholds(self, in_m):
        """``(k, m, up, down)``: the rules' significand comparisons, aligned to ``k`` fraction bits.

        ``m`` is the element maximum's significand ``t`` (``1 ≤ t < 2``) times
        ``2**k``; ``CEIL`` compares ``s > m``, ``NEAREST`` ``s ≥ up`` and ``s ≤ down``.
        """
        t = Fraction(self.element.max) / Fraction(2) ** self.emax_elem     # in [1, 2)
        k = max(in_m, t.denominator.bit_length() - 1)
        m_int = int(t * (1 << k))                                             # exact: t has ≤ 32 bits
        up = math.isqrt(2 * m_int * m_int) + 1          # smallest s with s**2 ≥ 2 m**2
        down = math.isqrt((m_int * m_int - 1) // 2)     # largest s with 2 s**2 < m**2
        return k, m_int, up, down

    def _scale_codes(self, e, nan_block):
        s = self.scale
        if isinstance(s, IntFormat):
            return s.encode(e.astype(np.float64))
        codes = s.encode(np.ldexp(1.0, e))
        if nan_block.any():
            codes[nan_block] = s.nan_code
        return codes

    def _scale_exponents(self, scales):
        """Shared exponent per block from scale codes, and the NaN mask."""
        s = self.scale
        if isinstance(s, IntFormat):
            e = s.decode_int(scales)
            return e, np.zeros(e.shape, dtype=bool)
        v = s.decode(scales)
        nan = ~np.isfinite(v) | (v <= 0)
        m, ex = np.frexp(np.where(nan, 1.0, v))
        if np.any(m != 0.5):
            raise ValueError("scales must be codes of powers of two in the scale format "
                             f"{s}; found {v[m != 0.5].ravel()[0]!r}")
        return ex.astype(np.int64) - 1, nan

    # -- names ------------------------------------------------------------------------
    def __str__(self) -> str:
        return block_name(self)

    def overrides(self, base: "BlockFormat") -> dict:
        """The fields in which this format differs from ``base``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(base, f.name)}

    @classmethod
    def from_string(cls, text: str) -> "BlockFormat":
        """Parse a catalogue name, ``mx(element=...,...)``, or a catalogue name with overrides.

        >>> str(BlockFormat.from_string("mx(element=e3m2fn, block=16)"))
        'mxfp6_e3m2(block=16)'
        """
        return parse_block(text)


# -- array helpers ---------------------------------------------------------------------
def _blocked(a, axis, block):
    """``a`` with ``axis`` moved last, zero-padded and reshaped to ``(..., nblocks, block)``."""
    am = np.moveaxis(a, axis, -1)
    n = am.shape[-1]
    nb = -(-n // block)
    pad = nb * block - n
    if pad:
        am = np.concatenate([am, np.zeros(am.shape[:-1] + (pad,), dtype=am.dtype)], axis=-1)
    return am.reshape(am.shape[:-1] + (nb, block)), n


def _unblocked(b, n, axis):
    """Inverse of :func:`_blocked`: ``(..., nblocks, block)`` back to the input's layout."""
    flat = b.reshape(b.shape[:-2] + (b.shape[-2] * b.shape[-1],))
    if flat.shape[-1] != n:
        flat = flat[..., :n]
    return np.moveaxis(flat, -1, axis)


def _times_pow2(vb, k):
    """``vb * 2**k`` per block (``vb`` blocked, ``k`` one exponent per block), correctly rounded."""
    if k.size == 0 or (k.min() >= -1074 and k.max() <= 1023):
        return vb * np.ldexp(1.0, k)[..., None]
    kk = np.clip(k, -4000, 4000).astype(np.int32)[..., None]
    return np.ldexp(vb, np.broadcast_to(kk, vb.shape))


@functools.lru_cache(maxsize=32)
def _float32_table(element, rounding):
    """``element``'s codes of the float32 inputs ``hi16 << 16`` and ``hi16 << 16 | 1``, interleaved.

    Indexed by ``(hi16 << 1) | (low16 != 0)``; built by ``element.encode`` itself.
    """
    hi = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
    reps = np.stack([hi, hi | np.uint32(1)], axis=1).reshape(-1).view(np.float32)
    with _threads.threads(1):
        table = element.encode(reps, rounding)
    table.setflags(write=False)
    return table


def _nearest_values_plan(enc, mode, vtable):
    """``(man, signed_zero, vp)`` of the one-pass kernel's vectorised values loop
    (``numfmt._kernels.block.kernel``) for the element encoder ``enc``, or ``(-1, False, vp)``
    where it does not apply.

    It applies to round to nearest even, with a float element that
    ``numfmt._kernels.floating.f32_nearest_ok`` admits (``man`` fraction bits, normal from
    ``2**min_exp``, quantum ``2**(min_exp - man)`` below) or a signed fixed-point one (one
    step ``2**-frac_bits``: ``man = 0`` and no normal range). ``vp`` holds the float32 bits of
    the smallest normal, of the float32 whose last place is the quantum, and of the largest
    magnitude that ``vtable`` holds with both signs (larger ones take the table loop);
    ``signed_zero``: ``vtable`` has a ``-0``.
    """
    none = (-1, False, np.zeros(_kb.V_COUNT, dtype=np.int64))
    if mode is not Rounding.NEAREST_EVEN:
        return none
    if isinstance(enc, FloatFormat) and _kf.f32_nearest_ok(enc._kernel_params()):
        man, minnorm, quantum = enc.man, enc.min_exp + 127 << 23, enc.min_exp - enc.man
    elif isinstance(enc, FixedFormat) and enc.signed and -126 <= 23 - enc.frac_bits <= 127:
        man, minnorm, quantum = 0, 0x7FFFFFFF, -enc.frac_bits
    else:
        return none
    finite = vtable[np.isfinite(vtable)]
    top = min(finite.max(), -finite.min())       # a magnitude both signs reach (int8: 127/64, not 2)
    vmax = int(np.float32(top).view(np.int32))
    if float(np.float32(top)) != float(top):
        return none
    vp = np.array([minnorm, (quantum + 23 + 127) << 23, vmax], dtype=np.int64)
    return man, bool(np.any((vtable == 0) & np.signbit(vtable))), vp


@functools.lru_cache(maxsize=32)
def _value_table(element):
    table = element.values()
    table.setflags(write=False)
    return table


def _decode_elements(element, codes):
    """``element.decode(codes)``, by table lookup for formats of at most 16 bits."""
    codes = np.asarray(codes)
    if element.bits <= 16 and codes.size > (1 << element.bits) and codes.dtype.kind == "u":
        if codes.size and int(codes.max()) >> element.bits:
            raise ValueError(f"elements must fit in {element.bits} bits, not {int(codes.max())}")
        return _value_table(element)[codes]
    return element.decode(codes)


def _as_float64(bits, in_e, in_m):
    """The float64 values of input bits (an exact widening)."""
    if in_e == 11:
        return bits.view(np.float64)
    if in_m == 23:
        return bits.view(np.float32).astype(np.float64)
    if in_e == 5:
        return bits.view(np.float16).astype(np.float64)
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)  # bfloat16


def _exp_sig(mag, in_e, in_m):
    """``(E, s)`` with ``mag``'s value ``= s * 2**(E - in_m)``, ``2**in_m ≤ s < 2**(in_m+1)``.

    ``mag`` holds positive finite magnitudes (uint64 bit patterns, sign clear).
    """
    bias = (1 << (in_e - 1)) - 1
    field = (mag >> np.uint64(in_m)).astype(np.int64)
    frac = mag & np.uint64((1 << in_m) - 1)
    normal = field != 0
    sig = frac | np.uint64(1 << in_m)
    exp = field - bias
    sub = ~normal
    if sub.any():           # subnormal maxima: normalise by the fraction's bit length
        bl = _inputs.bit_length(frac[sub])
        sig[sub] = frac[sub] << (in_m + 1 - bl).astype(np.uint64)
        exp[sub] = 1 - bias - in_m + bl - 1
    return exp, sig


def _smallest_positive(fmt) -> Fraction:
    if isinstance(fmt, FloatFormat):
        return Fraction(fmt.smallest_subnormal)
    if isinstance(fmt, FixedFormat):
        return Fraction(1) / Fraction(2) ** fmt.frac_bits if fmt.frac_bits >= 0 else Fraction(2) ** -fmt.frac_bits
    return Fraction(1)


def _default_scale():
    return _E8M0


_E8M0 = FloatFormat(8, 0, specials="fn", signed=False, subnormals=False, has_zero=False)

# -- catalogue ------------------------------------------------------------------------
_MX_ELEMENTS = {
    "mxfp8_e4m3": FloatFormat(4, 3, specials="fn"),
    "mxfp8_e5m2": FloatFormat(5, 2),
    "mxfp6_e3m2": FloatFormat(3, 2, specials="none", overflow="sat"),
    "mxfp6_e2m3": FloatFormat(2, 3, specials="none", overflow="sat"),
    "mxfp4": FloatFormat(2, 1, specials="none", overflow="sat"),
    # INT8 with an implicit scale of 2**-6: values k * 2**-6, k in -128..127
    "mxint8": FixedFormat(8, 2, rounding="AP_RND_CONV", overflow="AP_SAT"),
}

#: Named block formats (data). OCP MX v1.0 concrete formats (§5, Table 1) and
#: classic BFP with sign-magnitude mantissas of N bits including the sign.
BLOCKS: dict[str, BlockFormat] = {name: BlockFormat(element, 32) for name, element in _MX_ELEMENTS.items()}
for _n in (8, 12, 16):
    BLOCKS[f"bfp{_n}"] = BlockFormat(SignMagFormat(_n), 32)

_DEFAULTS = {"block": 32, "axis": -1, "scale": _E8M0, "rule": ScaleRule.OCP,
             "nan_policy": NanPolicy.OCP, "ragged": Ragged.PAD}
_NAME_OF = {}
for _name, _fmt in BLOCKS.items():
    _NAME_OF.setdefault(_fmt, _name)


def _value_str(key, value) -> str:
    if key == "rule" and callable(value):
        return f"<callable {getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}>"
    return str(value)


def block_name(fmt: BlockFormat) -> str:
    """Canonical name: a catalogue name, a catalogue name with overrides, or ``mx(element=...,...)``.

    The base is the catalogue entry with the same element needing the fewest
    overrides; without one it is ``mx(element=...)`` with the fields that
    differ from the defaults (block 32, axis −1, E8M0 scale, rule ocp,
    nan_policy ocp, ragged pad).
    """
    if fmt in _NAME_OF:
        return _NAME_OF[fmt]
    best = None
    for name, other in BLOCKS.items():
        if other.element == fmt.element and _NAME_OF[other] == name:
            diff = fmt.overrides(other)
            if best is None or len(diff) < len(best[1]):
                best = (name, diff)
    if best is None:
        diff = {k: getattr(fmt, k) for k, v in _DEFAULTS.items() if getattr(fmt, k) != v}
        args = [f"element={fmt.element}"] + [f"{k}={_value_str(k, v)}" for k, v in diff.items()]
        return f"mx({','.join(args)})"
    name, diff = best
    args = ",".join(f"{k}={_value_str(k, v)}" for k, v in diff.items())
    return f"{name}({args})"


_NAME_RE = re.compile(r"\s*([a-z0-9_]+)\s*(?:\((.*)\))?\s*\Z", re.DOTALL)
_KEYS = ("element", "block", "axis", "scale", "rule", "nan_policy", "ragged")


def _split_top(args: str) -> list[str]:
    """Split on commas outside (), <>, []."""
    out, depth, cur = [], 0, []
    for ch in args:
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def parse_block(text: str) -> BlockFormat:
    """Parse a block format name (see :meth:`BlockFormat.from_string`)."""
    if not isinstance(text, str):
        raise ValueError(f"format name must be a string, not {text!r}")
    m = _NAME_RE.match(text.lower())
    if not m:
        raise ValueError(f"cannot parse block format name {text!r}")
    base, args = m.group(1), m.group(2)
    if base in BLOCKS:
        fmt = BLOCKS[base]
        kwargs = {k: getattr(fmt, k) for k in _KEYS}
    elif base == "mx":
        kwargs = {}
    else:
        raise ValueError(f"unknown block format name {text!r}; expected one of "
                         f"{', '.join(BLOCKS)} or mx(element=...)")
    given = set()
    if args is not None and args.strip():
        for item in _split_top(args):
            key, sep, value = (s.strip() for s in item.partition("="))
            if not sep or not value:
                raise ValueError(f"override {item.strip()!r} in {text!r} must be key=value")
            if key not in _KEYS:
                raise ValueError(f"unknown field {key!r} in {text!r}; expected one of {', '.join(_KEYS)}")
            if key in given:
                raise ValueError(f"field {key!r} given twice in {text!r}")
            given.add(key)
            if key in ("block", "axis"):
                try:
                    kwargs[key] = int(value)
                except ValueError:
                    raise ValueError(f"{key} must be an integer, not {value!r} (in {text!r})") from None
            elif key in ("element", "scale"):
                kwargs[key] = _parse_scalar(value, key)
            elif key == "rule" and value.startswith("<callable"):
                raise ValueError(f"a callable rule has no parsable name ({value!r} in {text!r})")
            else:
                kwargs[key] = value
    if "element" not in kwargs:
        raise ValueError(f"mx(...) needs element=..., in {text!r}")
    element = kwargs.pop("element")
    try:
        return BlockFormat(element, **kwargs)
    except ValueError as exc:
        raise ValueError(f"cannot parse {text!r}: {exc}") from None
