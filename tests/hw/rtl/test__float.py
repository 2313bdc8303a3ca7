"""hw.rtl._float: unpack and round_pack against numfmt's decode and encode (Amaranth simulator).

Exhaustive: every code for ``unpack``; for ``round_pack`` every (sign, significand,
exponent) of a small significand width over an exponent range reaching below the
smallest subnormal and above the overflow threshold, and every random value for
stochastic rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

import numfmt as nf
from numfmt.hw.rtl._float import clz, round_pack, special_codes, unpack

FORMATS = ["e4m3fn", "e5m2", "e2m1fn", "e3m2(subnormals=false)", "e4m3fnuz", "e5m2fnuz",
           "e8m0fnu", "e3m2(specials=fn,signed=false)", "e2m3fn", "e3m2(specials=fnuz,subnormals=false)",
           "e4m3(overflow=sat)", "e3m2(bias=5,specials=fn)", "e2m0(specials=none)",
           "e5m0(signed=false,has_zero=false,subnormals=false,specials=none)",
           "e3m1(subnormals=false,specials=ieee,signed=false)", "e5m3fnu",
           "e3m2(specials=fn,signed=false,negative_nan=true)",
           "e3m2(specials=ieee,signed=false,subnormals=false,negative_nan=true)"]
ROUNDINGS = ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"]


class GivenRandom(np.random.Generator):
    """A Generator whose ``integers`` returns given values: numfmt's stochastic rounding with explicit R."""

    def __init__(self, values):
        super().__init__(np.random.PCG64(0))
        self._values = np.asarray(values, dtype=np.int64)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        assert size == self._values.size
        return self._values.copy()


def evaluate(m, inputs: list, outputs: list):
    """Values of the combinational ``outputs`` of ``m`` for every row of ``inputs`` ((signal, array) pairs)."""
    n = len(inputs[0][1])
    got = np.zeros((len(outputs), n), dtype=np.int64)
    columns = [(sig, [int(v) for v in arr]) for sig, arr in inputs]

    async def bench(ctx):
        for i in range(n):
            for sig, col in columns:
                ctx.set(sig, col[i])
            for j, out in enumerate(outputs):
                got[j, i] = ctx.get(out)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("name", FORMATS)
def test_unpack_matches_decode(name):
    fmt = nf.parse(name)
    code = Signal(fmt.bits)
    u = unpack(fmt, code)
    m = Module()
    outs = [u.sign, u.sig, u.exp, u.is_zero, u.is_inf, u.is_nan, u.is_subnormal, u.exp_field]
    probes = []
    for k, v in enumerate(outs):
        s = Signal(v.shape(), name=f"probe{k}")
        m.d.comb += s.eq(v)
        probes.append(s)
    codes = np.arange(1 << fmt.bits)
    sign, sig, exp, zero, inf, nan, sub, b = evaluate(m, [(code, codes)], probes)
    values = fmt.decode(codes)
    assert np.array_equal(nan == 1, np.isnan(values))
    assert np.array_equal(inf == 1, np.isinf(values))
    assert np.array_equal(zero == 1, values == 0)
    finite = np.isfinite(values)
    rebuilt = np.ldexp(sig.astype(np.float64), exp) * np.where(sign == 1, -1.0, 1.0)
    assert np.array_equal(rebuilt[finite], values[finite])
    assert np.array_equal(np.signbit(rebuilt[finite]), np.signbit(values[finite]))  # signed zeros
    assert np.array_equal(sign[np.isinf(values)] == 1, values[np.isinf(values)] < 0)
    smallest_normal = fmt.smallest_normal
    is_sub = finite & (values != 0) & (np.abs(values) < smallest_normal)
    assert np.array_equal(sub == 1, is_sub)
    mag = codes & ((1 << (fmt.exp + fmt.man)) - 1)
    assert np.array_equal(b, mag >> fmt.man)
    assert np.all(sig[~finite] == 0)
    # the lead promise round_pack relies on, and as strong as stated
    nonzero = finite & (values != 0)
    assert np.all(sig[nonzero] >= 1 << u.lead)
    assert u.lead == (0 if fmt.has_zero and fmt.subnormals else fmt.man)


