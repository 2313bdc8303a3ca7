"""flow.cost and ``numfmt cost``: unit specs, design files, and the figures printed beside
the tools' own."""
import dataclasses
import json
import re

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
    (cost.UnitSpec("floataccmac", ("e4m3fn", "e5m2", "bf16"), {"rounding": "rtz"}), "FloatAccMac"),
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


@pytest.mark.parametrize("argv, message", [
    ("floatmul int8", "floatmul takes float formats (e.g. e4m3fn), not int8 (format A)"),
    ("floatmul e4m3fn e4m3fn int8", "floatmul takes float formats (e.g. e4m3fn), not int8 (format OUT)"),
    ("intmac e4m3fn int8 --acc-width 24", "intmac takes integer formats (e.g. int8, uint4), not e4m3fn (format A)"),
    ("kulischmac int8 int8 --n 16", "kulischmac takes float formats (e.g. e4m3fn), not int8 (format A)"),
    ("floataccmac e4m3fn e4m3fn int8", "floataccmac takes float formats (e.g. e4m3fn), not int8 (format ACC)"),
    ("fixedmac int8 int8 int16 --n 8", "fixedmac takes fixed-point formats (e.g. ap_fixed<8,3>), not int8 (format A)"),
    ("fixedmac e4m3fn e4m3fn fp16 --n 8", "fixedmac takes fixed-point formats (e.g. ap_fixed<8,3>), not e4m3fn "
                                         "(format A)"),
    ("convert mxfp4 e4m3fn", "convert takes float, integer or fixed-point formats (e.g. fp16, int8), not mxfp4 "
                             "(format IN)"),
    ("bitserial int4 e4m3fn --n 8", "bitserial takes integer formats (e.g. int8, uint4), not e4m3fn (format B)"),
    ("lutdot e4m3fn int8 --n 8", "lutdot takes integer formats (e.g. int8, uint4), not e4m3fn (format W)"),
    ("blockdot mxfp4 e4m3fn", "blockdot takes block formats (e.g. mxfp4, mxfp8_e4m3), not e4m3fn (format B)"),
    ("requant int8 --acc-width 24 --multiplier 99999999999999999999999 --shift 10",
     "multiplier must be an integer in 1..2**63-1 or a non-empty list of them (one per channel), "
     "not 99999999999999999999999"),
    ("requant int8 --acc-width 24 --multiplier 3 --shift 1,99",
     "shift must be an integer in -63..63 or a non-empty list of them (one per channel), not [1, 99]"),
])
def test_cli_refuses_a_format_or_parameter_of_the_wrong_kind(capsys, argv, message):
    assert main(["cost", *argv.split(), "--nodsp"]) == 2
    assert capsys.readouterr().err == f"numfmt cost: {message}\n"


@pytest.mark.parametrize("argv, message", [
    ("uint4 --multiplier 3,5 --shift 9,8 --multiply shift_add",
     "multiply='shift_add' applies to a per-tensor requantizer only, not to per-channel parameters"),
    ("uint4 --multiplier 3,5 --shift 9,8 --saturate accumulator",
     "saturate='accumulator' applies to a per-tensor requantizer with a saturating output only, not to "
     "per-channel parameters"),
    ("uint4(overflow=wrap) --multiplier 3 --shift 9 --saturate accumulator",
     "saturate='accumulator' applies to a per-tensor requantizer with a saturating output only, not to the "
     "output uint4(overflow=wrap)"),
])
def test_requant_options_the_unit_would_ignore_are_refused(capsys, argv, message):
    assert main(["cost", "requant", *argv.split(), "--acc-width", "16", "--nodsp"]) == 2
    assert capsys.readouterr().err == f"numfmt cost: {message}\n"
    assert main(["cost", "requant", "uint4", "--multiplier", "3,5", "--shift", "9,8", "--multiply", "operator",
                 "--saturate", "result", "--acc-width", "16", "--nodsp"]) == 0      # what it does anyway


@pytest.mark.parametrize("argv, message", [
    ("intmac int8 int8 --acc-width 0", "acc_width 0 (--acc-width): width must be an integer in 1..64"),
    ("requant int8 --acc-width 0 --multiplier 3 --shift 2", "acc_width 0 (--acc-width): acc_bits must be"),
    ("kulischmac e4m3fn e4m3fn --n 0", "n 0 (--n): n_max must be an integer ≥ 1, not 0"),
    ("kulischmac e5m2 e5m2 --n 16", "n 16 (--n): the exact register must be at most 53 bits wide"),
])
def test_a_units_error_names_the_parameter_given(capsys, argv, message):
    """The unit's own name for a parameter (a register's width, n_max) comes after the one the
    user gave, with its value."""
    assert main(["cost", *argv.split(), "--nodsp"]) == 2
    assert capsys.readouterr().err.startswith(f"numfmt cost: {message}")


