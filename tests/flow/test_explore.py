"""flow.explore and ``numfmt explore``: options, choices on validation, costs, the report,
resuming after SIGKILL, and the same records on a Dask cluster."""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import numfmt as nf
from numfmt import nn
from numfmt.arith.accumulators import kulisch_width
from numfmt.flow import explore, results, sweep
from numfmt.flow.cli import main

pytest.importorskip("sklearn")

_SMALL = dict(families=("int", "minifloat"), bits=(4,), modes=("wa",), methods=("rtn",), synth=False,
              verify="none", workers=1)
_SMALL_ARGV = ["--families", "int,minifloat", "--bits", "4", "--modes", "wa", "--methods", "rtn", "--no-synth",
               "--verify", "none", "--workers", "1", "--quiet"]


def _same(a, b):
    """Records equal bit for bit, timings aside (NaN equals NaN)."""
    strip = lambda r: json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True)
    return sorted(map(strip, a)) == sorted(map(strip, b))


def _gemm_onnx(path, n_in):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    w = np.random.default_rng(0).standard_normal((10, n_in)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph), path)


@pytest.mark.parametrize("argv, start", [
    (["--families", "int,posit"], "--families: families must be one of"),
    (["--methods", "rtn,optq"], "--methods: methods must be one of"),
    (["--granularity", "row"], "--granularity: granularity must be 'tensor', 'channel' or an integer group"),
    (["--bits", "8-3"], "--bits: bits range '8-3' is empty: give the low end first (3-8)"),
    (["--modes", "a"], "--modes: modes must be one of 'w', 'wa', not 'a'"),
    (["--verify", "all"], "--verify: verify must be one of 'unit', 'full', 'none', not 'all'"),
    (["--target", "stratix"], "--target: target must be one of 'xilinx', 'ecp5', 'ice40', not 'stratix'"),
    (["--target", "ice40", "--no-synth"], "--target: target 'ice40' has no cost-model calibration, so its units "
                                          "are priced by Yosys synthesis, which synth=False (--no-synth) turns off"),
    (["--fold", "4"], "--fold: fold must be two integers ≥ 1 (pe, simd), not '4'"),
    (["--fold", "0,8"], "--fold: fold must be two integers ≥ 1 (pe, simd), not (0, 8)"),
    (["--verify", "full", "--images", "0"], "--images: images must be an integer ≥ 1, not 0"),
    (["--budget", "0"], "--budget: budget must be an integer ≥ 1, not 0"),
    (["--workers", "0"], "--workers: workers must be an integer ≥ 1, not 0"),
    (["--scheduler", "localhost:8786"], "--scheduler: scheduler must be a Dask scheduler address"),
    (["--data", "missing.npz"], "--data: data must be an .npz file, not 'missing.npz' (no such file)"),
])
def test_cli_bad_options_exit_2_with_one_line_naming_the_option(argv, start, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(explore, "_workload", lambda *a: pytest.fail("work started"))
    out = tmp_path / "out"
    assert main(["explore", "--out", str(out), "--quiet"] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numfmt explore: " + start), err
    assert not out.exists()


def test_no_synth_on_a_calibration_lacking_a_family_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """A calibration that covers some families only (as ECP5's did before its BlockDot sweep):
    --no-synth would leave the others unpriced, so the run is refused, naming the family."""
    monkeypatch.setattr(explore, "_workload", lambda *a: pytest.fail("work started"))
    monkeypatch.setattr(explore, "fitted_families", lambda target: {"IntMac", "FloatKulischMac"})
    assert main(["explore", "--out", str(tmp_path / "out"), "--quiet", "--target", "ecp5", "--no-synth"]) == 2
    assert capsys.readouterr().err == ("numfmt explore: --target: target 'ecp5': the cost model has no BlockDot "
                                       "coefficients, so those units are priced by Yosys synthesis, which "
                                       "synth=False (--no-synth) turns off\n")
    assert not (tmp_path / "out").exists()


def test_cli_model_and_data_that_do_not_fit_exit_2(tmp_path, capsys):
    onnx_path = str(tmp_path / "m13.onnx")
    _gemm_onnx(onnx_path, 13)
    assert main(["explore", "--out", str(tmp_path / "a"), "--model", onnx_path] + _SMALL_ARGV) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numfmt explore: --model: model input shape (13,) does not fit "
                                                   "the digits data"), err
    x_train, y_train, x_test, y_test = nn.digits_data()
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_calib=x_train[:, :13], y_calib=y_train, x_test=x_test, y_test=y_test)
    assert main(["explore", "--out", str(tmp_path / "b"), "--data", str(bad)] + _SMALL_ARGV) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numfmt explore: --data: x_calib must have shape (N, 64)"), err
    unlabeled = tmp_path / "unlabeled.npz"
    np.savez(unlabeled, x_calib=x_train, x_test=x_test, y_test=y_test)
    assert main(["explore", "--out", str(tmp_path / "c"), "--data", str(unlabeled)] + _SMALL_ARGV) == 2
    assert capsys.readouterr().err == ("numfmt explore: --data: data needs a validation split: arrays x_val and "
                                       "y_val, or y_calib (labels of x_calib) to carve one from x_calib\n")
    assert sorted(os.listdir(tmp_path)) == ["bad.npz", "m13.onnx", "unlabeled.npz"]


