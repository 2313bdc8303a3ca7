"""The one-pass MX kernel (float32 input, blocks on the last axis) against the general path.

``BlockFormat._fused_plan`` decides when the kernel runs; the reference is the
general NumPy path, obtained by patching the plan to ``None``. Inputs reach
every branch of the kernel: all-zero blocks, NaN and ±inf in a block (both NaN
policies), float32 subnormal elements and maxima, blocks at the scale's limits
(E8M0 and a 4-bit integer scale that clamps), quotients outside float32's
normal range, ties, saturation, ragged last blocks, and random bit patterns.
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt.formats.block import BLOCKS, BlockFormat

# random bit patterns include signalling NaNs, which NumPy's float casts report
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")

SEED = 20261206
_MX = ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8"]


def edge_tensor(cols: int, rng) -> np.ndarray:
    """float32 rows of ``cols`` elements whose blocks of 32 reach the kernel's branches."""
    rows = []

    def row(values):
        r = np.zeros(cols, dtype=np.float32)
        v = np.asarray(values, dtype=np.float32)[:cols]
        r[:v.size] = v
        rows.append(r)

    f32 = np.finfo(np.float32)
    row([])                                                     # all zero
    row([1.0, np.nan, -3.0])                                    # NaN in a block
    row([2.0, np.inf, -5.0])                                    # +inf
    row([-np.inf, 0.5, 7.0])                                    # -inf
    row([f32.smallest_subnormal * k for k in range(1, 33)])     # subnormal maximum
    row([1e-40, -3e-42, 1e-45, 0.0])                            # subnormal elements only
    row([3e38, 1e-30, -1e-40, 1.0])                             # huge maximum: tiny quotients leave float32
    row([f32.max, -f32.max, f32.smallest_normal])               # the largest float32s
    row([-0.0, 0.0, -0.0])                                      # signed zeros
    # ties and saturation relative to the block maximum (e4m3: 1 + 1/16 is a tie; 464 rounds above 448)
    row([448.0, 1.0625, 1.1875, -2.125, 464.0, -480.0, 0.0078125 * 1.5, 0.001953125 * 0.5])
    row([6.0, 0.25, 0.75, 1.25, -2.5, 3.5, 5.0, 7.0])           # e2m1 ties, 7 rounds to 8 > 6
    row([1.0, 0.5 + 2 ** -8, 2 ** -7 * 3, -(1 - 2 ** -8), 1.984375 + 2 ** -8])   # int8 ties at scale 2**-6
    for _ in range(4):                                          # random values over a few binades per row
        rows.append((rng.standard_normal(cols) * np.exp2(rng.integers(-20, 20))).astype(np.float32))
    for _ in range(4):                                          # random bit patterns: every class of float32
        rows.append(rng.integers(0, 1 << 32, size=cols, dtype=np.uint64).astype(np.uint32).view(np.float32))
    return np.stack(rows)


def general(fmt: BlockFormat, x, rounding=None):
    """``(scales, elements, values)`` by the general path."""
    plan = BlockFormat._fused_plan
    BlockFormat._fused_plan = lambda *args: None
    try:
        enc = fmt.encode(x, rounding)
        return enc.scales, enc.elements, fmt.quantize(x, rounding)
    finally:
        BlockFormat._fused_plan = plan


def check_against_general(fmt: BlockFormat, x, rounding=None):
    assert fmt._fused_plan(8, 23, x.ndim, x.size, rounding) is not None, f"{fmt}: the kernel does not run"
    scales, elements, values = general(fmt, x, rounding)
    enc = fmt.encode(x, rounding)
    assert enc.scales.dtype == scales.dtype and enc.elements.dtype == elements.dtype
    np.testing.assert_array_equal(enc.scales, scales, err_msg=f"{fmt} scales (seed {SEED})")
    np.testing.assert_array_equal(enc.elements, elements, err_msg=f"{fmt} elements (seed {SEED})")
    got = fmt.quantize(x, rounding)
    assert got.dtype == np.float64 and got.shape == x.shape
    np.testing.assert_array_equal(got.view(np.uint64), values.view(np.uint64),
                                  err_msg=f"{fmt} values, bit for bit (seed {SEED})")


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4", "mxint8"])
def test_ocp_formats_match_the_general_path(name):
    rng = np.random.default_rng(SEED)
    check_against_general(BLOCKS[name], edge_tensor(256, rng))