def _round_pack_vectors(fmt, w, k):
    """Every (sign, sig, exp[, rand]) for ``w``-bit significands over an exponent range
    from below the smallest subnormal's last place to beyond the overflow threshold."""
    lo = fmt.min_exp - fmt.man - w - 2
    hi = fmt.max_exp + 2
    grids = np.meshgrid(np.arange(2), np.arange(1 << w), np.arange(lo, hi + 1), np.arange(1 << k),
                        indexing="ij")
    return [g.reshape(-1) for g in grids]


def _run_round_pack(fmt, rounding, w, k=0, sticky=False, lead=0):
    sign_v, sig_v, exp_v, rand_v = _round_pack_vectors(fmt, w, k)
    if lead:     # the promise: sig is 0 or at least 2**lead
        keep = (sig_v == 0) | (sig_v >= (1 << lead))
        sign_v, sig_v, exp_v, rand_v = (a[keep] for a in (sign_v, sig_v, exp_v, rand_v))
    if sticky:   # sticky needs the leading one at bit ≥ man + 1
        keep = sig_v >= (1 << (fmt.man + 1))
        sign_v, sig_v, exp_v, rand_v = (a[keep] for a in (sign_v, sig_v, exp_v, rand_v))
    m = Module()
    sign, sig = Signal(), Signal(w)
    exp = Signal(signed(max(int(np.abs(exp_v).max()).bit_length() + 1, 2)))
    st = Signal()
    rand = Signal(k) if k else None
    out = round_pack(m, fmt, sign, sig, exp, sticky=st if sticky else 0, rounding=rounding,
                     rand=rand, lead=lead)
    inputs = [(sign, sign_v), (sig, sig_v), (exp, exp_v)]
    if sticky:
        inputs.append((st, np.ones_like(sig_v)))
    if k:
        inputs.append((rand, rand_v))
    (got,) = evaluate(m, inputs, [out])
    # the exact value; with sticky, (sig + 1/2) · 2**exp stands for any value strictly inside
    x = np.ldexp(sig_v.astype(np.float64) + (0.5 if sticky else 0.0), exp_v)
    x = np.where(sign_v == 1, -x, x)
    if k:
        want = fmt.encode(x, rounding, rng=GivenRandom(rand_v), sr_bits=k)
    else:
        want = fmt.encode(x, rounding)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(int(sign_v[i]), int(sig_v[i]), int(exp_v[i]), int(rand_v[i]), x[i],
                            int(got[i]), int(want[i])) for i in bad[:5]]


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("rounding", ["rne", "rna", "rtz"])
def test_round_pack_matches_encode(name, rounding):
    _run_round_pack(nf.parse(name), rounding, w=5)


@pytest.mark.parametrize("name", ["e4m3fn", "e3m2(subnormals=false)", "e2m1fn(subnormals=false)", "e5m2", "e8m0fnu"])
@pytest.mark.parametrize("lead", [1, 4, 5])
def test_round_pack_lead(name, lead):
    """With ``lead`` (sig is 0 or ≥ 2**lead: a product of normal significands) the
    normalisation reads sig's top bits only; every sig kept by the promise still rounds
    as ``encode`` does, with and without sticky."""
    _run_round_pack(nf.parse(name), "rne", w=6, lead=lead)
    _run_round_pack(nf.parse(name), "rtz", w=6, lead=lead, sticky=True)


@pytest.mark.parametrize("name", ["e4m3fn", "e2m1fn", "e5m2fnuz", "e3m2(subnormals=false)", "e8m0fnu",
                                  "e3m2(specials=fn,signed=false,negative_nan=true)"])
@pytest.mark.parametrize("sr_bits", [1, 3])
def test_round_pack_stochastic_matches_encode(name, sr_bits):
    _run_round_pack(nf.parse(name), "stochastic", w=4, k=sr_bits)