def test_unit_of_prices_each_family_by_its_mac():
    u, lanes = explore.unit_of("int5", "wa", 64)
    assert type(u).__name__ == "IntMac" and lanes == 1
    assert u.register.width == kulisch_width(nf.IntFormat(5), nf.IntFormat(5), 64) == 16
    fixed, _ = explore.unit_of("ap_fixed<5,1,AP_RND_CONV,AP_SAT>", "wa", 64)
    assert fixed.name == u.name                        # a fixed-point MAC is the integer MAC of its codes
    w_only, _ = explore.unit_of("int5", "w", 64)
    assert w_only.register.width == kulisch_width(nf.IntFormat(5), nf.parse(sweep.W_ONLY_ACT), 64)
    f, _ = explore.unit_of("fp6_e3m2", "wa", 10)
    assert type(f).__name__ == "FloatKulischMac" and f.n_max == 10
    mx, lanes = explore.unit_of("mxfp4", "wa", 64)
    assert type(mx).__name__ == "BlockDot" and lanes == 32
    assert {"int": u, "fixed": fixed, "minifloat": f, "mx": mx}.keys() == explore.UNIT_FAMILY.keys()
    assert all(type(unit).__name__ == explore.UNIT_FAMILY[family]     # what --no-synth checks is calibrated
               for family, unit in {"int": u, "fixed": fixed, "minifloat": f, "mx": mx}.items())
    for name in ("mxfp4", "fp6_e3m2"):
        with pytest.raises(ValueError, match="no unit multiplies .* weights by int16 activations"):
            explore.unit_of(name, "w", 64)


def test_cost_task_without_synthesis_says_why_there_is_no_cost():
    [rec] = explore._cost_task((("fp4_e1m2", "wa"),), 64, False)
    assert math.isnan(rec["luts"]) and rec["source"] is None
    assert rec["note"].startswith("outside the cost model (") and rec["note"].endswith("synthesis is off")
    [rec] = explore._cost_task((("int4", "wa"),), 64, False)
    assert rec["source"] == "model" and rec["luts"] > 0


def test_cost_task_prices_formats_sharing_a_unit_once_with_their_own_keys():
    fixed = "ap_fixed<4,1,AP_RND_CONV,AP_SAT>"
    recs = explore._cost_task((("int4", "wa"), (fixed, "wa")), 64, False)
    alone = [explore._cost_task(((w, "wa"),), 64, False)[0] for w in ("int4", fixed)]
    assert recs == alone
    assert [r["key"] for r in recs] == [f"int4|wa|64|model", f"{fixed}|wa|64|model"]


