"""hw.emit: Verilog and manifest written atomically; the manifest round-trips through JSON."""

import json
from pathlib import Path

import amaranth
import pytest
from amaranth.hdl import Module

import numfmt as nf
from numfmt.hw.emit import emit, verilog
from numfmt.hw.rtl import Field, FloatMul, Lanes, Unit, pipeline


class Mul(Unit):
    def __init__(self, stages=2):
        fa, fb = nf.parse("e4m3fn"), nf.IntFormat(4)
        super().__init__({"a": Field.of(fa), "b": Field.of(fb), "first": Field(1)},
                         {"y": Field.of(nf.IntFormat(12))})
        self.stages = self.latency = stages

    def parameters(self):
        return {"stages": self.stages}

    def elaborate(self, platform):
        m = Module()
        pipeline(m, self.i, self.o, self.i.payload.a * self.i.payload.b, self.stages)
        return m


class BadManifest(Mul):
    def parameters(self):
        return {"stages": self.stages, "fmt": nf.IntFormat(4)}    # not JSON-able


def test_emit_writes_verilog_and_manifest(tmp_path):
    unit = Mul()
    paths = emit(unit, tmp_path / "out")
    assert paths == {"verilog": tmp_path / "out" / "mul_2.v", "manifest": tmp_path / "out" / "mul_2.json"}
    text = paths["verilog"].read_text()
    assert "module mul_2(" in text and text == verilog(Mul())
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest == json.loads(json.dumps({**unit.manifest(), "verilog": "mul_2.v"}))
    assert manifest["latency"] == 2
    assert manifest["ports"]["i"]["width"] == 8 + 4 + 1
    assert [f["format"] for f in manifest["ports"]["i"]["fields"]] == ["e4m3fn", "int4", None]
    assert manifest["ports"]["o"]["fields"] == [{"name": "y", "width": 12, "format": "int12"}]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mul_2.json", "mul_2.v"]


def test_emit_lanes(tmp_path):
    paths = emit(Lanes(lambda: Mul(1), 2), tmp_path)
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest["module"] == "mul_1_x2" and manifest["parameters"] == {"lanes": 2, "unit": "mul_1"}
    assert [f["name"] for f in manifest["ports"]["i"]["fields"]] == ["a_0", "b_0", "first_0", "a_1", "b_1", "first_1"]


def test_failed_emit_writes_nothing(tmp_path):
    with pytest.raises(TypeError, match="not JSON serializable"):
        emit(BadManifest(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_emit_keeps_the_previous_files(tmp_path):
    good = emit(Mul(), tmp_path)
    before = {k: p.read_text() for k, p in good.items()}
    bad = BadManifest()
    bad.parameters = lambda: {"stages": 2, "x": object()}
    with pytest.raises(TypeError):
        emit(bad, tmp_path)
    assert {k: p.read_text() for k, p in good.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mul_2.json", "mul_2.v"]


def test_emit_rejects_non_units(tmp_path):
    with pytest.raises(TypeError, match="unit must be a hw.rtl.Unit, not 'x'"):
        emit("x", tmp_path)


def test_verilog_carries_no_paths_of_this_machine():
    text = verilog(FloatMul(nf.parse("e4m3fn"), stages=2))
    assert "src =" not in text
    for root in (Path(nf.__file__).resolve().parents[1], Path(amaranth.__file__).resolve().parents[1]):
        assert str(root) not in text
