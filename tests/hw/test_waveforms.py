"""docs/make_waveforms.py: the recorded runs behind the docs' waveform pictures are verified.

The script is imported from its file (docs/ is not a package) and its recording function
run on the FloatMul picture's transactions; the rendering is not exercised here.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt.hw.rtl import FloatMul

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "make_waveforms.py"


@pytest.fixture(scope="module")
def waves():
    spec = importlib.util.spec_from_file_location("make_waveforms", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def rne_reference(fmt, x: Fraction) -> int:
    """The code of the finite value nearest to ``x`` (ties: even code), by table search."""
    table = [(Fraction(float(v)), c) for c, v in enumerate(fmt.decode(np.arange(2 ** fmt.bits, dtype=np.uint64)))
             if np.isfinite(v)]
    best = min(abs(v - x) for v, _ in table)
    sign = fmt.bits - 1
    codes = [c for v, c in table if abs(v - x) == best and (v != 0 or (c >> sign) == (x < 0))]
    return min(codes, key=lambda c: c & 1)


def test_fpmul_recording_matches_model_and_latency(waves):
    unit, tx, title = waves.EXAMPLES["fpmul"]()
    assert isinstance(unit, FloatMul) and unit.latency == 2
    rec = waves.record(unit, tx, title=title)
    # every driven transaction was accepted, in order, and answered once
    assert [int(a) for a in rec.inputs["a"]] == [t["a"] for t in tx]
    assert len(rec.accepted) == len(rec.delivered) == len(tx)
    assert [rec.traces["i.a"][c] for c in rec.accepted] == [t["a"] for t in tx]
    assert [rec.traces["i.b"][c] for c in rec.accepted] == [t["b"] for t in tx]
    # outputs == the numfmt model, and == round-to-nearest-even of the exact product
    assert np.array_equal(rec.outputs["p"], unit.model(rec.inputs)["p"])
    e4m3 = nf.parse("e4m3fn")
    value = lambda code: Fraction(float(e4m3.decode(np.array([code], dtype=np.uint64))[0]))
    assert rec.outputs["p"].tolist() == [rne_reference(e4m3, value(t["a"]) * value(t["b"])) for t in tx]
    assert [rec.traces["o.p"][c] for c in rec.delivered] == rec.outputs["p"].tolist()
    # latency: unit.latency cycles unless back-pressure held the transaction in the pipe
    assert rec.latencies[0] == unit.latency
    assert all(lat == unit.latency for lat, st in zip(rec.latencies, rec.stalled) if not st)
    assert [lat for lat, st in zip(rec.latencies, rec.stalled) if st] == [unit.latency + 1]
    # the picture shows one idle input cycle and one back-pressure cycle
    tr = rec.traces
    assert sum(v and not r for v, r in zip(tr["o.valid"], tr["o.ready"])) == 1
    assert any(r and not v for v, r in zip(tr["i.valid"], tr["i.ready"]))


def test_wrong_model_is_caught(waves):
    unit = FloatMul(nf.parse("e4m3fn"), stages=2)
    right = unit.model
    unit.model = lambda inputs: {"p": right(inputs)["p"] ^ np.uint64(1)}
    _, tx, _ = waves.EXAMPLES["fpmul"]()
    with pytest.raises(AssertionError, match="output p"):
        waves.record(unit, tx)


def test_wrong_latency_is_caught(waves):
    unit = FloatMul(nf.parse("e4m3fn"), stages=2)
    unit.latency = 1
    _, tx, _ = waves.EXAMPLES["fpmul"]()
    with pytest.raises(AssertionError, match="took 2 cycles, not unit.latency = 1"):
        waves.record(unit, tx)


def test_bad_arguments(waves):
    e4m3 = nf.parse("e4m3fn")
    with pytest.raises(ValueError, match="latency must be ≥ 1"):
        waves.record(FloatMul(e4m3, stages=0), [{"a": 0, "b": 0}])
    with pytest.raises(ValueError, match=r"transactions\[0\] must give the fields"):
        waves.record(FloatMul(e4m3), [{"a": 0}])


def test_label(waves):
    assert waves.label(0x38, 8, nf.parse("e4m3fn")) == "0x38 (1.0)"
    assert waves.label(0xF, 4, nf.IntFormat(4)) == "0xf (-1)"
    assert waves.label(0x7FFF, 16, nf.IntFormat(16)) == "0x7fff (32767)"
    assert waves.label(1, 1) == "0x1"
