"""flow.cost and ``numfmt cost``: unit specs, design files, and the figures printed beside
the tools' own."""
import json

import pytest

import numfmt as nf
from numfmt.flow import cost
from numfmt.flow.cli import main
from numfmt.hw import cost as hw_cost


@pytest.mark.parametrize("spec, cls", [
    (cost.UnitSpec("floatmul", ("e4m3fn",)), "FloatMul"),
    (cost.UnitSpec("floatmul", ("e4m3fn", "e5m2", "bf16"), {"rounding": "rtz", "stages": 2}), "FloatMul"),
    (cost.UnitSpec("intmac", ("int8", "int8"), {"acc_width": 24, "overflow": "sat"}), "IntMac"),
    (cost.UnitSpec("kulischmac", ("e4m3fn", "e2m1fn"), {"n": 64}), "FloatKulischMac"),
    (cost.UnitSpec("fixedmac", ("ap_fixed<6,2>", "ap_fixed<6,2>", "ap_fixed<16,8>"), {"n": 8}), "FixedMac"),
    (cost.UnitSpec("convert", ("fp16", "e4m3fn"), {"rounding": "rne"}), "Convert"),
    (cost.UnitSpec("bitserial", ("int4", "int4"), {"n": 8, "serial": "both"}), "BitSerialDot"),
    (cost.UnitSpec("lutdot", ("int2", "int8"), {"n": 8, "g": 4}), "LutDot"),
    (cost.UnitSpec("blockdot", ("mxfp4", "mxfp8_e4m3"), {"stages": 2}), "BlockDot"),
    (cost.UnitSpec("requant", ("uint4",), {"acc_width": 16, "multiplier": [3, 5], "shift": [9, 8],
                                           "rounding": "rne", "zero_point": 2, "stages": 0}), "Requantizer"),
])
def test_specs_build_their_units(spec, cls):
    unit = spec.build()
    assert type(unit).__name__ == cls
    first = next(getattr(unit, a) for a in ("w_fmt", "a_fmt", "in_fmt", "out_fmt") if hasattr(unit, a))
    assert first == nf.parse(spec.formats[0])            # the formats given reach the unit


def test_parameters_reach_the_unit():
    unit = cost.UnitSpec("intmac", ("int4", "uint4"), {"acc_width": 13, "overflow": "sat", "stages": 2}).build()
    assert (unit.register.width, str(unit.register.overflow), unit.stages) == (13, "sat", 2)
    assert cost.UnitSpec("convert", ("e4m3fn", "e2m1fn")).build().impl == "table"
    assert cost.UnitSpec("convert", ("e4m3fn", "e2m1fn"), {"impl": "datapath"}).build().impl == "datapath"


