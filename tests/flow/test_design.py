"""flow.design: the design-file schema, its errors (file, line, key, value) and key_lines."""

import textwrap
from pathlib import Path

import pytest

from numfmt.flow.design import DesignError, Hls, key_lines, load, loads, prepare

DESIGNS = Path(__file__).resolve().parents[2] / "designs"

GOOD = textwrap.dedent('''\
    name = "mlp8"
    description = "test"

    [network]
    model = "mlp"

    [quant]
    weight = "int8"
    act = "int8"
    acc = "exact"

    [fold]
    dense0 = { pe = 8, simd = 8 }
    dense2 = { pe = 8, simd = 8 }
    dense4 = { pe = 2, simd = 8 }

    [unit]
    variant = "mvu"

    [target]
    synth = "xilinx"
    options = ["-nodsp"]

    [verify]
    images = 20
    simulator = "verilator"
    ''')


def _error(text, path="bad.toml"):
    with pytest.raises(DesignError) as info:
        loads(text, path)
    return info.value


def test_good_design():
    d = loads(GOOD, "mlp8.toml")
    assert d.name == "mlp8" and d.network.model == "mlp" and d.network.data is None
    assert str(d.qconfig.weight) == "int8" and d.qconfig.acc is None
    assert d.folding == {"dense0": (8, 8), "dense2": (8, 8), "dense4": (2, 8)}
    assert (d.variant, d.fifo_depth) == ("mvu", 4)
    assert (d.target.synth, d.target.options, d.verify.images) == ("xilinx", ("-nodsp",), 20)


def test_shipped_designs_load():
    names = sorted(p.name for p in DESIGNS.glob("digits_*.toml"))     # the digits designs (others have their tests)
    assert names == ["digits_cnn_int8.toml", "digits_mlp_e4m3.toml", "digits_mlp_e4m3_hls.toml",
                     "digits_mlp_int8.toml", "digits_mlp_int8_bitserial.toml", "digits_mlp_int8_hls.toml",
                     "digits_mlp_int8_lutgemm.toml", "digits_mlp_int8_serial.toml", "digits_mlp_mxfp4.toml",
                     "digits_mlp_w4a8.toml"]
    for name in names:
        d = load(DESIGNS / name)
        assert d.name == name[:-5] and d.verify.images == "all"
        assert d.variant == {"digits_mlp_int8_bitserial.toml": "bitserial",
                             "digits_mlp_int8_lutgemm.toml": "lutgemm"}.get(name, "mvu")
        assert d.backend == ("hls" if name.endswith("_hls.toml") else "rtl")
    assert load(DESIGNS / "digits_mlp_w4a8.toml").qconfig.method == "gptq"
    assert load(DESIGNS / "digits_mlp_e4m3_hls.toml").hls.generator == "numfmt"
    assert load(DESIGNS / "digits_mlp_int8_hls.toml").hls == Hls("hls4ml", "xcvu9p-flga2104-2-e", 5.0, "vitis")


