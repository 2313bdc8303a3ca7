"""hw.emit: Verilog and manifest written atomically; the manifest round-trips through JSON."""

import json
from pathlib import Path

import amaranth
import pytest
from amaranth.hdl import Module

import numfmt as nf
from numfmt.hw.emit import emit, verilog, verilog_ports
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


@pytest.fixture
def umask():
    """``umask(mask)`` sets the process umask for the test; the old one comes back after it."""
    import os
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_emitted_files_have_the_permissions_of_new_files(tmp_path, umask, mask, mode):
    umask(mask)
    paths = emit(Mul(), tmp_path)
    for path in paths.values():
        assert path.stat().st_mode & 0o777 == mode, (path, oct(path.stat().st_mode))


def test_emitted_files_carry_no_paths_of_this_machine(tmp_path):
    paths = emit(FloatMul(nf.parse("e4m3fn"), stages=2), tmp_path)
    roots = [tmp_path, Path.cwd(), Path.home(), Path(nf.__file__).resolve().parents[1],
             Path(amaranth.__file__).resolve().parents[1]]
    for path in paths.values():
        text = path.read_text()
        assert "src =" not in text
        for root in roots:
            assert str(root) not in text, (path.name, root)


def test_the_manifest_lists_only_ports_that_exist(tmp_path):
    comb = emit(Mul(stages=0), tmp_path / "comb")
    ports = json.loads(comb["manifest"].read_text())["ports"]
    assert "clk" not in ports and "rst" not in ports and set(ports) == {"i", "o"}
    assert verilog_ports(comb["verilog"].read_text(), "mul_0") == {
        "i__valid": {"direction": "input", "width": 1}, "o__ready": {"direction": "input", "width": 1},
        "i__ready": {"direction": "output", "width": 1}, "o__payload": {"direction": "output", "width": 12},
        "o__valid": {"direction": "output", "width": 1}, "i__payload": {"direction": "input", "width": 13}}
    seq = json.loads(emit(Mul(stages=1), tmp_path / "seq")["manifest"].read_text())["ports"]
    assert seq["clk"] == "clk" and seq["rst"] == "rst"
    with pytest.raises(ValueError, match="the Verilog text has no module 'nope'"):
        verilog_ports(comb["verilog"].read_text(), "nope")


def test_field_ports_wrapper(tmp_path):
    """One port per field; the wrapper passes each field and handshake to the packed unit."""
    from amaranth.sim import Simulator

    from numfmt.hw.emit import with_field_ports

    paths = emit(Mul(stages=0), tmp_path, field_ports=True)
    assert paths["verilog"].name == "mul_0_fields.v"
    text = paths["verilog"].read_text()
    assert verilog_ports(text, "mul_0_fields") == {
        "i_valid": {"direction": "input", "width": 1}, "i_ready": {"direction": "output", "width": 1},
        "o_valid": {"direction": "output", "width": 1}, "o_ready": {"direction": "input", "width": 1},
        "i_a": {"direction": "input", "width": 8}, "i_b": {"direction": "input", "width": 4},
        "i_first": {"direction": "input", "width": 1}, "o_y": {"direction": "output", "width": 12}}
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest["module"] == "mul_0_fields" and manifest["wraps"] == "mul_0"
    assert [f["port"] for f in manifest["ports"]["i"]["fields"]] == ["i_a", "i_b", "i_first"]
    assert manifest["ports"]["o"] == {"valid": "o_valid", "ready": "o_ready",
                                      "fields": [{"name": "y", "width": 12, "format": "int12", "port": "o_y"}]}
    assert "clk" not in manifest["ports"]

    top = with_field_ports(Mul(stages=0))
    seen = []

    async def bench(ctx):
        for a, b, ready in [(3, 5, 1), (200, 15, 0), (255, 1, 1)]:
            ctx.set(top.i_a, a)
            ctx.set(top.i_b, b)
            ctx.set(top.i_valid, 1)
            ctx.set(top.o_ready, ready)
            await ctx.delay(1e-6)
            seen.append((ctx.get(top.o_y), ctx.get(top.o_valid), ctx.get(top.i_ready)))
    sim = Simulator(top)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [((3 * 5) & 0xFFF, 1, 1), ((200 * 15) & 0xFFF, 1, 0), (255, 1, 1)]
    with pytest.raises(TypeError, match="field_ports must be True or False, not 1"):
        emit(Mul(), tmp_path, field_ports=1)
