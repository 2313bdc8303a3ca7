"""flow.build and ``numfmt build``: a design file to a hand-off directory, all or nothing."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from numfmt.flow import build as build_mod
from numfmt.flow.build import BuildError, build
from numfmt.flow.cli import main
from numfmt.flow.design import load

DESIGNS = Path(__file__).resolve().parents[2] / "designs"


def _tiny_onnx(folder: Path) -> None:
    """A small Dense(6→4) → ReLU → Dense(4→3) network as ONNX, and seeded data for it."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)
    w0, b0, w1, b1 = rng.normal(size=(4, 6)), rng.normal(size=4), rng.normal(size=(3, 4)), rng.normal(size=3)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w0, "w0"), (b0, "b0"), (w1, "w1"), (b1, "b1"))]
    nodes = [helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], name="fc0", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="act"),
             helper.make_node("Gemm", ["r", "w1", "b1"], ["y"], name="fc1", transB=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 3])], initializer=inits)
    model = helper.make_model(graph)
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "tiny.onnx"))
    x = rng.normal(scale=2.0, size=(240, 6))
    y = np.argmax(np.maximum(x @ w0.T + b0, 0) @ w1.T + b1, axis=1)
    np.savez(folder / "tiny.npz", x_calib=x[:200], x_test=x[200:], y_test=y[200:])


@pytest.fixture
def tiny_design(tmp_path):
    """A design file for the tiny ONNX network: int8, folded, 20 images, no synthesis."""
    folder = tmp_path / "designs"
    folder.mkdir()
    _tiny_onnx(folder)
    path = folder / "tiny.toml"
    path.write_text('description = "tiny test network"\n'
                    '[network]\nmodel = "tiny.onnx"\ndata = "tiny.npz"\n'
                    '[quant]\nweight = "int8"\nact = "int8"\n'
                    '[fold]\nfc0 = { pe = 2, simd = 3 }\n'
                    '[target]\nsynth = "none"\n'
                    '[verify]\nimages = 20\n')
    return path


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir())