def test_a_type_error_of_the_unit_is_a_value_error(monkeypatch):
    def build(f, p):
        raise TypeError("stages must be an int")
    monkeypatch.setitem(cost.KINDS, "floatmul", dataclasses.replace(cost.KINDS["floatmul"], build=build))
    with pytest.raises(ValueError, match="^floatmul: stages must be an int$"):
        cost.UnitSpec("floatmul", ("e4m3fn",)).build()


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
    ("unit = [1, 2]\n", "^design file '.*bad.toml': unit 1 must be a \\[\\[unit\\]\\] table, not 1$"),
    ("unit = ['a']\n", "unit 1 must be a \\[\\[unit\\]\\] table, not 'a'$"),
    ("[[unit]]\nkind = 'floatmul'\nformats = [1]\n", "bad.toml', unit 1 \\(floatmul\\): formats must be format "
                                                     "names, not \\[1\\]"),
    ("synth = 'no'\n[[unit]]\nkind = 'floatmul'\nformats = ['e2m1fn']\n",
     "^design file '.*bad.toml': synth must be true or false, not 'no'$"),
    ("nodsp = 'false'\n[[unit]]\nkind = 'floatmul'\nformats = ['e2m1fn']\n",
     "nodsp must be true or false, not 'false'"),
    ("target = 'vivado'\n[[unit]]\nkind = 'floatmul'\nformats = ['e2m1fn']\n",
     "bad.toml': target must be one of 'xilinx', 'ecp5', 'ice40', not 'vivado'"),
])
def test_design_file_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        cost.load_design(path)
    with pytest.raises(ValueError, match="cannot be read"):
        cost.load_design(tmp_path / "missing.toml")


def test_design_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("# café\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"^design file '.*latin1\.toml' is not UTF-8 text \(byte 5: 0xe9\)$"):
        cost.load_design(path)


_MULTIPLIER = "multiplier must be an integer in 1..2**63-1 or a non-empty list of them (one per channel), not "


@pytest.mark.parametrize("params, message", [
    ("stages = -1", "stages must be an integer ≥ 0, not -1"),
    ("multiplier = 205.5", _MULTIPLIER + "205.5"),
    ("multiplier = '205'", _MULTIPLIER + "'205'"),
    ("multiplier = [205, 'a']", _MULTIPLIER + "[205, 'a']"),
    ("multiplier = true", _MULTIPLIER + "True"),
    ("multiplier = []\nshift = []", _MULTIPLIER + "[]"),
    ("shift = [true, false]", "shift must be an integer in -63..63 or a non-empty list of them (one per channel), "
                              "not [True, False]"),
])
def test_design_file_unit_errors_name_the_file_and_the_unit(tmp_path, capsys, params, message):
    path = tmp_path / "x.toml"
    keys = dict(line.split(" = ") for line in params.split("\n"))
    table = {"acc_width": "24", "multiplier": "205", "shift": "11", "stages": "1"} | keys
    path.write_text("[[unit]]\nkind = 'floatmul'\nformats = ['e2m1fn']\n[[unit]]\nkind = 'requant'\n"
                    "formats = ['int8']\n" + "".join(f"{k} = {v}\n" for k, v in table.items()))
    specs, _ = cost.load_design(path)
    with pytest.raises(ValueError, match=f"^{re.escape(f'design file {str(path)!r}, unit 2 (requant): {message}')}$"):
        specs[1].build()
    assert main(["cost", "--design", str(path), "--nodsp"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"numfmt cost: design file {str(path)!r}, unit 2 (requant): ") and "Traceback" not in err


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


def test_model_row_without_nodsp_says_the_model_needs_it(capsys):
    assert main(["cost", "intmac", "int4", "int4", "--acc-width", "16", "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)
    assert row["model"] == {"none": "no model without --nodsp: the models are calibrated for LUT-only synthesis; "
                                    "add --nodsp (or --synth for the tools' figures)"}
    assert main(["cost", "intmac", "int4", "int4", "--acc-width", "16", "--target", "ecp5"]) == 0
    assert "model  no model without --nodsp" in capsys.readouterr().out
    assert main(["cost", "intmac", "int4", "int4", "--acc-width", "16", "--target", "ice40"]) == 0
    assert "target must be one of the calibrated targets (ecp5, xilinx), not 'ice40'" in capsys.readouterr().out


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
    assert est.luts_error_worst > 0.5                   # the Requantizer's model is far off on some units
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


@pytest.mark.parametrize("argv, message", [
    (["floatmul", "e4m3fn", "-j", "0"], "-j/--jobs must be at least 1, not 0"),
    (["floatmul", "e4m3fn", "--target", ""], "target must be one of 'xilinx', 'ecp5', 'ice40', not ''"),
    (["--design", "units.toml", "--stages", "2"], "not both: --stages with --design"),
    (["floatmul", "e4m3fn", "--design", "units.toml"], "not both: a unit with --design"),
])
def test_cli_options_are_checked_before_any_work(capsys, argv, message):
    """A wrong -j, an empty --target, or a unit's option beside --design is refused at once."""
    assert main(["cost", *argv]) == 2
    assert message in capsys.readouterr().err
