"""hw.rtl.lfsr.WithLfsr: stochastic rounding fed by an LFSR, RTL == model == numfmt.LFSR draws."""

import numpy as np
import pytest

import numfmt as nf
from numfmt import sim
from numfmt.hw.rtl import Convert, FloatMul, WithLfsr

P = nf.parse
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def test_model_is_encode_with_the_lfsr():
    """The model draws the register's states in order, as numfmt does with nf.LFSR."""
    u = WithLfsr(Convert(P("fp16"), P("e2m1fn"), rounding="stochastic", sr_bits=5), width=11, seed=300)
    x = P("fp16").quantize(np.linspace(-7.0, 7.0, 5000))
    want = P("e2m1fn").encode(x, "stochastic", rng=nf.LFSR(11, seed=300), sr_bits=5)
    assert np.array_equal(u.model({"x": P("fp16").encode(x)})["y"], want)
    m = WithLfsr(FloatMul(P("e4m3fn"), P("e4m3fn"), P("e2m1fn"), rounding="stochastic", sr_bits=3), 8, 5)
    a, b = np.arange(256, dtype=np.uint64), np.arange(255, -1, -1, dtype=np.uint64)
    prods = P("e4m3fn").decode(a) * P("e4m3fn").decode(b)                # exact in float64
    want = P("e2m1fn").encode(prods, "stochastic", rng=nf.LFSR(8, seed=5), sr_bits=3)
    finite = ~np.isnan(prods)            # (FloatMul gives a NaN product the sign a ⊕ b; float64 may not)
    assert np.array_equal(m.model({"a": a, "b": b})["p"][finite], want[finite])


def test_rtl_convert_every_code_many_draws():
    """Every e5m2 code 400 times: each lane's register steps only on its accepted inputs."""
    make = lambda: WithLfsr(Convert(P("e5m2"), P("e2m1fn"), rounding="stochastic", sr_bits=4), 9, 17)  # noqa: E731
    x = np.tile(np.arange(256, dtype=np.uint64), 400)
    report = sim.check(make, vectors={"x": x}, lanes=4, idle=0.2, backpressure=0.3, seed=3)
    assert report.n_vectors == 102_400


@pytest.mark.slow
def test_rtl_multiplier_exhaustive():
    make = lambda: WithLfsr(FloatMul(P("e4m3fn"), P("e4m3fn"), P("e2m1fn"), rounding="stochastic",  # noqa: E731
                                     sr_bits=6, stages=2), 16, 0xACE1)
    report = sim.check(make, lanes=4, idle=0.1, backpressure=0.1, seed=4)
    assert report.n_vectors == 65536 and report.latencies.min() == 2


@pytest.mark.slow
def test_checker_catches_a_wrong_seed():
    wrong = WithLfsr(Convert(P("e5m2"), P("e2m1fn"), rounding="stochastic", sr_bits=4), 9, 18)
    with pytest.raises(sim.MismatchError, match=r"seed=2"):
        sim.check(lambda: WithLfsr(Convert(P("e5m2"), P("e2m1fn"), rounding="stochastic", sr_bits=4), 9, 17),
                  lanes=1, seed=2, model=wrong.model, waves=False)


def test_lint_clean():
    assert {w.rule for w in sim.lint(WithLfsr(Convert(P("fp16"), P("e4m3fn"), rounding="stochastic"), 16))} \
        <= set(sim.WAIVERS)


def test_errors():
    sr = Convert(P("fp16"), P("e4m3fn"), rounding="stochastic", sr_bits=8)
    with pytest.raises(TypeError, match=r"unit must be a hw.rtl.Unit, not 3"):
        WithLfsr(3)
    with pytest.raises(ValueError, match=r"unit must have an input field 'rand' .* has \['x'\]"):
        WithLfsr(Convert(P("fp16"), P("e4m3fn")))
    with pytest.raises(ValueError, match=r"width must be at least the 8 bits of rand, not 6"):
        WithLfsr(sr, 6)
    with pytest.raises(ValueError, match=r"seed must be in 1..65535, not 0"):
        WithLfsr(sr, 16, 0)