# (replace, by, message): each broken file's one-line error, exactly
BROKEN = [
    ('images = 20', 'images = 0',
     'bad.toml:25: key \'verify.images\' = 0: "all" (the whole test split) or a number of test images ≥ 1'),
    ('images = 20', 'images = "some"',
     'bad.toml:25: key \'verify.images\' = "some": "all" (the whole test split) or a number of test images ≥ 1'),
    ('simulator = "verilator"', 'simulator = "modelsim"',
     'bad.toml:26: key \'verify.simulator\' = "modelsim": must be "verilator" or "icarus"'),
    ('weight = "int8"', 'wieght = "int8"',
     "bad.toml:8: key 'quant.wieght' = \"int8\": unknown key (expected weight, act, acc, granularity, calib, "
     "method, bias_correction, equalize, smooth, seed, act_scale, mult_bits, bias_bits, percentile); "
     "did you mean 'weight'?"),
    ('act = "int8"', 'act = "int9x"',
     "bad.toml:9: key 'quant.act' = \"int9x\": cannot parse 'int9x' as an integer format: expected intN or "
     "uintN, optionally followed by (rounding=...,overflow=...)"),
    ('act = "int8"', 'act = 8', 'bad.toml:9: key \'quant.act\' = 8: must be a format name such as "int8" or "int4"'),
    ('acc = "exact"', 'acc = "fp32"',
     'bad.toml:10: key \'quant.acc\' = "fp32": "exact" or a fixed-width register { width = 16, frac_bits = 0, '
     'overflow = "sat" } (the accelerator has no floating-point accumulator yet)'),
    ('acc = "exact"', 'acc = { width = 0, overflow = "sat" }',
     "bad.toml:10: key 'quant.acc.width' = 0: must be an integer in 1..63 for overflow='sat', not 0"),
    ('acc = "exact"', 'acc = { width = 16, overflow = "up" }',
     "bad.toml:10: key 'quant.acc.overflow' = \"up\": "),
    ('acc = "exact"', 'acc = { width = 16, sat = true }',
     "bad.toml:10: key 'quant.acc.sat' = true: unknown key (expected width, frac_bits, overflow)"),
    ('acc = "exact"', 'calib = "best"',
     "bad.toml:10: key 'quant.calib' = \"best\": must be 'minmax', 'percentile' or 'mse', not 'best'"),
    ('acc = "exact"', 'mult_bits = 40',
     "bad.toml:10: key 'quant.mult_bits' = 40: must be an integer in 1..32, not 40"),
    ('dense0 = { pe = 8, simd = 8 }', 'dense0 = { pe = "8", simd = 8 }',
     'bad.toml:13: key \'fold.dense0.pe\' = "8": must be an integer ≥ 1'),
    ('dense2 = { pe = 8, simd = 8 }', 'dense2 = { pe = 8, simd = 0 }',
     "bad.toml:14: key 'fold.dense2.simd' = 0: must be an integer ≥ 1"),
    ('dense2 = { pe = 8, simd = 8 }', 'dense2 = { pe = 8, sind = 8 }',
     "bad.toml:14: key 'fold.dense2.sind' = 8: unknown key (expected pe, simd, variant); did you mean 'simd'?"),
    ('dense4 = { pe = 2, simd = 8 }', 'dense4 = 2',
     "bad.toml:15: key 'fold.dense4' = 2: must be a table { pe = P, simd = S }"),
    ('variant = "mvu"', 'variant = "systolic"',
     'bad.toml:18: key \'unit.variant\' = "systolic": must be "mvu", "bitserial" or "lutgemm"'),
    ('variant = "mvu"', 'variant = "mx"',
     'bad.toml:18: key \'unit.variant\' = "mx": must be "mvu", "bitserial" or "lutgemm" (minifloat and MX '
     'datapaths follow from the [quant] formats, not from a variant)'),
    ('dense2 = { pe = 8, simd = 8 }', 'dense2 = { pe = 8, simd = 8, variant = "lut" }',
     'bad.toml:14: key \'fold.dense2.variant\' = "lut": must be "mvu", "bitserial" or "lutgemm"'),
    ('dense2 = { pe = 8, simd = 8 }', 'dense2 = { pe = 8, simd = 8, variant = 2 }',
     "bad.toml:14: key 'fold.dense2.variant' = 2: must be \"mvu\", \"bitserial\" or \"lutgemm\""),
    ('variant = "mvu"', 'fifo_depth = 2', "bad.toml:18: key 'unit.fifo_depth' = 2: must be an integer ≥ 3 (vectors)"),
    ('synth = "xilinx"', 'synth = "vivado"',
     'bad.toml:21: key \'target.synth\' = "vivado": must be "xilinx", "ecp5", "ice40" or "none"'),
    ('options = ["-nodsp"]', 'options = ["-nocarry", "-fast"]',
     "bad.toml:22: key 'target.options' = [\"-nocarry\", \"-fast\"]: '-fast' is not a flag of xilinx synthesis here"),
    ('options = ["-nodsp"]', 'clock_mhz = 100',
     "bad.toml:22: key 'target.clock_mhz' = 100: a clock constraint needs place-and-route: synth = \"ecp5\""),
    ('model = "mlp"', 'model = "resnet"',
     'bad.toml:5: key \'network.model\' = "resnet": must be "mlp", "cnn" or the path of an .onnx file'),
    ('model = "mlp"', 'model = "nets/missing.onnx"',
     'bad.toml:5: key \'network.model\' = "nets/missing.onnx": no such file (nets/missing.onnx)'),
    ('model = "mlp"', 'model = "mlp"\ndata = "d.npz"',
     'bad.toml:6: key \'network.data\' = "d.npz": only an ONNX model takes data; the embedded \'mlp\' uses the '
     'digits data'),
    ('name = "mlp8"', 'name = "my design"',
     'bad.toml:1: key \'name\' = "my design": must be letters, digits, \'_\', \'-\' or \'.\' (it names the output)'),
    ('name = "mlp8"', 'nmae = "mlp8"',
     "bad.toml:1: key 'nmae' = \"mlp8\": unknown key (expected name, description, backend, network, quant, fold, "
     "unit, target, verify, hls); did you mean 'name'?"),
    ('[quant]', '[quant.dense0]\nweight = "int4"\n[quant]',
     "bad.toml:7: key 'quant.dense0' = { weight = \"int4\" }: per-layer quantization is not supported: "
     "numfmt.nn.QConfig applies one configuration to every layer"),
]


