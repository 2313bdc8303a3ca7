"""numfmt.hw.hls.types: the C++ type of each numfmt format, and what it refuses."""

from __future__ import annotations

import dataclasses

import pytest

import numfmt as nf
from numfmt.hw.hls import cpp_int_type, cpp_rounding, cpp_type


def test_float_formats_spell_every_field():
    f = nf.FloatFormat(5, 3, bias=12, specials="fn", signed=False, negative_nan=True, subnormals=True)
    assert cpp_type(f) == ("numfmt::float_format<5, 3, 12, numfmt::specials::fn, true, numfmt::overflow::inf, "
                           "false, true, true>")
    assert cpp_type(nf.FLOATS["e8m0fnu"]).endswith("numfmt::overflow::inf, false, false, false>")
    assert cpp_type(nf.FloatFormat(3, 2, specials="ieee", overflow="sat", subnormals=False)) == \
        "numfmt::float_format<3, 2, 3, numfmt::specials::ieee, false, numfmt::overflow::sat, true, true, false>"


def test_block_formats():
    assert cpp_type(nf.BLOCKS["mxfp8_e4m3"]).startswith("numfmt::mx_format<numfmt::float_format<4, 3, 7,")
    with pytest.raises(ValueError, match=r"fmt.element must be a FloatFormat for the C\+\+ library, not int8"):
        cpp_type(nf.BlockFormat(nf.IntFormat(8), 32))
    with pytest.raises(ValueError, match="fmt.rule must be 'ocp'"):
        cpp_type(dataclasses.replace(nf.BLOCKS["mxfp4"], rule="ceil"))
    with pytest.raises(ValueError, match="fmt.scale must be a FloatFormat"):
        cpp_type(nf.BlockFormat(nf.FLOATS["e2m1fn"], 32, scale=nf.IntFormat(8), nan_policy="per-element"))


def test_other_formats_and_modes_are_refused():
    with pytest.raises(TypeError, match="fmt must be a numfmt FloatFormat or BlockFormat, not"):
        cpp_type(nf.IntFormat(8))
    assert cpp_rounding("floor") == "numfmt::rounding::floor"
    assert cpp_rounding(nf.Rounding.AWAY) == "numfmt::rounding::rta"
    with pytest.raises(ValueError, match="rounding must be a deterministic mode for the C\\+\\+ library"):
        cpp_rounding("stochastic")
    assert cpp_int_type(nf.IntFormat(4, signed=False, overflow="wrap")) == "numfmt::int_format<4, false, false>"
    with pytest.raises(TypeError, match="fmt must be a numfmt IntFormat"):
        cpp_int_type(nf.FLOATS["e4m3fn"])
