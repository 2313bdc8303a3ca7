"""WeightGrid rounding and the scale rules against a Fraction reference written from docs/ptq.md."""

from __future__ import annotations

import bisect
import math
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt import ptq
from numfmt.ptq.grid import MSE_SHRINKS, WeightGrid

SEED = 2024_04
FORMATS = ([nf.IntFormat(b) for b in range(2, 9)]
           + [nf.IntFormat(4, signed=False), nf.IntFormat(8, overflow="sat_sym"),
              nf.parse("e2m1fn"), nf.parse("e3m2fn"), nf.parse("e4m3fn"), nf.parse("e5m2"),
              nf.parse("ap_fixed<6,2>"), nf.parse("smint4"),
              nf.FloatFormat(3, 2, specials="none", subnormals=False)])   # flush-to-zero
SCALES = [1.0, 0.1, 3.0 / 7.0, 2.0 ** -9, 12345.678]


# -- reference --------------------------------------------------------------------------------
def ref_values(fmt):
    """The element values the encoder can produce, as sorted Fractions with their codes."""
    vals = fmt.values()
    codes = fmt.codes()
    reach = fmt.decode(fmt.encode(vals[np.isfinite(vals)]))
    table = {}
    for c, v in zip(codes.tolist(), vals.tolist()):
        if math.isfinite(v) and v in reach:
            f = Fraction(v)
            # +0 and -0: keep the +0 code (even)
            if f not in table or c < table[f]:
                table[f] = c
    keys = sorted(table)
    return keys, [table[k] for k in keys]


class RefGrid:
    """floor / ceil / nearest-even grid values of one scale, products exact, rounded to float64 once.

    Ties go to the even code; where both codes are even (0 and ±smallest normal
    of a flush-to-zero format) to 0.
    """

    def __init__(self, keys, codes, s):
        self.keys, self.codes, self.S = keys, codes, Fraction(s)
        self.prods = [k * self.S for k in keys]

    def __call__(self, w: float, mode: str) -> float:
        keys, prods, W = self.keys, self.prods, Fraction(w)
        i = bisect.bisect_right(prods, W) - 1          # last product ≤ W
        j = bisect.bisect_left(prods, W)               # first product ≥ W
        fi, ci = max(i, 0), min(j, len(keys) - 1)
        if mode == "floor":
            k = fi
        elif mode == "ceil":
            k = ci
        else:
            df, dc = W - prods[fi], prods[ci] - W
            if fi == ci or df < dc:
                k = fi
            elif dc < df:
                k = ci
            else:
                even = [x for x in (fi, ci) if self.codes[x] % 2 == 0]
                k = even[0] if len(even) == 1 else min(even, key=lambda x: abs(keys[x]))
        return float(prods[k]) + 0.0


def sweep_inputs(keys, s, rng):
    """Every grid point, its float neighbours, the midpoints and theirs, outside values, random."""
    pts = np.array([float(k * Fraction(s)) for k in keys])
    mids = np.array([float((a + b) / 2 * Fraction(s)) for a, b in zip(keys, keys[1:])])
    base = np.concatenate([pts, mids])
    hi = float(keys[-1] * Fraction(s))
    w = np.concatenate([base, np.nextafter(base, np.inf), np.nextafter(base, -np.inf),
                        [2 * hi, -2 * hi, 0.0, -0.0], rng.uniform(-1.2 * hi, 1.2 * hi, 64)])
    return w


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("s", SCALES)
def test_floor_ceil_fake_against_fraction_reference(fmt, s):
    rng = np.random.default_rng(SEED)
    keys, codes = ref_values(fmt)
    w = sweep_inputs(keys, s, rng)
    grid = WeightGrid(fmt, [[s]], (1, w.size), "tensor", "minmax")
    row = w[None, :]
    got = {m: getattr(grid, m)(row)[0] for m in ("floor", "ceil", "fake")}
    ref = RefGrid(keys, codes, s)
    for mode, name in (("floor", "floor"), ("ceil", "ceil"), ("nearest", "fake")):
        want = np.array([ref(x, mode) for x in w.tolist()])
        assert np.array_equal(got[name], want), (fmt, s, mode, w[got[name] != want][:4])
    lo, hi = float(keys[0] * Fraction(s)), float(keys[-1] * Fraction(s))
    inside = (w >= lo) & (w <= hi)
    assert np.all(got["floor"][inside] <= w[inside]) and np.all(w[inside] <= got["ceil"][inside])
    assert np.all((got["fake"] == got["floor"]) | (got["fake"] == got["ceil"]))
    for name in ("floor", "ceil", "fake"):
        v = got[name][None, :]
        assert np.array_equal(grid.decode(grid.encode(v)), v)
        assert np.all(np.isfinite(v)) and not np.any(np.signbit(v) & (v == 0))