@pytest.mark.parametrize("old, new, message", BROKEN, ids=[b[1].split("\n")[-1][:30] for b in BROKEN])
def test_schema_errors_name_file_line_key_and_value(old, new, message):
    assert old in GOOD
    err = _error(GOOD.replace(old, new, 1))
    assert str(err).startswith(message), str(err)
    assert "\n" not in str(err)
    assert err.path == "bad.toml" and err.line == int(message.split(":")[1])


def test_missing_keys_point_at_their_table():
    err = _error(GOOD.replace('model = "mlp"', ''))
    assert str(err) == ("bad.toml:4: key 'network.model' is missing: say which network: \"mlp\", \"cnn\" or the "
                        "path of an .onnx file")
    err = _error('[quant]\nweight = "int8"\n')
    assert str(err) == ("bad.toml: key 'network.model' is missing: every design names its network: "
                        "[network] model = \"mlp\"")
    assert err.line is None
    assert str(_error('network = "mlp"\n')) == "bad.toml:1: key 'network' = \"mlp\": must be a table ([network])"


def test_syntax_errors_name_the_line():
    err = _error(GOOD.replace('act = "int8"', 'act = "int8'))
    assert str(err).startswith("bad.toml:9: TOML syntax error: ") and "column" in str(err)
    err = _error(GOOD.replace('[fold]', '[fold'))
    assert str(err).startswith("bad.toml:12: TOML syntax error: ")
    err = _error(GOOD + "[fold]\n")                         # a table defined twice
    assert str(err).startswith("bad.toml:27: TOML syntax error: Cannot declare ('fold',) twice")


def test_unreadable_file(tmp_path):
    with pytest.raises(DesignError, match=r"nothere.toml: cannot read the design file: No such file"):
        load(tmp_path / "nothere.toml")


def test_paths_are_relative_to_the_design_file(tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "m.onnx").write_bytes(b"")
    d = loads('[network]\nmodel = "nets/m.onnx"\n', tmp_path / "d.toml")
    assert d.network.model == str(tmp_path / "nets" / "m.onnx")
    err = _error('[network]\nmodel = "nets/m.onnx"\ndata = "x.npz"\n', tmp_path / "d.toml")
    assert str(err) == (f"{tmp_path / 'd.toml'}:3: key 'network.data' = \"x.npz\": no such file "
                        f"({tmp_path / 'x.npz'})")


# -- the accelerator's own checks, at the key they concern -------------------------------------------

@pytest.mark.parametrize("old, new, message", [
    ('dense4 = { pe = 2, simd = 8 }', 'dense4 = { pe = 3, simd = 8 }',
     "bad.toml:15: key 'fold.dense4.pe' = 3: pe=3 must divide the output channels of 'dense4' (10)"),
    ('dense2 = { pe = 8, simd = 8 }', 'dense2 = { pe = 8, simd = 5 }',
     "bad.toml:14: key 'fold.dense2.simd' = 5: simd=5 must divide the inputs of 'dense2' (64)"),
    ('dense2 = { pe = 8, simd = 8 }', 'relu1 = { pe = 1 }',
     "bad.toml:14: key 'fold.relu1' = { pe = 1 }: folding names 'relu1', which is not a Dense node of the graph "
     "(dense0, dense2, dense4)"),
    ('weight = "int8"', 'weight = "smint8"',
     "bad.toml:8: key 'quant.weight' = \"smint8\": node 'dense0': weights must be an IntFormat or FixedFormat in "
     "this accelerator, not smint8"),
    ('act = "int8"', 'act = "ap_fixed<8,3>"',
     "bad.toml:9: key 'quant.act' = \"ap_fixed<8,3>\": node 'dense0': the input format"),
    pytest.param('model = "mlp"', 'model = "cnn"',           # trains and quantizes the CNN: slow
                 "bad.toml:13: key 'fold.dense0' = { pe = 8, simd = 8 }: folding names 'dense0', which is not "
                 "a Dense node of the graph (conv1, conv2, conv3, fc)", marks=pytest.mark.slow),
    ('images = 20', 'images = 1000', "bad.toml:25: key 'verify.images' = 1000: the test split has only 360 images"),
])
def test_the_accelerator_judges_the_design(old, new, message):
    d = loads(GOOD.replace(old, new, 1), "bad.toml")
    with pytest.raises(DesignError) as info:
        prepare(d)
    assert str(info.value).startswith(message), str(info.value)