def test_per_element_nan_policy_and_clamped_integer_scale():
    """NaN/inf elements through the element encoder; a 4-bit scale clamps e to −8..7 both ways."""
    rng = np.random.default_rng(SEED)
    x = edge_tensor(128, rng)
    check_against_general(BlockFormat(BLOCKS["mxfp8_e4m3"].element, 32, nan_policy="per-element"), x)
    check_against_general(BlockFormat(BLOCKS["mxint8"].element, 32, scale=nf.IntFormat(4),
                                      nan_policy="per-element"), x)


def test_other_block_lengths_and_ragged_rows():
    """Any block length runs the kernel compiled for run-time lengths; a short last block per row."""
    rng = np.random.default_rng(SEED)
    x = edge_tensor(100, rng)
    check_against_general(BlockFormat(BLOCKS["mxfp4"].element, 7, rule="nearest"), x)
    check_against_general(BLOCKS["mxfp8_e4m3"], x)                       # 100 = 3 * 32 + 4


@pytest.mark.slow
@pytest.mark.parametrize("name", _MX)
@pytest.mark.parametrize("rule", ["ocp", "ceil", "nearest"])
@pytest.mark.parametrize("nan_policy", ["ocp", "per-element"])
@pytest.mark.parametrize("block", [32, 16, 1])
def test_every_mx_format_rule_and_policy(name, rule, nan_policy, block):
    rng = np.random.default_rng(SEED)
    fmt = BlockFormat(BLOCKS[name].element, block, rule=rule, nan_policy=nan_policy)
    check_against_general(fmt, edge_tensor(96, rng))


@pytest.mark.slow
@pytest.mark.parametrize("rounding", ["rna", "rtz", "floor", "ceil", "rta"])
@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4", "mx(element=ap_fixed<8,2,AP_RND_CONV,AP_SAT_SYM>)"])
def test_directed_roundings(name, rounding):
    rng = np.random.default_rng(SEED)
    fmt = nf.parse(name)
    if "ap_fixed" in name:            # ap_fixed elements take their own modes
        rounding = {"rna": "AP_RND", "rtz": "AP_TRN_ZERO", "floor": "AP_TRN", "ceil": "AP_RND_INF",
                    "rta": "AP_RND_MIN_INF"}[rounding]
    check_against_general(fmt, edge_tensor(64, rng), rounding)


@pytest.mark.parametrize("fmt, x, rounding", [
    (BLOCKS["mxfp8_e4m3"], np.ones((2, 64), dtype=np.float64), None),          # float64 input
    (BLOCKS["mxfp8_e4m3"], np.ones((2, 64), dtype=np.float16), None),          # float16 input
    (BlockFormat(BLOCKS["mxfp4"].element, 32, axis=0), np.ones((64, 2), dtype=np.float32), None),
    (BlockFormat(BLOCKS["mxfp4"].element, 32, rule=lambda a, el: np.zeros(a.shape, np.int64)),
     np.ones((2, 64), dtype=np.float32), None),                                # callable rule
    (BLOCKS["mxfp8_e4m3"], np.ones((2, 64), dtype=np.float32), "stochastic"),
    (BLOCKS["bfp8"], np.ones((2, 64), dtype=np.float32), None),                # sign-magnitude element
    (nf.parse("mx(element=ap_fixed<9,2,AP_RND_CONV,AP_SAT>)"), np.ones((2, 64), dtype=np.float32), None),
    (nf.parse("mx(element=ap_ufixed<8,2,AP_RND_CONV,AP_SAT>)"), np.ones((2, 64), dtype=np.float32), None),
    (nf.parse("mx(element=ap_fixed<8,2,AP_RND_CONV,AP_SAT_ZERO>)"), np.ones((2, 64), dtype=np.float32), None),
])
def test_the_kernel_stays_out_where_its_table_would_not_be_exact(fmt, x, rounding):
    """Other input types, layouts, rules and elements keep the general path."""
    in_e, in_m = {np.float64: (11, 52), np.float16: (5, 10), np.float32: (8, 23)}[x.dtype.type]
    assert fmt._fused_plan(in_e, in_m, x.ndim, x.size, rounding) is None


