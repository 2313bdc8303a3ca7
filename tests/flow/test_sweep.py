"""flow.sweep and ``numfmt sweep``: the grid, the records, resuming, and the expected accuracies."""

from __future__ import annotations

import csv
import io
import math
import os

import numpy as np
import pytest

from numfmt import nn
from numfmt.flow import results, sweep
from numfmt.flow.cli import main

pytest.importorskip("sklearn")


def test_points_grid_counts_every_family_and_split():
    pts = sweep.points(bits=range(3, 9), modes=("w", "wa"), methods=("rtn",))
    by_family = {}
    for p in pts:
        by_family.setdefault(p.family, set()).add(p.weight)
    assert len(by_family["int"]) == 6 and len(by_family["fixed"]) == 6
    assert len(by_family["minifloat"]) == sum(n - 1 for n in range(3, 9))     # every e/m split
    assert by_family["mx"] == {"mxfp4", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp8_e4m3", "mxfp8_e5m2",
                               "mxint8"}
    assert len(pts) == 2 * (6 + 6 + 27 + 6) >= 90
    assert len(sweep.points(methods=("rtn", "gptq"))) >= 100


def test_points_errors():
    with pytest.raises(ValueError, match=r"families must be one of .*not 'posit'"):
        sweep.points(families=("posit",))
    with pytest.raises(ValueError, match=r"modes must be one of 'w', 'wa', not 'a'"):
        sweep.points(modes=("a",))
    with pytest.raises(ValueError, match=r"bits must be integers in 2..16, not 1"):
        sweep.points(bits=(1,))
    with pytest.raises(ValueError, match=r"acc must be one of .*not 'int7'"):
        sweep.Point("int8", acc="int7")


@pytest.mark.parametrize("kwargs, match", [
    ({"methods": ("gtpq",)}, r"^methods must be one of 'rtn', 'gptq', 'adaround', not 'gtpq'$"),
    ({"granularity": "chanel"}, r"^granularity must be 'tensor', 'channel' or an integer group size ≥ 1, "
                                r"not 'chanel'$"),
    ({"granularity": 0}, r"^granularity must be .* not 0$"),
    ({"calib": "mean"}, r"^calib must be one of 'minmax', 'percentile', 'mse', not 'mean'$"),
    ({"act_scale": "log"}, r"^act_scale must be one of 'float', 'pow2', 'none', not 'log'$"),
    ({"acc": "int7"}, r"^acc must be one of 'exact', 'fp32', 'fp16', 'bf16', not 'int7'$"),
])
def test_points_reject_every_unknown_option_by_name(kwargs, match):
    with pytest.raises(sweep.OptionError, match=match) as exc:
        sweep.points(families=("int",), bits=(4,), **kwargs)
    assert exc.value.option == next(iter(kwargs))


def test_points_take_integer_group_sizes_and_calibration():
    p, = sweep.points(families=("mx",), bits=(4,), modes=("w",), granularity=16, calib="mse", act_scale="pow2")
    assert (p.granularity, p.calib, p.act_scale) == (16, "mse", "pow2")
    cfg = p.qconfig()
    assert (cfg.granularity, cfg.calib, cfg.act_scale) == (16, "mse", "pow2")
    assert p.key == ("mxfp4", "", "exact", "rtn", "16", "mse", "pow2")