def test_variants_whole_design_and_per_layer():
    text = GOOD.replace('variant = "mvu"', 'variant = "bitserial"').replace(
        'dense4 = { pe = 2, simd = 8 }', 'dense4 = { pe = 2, simd = 8, variant = "lutgemm" }')
    d = loads(text, "v.toml")
    assert d.variant == "bitserial" and d.layer_variants == {"dense4": "lutgemm"}
    assert d.folding["dense4"] == (2, 8)
    assert d.variants(["dense0", "dense4"]) == {"dense0": "bitserial", "dense4": "lutgemm"}
    assert loads(GOOD, "g.toml").variants(["dense0"]) == {"dense0": "mvu"}


SAT = GOOD.replace('acc = "exact"', 'acc = { width = 24, overflow = "sat" }')


@pytest.mark.parametrize("text, message", [
    (SAT.replace('variant = "mvu"', 'variant = "bitserial"'),     # a saturating register: one product per add
     "bad.toml:13: key 'fold.dense0' = { pe = 8, simd = 8 }: node 'dense0': the bitserial variant adds the "
     "simd=8 products"),
    (SAT.replace('dense2 = { pe = 8, simd = 8 }', 'dense2 = { pe = 8, simd = 8, variant = "lutgemm" }'),
     "bad.toml:14: key 'fold.dense2.variant' = \"lutgemm\": node 'dense2': the lutgemm variant adds"),
    (GOOD.replace('dense2 = { pe = 8, simd = 8 }', 'dense9 = { variant = "lutgemm" }'),
     "bad.toml:14: key 'fold.dense9' = { variant = \"lutgemm\" }: folding names 'dense9'"),
])
def test_variant_errors_at_their_key(text, message):
    with pytest.raises(DesignError) as info:
        prepare(loads(text, "bad.toml"))
    assert str(info.value).startswith(message), str(info.value)


def test_prepare_builds_the_accelerator():
    p = prepare(loads(GOOD, "mlp8.toml"))
    assert [(s.pe, s.simd) for s in p.accelerator.mvus] == [(8, 8), (8, 8), (2, 8)]
    assert p.accelerator.ii == 67 and len(p.x_test) == 360


# -- key_lines -------------------------------------------------------------------------------------

def test_key_lines_follows_tables_dotted_and_inline_keys():
    text = textwrap.dedent('''\
        # a comment with = and [brackets]
        top = "x = 1 # not a comment"
        "quoted.key" = 2
        [fold]
        dense0 = { pe = 8, simd = { a = 1, "b c" = [1, { d = 2 }] } }
        dense2.pe = 4
          dense2 . simd = 2   # spaces around the dot
        [ target ]
        options = [
          "-nodsp",   # a comment inside an array
          "]=[",
        ]
        doc = """
        pe = 99
        [fold]
        """
        lit = \'\'\'x = "y"\'\'\'
        after = 1
        [[unit]]
        variant = "mvu"
        [[unit]]
        variant = 'other'
        [a.b.c]
        d = 1
        ''')
    lines = key_lines(text)
    assert lines[("top",)] == 2 and lines[("quoted.key",)] == 3
    assert lines[("fold",)] == 4 and lines[("fold", "dense0")] == 5
    assert lines[("fold", "dense0", "simd", "b c", 1, "d")] == 5
    assert lines[("fold", "dense2")] == 6 and lines[("fold", "dense2", "pe")] == 6
    assert lines[("fold", "dense2", "simd")] == 7
    assert lines[("target",)] == 8 and lines[("target", "options")] == 9
    assert lines[("target", "options", 1)] == 11
    assert lines[("target", "doc")] == 13 and ("target", "pe") not in lines
    assert lines[("target", "lit")] == 17 and lines[("target", "after")] == 18
    assert lines[("unit", 0, "variant")] == 20 and lines[("unit", 1, "variant")] == 22
    assert lines[("a", "b", "c")] == 23 and lines[("a", "b", "c", "d")] == 24