def test_small_exploration_end_to_end_chooses_on_validation_and_reports_test(tmp_path):
    opts = explore.Options(out=str(tmp_path / "out"), **{**_SMALL, "methods": ("rtn", "gptq")})
    res = explore.explore(opts)
    # one row per format (W=A), its method the best on validation (ties: the earlier method)
    assert [r["weight"] for r in res.records] == ["int4", "fp4_e1m2", "fp4_e2m1", "fp4_e3m0"]
    by_key = {(p["weight"], p["method"]): p for p in res.points}
    for r in res.records:
        rtn, gptq = by_key[(r["weight"], "rtn")], by_key[(r["weight"], "gptq")]
        assert r["method"] == ("gptq" if gptq["val_accuracy"] > rtn["val_accuracy"] else "rtn")
        assert r["accuracy"] == by_key[(r["weight"], r["method"])]["accuracy"]
    # the accuracies are the emulator's: quantized on the training data less the validation split
    x_train, y_train, x_test, y_test = nn.digits_data()
    x_fit, x_val, y_val = explore._carve(x_train, y_train, 0.2, 0)
    assert len(x_val) == round(0.2 * len(x_train)) and len(x_fit) + len(x_val) == len(x_train)
    fit, val = explore._split(len(x_train), 0.2, 0)
    net = nn.digits_mlp(exclude=val)                  # trained without the validation images
    assert not np.array_equal(net.nodes[0].layer.weight, nn.digits_mlp().nodes[0].layer.weight)
    q = nn.quantize(net, sweep.Point("int4", "int4").qconfig(), x_fit)
    assert by_key[("int4", "rtn")]["accuracy"] == nn.accuracy(q, x_test, y_test)
    assert by_key[("int4", "rtn")]["val_accuracy"] == nn.accuracy(q, x_val, y_val)
    # costs: model for int4, e2m1, e3m0; fp4_e1m2 is outside the model and synthesis is off
    costs = {r["weight"]: r for r in res.records}
    assert math.isnan(costs["fp4_e1m2"]["luts"]) and costs["fp4_e1m2"]["cost_source"] is None
    assert costs["int4"]["cost_source"] == "model" and costs["int4"]["luts"] < costs["fp4_e2m1"]["luts"]
    # the front is on validation accuracy
    from numfmt.flow import pareto
    want = pareto.front([r["luts"] for r in res.records], [r["val_accuracy"] for r in res.records])
    assert res.front.tolist() == want.tolist() and not res.front[1]
    assert all(s.startswith("W=A 4 bits: ") for s in res.finding) and len(res.finding) == 1
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "pareto.png", "points.json", "points.jsonl",
                                                     "summary.md"]
    summary = (out / "summary.md").read_text()
    assert res.finding[0] in summary and "validation accuracy against LUTs" in summary
    # the store holds one record per task: 4 costs and 8 points
    _, recs = results.read(out / explore.STORE)
    assert sorted(r["kind"] for r in recs) == ["cost"] * 4 + ["point"] * 8


