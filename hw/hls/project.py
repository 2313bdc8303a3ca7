"""An HLS C++ project from a quantized network: top function, weights, testbench, Tcl script.

:func:`generate_project` writes, for a :class:`numfmt.nn.QuantizedGraph` with minifloat or
MX layers (what hls4ml cannot express), a directory holding

* ``<name>.h`` / ``<name>.cpp``: ``void <name>(const in_t x[N_IN], out_t y[N_OUT])``, a call
  of ``numfmt/layers.h`` per node, with the formats as C++ types (:func:`cpp_type`);
* ``<name>_weights.h``: the integer constants the graph stores (weight codes, bias
  integers, requantization multipliers and shifts; MX block exponents), read from the
  graph, never re-derived;
* ``<name>_tb.cpp`` / ``<name>_tb_data.h``: a C testbench with test inputs (the codes of the
  graph's input node) and the output codes numfmt computes for them;
* ``build.tcl`` (Vitis HLS: ``csim_design``, ``csynth_design``), ``README.md`` and a copy of
  the header library in ``include/numfmt``.

:func:`check_project` compiles the testbench with g++ and runs it. The files come from the
templates in ``templates/``, filled with typed parameters.

>>> import numpy as np
>>> from numfmt import nn
>>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0], [1.0, 0.25]])), nn.ReLU()], input_shape=(2,))
>>> x = np.array([[1.0, 0.5], [0.25, -1.0], [-1.0, 1.0]])
>>> q = nn.quantize(g, nn.QConfig(weight="e4m3fn", act="e4m3fn"), x)
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     project = generate_project(q, x, d, name="tiny")
...     result = check_project(project)
>>> sorted(p.name for p in project.files)[:4]
['README.md', 'build.tcl', 'tiny.cpp', 'tiny.h']
>>> result.mismatches, result.outputs.tolist() == project.expected.tolist()
(0, True)
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from string import Template

import numpy as np

from numfmt import BlockFormat, FloatFormat
from numfmt._files import write_atomic
from numfmt.arith import ExactAccumulator, FloatAccumulator, Order
from numfmt.nn import QuantizedGraph
from numfmt.nn import _datapath as dp
from numfmt.nn.layers import Flatten, ReLU
from numfmt.nn.quantized import QInput, QLinear, QPassThrough

from . import _gxx
from .types import cpp_rounding, cpp_type

__all__ = ["HlsProject", "CheckResult", "check_supported", "generate_project", "check_project"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CALLS = {
    "dense": Template("numfmt::dense<${xf}, ${wf}, ${yf}, ${n_in}, ${n_out}>(${x}, ${y}, ${p}_w, ${p}_bias, "
                      "${p}_mult, ${p}_shift);"),
    "dense_mx": Template("numfmt::dense_mx<${xf}, ${wf}, ${yf}, ${n_in}, ${n_out}>(${x}, ${y}, ${p}_w, "
                         "${p}_wexp, ${p}_bias, ${p}_bias_exp);"),
    "dense_float_acc": Template("numfmt::dense_float_acc<${xf}, ${wf}, ${yf}, ${accf}, ${rounding}, ${n_in}, "
                                "${n_out}>(${x}, ${y}, ${p}_w, ${p}_bias, ${acc_exp}, ${p}_mult, ${p}_shift);"),
    "relu": Template("numfmt::relu_layer<${yf}, ${n_out}>(${x}, ${y});"),
}


@dataclasses.dataclass(frozen=True)
class HlsProject:
    """A generated project: its directory, name, files and the testbench's expected outputs."""

    directory: Path
    name: str
    files: tuple
    inputs: np.ndarray
    expected: np.ndarray


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The testbench run: the outputs (uint32, samples × N_OUT), mismatches and its report line."""

    outputs: np.ndarray
    mismatches: int
    report: str


def _template(name: str) -> Template:
    return Template((_TEMPLATES / name).read_text(encoding="utf-8"))


def _c_array(arr) -> str:
    """A C initializer of a 1-D or 2-D integer array (nested braces, one row per line)."""
    arr = np.asarray(arr)
    if arr.ndim == 1:
        return "{" + ", ".join(str(int(v)) for v in arr.tolist()) + "}"
    return "{\n" + ",\n".join("    " + _c_array(row) for row in arr) + "\n}"


def _ident(name: str) -> str:
    """A C identifier for a node name."""
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _unsupported(node, what):
    raise ValueError(f"node {node.name!r}: {what}; the HLS generator supports chains of Dense "
                     f"(minifloat or MX), ReLU and Flatten")


def _mx_weight_exponents(node: QLinear):
    """Absolute block exponents of the weights, ``(out, blocks)``: log2 of ``channel_scale[o]``
    times ``2**weight_exp`` (docs/nn.md, *Block (MX) activations*)."""
    out = node.weight_codes.shape[0]
    block = node.x.block.block
    m, e = np.frexp(node.channel_scale)
    if np.any(m != 0.5):
        _unsupported(node, f"channel_scale {node.channel_scale[m != 0.5][0]!r} is not a power of two")
    wexp = node.weight_exp.reshape(out, -1)
    n = wexp.shape[1]
    nb = -(-n // block)
    padded = np.pad(wexp, ((0, 0), (0, nb * block - n)), mode="edge").reshape(out, nb, block)
    if np.any(padded != padded[:, :, :1]):
        _unsupported(node, "weight_exp varies inside a block")
    ew = wexp[:, ::block] + (e - 1)[:, None]
    scale = node.block_format.scale
    lo = scale.min_exp - (scale.man if scale.subnormals and scale.has_zero else 0)
    if ew.min() < lo or ew.max() > scale.max_exp:
        _unsupported(node, f"weight block exponents {int(ew.min())}..{int(ew.max())} leave the range of "
                           f"the scale format {scale}")
    return ew


def _plan(graph: QuantizedGraph):
    """Per node: (call kind, template parameters, arrays {suffix: (C type, array)})."""
    if not isinstance(graph, QuantizedGraph):
        raise TypeError(f"graph must be a numfmt.nn.QuantizedGraph, not {type(graph).__name__}")
    if len(graph.input_shape) != 1:
        raise ValueError(f"graph must take 1-D inputs (an MLP), not input_shape {graph.input_shape}")
    steps, prev, width = [], None, graph.input_shape[0]
    for node in graph.nodes:
        if isinstance(node, QInput):
            prev = node.name
            continue
        if node.inputs != (prev,):
            _unsupported(node, f"inputs {node.inputs} do not chain from {prev!r}")
        prev = node.name
        if isinstance(node, QPassThrough):
            if isinstance(node.layer, Flatten):
                steps.append((node, None, {"n_out": width}, {}))
            elif isinstance(node.layer, ReLU):
                steps.append((node, "relu", {"yf": cpp_type(dp.converter(node.out.format)), "n_out": width}, {}))
            else:
                _unsupported(node, f"{type(node.layer).__name__} has no HLS layer")
            continue
        if not isinstance(node, QLinear) or node.kind != "dense":
            _unsupported(node, f"{type(node).__name__} ({getattr(node, 'kind', node.op)}) has no HLS layer")
        acc = node.acc or ExactAccumulator()
        float_acc = isinstance(acc, FloatAccumulator) and acc.order is Order.SEQUENTIAL
        if not isinstance(acc, ExactAccumulator) and not float_acc:
            _unsupported(node, f"accumulator {acc} (the exact one or a sequential FloatAccumulator)")
        n_out, n_in = node.weight_codes.shape
        width = n_out
        params = {"n_in": n_in, "n_out": n_out}
        codes = np.asarray(node.weight_codes, dtype=np.int64)
        if node.x.block is not None:
            if float_acc:
                _unsupported(node, f"accumulator {acc} with MX activations (only the exact accumulator)")
            if not isinstance(node.block_format, BlockFormat):
                _unsupported(node, "MX activations need MX weights")
            params.update(xf=cpp_type(node.x.block), wf=cpp_type(node.block_format),
                          yf=cpp_type(dp.converter(node.out.format)))
            bias_ok = (np.abs(node.bias) < 2 ** 53).all()
            if not bias_ok:
                _unsupported(node, "bias integers beyond 53 bits")
            arrays = {"w": ("numfmt::code_t", codes), "wexp": ("int", _mx_weight_exponents(node)),
                      "bias": ("std::int64_t", node.bias), "bias_exp": ("int", node.acc_exp)}
            steps.append((node, "dense_mx", params, arrays))
            continue
        for what, fmt in (("activation", node.x.format), ("weight", node.weight_format),
                          ("output", node.out.format)):
            if not isinstance(fmt, FloatFormat):
                _unsupported(node, f"{what} format {fmt} is not a minifloat (hls4ml handles ap_fixed/ap_int)")
        if np.any(node.weight_exp != 0):
            _unsupported(node, "per-group weight exponents of a scalar format")
        want = dp.quantum_exp(node.x.format) + dp.quantum_exp(node.weight_format)
        if np.any(node.acc_exp != want):
            _unsupported(node, f"acc_exp {node.acc_exp[node.acc_exp != want][0]} differs from the product "
                               f"quantum {want}")
        if node.acc_bits + node.mult_bits > 63:
            _unsupported(node, f"acc_bits + mult_bits = {node.acc_bits + node.mult_bits} > 63")
        params.update(xf=cpp_type(node.x.format), wf=cpp_type(node.weight_format),
                      yf=cpp_type(dp.converter(node.out.format)))
        arrays = {"w": ("numfmt::code_t", codes), "bias": ("std::int64_t", node.bias),
                  "mult": ("std::int64_t", node.multiplier), "shift": ("int", node.shift)}
        if float_acc:
            params.update(accf=cpp_type(acc.fmt), rounding=cpp_rounding(acc.rounding), acc_exp=int(want))
            steps.append((node, "dense_float_acc", params, arrays))
        else:
            steps.append((node, "dense", params, arrays))
    if not steps:
        raise ValueError("graph has no layer to generate")
    return steps


def check_supported(graph) -> None:
    """Raise the error :func:`generate_project` would raise for ``graph``, writing nothing.

    ``TypeError`` when ``graph`` is not a QuantizedGraph; ``ValueError`` naming the node and
    the reason when the generator cannot express a node.

    >>> import numpy as np
    >>> from numfmt import nn
    >>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0]]))], input_shape=(2,))
    >>> q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), np.array([[1.0, 0.5]]))
    >>> check_supported(q)
    Traceback (most recent call last):
    ...
    ValueError: node 'dense0': activation format int8 is not a minifloat (hls4ml handles ap_fixed/ap_int); \