def test_key_lines_of_a_dotted_table_key_error():
    err = _error(GOOD.replace('dense0 = { pe = 8, simd = 8 }', 'dense0.pe = 8\ndense0.simd = "x"'))
    assert str(err) == "bad.toml:14: key 'fold.dense0.simd' = \"x\": must be an integer ≥ 1"


# -- backend = "hls" -------------------------------------------------------------------------------

HLS = textwrap.dedent('''\
    backend = "hls"

    [network]
    model = "mlp"

    [quant]
    weight = "e4m3fn"
    act = "e4m3fn"

    [hls]
    part = "xczu7ev-ffvc1156-2-e"
    clock_ns = 4

    [verify]
    images = 20
    ''')


def test_hls_design():
    d = loads(HLS, "h.toml")
    assert d.backend == "hls" and d.hls == Hls("numfmt", "xczu7ev-ffvc1156-2-e", 4.0, "vitis")
    d = loads(HLS.replace("e4m3fn", "int8").replace("[hls]", '[hls]\ntool = "vivado"'), "h.toml")
    assert d.hls == Hls("hls4ml", "xczu7ev-ffvc1156-2-e", 4.0, "vivado")
    assert loads(HLS.replace("e4m3fn", "mxfp4"), "h.toml").hls.generator == "numfmt"
    assert loads(HLS.replace('act = "e4m3fn"', 'act = "ap_fixed<8,3>"'), "h.toml").hls.generator == "hls4ml"
    d = loads('backend = "hls"\n[network]\nmodel = "mlp"\n', "h.toml")
    assert d.hls == Hls("hls4ml", "xcvu9p-flga2104-2-e", 5.0, "vitis")          # QConfig's default: int4/int8
    assert loads(GOOD, "g.toml").backend == "rtl" and loads(GOOD, "g.toml").hls is None