@pytest.fixture(scope="module")
def small_records(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "s.jsonl"
    pts = sweep.points(families=("int", "minifloat"), bits=(8,), modes=("wa",))
    pts = [p for p in pts if p.weight in ("int8", "fp8_e4m3")]
    return path, pts, sweep.run(pts, "mlp", store=path)


def test_eight_bit_int_and_minifloat_within_one_point_of_float(small_records):
    _, _, records = small_records
    assert {r["weight"] for r in records} == {"int8", "fp8_e4m3"}
    for r in records:
        assert r["float_accuracy"] > 0.9
        assert r["delta"] >= -0.01, r


def test_store_is_written_per_point_and_resume_skips_done_points(small_records):
    path, pts, records = small_records
    back = sweep.load_records(path)
    assert [(r["weight"], r["accuracy"]) for r in back] == [(r["weight"], r["accuracy"]) for r in records]
    calls = []
    again = sweep.run(pts, "mlp", store=path, resume=True, progress=lambda *a: calls.append(a))
    assert calls == [(0, 0, None)] and again == records


def test_csv_is_derived_from_the_records(small_records, tmp_path):
    _, _, records = small_records
    sweep.write_csv(records, tmp_path / "s.csv")
    with open(tmp_path / "s.csv", newline="") as f:
        assert next(csv.reader(f)) == list(sweep.RECORD_FIELDS)
    assert sweep.load_records(tmp_path / "s.csv") == records


@pytest.mark.parametrize("model, weights", [pytest.param("cnn", ("int3", "int4", "fp4_e2m1"), marks=pytest.mark.slow),
                                            ("mlp", ("int3", "fp3_e1m1"))])
def test_gptq_beats_rtn_for_3_and_4_bit_weights(model, weights):
    """Per-channel weight-only quantization, fixed seeds. (The MLP at 4 bits per channel is
    the exception: RTN already scores within one test image of float there, and GPTQ ties
    it to within one image — docs/digits_accuracy.md shows it.)"""
    pts = [sweep.Point(w, None, method=m) for w in weights for m in ("rtn", "gptq")]
    records = sweep.run(pts, model)
    for rtn, gptq in zip(records[::2], records[1::2]):
        assert gptq["accuracy"] > rtn["accuracy"], (rtn["weight"], rtn["accuracy"], gptq["accuracy"])


def test_cli_sweep_writes_table_csv_and_png(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["sweep", "--families", "int", "--bits", "4,8", "--modes", "wa", "--methods", "rtn",
               "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "int4" in text and "int8" in text and "accuracy" in text
    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["weight"] for r in rows] == ["int4", "int8"]
    with open(out / "sweep.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, start, choices", [
    (["--methods", "bogus"], "--methods: methods must be one of", "'rtn', 'gptq', 'adaround', not 'bogus'"),
    (["--methods", "rtn,gtpq"], "--methods: methods must be one of", "not 'gtpq'"),
    (["--granularity", "chanel"], "--granularity: granularity must be", "'tensor', 'channel' or an integer"),
    (["--granularity", "7"], "--granularity: granularity (group size) 7", "must divide the 64 inputs"),
    (["--calib", "mean"], "--calib: calib must be one of", "'minmax', 'percentile', 'mse', not 'mean'"),
    (["--act-scale", "log"], "--act-scale: act_scale must be one of", "'float', 'pow2', 'none', not 'log'"),
    (["--families", "posit"], "--families: families must be one of", "'int', 'minifloat', 'fixed', 'mx'"),
    (["--modes", "a"], "--modes: modes must be one of", "'w', 'wa', not 'a'"),
    (["--acc", "int7"], "--acc: acc must be one of", "'exact', 'fp32', 'fp16', 'bf16', not 'int7'"),
    (["--bits", "1"], "--bits: bits must be", "not 1"),
    (["--bits", "3-x"], "--bits: bits must look like", "not '3-x'"),
    (["--methods", ","], "--methods: methods must not be empty", ""),
])
def test_cli_sweep_bad_options_exit_2_naming_the_option_and_keep_earlier_results(argv, start, choices, tmp_path,
                                                                                   capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("sweep.csv", "sweep.jsonl"):
        (out / name).write_text("earlier results\n")
    evaluated = []
    monkeypatch.setattr(sweep, "_evaluate", lambda *a: evaluated.append(a))
    assert main(["sweep", "--out", str(out), "--quiet", "--families", "int", "--bits", "4"] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numfmt sweep: " + start) and choices in err, err
    assert evaluated == [] and sorted(os.listdir(out)) == ["sweep.csv", "sweep.jsonl"]
    assert all((out / name).read_text() == "earlier results\n" for name in ("sweep.csv", "sweep.jsonl"))


def test_cli_sweep_bad_data(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    assert main(["sweep", "--data", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "numfmt sweep: --data: missing arrays ['x_calib', 'x_test', 'y_test'] (it needs x_calib, " \
                  "x_test and y_test)\n"
    wrong = tmp_path / "wrong.npz"
    x_train, _, x_test, y_test = nn.digits_data()
    np.savez(wrong, x_calib=x_train[:, :13], x_test=x_test, y_test=y_test)
    assert main(["sweep", "--data", str(wrong), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numfmt sweep: --data: x_calib must have shape (N, 64)"), err
    assert sorted(os.listdir(tmp_path)) == ["bad.npz", "wrong.npz"]


_SMALL = ["--families", "int", "--bits", "4,6,8", "--modes", "wa", "--methods", "rtn"]


def test_cli_sweep_rerun_refuses_to_replace_results_and_says_how_to_continue(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--out", str(out), "--quiet"] + _SMALL) == 0
    capsys.readouterr()
    files = {name: (out / name).read_bytes() for name in os.listdir(out)}
    assert main(["sweep", "--out", str(out), "--quiet"] + _SMALL) == 2
    err = capsys.readouterr().err
    assert err == (f"numfmt sweep: {out / 'sweep.jsonl'} already holds 3 results of this sweep; --resume "
                   "continues it, --overwrite discards them, or choose another --out\n")
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == files
    assert main(["sweep", "--out", str(out), "--quiet", "--bits", "4"] + _SMALL[:2] + _SMALL[4:]) == 2
    err = capsys.readouterr().err
    assert err == (f"numfmt sweep: {out / 'sweep.jsonl'} holds results of a different sweep (different points); "
                   "choose another --out, or --overwrite to discard them\n")
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == files
    assert main(["sweep", "--out", str(out), "--quiet", "--resume"] + _SMALL) == 0
    assert "int6" in capsys.readouterr().out
    assert main(["sweep", "--out", str(out), "--quiet", "--overwrite", "--bits", "4"] + _SMALL[:2] + _SMALL[4:]) == 0
    assert [r["weight"] for r in sweep.load_records(out / "sweep.csv")] == ["int4"]


def test_cli_sweep_refuses_a_csv_of_an_older_sweep_without_its_store(tmp_path, capsys):
    (tmp_path / "sweep.csv").write_text("model,family\n")
    assert main(["sweep", "--out", str(tmp_path), "--quiet"] + _SMALL) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"numfmt sweep: {tmp_path / 'sweep.csv'} holds results without a results store") \
        and "--overwrite" in err
    assert (tmp_path / "sweep.csv").read_text() == "model,family\n"


def test_cli_sweep_interrupted_keeps_points_and_says_how_to_continue(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    evaluate = sweep._evaluate
    calls = []

    def interrupt_second(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*args)

    monkeypatch.setattr(sweep, "_evaluate", interrupt_second)
    assert main(["sweep", "--out", str(out), "--quiet"] + _SMALL) == 130
    err = capsys.readouterr().err
    assert err.endswith(f"numfmt sweep: interrupted; 1 of 3 points finished, kept in {out / 'sweep.jsonl'} and "
                        f"{out / 'sweep.csv'}; the same command with --resume continues\n"), err
    assert [r["weight"] for r in sweep.load_records(out / "sweep.csv")] == ["int4"]
    monkeypatch.setattr(sweep, "_evaluate", evaluate)
    assert main(["sweep", "--out", str(out), "--quiet", "--resume"] + _SMALL) == 0
    assert [r["weight"] for r in sweep.load_records(out / "sweep.csv")] == ["int4", "int6", "int8"]


def test_cli_sweep_granularity_and_calibration(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--out", str(out), "--quiet", "--families", "int,mx", "--bits", "8", "--modes", "w",
                 "--methods", "rtn", "--granularity", "16", "--calib", "percentile", "--act-scale", "pow2"]) == 0
    capsys.readouterr()
    recs = {r["weight"]: r for r in sweep.load_records(out / "sweep.csv")}
    assert {(r["granularity"], r["calib"], r["act_scale"]) for r in recs.values()} == {("16", "percentile", "pow2")}
    graph = nn.digits_mlp()
    x_train, _, x_test, y_test = nn.digits_data()
    cfg = nn.QConfig(weight="mxint8", act=sweep.W_ONLY_ACT, granularity=16, calib="percentile", act_scale="pow2")
    assert recs["mxint8"]["accuracy"] == nn.accuracy(nn.quantize(graph, cfg, x_train), x_test, y_test)


def test_cli_progress_starts_before_the_model_and_prints_lines_when_not_a_tty(tmp_path, capsys, monkeypatch):
    workload = sweep._workload
    seen_before = []

    def spy(*args):
        seen_before.append(capsys.readouterr().err)
        return workload(*args)

    monkeypatch.setattr(sweep, "_workload", spy)
    assert main(["sweep", "--out", str(tmp_path)] + _SMALL) == 0       # capsys: stderr is not a TTY
    assert seen_before == ["numfmt sweep: preparing the model and data (the first run trains the digits "
                           "networks)\n"]
    lines = capsys.readouterr().err.splitlines()
    assert "\r" not in "".join(lines) and len(lines) == 4
    assert lines[0] == "numfmt sweep: 3 points to run"
    assert lines[1].startswith("[1/3] int4/int4 rtn ") and lines[3].startswith("[3/3] int8/int8 rtn ")
    assert all("% " in line and "ETA" in line for line in lines[1:])


def test_cli_progress_bar_on_a_tty_uses_tqdm(monkeypatch):
    from numfmt.flow import cli

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = cli._Progress(stream)
    bar(0, 2, None)
    bar(1, 2, {"weight": "int4", "act": "int4", "method": "rtn", "accuracy": 0.5})
    bar(2, 2, {"weight": "int8", "act": "int8", "method": "rtn", "accuracy": math.nan})
    bar.close()
    text = stream.getvalue()
    assert "\r" in text and "2/2" in text and "int8/int8 rtn n/a" in text


def _mlp_as_onnx(path):
    """The digits MLP written as a float64 ONNX model (Gemm + Relu)."""
    import numpy as np
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from numfmt import nn
    nodes, inits, prev = [], [], "x"
    for node in nn.digits_mlp().nodes:
        layer = node.layer
        if isinstance(layer, nn.Dense):
            inits += [numpy_helper.from_array(layer.weight, f"{node.name}_w"),
                      numpy_helper.from_array(np.asarray(layer.bias), f"{node.name}_b")]
            nodes.append(helper.make_node("Gemm", [prev, f"{node.name}_w", f"{node.name}_b"],
                                          [node.name], name=node.name, transB=1))
        else:
            nodes.append(helper.make_node("Relu", [prev], [node.name], name=node.name))
        prev = node.name
    graph = helper.make_graph(nodes, "digits_mlp",
                              [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 64])],
                              [helper.make_tensor_value_info(prev, TensorProto.DOUBLE, ["N", 10])],
                              initializer=inits)
    model = helper.make_model(graph)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_cli_sweep_on_an_onnx_model_matches_the_embedded_one(tmp_path, capsys):
    path = str(tmp_path / "digits_mlp.onnx")
    _mlp_as_onnx(path)
    args = ["--families", "int", "--bits", "4", "--modes", "wa", "--methods", "rtn", "--quiet"]
    assert main(["sweep", "--model", path, "--out", str(tmp_path / "a")] + args) == 0
    assert main(["sweep", "--out", str(tmp_path / "b")] + args) == 0
    capsys.readouterr()
    a, = sweep.load_records(tmp_path / "a" / "sweep.csv")
    b, = sweep.load_records(tmp_path / "b" / "sweep.jsonl")
    assert a["model"] == "digits_mlp.onnx" and b["model"] == "mlp"
    assert (a["accuracy"], a["float_accuracy"]) == (b["accuracy"], b["float_accuracy"])


def test_an_interrupted_sweep_keeps_its_finished_points(tmp_path):
    path = tmp_path / "s.jsonl"
    pts = sweep.points(families=("int",), bits=(4, 6, 8), modes=("wa",))

    def interrupt_after_two(done, total, rec):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run(pts, "mlp", store=path, progress=interrupt_after_two)
    assert [r["weight"] for r in sweep.load_records(path)] == ["int4", "int6"]
    seen = []
    records = sweep.run(pts, "mlp", store=path, resume=True,
                        progress=lambda d, t, r: seen.append(r and r["weight"]))
    assert seen == [None, "int8"] and [r["weight"] for r in records] == ["int4", "int6", "int8"]
    assert [r["weight"] for r in sweep.load_records(path)] == ["int4", "int6", "int8"]


# -- a tiny workload, so that a sweep takes milliseconds -------------------------------------------
def _tiny(seed=1, features=4):
    rng = np.random.default_rng(seed)
    g = nn.Graph.sequential([nn.Dense(rng.standard_normal((6, features)), 0.1 * rng.standard_normal(6)),
                             nn.ReLU(), nn.Dense(rng.standard_normal((3, 6)))], input_shape=(features,))
    x = rng.standard_normal((40, features))
    y = g.predict(x)
    y[::7] = (y[::7] + 1) % 3                       # float accuracy below 1
    return g, (x[:20], x[20:], y[20:])


TINY_POINTS = sweep.points(families=("int",), bits=(3, 4, 8), modes=("wa",))


def _without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.mark.parametrize("stride", [pytest.param(1, marks=pytest.mark.slow), 23])
def test_every_torn_result_file_resumes_to_the_full_result_set(stride, tmp_path, monkeypatch):
    """Cut the results file at every byte of its header and of its last record (a crash mid-write),
    resume: the torn line is dropped, only the lost points run again, and the result set is complete
    and equal to an uninterrupted run's. (Every ``stride``-th byte and the last two of each line
    by default; every byte under ``-m slow``; no fsync: this is about the file's content.)"""
    monkeypatch.setattr(results.os, "fsync", lambda fd: None)
    graph, data = _tiny()
    path = tmp_path / "s.jsonl"
    full = sweep.run(TINY_POINTS, graph, data=data, store=path)
    assert [r["weight"] for r in full] == ["int3", "int4", "int8"]
    content = path.read_bytes()
    ends = [i + 1 for i, b in enumerate(content) if b == ord("\n")]
    assert len(ends) == 1 + len(full)
    cuts = sorted({*range(0, ends[0], stride), ends[0] - 2, ends[0] - 1,
                   *range(ends[-2], ends[-1], stride), ends[-1] - 2, ends[-1] - 1})
    for cut in cuts:
        path.write_bytes(content[:cut])
        ran = []
        again = sweep.run(TINY_POINTS, graph, data=data, store=path, resume=True,
                          progress=lambda d, t, r: r and ran.append(r["weight"]))
        assert ran == (["int3", "int4", "int8"] if cut < ends[0] else ["int8"]), cut
        assert _without_seconds(again) == _without_seconds(full), cut
        assert _without_seconds(sweep.load_records(path)) == _without_seconds(full), cut


def test_a_result_file_of_another_model_or_data_is_refused(tmp_path):
    graph, data = _tiny()
    path = tmp_path / "s.jsonl"
    sweep.run(TINY_POINTS[:1], graph, data=data, store=path)
    before = path.read_bytes()
    other_graph, other_data = _tiny(seed=2)
    for kwargs, differs in [({"model": other_graph, "data": data}, r"model"),
                            ({"model": graph, "data": other_data}, r"data"),
                            ({"model": graph, "data": data, "pts": TINY_POINTS}, r"points")]:
        kwargs.setdefault("pts", TINY_POINTS[:1])
        with pytest.raises(results.ForeignResults, match=rf"a different sweep \(different {differs}\)"):
            sweep.run(store=path, resume=True, **kwargs)
    assert path.read_bytes() == before
    with pytest.raises(results.ResultsExist):
        sweep.run(TINY_POINTS[:1], graph, data=data, store=path)
    assert path.read_bytes() == before


def test_data_of_the_wrong_shape_is_refused_before_the_first_point(tmp_path):
    graph, (x_calib, x_test, y_test) = _tiny()
    ran = []
    for data, match in [((x_calib[:, :3], x_test, y_test), r"x_calib must have shape \(N, 4\)"),
                        ((x_calib, x_test[:, :3], y_test), r"x_test must have shape \(N, 4\)"),
                        ((x_calib, x_test, y_test[:5]), r"y_test must have shape \(20,\)"),
                        ((x_calib, x_test, y_test + 0.5), r"y_test must hold integer class labels")]:
        with pytest.raises(sweep.OptionError, match=match) as exc:
            sweep.run(TINY_POINTS, graph, data=data, store=tmp_path / "s.jsonl", progress=lambda *a: ran.append(a))
        assert exc.value.option == "data"
    with pytest.raises(sweep.OptionError, match=r"granularity \(group size\) 4 must divide the 6 inputs of "
                                                r"node 'dense2'") as exc:
        sweep.run(sweep.points(families=("mx",), bits=(8,), modes=("w",), granularity=4), graph,
                  data=(x_calib, x_test, y_test))
    assert exc.value.option == "granularity"
    assert ran == [] and not os.path.exists(tmp_path / "s.jsonl")


def test_integer_group_sizes_run(tmp_path):
    pts = [sweep.Point("mxint8", None, granularity=16), sweep.Point("int8", None, granularity=16)]
    mx, scalar = sweep.run(pts, "mlp")
    assert mx["granularity"] == "16" and mx["accuracy"] > 0.9 and mx["note"] == ""
    assert math.isnan(scalar["accuracy"]) and "not powers of two apart" in scalar["note"]


def test_calibration_reaches_the_quantizer():
    graph, data = _tiny()
    for calib in ("minmax", "mse"):
        rec, = sweep.run([sweep.Point("int3", "int3", calib=calib, act_scale="pow2")], graph, data=data)
        cfg = nn.QConfig(weight="int3", act="int3", calib=calib, act_scale="pow2")
        assert (rec["calib"], rec["act_scale"]) == (calib, "pow2")
        assert rec["accuracy"] == nn.accuracy(nn.quantize(graph, cfg, data[0]), data[1], data[2])


def _docs():
    import importlib.util
    import pathlib
    docs = pathlib.Path(__file__).resolve().parents[2] / "docs"
    spec = importlib.util.spec_from_file_location("make_digits_table", docs / "make_digits_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return docs, script, sweep.load_records(docs / "digits_accuracy.csv")


def test_docs_digits_table_is_the_scripts_rendering_of_its_csv():
    docs, script, records = _docs()
    assert script.render(records, ["rtn", "gptq", "adaround"]) == (docs / "digits_accuracy.md").read_text()


def _regenerate(records, keep):
    """Run the sweep again at the CSV's points that ``keep`` selects; both record lists, CSV order."""
    old = [r for r in records if keep(r)]
    new = []
    for model in dict.fromkeys(r["model"] for r in old):
        pts = [sweep.Point(r["weight"], None if r["mode"] == "w" else r["act"], r["acc"], r["method"],
                           r["granularity"]) for r in old if r["model"] == model]
        new += sweep.run(pts, model)
    return old, new


#: AdaRound learns its rounding by gradient descent in float64 NumPy (exp, BLAS), whose last bits
#: differ between CPUs and BLAS thread counts (NumPy's and OpenBLAS' SIMD dispatch; the same
#: versions gave the MLP's int3 W=A 83.33 % on the machine that wrote the CSV and 83.06 % on an
#: AMD EPYC, one image; the CNN's int3 W=A 45.28 % and 41.11 %, 15 images: at 3 bits the descent
#: ends in other roundings). Its accuracy is compared within 5 % of the test split (18 images).
#: Every other method is deterministic and compared exactly.
_ADAROUND_IMAGES = 18


def _same_results(old, new):
    n_test = len(nn.digits_data()[3])              # the CSV's rows are digits models
    for a, b in zip(old, new, strict=True):
        assert (a["weight"], a["act"], a["method"]) == (b["weight"], b["act"], b["method"])
        assert a["float_accuracy"] == b["float_accuracy"]
        if math.isnan(a["accuracy"]) or math.isnan(b["accuracy"]):
            assert math.isnan(a["accuracy"]) and math.isnan(b["accuracy"]), (a, b)
        elif a["method"] == "adaround":
            assert abs(a["accuracy"] - b["accuracy"]) * n_test <= _ADAROUND_IMAGES + 1e-9, (a, b)
        else:
            assert a["accuracy"] == b["accuracy"], (a, b)
        assert a["note"] == b["note"]


def test_docs_digits_csv_regenerates_at_sample_points():
    """The CSV is not its own reference: a sample of its MLP rows (every method and mode at
    int3, W=A RTN at 3 and 8 bits, among them fp8_e5m2 on the wide requantizer) is run again
    here; the slow test below runs every row."""
    _, _, records = _docs()
    old, new = _regenerate(records, lambda r: r["model"] == "mlp" and (
        r["weight"] == "int3"
        or (r["method"] == "rtn" and r["mode"] == "wa" and r["weight"] in ("fp3_e2m0", "int8", "fp8_e4m3",
                                                                            "fp8_e5m2"))))
    assert len(old) == 10 and not any(math.isnan(r["accuracy"]) for r in old)
    e5m2, = [r for r in old if r["weight"] == "fp8_e5m2"]
    assert e5m2["act"] == "fp8_e5m2" and e5m2["accuracy"] > 0.9 and e5m2["note"] == ""
    _same_results(old, new)
    eight = [r for r in new if r["bits"] == 8 and r["weight"] in ("int8", "fp8_e4m3")]
    assert len(eight) == 2 and all(r["delta"] >= -0.01 for r in eight)


@pytest.mark.slow
def test_docs_digits_csv_regenerates_every_eighth_row():
    _, _, records = _docs()
    index = {id(r): i for i, r in enumerate(records)}
    _same_results(*_regenerate(records, lambda r: index[id(r)] % 8 == 3))


@pytest.mark.sweep
def test_docs_digits_csv_regenerates_in_full():
    """Every row (about 12 minutes on 2 busy cores): with the long suite, not in CI."""
    _, _, records = _docs()
    _same_results(*_regenerate(records, lambda r: True))
