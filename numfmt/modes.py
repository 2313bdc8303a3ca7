"""Rounding, overflow and specials modes shared by every format.

Modes are enums; strings are accepted at the boundary and parsed once with
:func:`Rounding.parse`, :func:`Overflow.parse` and :func:`Specials.parse`.

>>> Rounding.parse("AP_RND_CONV") is Rounding.NEAREST_EVEN
True
>>> str(Overflow.parse("AP_SAT_SYM"))
'sat_sym'
"""

from __future__ import annotations

import enum

__all__ = ["Rounding", "Overflow", "Specials"]


class _ParsedEnum(enum.Enum):
    """An enum whose members parse from their value or any listed alias."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _aliases(cls) -> dict[str, "_ParsedEnum"]:
        return {}

    @classmethod
    def parse(cls, value, *, field: str | None = None):
        """Return the member named by ``value`` (a member, its value or an alias).

        Raises ``ValueError`` naming ``field`` (default: the enum's name) and
        the accepted spellings.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            for member in cls:
                if member.value == key:
                    return member
            member = cls._aliases().get(key)
            if member is not None:
                return member
        name = field or cls.__name__.lower()
        accepted = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{name} must be one of {accepted}, not {value!r}")


class Rounding(_ParsedEnum):
    """How a value between two representable numbers is rounded.

    The five ``NEAREST_*`` modes differ only in how exact ties are broken.
    ``STOCHASTIC`` rounds up with probability equal to the discarded fraction,
    read to ``sr_bits`` bits (see :meth:`numfmt.formats.Format.encode`).

    The seven HLS ``ap_fixed`` quantization modes are members under their own
    names: AP_RND = ``NEAREST_UP``, AP_RND_ZERO = ``NEAREST_ZERO``,
    AP_RND_MIN_INF = ``NEAREST_DOWN``, AP_RND_INF = ``NEAREST_AWAY``,
    AP_RND_CONV = ``NEAREST_EVEN``, AP_TRN = ``FLOOR``,
    AP_TRN_ZERO = ``TOWARD_ZERO``.
    """

    NEAREST_EVEN = "rne"   # ties to even (IEEE default, AP_RND_CONV)
    NEAREST_AWAY = "rna"   # ties away from zero (AP_RND_INF)
    NEAREST_UP = "rnp"     # ties toward +inf (AP_RND)
    NEAREST_DOWN = "rnm"   # ties toward -inf (AP_RND_MIN_INF)
    NEAREST_ZERO = "rnz"   # ties toward zero (AP_RND_ZERO)
    FLOOR = "floor"        # toward -inf (AP_TRN)
    CEIL = "ceil"          # toward +inf
    TOWARD_ZERO = "rtz"    # truncate the magnitude (AP_TRN_ZERO)
    AWAY = "rta"           # away from zero
    STOCHASTIC = "stochastic"

    @classmethod
    def _aliases(cls):
        return {
            "nearest_even": cls.NEAREST_EVEN, "nearest": cls.NEAREST_EVEN,
            "nearest_away": cls.NEAREST_AWAY, "ties_away": cls.NEAREST_AWAY,
            "nearest_up": cls.NEAREST_UP, "nearest_down": cls.NEAREST_DOWN,
            "nearest_zero": cls.NEAREST_ZERO,
            "rd": cls.FLOOR, "ru": cls.CEIL, "rz": cls.TOWARD_ZERO,
            "trunc": cls.TOWARD_ZERO, "toward_zero": cls.TOWARD_ZERO,
            "away": cls.AWAY, "away_from_zero": cls.AWAY, "sr": cls.STOCHASTIC,
            "ap_rnd": cls.NEAREST_UP, "ap_rnd_zero": cls.NEAREST_ZERO,
            "ap_rnd_min_inf": cls.NEAREST_DOWN, "ap_rnd_inf": cls.NEAREST_AWAY,
            "ap_rnd_conv": cls.NEAREST_EVEN, "ap_trn": cls.FLOOR,
            "ap_trn_zero": cls.TOWARD_ZERO,
            # hls4ml spells the ap modes without the AP_ prefix
            "rnd": cls.NEAREST_UP, "rnd_zero": cls.NEAREST_ZERO,
            "rnd_min_inf": cls.NEAREST_DOWN, "rnd_inf": cls.NEAREST_AWAY,
            "rnd_conv": cls.NEAREST_EVEN, "trn": cls.FLOOR, "trn_zero": cls.TOWARD_ZERO,
        }

    @property
    def ap_name(self) -> str | None:
        """The ``ap_fixed`` quantization mode name, or None if HLS has none."""
        return _AP_ROUNDING.get(self)

    @property
    def code(self) -> int:
        """Small integer identifying the mode inside compiled kernels."""
        return _ROUNDING_CODES[self]


_AP_ROUNDING = {
    Rounding.NEAREST_UP: "AP_RND",
    Rounding.NEAREST_ZERO: "AP_RND_ZERO",
    Rounding.NEAREST_DOWN: "AP_RND_MIN_INF",
    Rounding.NEAREST_AWAY: "AP_RND_INF",
    Rounding.NEAREST_EVEN: "AP_RND_CONV",
    Rounding.FLOOR: "AP_TRN",
    Rounding.TOWARD_ZERO: "AP_TRN_ZERO",
}
_ROUNDING_CODES = {member: i for i, member in enumerate(Rounding)}


class Overflow(_ParsedEnum):
    """What a conversion does with a value beyond the largest finite number.

    Floating formats use ``SATURATE`` or ``INFINITY`` (to inf, or to NaN when
    the specials policy has NaN but no inf). Fixed-point and integer formats
    use the five ``ap_fixed`` overflow modes: AP_SAT = ``SATURATE``,
    AP_SAT_ZERO = ``SATURATE_ZERO``, AP_SAT_SYM = ``SATURATE_SYMMETRIC``,
    AP_WRAP = ``WRAP``, AP_WRAP_SM = ``WRAP_SIGN_MAGNITUDE``.
    """

    SATURATE = "sat"
    INFINITY = "inf"
    SATURATE_ZERO = "sat_zero"
    SATURATE_SYMMETRIC = "sat_sym"
    WRAP = "wrap"
    WRAP_SIGN_MAGNITUDE = "wrap_sm"

    @classmethod
    def _aliases(cls):
        return {
            "saturate": cls.SATURATE, "infinity": cls.INFINITY, "nan": cls.INFINITY,
            "ap_sat": cls.SATURATE, "ap_sat_zero": cls.SATURATE_ZERO,
            "ap_sat_sym": cls.SATURATE_SYMMETRIC, "ap_wrap": cls.WRAP,
            "ap_wrap_sm": cls.WRAP_SIGN_MAGNITUDE,
        }

    @property
    def ap_name(self) -> str | None:
        """The ``ap_fixed`` overflow mode name, or None for ``INFINITY``."""
        return None if self is Overflow.INFINITY else "AP_" + self.value.upper()

    @property
    def code(self) -> int:
        """Small integer identifying the mode inside compiled kernels."""
        return _OVERFLOW_CODES[self]


_OVERFLOW_CODES = {member: i for i, member in enumerate(Overflow)}


class Specials(_ParsedEnum):
    """Which codes of a floating format are infinities and NaNs.

    ``IEEE``: the all-ones exponent holds ±inf (mantissa 0) and NaNs.
    ``FN``: no inf; NaN only at the all-ones magnitude (OCP FP8 E4M3).
    ``FNUZ``: no inf, no −0; the single NaN is the negative-zero code.
    ``NONE``: every code is a finite number (OCP FP6/FP4, FPGA minifloats).
    """

    IEEE = "ieee"
    FN = "fn"
    FNUZ = "fnuz"
    NONE = "none"

    @classmethod
    def _aliases(cls):
        return {"finite": cls.NONE}

    @property
    def code(self) -> int:
        """Small integer identifying the policy inside compiled kernels."""
        return _SPECIALS_CODES[self]


_SPECIALS_CODES = {member: i for i, member in enumerate(Specials)}