# (text, replace, by, message): the keys of the RTL accelerator are refused with backend = "hls"
HLS_BROKEN = [
    (HLS, 'backend = "hls"', 'backend = "vhdl"', 'bad.toml:1: key \'backend\' = "vhdl": must be "rtl" or "hls"'),
    (HLS, 'backend = "hls"', 'backend = 1', "bad.toml:1: key 'backend' = 1: must be \"rtl\" or \"hls\""),
    (HLS, '[verify]', '[fold]\ndense0 = { pe = 8, simd = 8 }\n[verify]',
     "bad.toml:15: key 'fold.dense0' = { pe = 8, simd = 8 }: applies to the RTL accelerator only; backend = \"hls\" "
     "writes one fully parallel top function (remove [fold])"),
    (HLS, '[verify]', '[unit]\nfifo_depth = 8\n[verify]',
     "bad.toml:15: key 'unit.fifo_depth' = 8: applies to the RTL accelerator only; backend = \"hls\" has no unit "
     "variants or FIFOs (remove [unit])"),
    (HLS, '[verify]', '[target]\nsynth = "xilinx"\n[verify]',
     "bad.toml:15: key 'target.synth' = \"xilinx\": applies to the RTL accelerator only; backend = \"hls\" is "
     "synthesized by Vitis HLS (csynth), not Yosys: use synth = \"none\" or leave it out, and set the part in [hls]"),
    (HLS, '[verify]', '[target]\nsynth = "ecp5"\nclock_mhz = 100\n[verify]',
     "bad.toml:15: key 'target.synth' = \"ecp5\": applies to the RTL accelerator only"),
    (HLS, '[verify]', '[target]\nsynth = "none"\nclock_mhz = 100\n[verify]',
     "bad.toml:16: key 'target.clock_mhz' = 100: applies to the RTL accelerator only; backend = \"hls\" sets the "
     "clock period in [hls] clock_ns"),
    (HLS, '[verify]', '[target]\noptions = ["-nodsp"]\n[verify]',
     "bad.toml:15: key 'target.options' = [\"-nodsp\"]: applies to the RTL accelerator only; backend = \"hls\" runs "
     "no Yosys synthesis"),
    (HLS, '[verify]', '[fold]\ndense0 = { pe = "8" }\n[verify]', "bad.toml:15: key 'fold.dense0' = { pe = \"8\" }: "
                                                                  "applies to the RTL accelerator only"),
    (HLS, 'images = 20', 'images = 20\nsimulator = "icarus"',
     "bad.toml:16: key 'verify.simulator' = \"icarus\": applies to the RTL accelerator only; backend = \"hls\" "
     "verifies by C simulation under g++ (no HDL simulator, no seed)"),
    (HLS, 'images = 20', 'images = 20\nseed = 3', "bad.toml:16: key 'verify.seed' = 3: applies to the RTL"),
    (HLS, 'clock_ns = 4', 'clock_ns = 0', "bad.toml:12: key 'hls.clock_ns' = 0: must be a clock period in ns, > 0 "
                                          "and < 1000"),
    (HLS, 'clock_ns = 4', 'clock_ns = "5ns"', "bad.toml:12: key 'hls.clock_ns' = \"5ns\": must be a clock period"),
    (HLS, 'clock_ns = 4', 'clock = 4', "bad.toml:12: key 'hls.clock' = 4: unknown key (expected part, clock_ns, "
                                       "tool); did you mean 'clock_ns'?"),
    (HLS, 'part = "xczu7ev-ffvc1156-2-e"', 'part = "xc vu9p"',
     'bad.toml:11: key \'hls.part\' = "xc vu9p": must be an FPGA part name such as "xcvu9p-flga2104-2-e"'),
    (HLS, 'clock_ns = 4', 'tool = "quartus"', 'bad.toml:12: key \'hls.tool\' = "quartus": must be "vitis" or '
                                              '"vivado"'),
    (HLS, 'clock_ns = 4', 'tool = "vivado"',
     "bad.toml:12: key 'hls.tool' = \"vivado\": the generated project of a e4m3fn network is for Vitis HLS (its "
     "build.tcl); \"vivado\" applies to hls4ml projects (integer or fixed-point activations)"),
    ('backend = "hls"\n[network]\nmodel = "mlp"\n', '[network]', 'hls = 3\n[network]',
     "bad.toml:2: key 'hls' = 3: must be a table ([hls])"),
    (GOOD, '[verify]', '[hls]\nclock_ns = 4\n[verify]',
     "bad.toml:24: key 'hls' = { clock_ns = 4 }: the [hls] table applies to backend = \"hls\" (this design builds the "
     "RTL accelerator)"),
]


@pytest.mark.parametrize("text, old, new, message", HLS_BROKEN, ids=[b[2].split("\n")[-2 if "\n" in b[2] else 0][:30]
                                                                       for b in HLS_BROKEN])
def test_hls_schema_errors(text, old, new, message):
    assert old in text
    err = _error(text.replace(old, new, 1))
    assert str(err).startswith(message), str(err)
    assert err.line == int(message.split(":")[1])


@pytest.mark.parametrize("old, new, message", [
    ('weight = "e4m3fn"', 'weight = "int8"',
     "bad.toml:7: key 'quant.weight' = \"int8\": node 'dense0': weight format int8 is not a minifloat"),
    ('act = "e4m3fn"', 'act = "int8(rounding=ceil)"',
     "bad.toml:8: key 'quant.act' = \"int8(rounding=ceil)\": node 'input': fmt int8(rounding=ceil) rounds with "
     "'ceil', which has no ap_fixed quantization mode"),
    ('images = 20', 'images = 361', "bad.toml:15: key 'verify.images' = 361: the test split has only 360 images"),
    pytest.param('model = "mlp"', 'model = "cnn"',            # trains and quantizes the CNN: slow
                 "bad.toml:4: key 'network.model' = \"cnn\": graph must take 1-D inputs (an MLP), not input_shape "
                 "(1, 8, 8)", marks=pytest.mark.slow),
])
def test_the_hls_generators_judge_the_design(old, new, message):
    d = loads(HLS.replace(old, new, 1), "bad.toml")
    with pytest.raises(DesignError) as info:
        prepare(d)
    assert str(info.value).startswith(message), str(info.value)


def test_prepare_an_hls_design():
    p = prepare(loads(HLS, "h.toml"))
    assert p.accelerator is None and str(p.qgraph.config.weight) == "e4m3fn" and len(p.x_test) == 360