@pytest.mark.parametrize("name", ["e4m3fn", "e2m1fn", "e5m2", "e3m2(subnormals=false)"])
@pytest.mark.parametrize("rounding", ["rne", "rna", "rnz", "floor", "ceil", "rtz"])
def test_round_pack_sticky(name, rounding):
    _run_round_pack(nf.parse(name), rounding, w=6, sticky=True)


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_round_pack_every_mode(name, rounding):
    _run_round_pack(nf.parse(name), rounding, w=6)


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", FORMATS)
def test_round_pack_stochastic_every_format(name):
    _run_round_pack(nf.parse(name), "stochastic", w=5, k=4)


@pytest.mark.parametrize("name", FORMATS)
def test_round_pack_specials(name):
    fmt = nf.parse(name)
    m = Module()
    sign, nan, inf = Signal(), Signal(), Signal()
    out = round_pack(m, fmt, sign, Signal(3, init=5), 0, nan=nan, inf=inf)
    got = evaluate(m, [(sign, [0, 1, 0, 1, 0, 1]), (nan, [1, 1, 0, 0, 1, 1]), (inf, [0, 0, 1, 1, 1, 1])],
                   [out])[0]
    nan_v = np.float64("nan")
    neg_nan = np.copysign(nan_v, -1.0)
    want = fmt.encode([nan_v, neg_nan, np.inf, -np.inf, nan_v, neg_nan])   # nan wins over inf
    assert got.tolist() == want.tolist()


def test_special_codes():
    assert special_codes(nf.parse("e4m3fn")) == {"nan": (127, 255), "inf": (127, 255),
                                                 "zero": (0, 128), "max": 126, "neg_unsigned": None}
    c = special_codes(nf.parse("e8m0fnu"))
    assert c["zero"] == (255, 255) and c["neg_unsigned"] == 255 and c["max"] == 254
    c = special_codes(nf.parse("e5m3fnu"))
    assert c["zero"] == (0, 0) and c["neg_unsigned"] == 255 and c["nan"] == (255, 255) and c["max"] == 254


def test_round_pack_negative_nan():
    """negative_nan: a negative value that rounds to zero is NaN; a negative zero stays +0."""
    fmt = nf.parse("e5m3fnu")
    m = Module()
    sign, sig, exp = Signal(), Signal(4), Signal(signed(7))
    out = round_pack(m, fmt, sign, sig, exp, rounding="rtz")
    (got,) = evaluate(m, [(sign, [1, 1, 0, 1]), (sig, [0, 1, 1, 8]), (exp, [0, -40, -40, 0])], [out])
    assert got.tolist() == [0, 255, 0, 255]


@pytest.mark.parametrize("w", [1, 5])
def test_clz(w):
    m = Module()
    v = Signal(w)
    n = clz(m, v)
    values = np.arange(1 << w)
    (got,) = evaluate(m, [(v, values)], [n])
    assert got.tolist() == [w - int(x).bit_length() for x in values]


@pytest.mark.parametrize("w", [65, 100, 271])
def test_clz_wide(w):
    """Above 64 bits clz is a tree: zero, every single bit, every run of ones from the top bit
    down, and random values of every bit length, against ``w - bit_length``."""
    rng = np.random.default_rng(w)
    values = [0] + [1 << k for k in range(w)] + [((1 << w) - 1) >> k for k in range(w)]
    values += [int(rng.integers(0, 1 << 62)) << max(k - 62, 0) | (1 << k) for k in range(w) for _ in range(3)]
    values = [x & ((1 << w) - 1) for x in values]        # Python ints: wider than any NumPy integer
    m = Module()
    v = Signal(w)
    n = clz(m, v)
    (got,) = evaluate(m, [(v, values)], [n])
    assert got.tolist() == [w - x.bit_length() for x in values]


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_errors():
    m = Module()
    m._MustUse__silence = True      # only used to provoke errors
    fmt = nf.parse("e4m3fn")
    with pytest.raises(TypeError, match="fmt must be a numfmt.FloatFormat, not IntFormat"):
        unpack(nf.IntFormat(8), Signal(8))
    with pytest.raises(ValueError, match="code must be 8 bits wide for e4m3fn, not 7"):
        unpack(fmt, Signal(7))
    with pytest.raises(ValueError, match="rounding='stochastic' needs rand"):
        round_pack(m, fmt, Signal(), Signal(4), 0, rounding="stochastic")
    with pytest.raises(ValueError, match="rand is only used by rounding='stochastic', not 'rne'"):
        round_pack(m, fmt, Signal(), Signal(4), 0, rand=Signal(3))
    with pytest.raises(ValueError, match="rand must be 1..32 bits wide"):
        round_pack(m, fmt, Signal(), Signal(4), 0, rounding="stochastic", rand=Signal(33))
    with pytest.raises(ValueError, match="rounding must be one of"):
        round_pack(m, fmt, Signal(), Signal(4), 0, rounding="up")
    with pytest.raises(ValueError, match="sign must be 1 bit wide, not 2"):
        round_pack(m, fmt, Signal(2), Signal(4), 0)
    with pytest.raises(ValueError, match=r"lead must be an integer in 0..3 \(below sig's 4 bits\), not 4"):
        round_pack(m, fmt, Signal(), Signal(4), 0, lead=4)
    with pytest.raises(ValueError, match="lead must be an integer in 0..3 .*, not True"):
        round_pack(m, fmt, Signal(), Signal(4), 0, lead=True)


