"""hw.rtl.convert.Convert in Verilator against its numfmt model, code for code (sim.check).

Every input code (× every random value for stochastic rounding) is checked: the inputs
total ≤ 16 bits. Both implementations are checked: the datapath (named explicitly where
``impl="auto"`` would take the table) and the table. The default suite holds a sample;
``-m exhaustive`` runs every rounding mode over float, integer and fixed-point pairs and
every ap_fixed overflow mode, in both.
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt import sim
from numfmt.hw.rtl.convert import TABLE_MAX_BITS, Convert

P = nf.parse
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SAMPLE = [
    ("fp16", "e4m3fn", None),                                   # 65536 codes
    ("e4m3fn", "ap_fixed<6,3,AP_RND_CONV,AP_SAT_SYM>", None),  # float NaN → fixed
    ("e5m2", "ap_fixed<6,3,AP_TRN,AP_WRAP_SM>", None),
    ("ap_fixed<10,3>", "uint4(overflow=wrap)", "floor"),
]

PAIRS = [("e5m2", "e2m1fn"), ("int8", "e3m2(subnormals=false)"), ("bf16", "e5m2fnuz"),
         ("e4m3fn", "e3m2fn"), ("e5m2", "e8m0fnu"), ("e4m3", "int4"),
         ("e5m2", "ap_ufixed<5,2,AP_RND,AP_WRAP,2>"), ("int8", "e2m1fn"), ("ap_fixed<12,4>", "e4m3fn"),
         ("e4m3fn", "e3m2(signed=false,specials=fn)")]
ROUNDINGS = ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"]
FIXED_OUT = [f"ap_fixed<5,2,AP_RND,{o}>" for o in ("AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM", "AP_WRAP")] + \
    [f"ap_fixed<5,2,AP_TRN,{o},{n}>" for o in ("AP_WRAP", "AP_WRAP_SM") for n in (0, 1, 3)] + \
    ["ap_ufixed<4,6,AP_RND_CONV,AP_WRAP,2>", "ap_fixed<6,-2,AP_RND_CONV,AP_SAT>",
     "ap_fixed<8,1023,AP_RND_CONV,AP_WRAP_SM>", "ap_fixed<1,1,AP_RND_CONV,AP_SAT_SYM>"]


@pytest.mark.parametrize("src,dst,rounding", [SAMPLE[0], *(pytest.param(*s, marks=pytest.mark.slow) for s in SAMPLE[1:])])
def test_sample_every_code(src, dst, rounding):
    report = sim.check(lambda: Convert(P(src), P(dst), rounding=rounding, impl="datapath"), lanes=4)
    assert report.n_vectors == 1 << P(src).bits


TABLES = [("e4m3fn", "e2m1fn", "rne"), ("e5m2", "bf16", "rne"), ("e2m1fn", "e4m3fn", "rna"),
          ("e3m2fn", "ap_fixed<6,3,AP_TRN,AP_WRAP_SM>", None), ("int8", "e4m3fn", "rtz"),
          ("ap_fixed<10,3>", "uint4(overflow=wrap)", "floor")]


@pytest.mark.parametrize("stages", [1, *(pytest.param(s, marks=pytest.mark.slow) for s in (0, 2))])
def test_table_every_code(stages):
    """The table implementation, every input code, in one build: float, integer and
    fixed-point inputs up to 10 bits."""
    makes = [lambda t=t: Convert(P(t[0]), P(t[1]), rounding=t[2], stages=stages, impl="table") for t in TABLES]
    reports = sim.check_many(makes, lanes=4)
    assert [r.n_vectors for r in reports] == [1 << P(t[0]).bits for t in TABLES]


def test_impl_auto():
    assert Convert(P("e4m3fn"), P("e2m1fn")).impl == "table"
    assert Convert(P("e4m3fn"), P("int4")).impl == "table"
    assert Convert(P("fp16"), P("e4m3fn")).impl == "datapath"            # over TABLE_BITS
    assert Convert(P("int8"), P("e4m3fn")).impl == "datapath"            # an integer input
    assert Convert(P("e4m3fn"), P("e2m1fn"), rounding="stochastic").impl == "datapath"
    assert Convert(P("fp16"), P("e4m3fn"), impl="datapath").parameters()["impl"] == "datapath"
    with pytest.raises(ValueError, match="the truth table needs a deterministic rounding, not 'stochastic'"):
        Convert(P("e4m3fn"), P("e2m1fn"), rounding="stochastic").truth_table()


@pytest.mark.slow
def test_stochastic_every_code_and_random_value():
    report = sim.check(lambda: Convert(P("e4m3fn"), P("e2m1fn"), rounding="stochastic", sr_bits=4),
                       lanes=4)
    assert report.n_vectors == 1 << 12


def test_model_reads_nan_as_the_fixed_conversion_does():
    u = Convert(P("e4m3fn"), P("ap_fixed<6,3,AP_RND_CONV,AP_SAT>"))
    nan_codes = P("e4m3fn").encode([np.nan, np.copysign(np.nan, -1.0), 1.0])
    assert u.model({"x": nan_codes})["y"].tolist() == [31, 32, 8]     # +max, -max (min), 1.0


def test_parameters():
    u = Convert(P("int8"), P("e4m3fn"), rounding="stochastic", sr_bits=6, stages=2)
    assert u.parameters() == {"in": "int8", "out": "e4m3fn", "rounding": "stochastic",
                              "stages": 2, "impl": "datapath", "sr_bits": 6}
    assert u.latency == 2 and list(u.in_fields) == ["x", "rand"]
    assert Convert(P("e4m3fn"), P("ap_fixed<8,3,AP_RND,AP_SAT>")).rounding is nf.Rounding.NEAREST_UP


def test_errors():
    with pytest.raises(TypeError, match="in_fmt must be a numfmt FloatFormat, IntFormat or FixedFormat"):
        Convert(P("mxfp4"), P("e4m3fn"))
    with pytest.raises(ValueError, match="in_fmt must be at most 53 bits wide"):
        Convert(nf.FixedFormat(60, 3), P("e4m3fn"))
    with pytest.raises(ValueError, match="sr_bits must be an integer in 1..32, not 40"):
        Convert(P("int8"), P("e4m3fn"), rounding="stochastic", sr_bits=40)
    with pytest.raises(ValueError, match="impl must be one of 'auto', 'table', 'datapath', not 'rom'"):
        Convert(P("e4m3fn"), P("e2m1fn"), impl="rom")
    with pytest.raises(ValueError, match="impl='table' needs a deterministic rounding, not 'stochastic'"):
        Convert(P("e4m3fn"), P("e2m1fn"), rounding="stochastic", impl="table")
    with pytest.raises(ValueError, match=r"impl='table' needs an input format of at most 12 bits, not 16 \(fp16\)"):
        Convert(P("fp16"), P("e2m1fn"), impl="table")


def test_lint_clean():
    from numfmt.sim._lint import WAIVERS
    waivers = dict(WAIVERS, WIDTHEXPAND="Amaranth's back end writes each operand at its own width "
                                        "and relies on Verilog's context-determined extension")
    for unit in (Convert(P("fp16"), P("e4m3fn")),
                 Convert(P("e5m2"), P("ap_fixed<6,3,AP_TRN,AP_WRAP_SM,3>"), impl="datapath"),
                 Convert(P("int8"), P("e2m1fn"), rounding="stochastic", sr_bits=4)):
        sim.lint(unit, waivers=waivers)
    table = dict(waivers, WIDTHTRUNC="Amaranth writes a bit of a constant selected by x as the constant "
                                     "shifted right by x, truncated to one bit on assignment")
    sim.lint(Convert(P("e5m2"), P("ap_fixed<6,3,AP_TRN,AP_WRAP_SM,3>"), impl="table"), waivers=table)


@pytest.mark.exhaustive
@pytest.mark.parametrize("src,dst", PAIRS)
def test_every_rounding(src, dst):
    """Every rounding mode of one conversion in one build (:func:`numfmt.sim.check_many`), by the
    datapath and (inputs of up to 12 bits) the table; stochastic rounding over every input
    code × every 4-bit random value (2**20 vectors for bf16)."""
    impls = ["datapath"] + (["table"] if P(src).bits <= TABLE_MAX_BITS else [])
    makes = [lambda r=r, i=i: Convert(P(src), P(dst), rounding=r, sr_bits=4, impl=i) for i in impls for r in ROUNDINGS]
    makes.append(lambda: Convert(P(src), P(dst), rounding="stochastic", sr_bits=4))
    every = sim.vectors.exhaustive(makes[-1]().in_fields)
    reports = sim.check_many(makes, vectors=[None] * (len(makes) - 1) + [every])
    assert reports[0].n_vectors == 1 << P(src).bits and reports[-1].n_vectors == 1 << (P(src).bits + 4)


#: (output, Convert(fp16, output).subnormal_alike_bits()): both sides of both bounds (the
#: output's half smallest subnormal; its smallest normal when it flushes), partial ones
#: (only the subnormals below 2**j alike), none, unsigned and negative_nan outputs
ALIKE = [("e4m3fn", 10), ("e4m2(bias=12)", 10), ("e4m2(bias=13)", 9),
         ("e5m2(subnormals=false)", 10), ("e5m2(bias=16,subnormals=false)", 9), ("e5m2", 7),
         ("e6m1(subnormals=false)", 0), ("e3m2(signed=false,specials=fn)", 10),
         ("e3m2(specials=fn,signed=false,negative_nan=true)", 10)]


def test_subnormal_alike_bits():
    assert [Convert(P("fp16"), P(d)).subnormal_alike_bits() for d, _ in ALIKE] == [j for _, j in ALIKE]
    assert Convert(P("fp16"), P("e4m3fn"), rounding="stochastic").subnormal_alike_bits() == 0
    assert Convert(P("fp16"), P("int8")).subnormal_alike_bits() == 0
    assert Convert(P("e4m3fn(subnormals=false)"), P("e2m1fn")).subnormal_alike_bits() == 0


def test_lead_is_what_round_pack_is_promised(monkeypatch):
    """Convert.lead() (which the cost model reads) is the ``lead`` the datapath passes to
    round_pack: for fp16 into every ALIKE output, for narrow inputs with and without
    subnormals, and 0 for a fixed-point input."""
    from amaranth.hdl import Fragment

    from numfmt.hw.rtl import convert

    seen = []

    def spy(*args, lead=0, **kwargs):
        seen.append(lead)
        return real(*args, lead=lead, **kwargs)

    real = convert.round_pack
    monkeypatch.setattr(convert, "round_pack", spy)
    pairs = [("fp16", d) for d, _ in ALIKE] + [("e4m3fn", "e5m2"), ("e4m3fn(subnormals=false)", "fp16"),
                                               ("e5m2", "e2m1fn"), ("bf16", "e4m3fn"), ("ap_fixed<10,3>", "e4m3fn")]
    for src, dst in pairs:
        unit = Convert(P(src), P(dst), impl="datapath")
        seen.clear()
        Fragment.get(unit, None)
        assert seen == [unit.lead()], (src, dst)
    assert [Convert(P("fp16"), P(d)).lead() for d, _ in ALIKE] == [j or 0 for _, j in ALIKE]
    assert Convert(P("e4m3fn(subnormals=false)"), P("fp16")).lead() == 3
    assert Convert(P("ap_fixed<10,3>"), P("e4m3fn")).lead() == 0


@pytest.mark.exhaustive
@pytest.mark.parametrize("dst", [d for d, _ in ALIKE])
def test_subnormal_inputs_every_rounding(dst):
    """Every fp16 code, every deterministic rounding, where the datapath gives some or all
    of fp16's subnormals one representative (Convert.subnormal_alike_bits); a bound one
    bit looser fails."""
    makes = [lambda r=r: Convert(P("fp16"), P(dst), rounding=r) for r in ROUNDINGS]
    reports = sim.check_many(makes, lanes=4)
    assert [r.n_vectors for r in reports] == [1 << 16] * len(ROUNDINGS)


@pytest.mark.exhaustive
@pytest.mark.parametrize("src", ["e5m2", "ap_fixed<9,5>"])
def test_every_fixed_overflow_mode(src):
    makes = [lambda d=d, i=i: Convert(P(src), P(d), impl=i) for i in ("datapath", "table") for d in FIXED_OUT]
    reports = sim.check_many(makes)
    assert [r.n_vectors for r in reports] == [1 << P(src).bits] * len(makes)