the HLS generator supports chains of Dense (minifloat or MX), ReLU and Flatten
    """
    _plan(graph)


def generate_project(graph, x, directory, *, name: str = "top", part: str = "xcvu9p-flga2104-2-e",
                     clock_ns: float = 5.0) -> HlsProject:
    """Write the HLS C++ project of ``graph`` into ``directory`` (see the module docstring).

    Parameters
    ----------
    graph : numfmt.nn.QuantizedGraph
        A chain of Dense (minifloat weights and activations with the exact accumulator or
        a sequential FloatAccumulator, or MX weights and activations with the exact
        accumulator), ReLU and Flatten nodes on 1-D inputs.
    x : array_like, (samples, N_IN)
        Test inputs (float64, as ``graph.run`` takes them); the testbench gets their input
        codes and the output codes ``graph.trace(x)`` gives.
    directory : path
        Created if missing; generated files are overwritten.
    name : str
        The top function's name (a C identifier).
    part, clock_ns : str, float
        The FPGA part and clock period written into ``build.tcl``.

    Returns
    -------
    HlsProject

    Raises
    ------
    TypeError, ValueError
        A graph or node the generator does not support (naming the node and why), a bad
        ``name`` or ``clock_ns``, inputs of the wrong shape.
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"name must be a C identifier, not {name!r}")
    if isinstance(clock_ns, bool) or not isinstance(clock_ns, (int, float)) or not clock_ns > 0:
        raise ValueError(f"clock_ns must be a positive number, not {clock_ns!r}")
    if not isinstance(part, str) or not part or any(c in part for c in "{}\"\n"):
        raise ValueError(f"part must be an FPGA part name, not {part!r}")
    steps = _plan(graph)
    trace = graph.trace(x)
    inputs = np.asarray(trace[graph.input_name], dtype=np.uint32)
    expected = np.asarray(trace[graph.output], dtype=np.uint32)
    if graph.output != steps[-1][0].name:
        raise ValueError(f"graph's output {graph.output!r} must be its last node, not {steps[-1][0].name!r}")

    directory = Path(directory)
    (directory / "include" / "numfmt").mkdir(parents=True, exist_ok=True)
    for header in sorted((_gxx.include_dir() / "numfmt").glob("*.h")):
        shutil.copyfile(header, directory / "include" / "numfmt" / header.name)

    typedefs, body, arrays, summary = [], [], [], []
    current = "x"
    for k, (node, kind, params, node_arrays) in enumerate(steps):
        ident = _ident(node.name)
        summary.append(f"//   {node.name}: {kind or 'flatten (no operation)'}"
                       + (f", {params['n_in']} -> {params['n_out']}" if "n_in" in params else ""))
        if kind is None:
            continue
        n_out = params["n_out"]
        last = k == len(steps) - 1
        target = "y" if last else f"t_{ident}"
        for key in ("xf", "wf", "yf", "accf"):
            if key in params:
                typedefs.append(f"typedef {params[key]} {ident}_{key};")
        call = _CALLS[kind].substitute(params, **{key: f"{ident}_{key}" for key in ("xf", "wf", "yf", "accf")
                                                  if key in params},
                                       x=current, y=target, p=ident)
        if not last:
            body.append(f"    numfmt::code_t {target}[{n_out}];")
        body.append(f"    {call}")
        for suffix, (ctype, arr) in node_arrays.items():
            arr = np.asarray(arr)
            dims = "".join(f"[{d}]" for d in arr.shape)
            arrays.append(f"static const {ctype} {ident}_{suffix}{dims} = {_c_array(arr)};\n")
        current = target
    if current != "y":       # the graph ends in a node without an operation (Flatten)
        body.append(f"    for (int i = 0; i < N_OUT; ++i) y[i] = {current}[i];")

    upper = name.upper()
    common = {"name": name, "n_in": inputs.shape[1], "n_out": expected.shape[1], "samples": inputs.shape[0],
              "in_format": str(graph.node(graph.input_name).out.format),
              "out_format": str(graph.node(graph.output).out.format),
              "part": part, "clock_ns": f"{clock_ns:g}",
              "weight": str(graph.config.weight), "act": str(graph.config.act)}
    texts = {
        f"{name}.h": _template("top.h.tpl").substitute(common, guard=f"{upper}_H"),
        f"{name}.cpp": _template("top.cpp.tpl").substitute(common, summary="\n".join(summary),
                                                           typedefs="\n".join(typedefs), body="\n".join(body)),
        f"{name}_weights.h": _template("weights.h.tpl").substitute(common, guard=f"{upper}_WEIGHTS_H",
                                                                   arrays="\n".join(arrays)),
        f"{name}_tb.cpp": _template("tb.cpp.tpl").substitute(common),
        f"{name}_tb_data.h": _template("tb_data.h.tpl").substitute(
            common, guard=f"{upper}_TB_DATA_H", inputs=_c_array(inputs), expected=_c_array(expected)),
        "build.tcl": _template("build.tcl.tpl").substitute(common),
        "README.md": _template("README.md.tpl").substitute(common),
    }
    for fname, text in texts.items():
        write_atomic(directory / fname, text)
    return HlsProject(directory=directory, name=name, files=tuple(directory / f for f in texts),
                      inputs=inputs, expected=expected)