# -- reach: the results a product's exponent range can give -----------------------------------
REACH_IN = ["e2m1", "e2m1fn", "e3m2fn", "e2m3fn", "e3m2(subnormals=false)", "e2m2(subnormals=false)", "e4m3fn",
            "e5m2", "e3m0(specials=fn,subnormals=false)", "e2m3(subnormals=false)"]
REACH_OUT = ["e4m3", "e4m3fn", "e5m2", "e5m1(specials=fn)", "e3m4", "e4m3fnuz", "e3m2", "e2m3fn", "e6m1(specials=fn)",
             "e4m2(subnormals=false)", "e5m2(subnormals=false)", "e3m3(subnormals=false)"]


def product_reach(a: str, b: str, out: str) -> tuple[bool, bool]:
    """:func:`reach` as ``FloatMul`` asks it (:meth:`FloatMul.reach`: the operands' summed
    exponent ranges, the significand product's width, their summed ``lead``)."""
    from numfmt.hw.rtl import FloatMul

    return FloatMul(nf.parse(a), nf.parse(b), nf.parse(out)).reach()


def test_reach_is_sound():
    """Over 1200 (a, b, out) triples: where ``reach`` says a product cannot underflow, every
    nonzero finite product of two codes is at least the output's least normal; where it
    says none can overflow, every one is at most the output's largest finite value. Every
    combination of the two answers occurs."""
    seen = {}
    for a in REACH_IN:
        for b in REACH_IN:
            fa, fb = nf.parse(a), nf.parse(b)
            x = fa.decode(np.arange(1 << fa.bits, dtype=np.uint64))
            y = fb.decode(np.arange(1 << fb.bits, dtype=np.uint64))
            p = np.abs(np.outer(x[np.isfinite(x)], y[np.isfinite(y)]))
            p = p[p > 0]
            for out in REACH_OUT:
                fo = nf.parse(out)
                under, over = product_reach(a, b, out)
                seen[under, over] = seen.get((under, over), 0) + 1
                finite = fo.decode(np.arange(1 << fo.bits, dtype=np.uint64))
                if not under:
                    assert p.min() >= 2.0 ** fo.min_exp, (a, b, out)
                if not over:
                    assert p.max() <= np.nanmax(finite[np.isfinite(finite)]), (a, b, out)
    assert len(seen) == 4 and min(seen.values()) >= 2, seen


def test_reach_examples():
    assert product_reach("e2m1", "e2m1", "e4m3") == (False, False)     # FP4 × FP4 is exact in FP8
    assert product_reach("e4m3fn", "e4m3fn", "e4m3fn") == (True, True)
    assert product_reach("e2m1", "e2m1", "e3m2") == (False, True)      # 6 × 6 = 36 > 28
    assert product_reach("e3m2fn", "e2m3fn", "e4m3fn") == (True, False)