def test_scale_codes_round_trip_through_decode():
    """``decode(encode(x))`` from the kernel's codes equals the kernel's own quantize."""
    rng = np.random.default_rng(SEED)
    x = edge_tensor(64, rng)
    for name in ("mxfp8_e4m3", "mxint8"):
        fmt = BLOCKS[name]
        np.testing.assert_array_equal(fmt.decode(fmt.encode(x)), fmt.quantize(x))


def grid_tensor(fmt: BlockFormat, rng) -> np.ndarray:
    """Full blocks of 32 whose first element is the element format's largest value (so the
    block's exponent puts the element grid at the quotient's scale) and whose other 31 are the
    element values, their midpoints and the float32 neighbours of both, at random signs,
    under block exponents across E8M0's range: every rounding boundary of the vectorised loop."""
    vals = fmt.element.values()
    top = vals[np.isfinite(vals)].max()                 # the largest positive value (int8: 127/64)
    vals = np.unique(np.abs(vals[np.isfinite(vals)]))
    mids = (vals[:-1] + vals[1:]) / 2
    pts = np.concatenate([vals, mids, [vals[-1] * 1.03, vals[-1] * 1.0625]]).astype(np.float32)
    pts = np.concatenate([pts, np.nextafter(pts, np.float32(0)), np.nextafter(pts, np.float32(np.inf))])
    pts = np.resize(rng.permutation(pts), (-(-pts.size // 31)) * 31).reshape(-1, 31)
    head = np.full((pts.shape[0], 1), top, dtype=np.float32)
    blocks = np.concatenate([head, pts], axis=1) * rng.choice([-1, 1], size=(pts.shape[0], 32))
    scale = np.exp2(rng.integers(-100, 100, size=(pts.shape[0], 1))).astype(np.float32)
    return (blocks * scale).astype(np.float32).reshape(1, -1)


@pytest.mark.parametrize("fmt", [BLOCKS[n] for n in _MX] + [
    BlockFormat(nf.FloatFormat(3, 0, bias=2, specials="none"), 32),      # no fraction bits: ties round up
    BlockFormat(nf.FLOATS["e4m3fnuz"], 32),                             # no negative zero
    BlockFormat(nf.FLOATS["e5m2"], 32),                                 # ieee
    nf.parse("mx(element=ap_fixed<6,3,AP_RND_CONV,AP_SAT_SYM>)"),      # fixed, symmetric
    BlockFormat(BLOCKS["mxint8"].element, 32, rule="nearest"),          # quotients that saturate:
    BlockFormat(BLOCKS["mxfp8_e4m3"].element, 32, rule="nearest"),      # the ocp rule never makes them
], ids=str)
def test_vectorised_values_at_every_grid_boundary(fmt):
    """The one-pass kernel's vectorised values loop (round to nearest even, full blocks in the
    fast range) against the general path, bit for bit, at every element rounding boundary."""
    assert fmt._fused_plan(8, 23, 2, 32, None)[-1][0] >= 0, f"{fmt}: the vectorised loop does not run"
    rng = np.random.default_rng(SEED)
    check_against_general(fmt, grid_tensor(fmt, rng))