def check_project(project: HlsProject) -> CheckResult:
    """Compile the project's testbench with g++ (:data:`FLAGS`, its own ``include/``) and run it.

    Returns the outputs the top function computed, the number of output codes that differ
    from numfmt's and the testbench's report line. Raises :class:`GxxError` when g++ is
    missing or the compilation fails (with the compiler's output), and when the testbench
    output cannot be read.
    """
    if not isinstance(project, HlsProject):
        raise TypeError(f"project must be an HlsProject (from generate_project), not {type(project).__name__}")
    d = project.directory
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(d.iterdir())
               if p.suffix in (".cpp", ".h")}
    exe = _gxx.compile_program(sources, name=f"{project.name}_tb", library=False,
                               extra_includes=[d / "include"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "outputs.bin"
        res = subprocess.run([str(exe), str(out)], capture_output=True, text=True)
        if res.returncode not in (0, 1) or not out.is_file():
            raise _gxx.GxxError(f"{exe.name} failed with status {res.returncode}:\n"
                                f"{res.stdout[-4000:]}{res.stderr[-4000:]}")
        outputs = np.fromfile(out, dtype=np.uint32).reshape(project.expected.shape)
    mismatches = int(np.count_nonzero(outputs != project.expected))
    report = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    return CheckResult(outputs=outputs, mismatches=mismatches, report=report)
