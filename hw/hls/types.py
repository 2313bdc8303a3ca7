"""C++ types of the header library for numfmt formats: one typed mapping, never guessed.

>>> import numfmt as nf
>>> cpp_type(nf.parse("e4m3fn"))
'numfmt::float_format<4, 3, 7, numfmt::specials::fn, true, numfmt::overflow::inf, true, true, false>'
>>> cpp_type(nf.parse("mxfp4")) == f"numfmt::mx_format<{cpp_type(nf.parse('e2m1fn'))}, 32, {cpp_type(nf.parse('e8m0fnu'))} >"
True
>>> cpp_rounding("rne"), cpp_int_type(nf.IntFormat(8))
('numfmt::rounding::rne', 'numfmt::int_format<8, true, true>')
"""

from __future__ import annotations

from numfmt import BlockFormat, FloatFormat, IntFormat
from numfmt.formats.block import NanPolicy, Ragged, ScaleRule
from numfmt.modes import Overflow, Rounding

__all__ = ["cpp_type", "cpp_rounding", "cpp_int_type"]


def _b(v: bool) -> str:
    return "true" if v else "false"


def cpp_type(fmt) -> str:
    """The ``numfmt::float_format<...>`` / ``numfmt::mx_format<...>`` type of a format.

    Parameters
    ----------
    fmt : FloatFormat or BlockFormat
        A block format needs float elements, a float scale, the OCP scale rule and NaN
        policy, and ragged blocks padded (numfmt's defaults).

    Raises
    ------
    TypeError
        Another kind of format.
    ValueError
        A block format the header library does not model (naming the field).
    """
    if isinstance(fmt, FloatFormat):
        return (f"numfmt::float_format<{fmt.exp}, {fmt.man}, {fmt.bias}, numfmt::specials::{fmt.specials.value}, "
                f"{_b(fmt.subnormals)}, numfmt::overflow::{'sat' if fmt.overflow is Overflow.SATURATE else 'inf'}, "
                f"{_b(fmt.signed)}, {_b(fmt.has_zero)}, {_b(fmt.negative_nan)}>")
    if isinstance(fmt, BlockFormat):
        if not isinstance(fmt.element, FloatFormat):
            raise ValueError(f"fmt.element must be a FloatFormat for the C++ library, not {fmt.element} ({fmt})")
        if not isinstance(fmt.scale, FloatFormat):
            raise ValueError(f"fmt.scale must be a FloatFormat for the C++ library, not {fmt.scale} ({fmt})")
        if fmt.rule is not ScaleRule.OCP:
            raise ValueError(f"fmt.rule must be 'ocp' for the C++ library, not {fmt.rule!r} ({fmt})")
        if fmt.nan_policy is not NanPolicy.OCP:
            raise ValueError(f"fmt.nan_policy must be 'ocp' for the C++ library, not {fmt.nan_policy!r} ({fmt})")
        if fmt.ragged is not Ragged.PAD:
            raise ValueError(f"fmt.ragged must be 'pad' for the C++ library, not {fmt.ragged!r} ({fmt})")
        return f"numfmt::mx_format<{cpp_type(fmt.element)}, {fmt.block}, {cpp_type(fmt.scale)} >"
    raise TypeError(f"fmt must be a numfmt FloatFormat or BlockFormat, not {fmt!r}")


def cpp_rounding(rounding) -> str:
    """``numfmt::rounding::<mode>`` for a deterministic :class:`numfmt.Rounding` (or its name)."""
    r = Rounding.parse(rounding, field="rounding")
    if r is Rounding.STOCHASTIC:
        raise ValueError("rounding must be a deterministic mode for the C++ library, not 'stochastic'")
    return f"numfmt::rounding::{r.value}"    # the C++ enumerators are numfmt's names


def cpp_int_type(fmt) -> str:
    """``numfmt::int_format<bits, signed, saturate>`` for an IntFormat with sat/wrap overflow."""
    if not isinstance(fmt, IntFormat):
        raise TypeError(f"fmt must be a numfmt IntFormat, not {fmt!r}")
    if fmt.overflow not in (Overflow.SATURATE, Overflow.WRAP):
        raise ValueError(f"fmt.overflow must be 'sat' or 'wrap' for the C++ library, not {str(fmt.overflow)!r}")
    return f"numfmt::int_format<{fmt.bits}, {_b(fmt.signed)}, {_b(fmt.overflow is Overflow.SATURATE)}>"