def test_rerun_is_refused_resume_recomputes_nothing_and_a_foreign_store_is_refused(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "out")
    assert main(["explore", "--out", out] + _SMALL_ARGV) == 0
    untimed = lambda text: [line for line in text.splitlines() if not line.startswith("wall time ")]
    first = capsys.readouterr().out
    assert re.search(r"^wall time (\d+ min )?\d+ s \(\d+ CPU seconds in this process and its workers, load average "
                     r"\d+\.\d\)$", first.splitlines()[-1]), first
    assert main(["explore", "--out", out] + _SMALL_ARGV) == 2
    assert capsys.readouterr().err == (f"numfmt explore: {os.path.join(out, explore.STORE)} already holds 8 results "
                                       "of this exploration; --resume continues it, --overwrite discards them, or "
                                       "choose another --out\n")
    monkeypatch.setattr(explore, "_point_task", lambda *a: pytest.fail("recomputed"))
    monkeypatch.setattr(explore, "_cost_task", lambda *a: pytest.fail("recomputed"))
    assert main(["explore", "--out", out, "--resume"] + _SMALL_ARGV) == 0
    assert untimed(capsys.readouterr().out) == untimed(first)
    assert main(["explore", "--out", out, "--resume", "--budget", "45"] + _SMALL_ARGV) == 0     # only the front moves
    rows = json.loads((tmp_path / "out" / "points.json").read_text())
    assert [r["weight"] for r in rows if r["front"]] == ["int4"] and rows[0]["luts"] <= 45
    assert "at most 45 LUTs" in (tmp_path / "out" / "summary.md").read_text()
    argv = [a if a != "4" else "5" for a in _SMALL_ARGV]
    assert main(["explore", "--out", out, "--resume"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("numfmt explore: ") and "holds results of a different exploration (different points)" in err


@pytest.mark.slow
def test_front_units_are_synthesized_emitted_and_verified(tmp_path):
    opts = explore.Options(out=str(tmp_path / "out"), families=("int", "minifloat"), bits=(4,), modes=("wa", "w"),
                           methods=("rtn",), workers=2, vectors=2000)
    res = explore.explore(opts)
    front = [r for r, f in zip(res.records, res.front) if f]
    assert front and all(r["verified"] == "yes" and r["synth_luts"] > 0 for r in front)
    for r in front:
        verilog = tmp_path / "out" / r["verilog"]
        unit, _ = explore.unit_of(r["weight"], "wa" if r["mode"] == "W=A" else "w", 64)
        assert verilog.read_text() == importlib.import_module("numfmt.hw.emit").verilog(unit)
        report = json.loads((tmp_path / "out" / r["verification"]).read_text())
        assert report["passed"] and report["unit"] == unit.name and report["vectors"] > 0
    html = (tmp_path / "out" / "index.html").read_text()
    assert all(r["verilog"] in html for r in front)
    # units outside the model are priced by Yosys, weight-only minifloats not at all
    rows = {(r["weight"], r["mode"]): r for r in res.records}
    assert rows[("fp4_e1m2", "W=A")]["cost_source"] == "yosys"
    assert math.isnan(rows[("fp4_e2m1", "W-only")]["luts"]) and "no unit multiplies" in \
        rows[("fp4_e2m1", "W-only")]["note"]


@pytest.mark.slow
def test_sigkill_mid_way_then_resume_equals_an_uninterrupted_run(tmp_path):
    argv = ["--families", "int,fixed", "--bits", "3-6", "--modes", "wa,w", "--methods", "rtn,gptq",
            "--no-synth", "--verify", "none", "--workers", "1", "--quiet"]
    killed = tmp_path / "killed"
    store = killed / explore.STORE
    cmd = [sys.executable, "-m", "numfmt.flow.cli", "explore", "--out", str(killed)] + argv
    total = 16 + 32                                   # 16 units (formats × modes) and 32 points
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        n = 0
        while proc.poll() is None:
            n = len(results.read(store)[1]) if store.exists() and store.stat().st_size else 0
            if n >= 20:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        assert proc.wait() == -signal.SIGKILL, "the exploration finished before it could be killed"
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = results.read(store)[1]
    assert 20 <= len(kept) < total
    assert subprocess.run(cmd + ["--resume"], stdout=subprocess.DEVNULL).returncode == 0
    resumed = results.read(store)[1]
    keys = [(r["kind"], json.dumps(r["key"])) for r in resumed]
    assert len(keys) == len(set(keys)) == total                  # no task computed twice
    assert resumed[:len(kept)] == kept
    whole = tmp_path / "whole"
    assert main(["explore", "--out", str(whole)] + argv) == 0
    assert _same(resumed, results.read(whole / explore.STORE)[1])
    assert (killed / "points.json").read_text() == (whole / "points.json").read_text()


@pytest.mark.slow
def test_dask_local_cluster_gives_the_records_of_the_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    opts = dict(families=("int", "minifloat", "mx"), bits=(4,), modes=("wa", "w"), methods=("rtn", "gptq"),
                synth=False, verify="none")
    local = explore.explore(explore.Options(out=str(tmp_path / "local"), workers=2, **opts))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        remote = explore.explore(explore.Options(out=str(tmp_path / "dask"), scheduler=c.scheduler_address, **opts))
    assert _same(local.points, remote.points)
    assert local.front.tolist() == remote.front.tolist()
    assert (tmp_path / "local" / "points.json").read_text() == (tmp_path / "dask" / "points.json").read_text()
    assert _same(results.read(tmp_path / "local" / explore.STORE)[1], results.read(tmp_path / "dask" / explore.STORE)[1])


def test_whole_accelerator_luts_follow_the_folding(tmp_path):
    """LUTs (accel.) = Σ pe·simd over the layers × LUTs per lane, pe and simd cut to divisors."""
    assert explore.folding(nn.digits_mlp(), (3, 5)) == {"dense0": (2, 4), "dense2": (2, 4), "dense4": (2, 4)}
    assert explore.folding(nn.digits_mlp(), (1, 1)) == {"dense0": (1, 1), "dense2": (1, 1), "dense4": (1, 1)}
    assert explore.folding(nn.digits_mlp(), (64, 64)) == {"dense0": (64, 64), "dense2": (32, 64),
                                                         "dense4": (10, 32)}
    for fold, lanes in (((2, 8), 16 + 16 + 16), ((3, 5), 8 + 8 + 8)):
        out = tmp_path / f"f{fold[0]}"
        argv = _SMALL_ARGV if fold == explore.DEFAULT_FOLD else _SMALL_ARGV + ["--fold", f"{fold[0]},{fold[1]}"]
        assert main(["explore", "--out", str(out)] + argv) == 0
        rows = json.loads((out / "points.json").read_text())
        priced = [r for r in rows if not math.isnan(r["luts"])]
        assert priced and all(r["acc_luts"] == lanes * r["luts"] for r in priced)
        assert f"{lanes} MAC lanes × LUTs per lane" in (out / "summary.md").read_text()
        assert "LUTs (accel.)" in (out / "index.html").read_text()


@pytest.mark.slow
def test_verify_full_checks_each_buildable_front_accelerator_and_names_the_others(tmp_path, monkeypatch):
    from numfmt.hw.accel import Accelerator
    from numfmt.hw.emit import verilog
    opts = dict(families=("int", "mx"), bits=(4,), modes=("wa",), methods=("rtn",), synth=False,
                verify="full", images=5, workers=1, vectors=500)
    # the generator builds MX networks too, but at this folding its Verilator build takes long:
    # the mxfp4 point stands for a network the generator refuses (its message is reported)
    real_accelerator = explore._accelerator
    def refuse_mx(wl, p, fold):
        if p.weight == "mxfp4":
            raise ValueError("node 'dense0': refused by this test")
        return real_accelerator(wl, p, fold)
    monkeypatch.setattr(explore, "_accelerator", refuse_mx)
    res = explore.explore(explore.Options(out=str(tmp_path / "ok"), **opts))
    rows = {r["weight"]: r for r, f in zip(res.records, res.front) if f}
    assert set(rows) == {"int4", "mxfp4"}
    for name, r in rows.items():
        report = json.loads((tmp_path / "ok" / r["accel_verification"]).read_text())
        if name == "int4":                     # the generator builds integer W=A points
            assert r["accel_verified"] == "yes, 5 images" and report["passed"] and report["images"] == 5
            assert report["cycles_per_image"]["measured"] == [report["cycles_per_image"]["model"]]
            wl = explore._workload(explore.Options())
            q = nn.quantize(wl.graph, sweep.Point("int4", "int4").qconfig(), wl.x_fit)
            acc = Accelerator(q, explore.folding(wl.graph))
            assert (tmp_path / "ok" / r["accel_verilog"]).read_text() == verilog(acc)
        else:                                  # and says why it cannot build the others
            assert r["accel_verified"] == "cannot build: node 'dense0': refused by this test"
            assert not report["built"] and "accel_verilog" not in r
    html = (tmp_path / "ok" / "index.html").read_text()
    assert "yes, 5 images" in html and "cannot build: " in html
    # a model that differs from the RTL in one logit is caught
    real = Accelerator.model
    def off_by_one(self, inputs):
        out = real(self, inputs)
        out["y3"] = out["y3"] ^ 1
        return out
    monkeypatch.setattr(Accelerator, "model", off_by_one)
    bad = explore.explore(explore.Options(out=str(tmp_path / "bad"), **opts))
    row = next(r for r, f in zip(bad.records, bad.front) if f and r["weight"] == "int4")
    assert row["accel_verified"].startswith("MISMATCH: ")


@pytest.mark.parametrize("model", [pytest.param("cnn", marks=pytest.mark.sweep),    # the CNN's build is long
                                   pytest.param("onnx", marks=pytest.mark.slow)])
def test_verify_full_on_the_cnn_and_on_an_onnx_model(model, tmp_path):
    """--verify full builds and checks the whole accelerator of the embedded CNN (Conv2d,
    pools, Flatten, Dense) and of a float ONNX model quantized by the grid."""
    path = model
    if model == "onnx":
        path = str(tmp_path / "gemm.onnx")
        _gemm_onnx(path, 64)
    res = explore.explore(explore.Options(model=path, families=("int",), bits=(8,), modes=("wa",),
                                          methods=("rtn",), synth=False, verify="full", images=3, workers=1,
                                          vectors=200, out=str(tmp_path / "out")))
    (row,) = [r for r, f in zip(res.records, res.front) if f]
    assert row["accel_verified"] == "yes, 3 images", row["accel_verified"]
    report = json.loads((tmp_path / "out" / row["accel_verification"]).read_text())
    assert report["passed"] and report["cycles_per_image"]["measured"] == [report["cycles_per_image"]["model"]]


@pytest.mark.slow
def test_a_target_without_calibration_is_priced_by_yosys_for_that_target(tmp_path):
    from numfmt.hw.cost import synth
    assert not explore.calibrated("ice40")
    res = explore.explore(explore.Options(out=str(tmp_path / "out"), families=("int",), bits=(4,), modes=("wa",),
                                          methods=("rtn",), verify="none", workers=1, target="ice40"))
    [row] = res.records
    unit, _ = explore.unit_of("int4", "wa", 64)
    want = synth.synthesize(unit, target="ice40", options=(), place=False)
    assert row["cost_source"] == "yosys" and row["luts"] == want.luts and row["synth_luts"] == want.luts
    assert row["note"] == ""
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "the cost model has no ice40 calibration, so every unit is priced by Yosys synthesis" in summary
    header, _ = results.read(tmp_path / "out" / explore.STORE)
    assert header["identity"]["cost"] == "ice40, LUTs per MAC lane, fan-in 64"


def test_mxint8_is_priced_by_the_blockdot_model_of_its_integer_codes():
    from numfmt.hw.cost import model
    unit, lanes = explore.unit_of("mxint8", "wa", 64)
    twin = explore._integer_twin(unit)
    mx = nf.parse("mxint8")
    assert twin.a_fmt == twin.b_fmt == nf.BlockFormat(element=nf.IntFormat(8), block=mx.block, scale=mx.scale)
    assert isinstance(unit.a_fmt.element, nf.FixedFormat) and unit.a_fmt.element.width == 8
    with pytest.raises(ValueError, match="BlockDot model's calibrated domain"):
        model.estimate(unit)
    [rec] = explore._cost_task((("mxint8", "wa"),), 64, False)
    assert rec["source"] == "model" and rec["luts"] == model.estimate(twin).luts / lanes == model.estimate(twin).luts / 32
    assert rec["unit"] == unit.name and rec["note"].startswith("priced as the BlockDot of int8 elements")
    assert explore._integer_twin(explore.unit_of("mxfp4", "wa", 64)[0]) is None
    assert explore._integer_twin(explore.unit_of("int8", "wa", 64)[0]) is None


@pytest.mark.parametrize("fold", [(0, 8), (2,), "2,8", (2.0, 8), (True, 8)])
def test_folding_refuses_a_bad_fold(fold):
    with pytest.raises(ValueError, match=r"fold must be two integers ≥ 1 \(pe, simd\), not "):
        explore.folding(nn.digits_mlp(), fold)