def test_cli_impl_and_multiply_reach_the_unit(capsys):
    """``--impl``, ``--multiply``, ``--saturate``: a narrow datapath converter, a requantizer
    with Yosys's own multiplier and one saturating on the accumulator are outside their
    models, which say so."""
    assert main(["cost", "convert", "e4m3fn", "e2m1fn", "--nodsp", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    est = hw_cost.estimate(cost.UnitSpec("convert", ("e4m3fn", "e2m1fn")).build(), target="xilinx",
                           options=("-nodsp",))
    assert row["model"] == _figures(est)
    assert main(["cost", "convert", "e4m3fn", "e2m1fn", "--impl", "datapath", "--nodsp"]) == 0
    assert "unit.impl must be 'table' for an input of 8 bits" in capsys.readouterr().out
    assert main(["cost", "requant", "int8", "--acc-width", "16", "--multiplier", "205", "--shift", "11",
                 "--multiply", "operator", "--nodsp"]) == 0
    assert "unit.multiply must be 'shift_add'" in capsys.readouterr().out
    assert main(["cost", "requant", "uint4", "--acc-width", "16", "--multiplier", "205", "--shift", "11",
                 "--saturate", "accumulator", "--nodsp"]) == 0
    assert "unit.saturate must be 'result'" in capsys.readouterr().out
    unit = cost.UnitSpec("requant", ("uint4",), {"acc_width": 16, "multiplier": 205, "shift": 11,
                                                 "saturate": "accumulator"}).build()
    assert unit.parameters()["saturate"] == "accumulator"


@pytest.mark.parametrize("spec, message", [
    (cost.UnitSpec("adder", ("int8",)), "unit kind must be one of floatmul, intmac, .*, not 'adder'"),
    (cost.UnitSpec("intmac", ("int8",), {"acc_width": 8}), r"intmac takes formats A B --acc-width W, not 1 format"),
    (cost.UnitSpec("intmac", ("int8", "int8")), "intmac needs 'acc_width'"),
    (cost.UnitSpec("floatmul", ("e4m3fn",), {"g": 2}), "floatmul takes no 'g'"),
    (cost.UnitSpec("floatmul", ("e4m3xx",)), "e4m3xx"),
    (cost.UnitSpec("blockdot", ("e4m3fn",)), "blockdot takes block formats .*, not e4m3fn"),
    (cost.UnitSpec("requant", ("e4m3fn",), {"acc_width": 16, "multiplier": 3, "shift": 9}),
     "requant takes an integer output format .*, not e4m3fn"),
    (cost.UnitSpec("requant", ("int8",), {"acc_width": 16, "multiplier": 3}), "requant needs 'shift'"),
])
def test_spec_errors_name_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        spec.build()


def test_design_file(tmp_path):
    path = tmp_path / "design.toml"
    path.write_text('target = "ice40"\nnodsp = true\n[[unit]]\nkind = "floatmul"\nformats = ["e2m1fn"]\nstages = 2\n'
                    '[[unit]]\nkind = "intmac"\nformats = ["int4", "int4"]\nacc_width = 12\n')
    specs, defaults = cost.load_design(path)
    assert defaults == {"target": "ice40", "nodsp": True}
    assert specs == [cost.UnitSpec("floatmul", ("e2m1fn",), {"stages": 2}),
                     cost.UnitSpec("intmac", ("int4", "int4"), {"acc_width": 12})]


@pytest.mark.parametrize("text, message", [
    ("[[unit]]\nkind = 'floatmul'\nformats = [", "not valid TOML"),
    ("target = 'ice40'\n", "lists no \\[\\[unit\\]\\] tables"),
    ("clock = 100\n[[unit]]\nkind = 'floatmul'\nformats = ['e2m1fn']\n", "unknown key\\(s\\) clock"),
    ("[[unit]]\nformats = ['e2m1fn']\n", "unit 1 needs kind"),
])
def test_design_file_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        cost.load_design(path)
    with pytest.raises(ValueError, match="cannot be read"):
        cost.load_design(tmp_path / "missing.toml")


def test_cli_errors_come_before_any_tool_runs(capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a tool ran")
    monkeypatch.setattr(hw_cost, "synthesize_many", never)
    assert main(["cost", "floatmul", "e4m3fn", "--n", "3", "--synth"]) == 2
    assert "floatmul takes no 'n'" in capsys.readouterr().err
    assert main(["cost", "floatmul", "e4m3fn", "--target", "vivado", "--synth"]) == 2
    assert "target must be one of 'xilinx', 'ecp5', 'ice40', not 'vivado'" in capsys.readouterr().err
    assert main(["cost"]) == 2
    assert "give a unit kind and its formats" in capsys.readouterr().err


@pytest.mark.slow
def test_synth_figures_are_the_tools(capsys):
    assert main(["cost", "floatmul", "e2m1fn", "--target", "ice40", "--synth", "--json", "--quiet"]) == 0
    row, = json.loads(capsys.readouterr().out)
    from numfmt.hw.rtl import FloatMul
    import numfmt as nf
    res = hw_cost.synthesize(FloatMul(nf.parse("e2m1fn")), target="ice40")
    assert row["unit"] == FloatMul(nf.parse("e2m1fn")).name
    assert row["synth"] == {"luts": res.luts, "ffs": res.ffs, "dsps": res.dsps, "carry": res.carry,
                            "brams": res.brams, "fmax_mhz": None}


def _figures(est):
    return {"luts": est.luts, "ffs": est.ffs, "dsps": est.dsps, "carry": est.carry, "latency": est.latency,
            "family": est.family, "luts_error": {"median": est.luts_error_median, "worst": est.luts_error_worst}}


def test_model_row_is_the_estimate_or_says_why_there_is_none(capsys):
    assert main(["cost", "intmac", "int4", "int4", "--acc-width", "16", "--nodsp", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    unit = cost.UnitSpec("intmac", ("int4", "int4"), {"acc_width": 16}).build()
    est = hw_cost.estimate(unit, target="xilinx", options=("-nodsp",))
    assert row["model"] == _figures(est)
    assert main(["cost", "convert", "fp16", "e4m3fn", "--nodsp", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    est = hw_cost.estimate(cost.UnitSpec("convert", ("fp16", "e4m3fn"), {}).build(), target="xilinx",
                           options=("-nodsp",))
    assert row["model"] == _figures(est)
    assert main(["cost", "convert", "fp16", "int8", "--nodsp"]) == 0          # outside the Convert model
    assert "unit.out_fmt must be a signed float format" in capsys.readouterr().out
    assert main(["cost", "bitserial", "int4", "int4", "--n", "8", "--serial", "both", "--nodsp", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    est = hw_cost.estimate(cost.UnitSpec("bitserial", ("int4", "int4"), {"n": 8, "serial": "both"}).build(),
                           target="xilinx", options=("-nodsp",))
    assert row["model"] == _figures(est)
    assert main(["cost", "requant", "int8", "--acc-width", "24", "--multiplier", "205", "--shift", "11",
                 "--zero-point", "-3", "--nodsp", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    unit = cost.UnitSpec("requant", ("int8",), {"acc_width": 24, "multiplier": 205, "shift": 11,
                                                "zero_point": -3}).build()
    assert (unit.requantizer.zero_point, unit.acc_bits) == (-3, 24)
    est = hw_cost.estimate(unit, target="xilinx", options=("-nodsp",))
    assert row["model"] == _figures(est)
    assert main(["cost", "lutdot", "int2", "int8", "--n", "64", "--nodsp"]) == 0     # outside the LutDot model
    assert "unit.n must be at most 32" in capsys.readouterr().out
    assert main(["cost", "fixedmac", "ap_fixed<6,2>", "ap_fixed<6,2>", "ap_fixed<16,8>", "--n", "8",
                 "--nodsp"]) == 0                                                       # no model of the family
    assert "not FixedMac" in capsys.readouterr().out


def test_per_channel_requantizer_from_comma_lists(capsys):
    """``--multiplier``/``--shift`` take one value per channel; the model row is the
    per-channel model's; a malformed list is refused by argparse, naming the value."""
    assert main(["cost", "requant", "int8", "--acc-width", "20", "--multiplier", "205,180,241",
                 "--shift", "11,11,12", "--nodsp", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    unit = cost.UnitSpec("requant", ("int8",), {"acc_width": 20, "multiplier": [205, 180, 241],
                                                "shift": [11, 11, 12]}).build()
    assert unit.channels == 3
    est = hw_cost.estimate(unit, target="xilinx", options=("-nodsp",))
    assert est.family == "RequantizerPerChannel" and row["model"] == _figures(est)
    with pytest.raises(SystemExit):
        main(["cost", "requant", "int8", "--acc-width", "20", "--multiplier", "205,x"])
    assert "expected an integer or comma-separated integers, not '205,x'" in capsys.readouterr().err


def test_text_table_shows_the_models_latency(capsys):
    assert main(["cost", "intmac", "int4", "int4", "--acc-width", "16", "--stages", "3", "--nodsp"]) == 0
    header, _, model_row = capsys.readouterr().out.splitlines()[1:4]
    assert header.split() == ["LUT", "FF", "DSP", "carry", "latency", "Fmax", "MHz"]
    assert model_row.split()[0] == "model" and model_row.split()[5] == "4"      # 3 stages + the accumulator


def test_model_row_says_how_far_the_model_is_from_synthesis(capsys):
    """Beside each estimate, its family's held-out LUT error from the stored calibration
    (text and JSON); a unit outside every model has no such line."""
    est = hw_cost.estimate(cost.UnitSpec("requant", ("int8",), {"acc_width": 20, "multiplier": 300,
                                                                "shift": 12}).build(), options=("-nodsp",))
    argv = ["cost", "requant", "int8", "--acc-width", "20", "--multiplier", "300", "--shift", "12", "--nodsp"]
    assert main(argv) == 0
    line = capsys.readouterr().out.splitlines()[4]
    assert line.split() == ["model", "LUT", "error", "on", "held-out", "Requantizer", "units:", "median",
                            f"{100 * est.luts_error_median:.1f}", "%,", "worst", f"{100 * est.luts_error_worst:.1f}",
                            "%", "(docs/cost_model.md)"]
    assert est.luts_error_worst > 1                     # the Requantizer's model is far off on some units
    assert main(argv + ["--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    assert row["model"]["luts_error"] == {"median": est.luts_error_median, "worst": est.luts_error_worst}
    assert main(["cost", "convert", "fp16", "int8", "--nodsp"]) == 0
    assert "held-out" not in capsys.readouterr().out


def test_ecp5_model_row_uses_the_ecp5_calibration(capsys):
    """``--target ecp5 --nodsp``: the ECP5 coefficients (the per-channel Requantizer's too); a
    unit no model covers says so in its model row."""
    assert main(["cost", "kulischmac", "e4m3fn", "e4m3fn", "--n", "64", "--target", "ecp5", "--nodsp",
                 "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    unit = cost.UnitSpec("kulischmac", ("e4m3fn", "e4m3fn"), {"n": 64}).build()
    est = hw_cost.estimate(unit, target="ecp5", options=("-nodsp",))
    assert row["target"] == "ecp5" and row["options"] == ["-nodsp"]
    assert row["model"] == _figures(est)
    assert row["model"] != _figures(hw_cost.estimate(unit))
    assert main(["cost", "requant", "int8", "--acc-width", "12", "--multiplier", "3,5", "--shift", "2,1",
                 "--target", "ecp5", "--nodsp", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    unit = cost.UnitSpec("requant", ("int8",), {"acc_width": 12, "multiplier": [3, 5], "shift": [2, 1]}).build()
    est = hw_cost.estimate(unit, target="ecp5", options=("-nodsp",))
    assert est.family == "RequantizerPerChannel" and row["model"] == _figures(est)
    assert main(["cost", "fixedmac", "ap_fixed<8,3>", "ap_fixed<8,3>", "ap_fixed<16,6>", "--n", "64",
                 "--target", "ecp5", "--nodsp"]) == 0
    assert "unit must be one of the modelled families" in capsys.readouterr().out


def test_a_failing_tool_is_reported_without_a_traceback(capsys, monkeypatch):
    def fails(*args, **kwargs):
        raise hw_cost.SynthesisError("yosys failed: synth_xilinx ...\nERROR: out of memory", tool="yosys")
    monkeypatch.setattr(hw_cost, "synthesize_many", fails)
    assert main(["cost", "floatmul", "e2m1fn", "--synth", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("numfmt cost: yosys failed") and "ERROR: out of memory" in err and "Traceback" not in err
