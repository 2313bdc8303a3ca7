"""Design files with ``[quant] source = "model"``: a QONNX model's own quantization to verified RTL."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

from numfmt import nn  # noqa: E402
from numfmt.flow.build import build  # noqa: E402
from numfmt.flow.design import DesignError, load, loads, prepare  # noqa: E402

DESIGNS = Path(__file__).resolve().parents[2] / "designs"
QONNX = Path(__file__).resolve().parents[1] / "numfmt" / "nn" / "qonnx"
NAME = "brevitas_mlp_int8"


def test_shipped_qonnx_design_loads_and_prepares():
    d = load(DESIGNS / f"{NAME}.toml")
    assert d.quant_source == "model" and d.network.model.endswith("mlp_int8_pow2.onnx")
    assert d.folding == {"node_linear": (8, 8), "node_linear_1": (2, 8)}
    assert d.quantization() == {"source": "model", "model": "mlp_int8_pow2.onnx", "mult_bits": 32}
    prep = prepare(d)
    q = prep.qgraph
    assert q.deviations == {} and prep.accelerator.ii == 35
    rec = np.load(QONNX / "mlp_int8_pow2.npz")
    assert np.array_equal(q.predict(prep.x_test), rec["pred"])        # the golden model is Brevitas' network
    out = prep.accelerator.model(prep.accelerator.input_codes(prep.x_test))
    assert np.array_equal(out["label"], rec["pred"])
    codes = q.node(q.output).out.format.encode(rec["out_int"].astype(np.float64))     # Brevitas' int16 logits
    assert all(np.array_equal(out[f"y{k}"], codes[:, k]) for k in range(10))


def _text(quant):
    return f'[network]\nmodel = "{QONNX / "mlp_int8_pow2.onnx"}"\n[quant]\n{quant}\n'


@pytest.mark.parametrize("text,message", [
    (_text('source = "model"\nweight = "int8"'),
     "q.toml:5: key 'quant.weight' = \"int8\": the QONNX model carries its own quantization (source = \"model\"); "
     "only mult_bits may be given"),
    (_text('source = "brevitas"'), "q.toml:4: key 'quant.source' = \"brevitas\": must be \"numfmt\" or \"model\""),
    ('[network]\nmodel = "mlp"\n[quant]\nsource = "model"\n',
     "q.toml:4: key 'quant.source' = \"model\": \"model\" takes the formats and scales of a QONNX model's Quant "
     "nodes: network.model must be an .onnx file"),
])
def test_source_model_errors(text, message):
    with pytest.raises(DesignError) as exc:
        loads(text, "q.toml")
    assert str(exc.value) == message


def test_source_model_with_a_float_model_names_the_problem(tmp_path):
    """An ONNX file without Quant nodes: prepare() refuses at quant.source, naming what is missing."""
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((10, 64), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)], "f",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [w])
    import onnx
    onnx.save(helper.make_model(graph), tmp_path / "float.onnx")
    d = loads('[network]\nmodel = "float.onnx"\n[quant]\nsource = "model"\n', tmp_path / "f.toml")
    with pytest.raises(DesignError, match=r"f.toml:4: key 'quant.source' = \"model\": the graph input 'x' is not "
                                          r"quantized"):
        prepare(d)


def test_numfmt_source_is_the_default():
    d = loads(_text('weight = "int8"'), "q.toml")
    assert d.quant_source == "numfmt" and d.quantization()["weight"] == "int8"
    assert nn.QConfig(weight="int8") == d.qconfig


@pytest.mark.slow
def test_qonnx_design_builds_and_verifies(tmp_path):
    """The Brevitas MLP through numfmt build: Verilog streamed with all 360 test images, bit for bit."""
    out = build(DESIGNS / f"{NAME}.toml", tmp_path / NAME, synth=False, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    v = json.loads((out / "verification.json").read_text())
    assert v["images"] == 360 and v["mismatches"] == 0
    assert v["cycles_per_image"]["measured"] == [m["ii_cycles"]] == [35]
    assert m["quantization"]["source"] == "model"
    assert os.listdir(tmp_path) == [NAME]


def test_source_model_is_for_the_rtl_backend():
    text = f'backend = "hls"\n[network]\nmodel = "{QONNX / "mlp_int8_pow2.onnx"}"\n[quant]\nsource = "model"\n'
    with pytest.raises(DesignError) as exc:
        loads(text, "q.toml")
    assert str(exc.value) == ("q.toml:5: key 'quant.source' = \"model\": the model's own quantization is built by "
                              "the RTL accelerator only (backend = \"rtl\")")