@pytest.mark.parametrize("fmt", [nf.IntFormat(4), nf.parse("e2m1fn"), nf.parse("ap_fixed<6,2>")], ids=str)
def test_codes_round_trip_every_code(fmt):
    s = 0.37
    grid = WeightGrid(fmt, [[s]], (1, 1 << fmt.bits), "tensor", "minmax")
    codes = fmt.codes()[None, :]
    vals = grid.decode(codes)
    want = np.array([float(Fraction(v) * Fraction(s)) for v in fmt.values()]) + 0.0
    assert np.array_equal(vals[0], want)
    assert np.array_equal(grid.decode(grid.encode(vals)), vals)
    # codes come back except for the duplicate zero / unreachable codes
    assert np.array_equal(fmt.decode(grid.encode(vals)), fmt.decode(codes) + 0.0)


# -- scales -------------------------------------------------------------------------------------
def ref_scale(amax: float, hi: float) -> float:
    """fl(amax / hi), raised to the next float while hi * s < amax (exactly); 1 for amax = 0."""
    if amax == 0:
        return 1.0
    s = amax / hi
    if Fraction(hi) * Fraction(s) < Fraction(amax):
        s = math.nextafter(s, math.inf)
    return s


@pytest.mark.parametrize("fmt", ["int4", "uint4", "int8", "e2m1fn", "e4m3fn", "ap_fixed<6,2>"])
@pytest.mark.parametrize("granularity", ["tensor", "channel", 4])
def test_minmax_scales_and_no_saturation(fmt, granularity):
    rng = np.random.default_rng(SEED)
    W = rng.standard_normal((6, 16)) * rng.uniform(0.01, 10, (6, 1))
    W[2] = 0.0                                       # an all-zero row: scale 1
    grid = ptq.weight_grid(W, fmt, granularity=granularity)
    f = nf.parse(fmt)
    hi = float(f.quantize(float(f.max)))
    signed = f.min < 0
    mags = np.abs(W) if signed else np.maximum(W, 0)
    if granularity == "tensor":
        want = np.array([[ref_scale(mags.max(), hi)]])
    elif granularity == "channel":
        want = np.array([[ref_scale(m, hi)] for m in mags.max(axis=1)])
    else:
        g = mags.reshape(6, 4, 4).max(axis=2)
        want = np.repeat(np.array([[ref_scale(m, hi) for m in r] for r in g]), 4, axis=1)
    assert grid.scale.shape == want.shape
    assert np.array_equal(grid.scale, want)
    ins = W >= 0 if not signed else np.ones(W.shape, bool)
    assert np.all(grid.floor(W)[ins] <= W[ins]) and np.all(W[ins] <= grid.ceil(W)[ins])
    assert np.array_equal(grid.fake(W[:, 3:7], cols=slice(3, 7)), grid.fake(W)[:, 3:7])
    assert np.array_equal(grid.fake(W[:, 5], cols=5), grid.fake(W)[:, 5])


def test_percentile_scale():
    rng = np.random.default_rng(SEED)
    W = rng.standard_normal((3, 1000))
    grid = ptq.weight_grid(W, "int8", calib="percentile", percentile=99.0)
    want = [ref_scale(np.percentile(np.abs(r), 99.0), 127) for r in W]
    assert np.array_equal(grid.scale[:, 0], want)
    # beyond the percentile, values saturate to the grid's ends (int8: -128 s .. 127 s)
    assert np.array_equal(grid.fake(W).max(axis=1), 127 * grid.scale[:, 0])
    assert np.array_equal(grid.fake(W).min(axis=1), -128 * grid.scale[:, 0])
    # a mostly-zero row falls back to its largest magnitude
    sparse = np.zeros((1, 1000))
    sparse[0, 0] = 3.0
    assert np.percentile(sparse, 99.0) == 0
    assert ptq.weight_grid(sparse, "int8", calib="percentile", percentile=99.0).scale[0, 0] == \
        ref_scale(3.0, 127)


@pytest.mark.parametrize("fmt", ["int3", "int4", "e2m1fn", "e3m2fn"])
def test_mse_scale_is_the_best_candidate(fmt):
    rng = np.random.default_rng(SEED)
    W = rng.standard_t(3, (5, 64))
    f = nf.parse(fmt)
    hi = float(f.max)
    mse = ptq.weight_grid(W, fmt, calib="mse")
    err = ((mse.fake(W) - W) ** 2).sum(axis=1)
    for i, row in enumerate(W):
        amax = np.abs(row).max()
        cands = []
        for c in MSE_SHRINKS:
            s = ref_scale(c * amax, hi)
            g = WeightGrid(f, [[s]], (1, 64), "tensor", "mse")
            cands.append(((g.fake(row[None]) - row) ** 2).sum())
        assert err[i] == min(cands)
    minmax = ptq.weight_grid(W, fmt)
    assert np.all(err <= ((minmax.fake(W) - W) ** 2).sum(axis=1))


