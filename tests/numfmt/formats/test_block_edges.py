"""BlockFormat edges: wrapping elements clamp, codes know their format, empty axes, block bound."""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt.formats import block as block_module
from numfmt.formats.block import BLOCKS, BlockCodes, BlockFormat
from numfmt.modes import Overflow


# --- a wrapping element saturates inside a block (OCP MX §6.3 clamps) -----------------------------

@pytest.mark.parametrize("name", ["mx(element=ap_fixed<8,2>)", "mx(element=ap_fixed<8,2,AP_RND>)",
                                  "mx(element=ap_fixed<8,2,AP_RND,AP_WRAP,1>)",
                                  "mx(element=ap_fixed<8,2,AP_RND,AP_WRAP_SM>)"])
def test_wrapping_fixed_element_clamps_the_block_maximum(name):
    """The issue's case: 1.999 rounds to 2.0, which wrapped to −2.0 (the sign of the maximum flipped)."""
    assert nf.parse(name).quantize([1.999, 0.5], "rne").tolist() == [1.984375, 0.5]


def test_wrapping_int_element_clamps():
    fmt = nf.parse("mx(element=int8(overflow=wrap))")
    assert fmt.quantize([127.9, -3.0]).tolist() == [127.0, -3.0]


@pytest.mark.parametrize("overflow", ["AP_WRAP", "AP_WRAP_SM"])
def test_wrapping_element_clamps_both_ways_under_a_small_exponent(overflow):
    """A rule that picks a too-small exponent overflows elements of either sign: they clamp to max / min."""
    element = nf.FixedFormat(8, 2, rounding="AP_RND_CONV", overflow=overflow)
    fmt = BlockFormat(element, 4, rule=lambda amax, elem: np.zeros(amax.shape, dtype=np.int64))
    assert fmt.quantize([100.0, -100.0, 0.5, -1.25]).tolist() == [element.max, element.min, 0.5, -1.25]


def test_element_encoder_saturates_wrapping_modes_only():
    """wrap and wrap_sm become sat; the saturating modes (sat, sat_sym, sat_zero) are kept."""
    for overflow, want in [("AP_WRAP", Overflow.SATURATE), ("AP_WRAP_SM", Overflow.SATURATE),
                           ("AP_SAT", Overflow.SATURATE), ("AP_SAT_SYM", Overflow.SATURATE_SYMMETRIC),
                           ("AP_SAT_ZERO", Overflow.SATURATE_ZERO)]:
        fmt = BlockFormat(nf.FixedFormat(8, 2, overflow=overflow, sat_bits=0), 4)
        assert fmt._element_encoder.overflow is want
        assert fmt._element_encoder.sat_bits == 0
    assert BlockFormat(nf.IntFormat(4, overflow="wrap"), 4)._element_encoder == nf.IntFormat(4)


def test_wrapping_element_decodes_every_code_unchanged():
    """Clamping changes encode only: decode reads the element codes with the element format itself."""
    fmt = nf.parse("mx(element=ap_fixed<8,2>,block=2)")
    codes = BlockCodes(np.array([127], np.uint8), np.array([0x80, 0x7F], np.uint8), fmt)
    assert fmt.decode(codes).tolist() == [-2.0, 1.984375]


# --- BlockCodes remember their format ----------------------------------------------------------------

def test_decode_refuses_codes_of_another_format():
    """The issue's case: mxfp4 codes decoded as mxfp8 gave garbage."""
    codes = BLOCKS["mxfp4"].encode([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"^codes were encoded by mxfp4, not mxfp8_e4m3; decode them with "
                                         r"codes\.decode\(\) or mxfp4\.decode"):
        BLOCKS["mxfp8_e4m3"].decode(codes)
    with pytest.raises(ValueError, match=r"encoded by mxfp4, not mxfp4\(block=16\)"):
        BlockFormat("e2m1fn", 16).decode(codes)
    assert BLOCKS["mxfp4"].decode(codes).tolist() == codes.decode().tolist() == [1.0, 2.0, 3.0]


def test_decode_of_two_arrays_takes_them_as_this_formats_codes():
    codes = BLOCKS["mxfp4"].encode([1.0, 2.0, 3.0])
    assert BLOCKS["mxfp4"].decode(codes.scales, codes.elements).tolist() == [1.0, 2.0, 3.0]


def test_block_codes_need_a_block_format():
    with pytest.raises(TypeError, match=r"^format must be a BlockFormat, not 'mxfp4'"):
        BlockCodes(np.zeros(1, np.uint8), np.zeros(1, np.uint8), "mxfp4")


# --- empty axes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axis, scales_shape", [
    ((0, 4), -1, (0, 1)), ((4, 0), -1, (4, 0)), ((0,), -1, (0,)), ((0, 4), 0, (0, 4)),
    ((3, 0, 5), 1, (3, 0, 5)), ((3, 0, 5), -1, (3, 0, 2)), ((0, 0), 0, (0, 0)),
])
def test_empty_axes_encode_and_decode(shape, axis, scales_shape):
    fmt = BlockFormat("e2m1fn", 4, axis=axis)
    for dtype in (np.float64, np.float32, np.float16):
        codes = fmt.encode(np.ones(shape, dtype=dtype))
        assert codes.scales.shape == scales_shape and codes.elements.shape == shape
        out = fmt.decode(codes)
        assert out.shape == shape and out.dtype == np.float64
        assert fmt.quantize(np.ones(shape, dtype=dtype)).shape == shape


def test_empty_non_blocked_axis_with_int_scale_and_callable_rule():
    fmt = BlockFormat("int8", 4, scale="int8", nan_policy="per-element",
                      rule=lambda amax, elem: np.zeros(amax.shape, dtype=np.int64))
    assert fmt.quantize(np.ones((0, 6))).shape == (0, 6)


# --- an upper bound on block ---------------------------------------------------------------------------

def test_block_upper_bound():
    assert block_module.MAX_BLOCK == 2**16
    BlockFormat("e2m1fn", 2**16)
    for block in (2**16 + 1, 2**40):
        with pytest.raises(ValueError, match=rf"^block must be an integer in 1\.\.65536, not {block}$"):
            BlockFormat("e2m1fn", block)
    with pytest.raises(ValueError, match=r"block must be an integer in 1\.\.65536, not 100000"):
        nf.parse("mxfp4(block=100000)")