def test_build_end_to_end(tiny_design, tmp_path, capsys):
    out = tmp_path / "out" / "tiny"
    assert main(["build", str(tiny_design), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert _leftovers(out.parent) == ["tiny"]                          # no temporary directory left
    m = json.loads((out / "manifest.json").read_text())
    acc = build_mod.prepare(load(tiny_design)).accelerator
    assert m["module"] == acc.name and m["verilog"] == f"rtl/{acc.name}.v"
    assert (m["ii_cycles"], m["latency_cycles"]) == (acc.ii, acc.latency_cycles)
    assert m["folding"] == {"fc0": {"pe": 2, "simd": 3, "variant": "mvu"}, "fc1": {"pe": 1, "simd": 1, "variant": "mvu"}}
    assert set(m["ports"]) == {"clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready",
                               "o__payload"}
    assert m["ports"]["i__payload"] == {"direction": "input", "width": 6 * 8}
    assert m["ports"]["o__payload"]["width"] == 3 * 8 + 2                # logits and a 2-bit label
    assert [layer["kind"] for layer in m["layers"]] == ["MatrixVector", "Activation", "MatrixVector", "Argmax"]
    assert m["layers"][0]["weight_format"] == "int8" and m["synthesis"] is None

    v = json.loads((out / "verification.json").read_text())
    assert (v["images"], v["labels_checked"], v["logits_checked"], v["mismatches"]) == (20, 20, 60, 0)
    assert v["cycles_per_image"] == {"model": acc.ii, "measured": [acc.ii]}
    assert v["latency_cycles"] == {"model": acc.latency_cycles, "measured_first_image": acc.latency_cycles}
    assert v["simulator"] == "verilator" and v["seed"] == 0
    assert "| cycles per image (II) | %d | %d |" % (acc.ii, acc.ii) in (out / "verification.md").read_text()

    # the weights are the accelerator's integers and ROM words
    with np.load(out / "weights" / "weights.npz") as w:
        for s in acc.mvus:
            assert np.array_equal(w[f"{s.node.name}.weight"], s.weights)
            assert np.array_equal(w[f"{s.node.name}.bias"], s.node.bias)
    fc0 = acc.mvus[0]
    hexwords = (out / "weights" / "fc0_weights.hex").read_text().split()
    assert [int(h, 16) for h in hexwords] == fc0.weight_words()
    assert json.loads((out / "weights" / "fc0.json").read_text())["weights"] == fc0.weights.tolist()

    verilog = (out / "rtl" / f"{acc.name}.v").read_text()
    assert f"module {acc.name}(" in verilog and str(tmp_path) not in verilog and "src =" not in verilog
    assert (out / "design.toml").read_text() == tiny_design.read_text()
    readme = (out / "README.md").read_text()
    assert acc.name in readme and "tiny test network" in readme and f"II: {acc.ii} cycles per image" in readme
    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path   # readable by others (umask 022)


def test_build_field_ports(tiny_design, tmp_path, capsys):
    """``--field-ports`` adds the wrapper with one port per payload field beside the packed module,
    named in the manifest and the README; the packed module is unchanged."""
    out = tmp_path / "fp"
    assert main(["build", str(tiny_design), "--out", str(out), "--field-ports", "--images", "4", "--quiet"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    name = m["module"]
    w = m["field_ports"]
    assert w["module"] == f"{name}_fields" and w["wraps"] == name and w["verilog"] == f"rtl/{name}_fields.v"
    assert set(w["ports"]) == ({"clk", "rst", "i_valid", "i_ready", "o_valid", "o_ready", "o_label"}
                               | {f"i_x{k}" for k in range(6)} | {f"o_y{k}" for k in range(3)})
    assert w["ports"]["i_x0"] == {"direction": "input", "width": 8}
    assert w["ports"]["o_label"] == {"direction": "output", "width": 2}
    wm = json.loads((out / w["manifest"]).read_text())
    assert [f["port"] for f in wm["ports"]["o"]["fields"]] == ["o_y0", "o_y1", "o_y2", "o_label"]
    text = (out / w["verilog"]).read_text()
    assert f"module {name}_fields(" in text and f"module \\{name}_fields.unit " in text   # self-contained
    assert set(m["ports"]) >= {"i__payload", "o__payload"}                    # the packed module as before
    assert f"`{w['verilog']}` — top module `{name}_fields` (self-contained)" in (out / "README.md").read_text()
    with pytest.raises(ValueError, match="field_ports must be True or False, not 1"):
        build_mod.build(tiny_design, tmp_path / "x", field_ports=1)
    assert not (tmp_path / "x").exists()


def test_an_existing_output_is_refused_unless_forced(tiny_design, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    assert main(["build", str(tiny_design), "--out", str(out), "--quiet"]) == 2
    assert "exists; choose another output directory or replace it with --force" in capsys.readouterr().err
    assert _leftovers(out) == ["keep.txt"]
    # --force replaces it (the verification is stubbed: this test is about the directory)
    monkeypatch.setattr(build_mod, "_verify", lambda prep, n: _fake_report(prep, n))
    assert main(["build", str(tiny_design), "--out", str(out), "--quiet", "--force"]) == 0
    assert "keep.txt" not in _leftovers(out) and "manifest.json" in _leftovers(out)
    assert _leftovers(tmp_path) == ["designs", "out"]


def _fake_report(prep, n):
    acc = prep.accelerator
    return {"images": n, "test_split": len(prep.x_test), "module": acc.name, "simulator": "verilator", "seed": 0,
            "comparison": "stub", "logits_checked": 0, "labels_checked": n, "mismatches": 0,
            "cycles_per_image": {"model": acc.ii, "measured": [acc.ii]},
            "latency_cycles": {"model": acc.latency_cycles, "measured_first_image": acc.latency_cycles},
            "accuracy": {"hardware": 1.0, "float_model": 1.0}}


@pytest.mark.parametrize("error", [BuildError("verification failed: 3 of 20 vectors differ"), KeyboardInterrupt()])
def test_a_failure_in_the_middle_leaves_nothing(tiny_design, tmp_path, monkeypatch, error):
    """The Verilog and weights are written when verification fails (or Ctrl-C): none of it remains."""
    seen = {}

    def failing(prep, n):
        seen["written"] = sorted(p.name for p in tmp_path.joinpath("out").iterdir())
        raise error
    monkeypatch.setattr(build_mod, "_verify", failing)
    out = tmp_path / "out" / "tiny"
    with pytest.raises(type(error)):
        build(tiny_design, out, progress=False)
    assert len(seen["written"]) == 1 and seen["written"][0].startswith(".tiny.")   # the temporary directory
    assert not out.exists() and _leftovers(tmp_path) == ["designs"]      # nor the folder made for it


def test_cli_exit_codes(tiny_design, tmp_path, monkeypatch, capsys):
    def failing(prep, n):
        raise BuildError("verification failed: tiny: 3 of 20 vectors differ from the model (seed=0)")
    monkeypatch.setattr(build_mod, "_verify", failing)
    out = tmp_path / "o"
    assert main(["build", str(tiny_design), "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err == ("numfmt build: verification failed: tiny: 3 of 20 vectors differ from the "
                                       "model (seed=0)\n")
    assert main(["build", str(tiny_design), "--out", str(out), "--quiet", "--images", "0"]) == 2
    assert capsys.readouterr().err == "numfmt build: images must be an integer ≥ 1, not 0\n"
    assert not out.exists()


def test_a_broken_design_writes_nothing(tiny_design, tmp_path, capsys):
    text = tiny_design.read_text().replace("fc0 = { pe = 2, simd = 3 }", "fc0 = { pe = 3, simd = 3 }")
    bad = tiny_design.with_name("bad.toml")
    bad.write_text(text)
    out = tmp_path / "out"
    assert main(["build", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (f"numfmt build: {bad}:9: key 'fold.fc0.pe' = 3: pe=3 must divide the output channels "
                       "of 'fc0' (4)")
    assert not out.exists() and _leftovers(tmp_path) == ["designs"]
    bad.write_text(text.replace('act = "int8"', 'act = int8'))
    assert main(["build", str(bad), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(f"numfmt build: {bad}:7: TOML syntax error: ")
    assert not out.exists()


@pytest.mark.parametrize("name, kind", [
    pytest.param("digits_mlp_int8", "MatrixVector", marks=pytest.mark.slow),
    pytest.param("digits_mlp_w4a8", "MatrixVector", marks=pytest.mark.slow),
    pytest.param("digits_mlp_int8_serial", "MatrixVector", marks=pytest.mark.slow),
    pytest.param("digits_mlp_e4m3", "FloatMatrixVector", marks=pytest.mark.slow),
    # 4099 cycles an image, about 10 min on 2 busy cores: CI runs the tiny MX networks of tests/hw/accel
    pytest.param("digits_mlp_mxfp4", "BlockMatrixVector", marks=pytest.mark.sweep),
])
def test_shipped_designs_build_and_verify(name, kind, tmp_path):
    """Each example design verified on the whole test split (synthesis of a whole accelerator
    takes 1.5–5 minutes here: tests/hw/accel synthesizes the folded int8 design, and
    the full builds with synthesis below run under -m sweep). The bit-serial, LUT-GEMM and
    CNN designs run in tests/hw/accel (test_variants, test_window), the HLS ones in
    test_build_hls.py, the Brevitas one in test_design_qonnx.py."""
    out = build(DESIGNS / f"{name}.toml", tmp_path / name, synth=False, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    v = json.loads((out / "verification.json").read_text())
    assert v["images"] == 360 and v["mismatches"] == 0
    assert v["cycles_per_image"]["measured"] == [m["ii_cycles"]]
    assert {layer["kind"] for layer in m["layers"][::2]} == {kind}          # every Dense stage
    assert not (out / "synthesis.json").exists()
    assert os.listdir(tmp_path) == [name]


@pytest.mark.sweep
@pytest.mark.parametrize("name", ["digits_mlp_int8", "digits_mlp_w4a8", "digits_mlp_int8_serial", "digits_mlp_e4m3",
                                  "digits_mlp_int8_bitserial", "digits_mlp_int8_lutgemm"])
def test_shipped_designs_build_with_synthesis(name, tmp_path):
    """Each example design in full, with its synthesis target (long: not in CI)."""
    out = build(DESIGNS / f"{name}.toml", tmp_path / name, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    v = json.loads((out / "verification.json").read_text())
    s = json.loads((out / "synthesis.json").read_text())
    assert v["images"] == 360 and v["mismatches"] == 0
    assert v["cycles_per_image"]["measured"] == [m["ii_cycles"]]
    assert s["latches"] == 0 and s["luts"] > 0 and s["ffs"] > 0
    assert m["synthesis"]["target"] == load(DESIGNS / f"{name}.toml").target.synth
    assert os.listdir(tmp_path) == [name]