def test_activation_scale():
    rng = np.random.default_rng(SEED)
    x = np.maximum(rng.standard_normal((200, 8)), 0)
    assert ptq.activation_scale(x, "uint8") == ref_scale(x.max(), 255)
    assert ptq.activation_scale(-x, "uint8") == 1.0                     # no positive part
    assert ptq.activation_scale(x, "int8", calib="percentile", percentile=90) == \
        ref_scale(np.percentile(np.abs(x), 90), 127)
    assert ptq.activation_scale(np.zeros(4), "e4m3fn") == 1.0
    s = ptq.activation_scale(x, "int4", calib="mse")
    assert 0 < s <= ref_scale(x.max(), 7)
    assert ptq.activation_scale(x, "mxfp4") == 1.0


# -- block formats --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mxfp4(block=4)", "mxfp6_e3m2(block=8)", "mxint8(block=4)",
                                  "mxfp8_e4m3(block=8)", "bfp8(block=4)"])
def test_block_grid(name):
    fmt = nf.parse(name)
    rng = np.random.default_rng(SEED)
    elem = fmt.element
    keys, codes = ref_values(elem)
    # rows built from every element value times powers of two, plus random rows
    vals = np.array([float(k) for k in keys])
    n = -(-vals.size // fmt.block) * fmt.block
    row = np.resize(vals, n)
    W = np.stack([row * 2.0 ** k for k in (-3, 0, 5)] + [rng.standard_normal(n) * 3 for _ in range(3)])
    W[4, :fmt.block] = 0.0                            # an all-zero block
    grid = ptq.weight_grid(W, fmt, granularity="channel", calib="mse")
    assert grid.granularity == "block"
    # scale: 2**e of each entry's block, e from the format's own rule
    _, e, _ = fmt.encode(W).factors()
    assert np.array_equal(grid.scale, np.repeat(np.ldexp(1.0, e), fmt.block, axis=1)[:, :n])
    # RTN on the fixed block scales is the block format's own quantization
    assert np.array_equal(grid.fake(W), fmt.quantize(W) + 0.0)
    codes_hat = grid.block_codes(grid.fake(W))
    assert np.array_equal(fmt.decode(codes_hat), grid.fake(W))
    # floor / ceil / fake entry by entry against the reference
    Wp = W + rng.uniform(-0.5, 0.5, W.shape) * grid.scale
    refs = {s: RefGrid(keys, codes, s) for s in np.unique(grid.scale).tolist()}
    for mode, name_ in (("floor", "floor"), ("ceil", "ceil"), ("nearest", "fake")):
        got = getattr(grid, name_)(Wp)
        want = np.array([[refs[s](w, mode) for w, s in zip(rw, rs)]
                         for rw, rs in zip(Wp.tolist(), grid.scale.tolist())])
        assert np.array_equal(got, want), (name, mode)
    assert np.array_equal(grid.decode(grid.encode(grid.floor(Wp))), grid.floor(Wp))


# -- errors -----------------------------------------------------------------------------------------
def test_errors():
    W = np.ones((4, 6))
    with pytest.raises(ValueError, match="calib must be one of 'minmax', 'percentile', 'mse', not 'max'"):
        ptq.weight_grid(W, "int4", calib="max")
    with pytest.raises(ValueError, match="granularity must be 'tensor', 'channel' or an int group size, not 'row'"):
        ptq.weight_grid(W, "int4", granularity="row")
    with pytest.raises(ValueError, match=r"granularity \(group size\) 4 must be ≥ 1 and divide the 6 input"):
        ptq.weight_grid(W, "int4", granularity=4)
    with pytest.raises(ValueError, match="granularity must be .* not True"):
        ptq.weight_grid(W, "int4", granularity=True)
    bad = W.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"W must be finite; found nan at index \(2, 3\)"):
        ptq.weight_grid(bad, "int4")
    with pytest.raises(ValueError, match=r"W must be 2-D \(out, in\), not shape \(6,\)"):
        ptq.weight_grid(np.ones(6), "int4")
    with pytest.raises(ValueError, match=r"percentile must be a number in \(0, 100\], not 0"):
        ptq.weight_grid(W, "int4", calib="percentile", percentile=0)
    with pytest.raises(TypeError, match="fmt must be an IntFormat, .* not 3"):
        ptq.weight_grid(W, 3)
    with pytest.raises(ValueError, match="fmt must represent zero"):
        ptq.weight_grid(W, nf.parse("e8m0fnu"))
    g = ptq.weight_grid(W, "int4")
    with pytest.raises(ValueError, match=r"w must have the shape of W\[:, cols\], \(4, 2\), not \(4, 3\)"):
        g.fake(np.ones((4, 3)), cols=[0, 1])
    with pytest.raises(ValueError, match="w must be finite; found inf"):
        g.fake(np.full((4, 6), np.inf))
    with pytest.raises(ValueError, match="block_codes needs a block format, not int4"):
        g.block_codes(W)
    with pytest.raises(ValueError, match=r"x must not be empty, not shape \(0,\)"):
        ptq.activation_scale(np.zeros(0), "int8")
    with pytest.raises(ValueError, match="x must be finite; found nan"):
        ptq.activation_scale([1.0, np.nan], "int8")
