"""``numfmt build``: a design file (:mod:`numfmt.flow.design`) to a hand-off directory.

The steps, in order: check the design file; quantize the network and construct the
:class:`numfmt.hw.accel.Accelerator` (whose checks judge the design); emit its Verilog
(:func:`numfmt.hw.emit.emit`); write the weights; verify the Verilog against the
QuantizedGraph in a simulator (:func:`numfmt.sim.check` over the test split, every logit
and label exact, the measured cycles per image and latency equal to the generator's
model); synthesize it when the design names a target (:func:`numfmt.hw.cost.synthesize`,
no latches allowed); then write ``manifest.json``, the reports and a README for the
engineer who receives the directory::

    OUT/
      README.md                  what the directory holds, ports, protocol, timing
      manifest.json              ports, stream protocol, latency, II, formats per layer, folding
      design.toml                the design file it was built from
      rtl/<module>.v             the Verilog (top module <module>); rtl/<module>.json: emit's manifest
      weights/weights.npz        every layer's integers; weights/<layer>.json readable;
      weights/<layer>_{weights,biases}.hex   the ROM words ($readmemh)
      verification.json, .md     counts, cycles per image measured vs model, latency, simulator, seed
      synthesis.json, .md        LUT/FF/DSP/BRAM/carry (and Fmax on ecp5), when a target is given

With ``backend = "hls"`` the design becomes an HLS C++ project instead: integer and
fixed-point networks through the hls4ml adapter (:func:`numfmt.hw.hls.convert`),
minifloat and MX networks through :func:`numfmt.hw.hls.generate_project`. Its C simulation
(hls4ml ``compile()``/``predict()``, or the generated testbench) runs under g++ over the
test images and must equal the QuantizedGraph exactly; no vendor tool runs here::

    OUT/
      README.md                  what the project is, its interface, how to run csynth, what was verified
      manifest.json              formats, layers, interface, verification, csynth estimate (or null)
      design.toml
      hls/                       the project: build.tcl or hls4ml's build_prj.tcl, sources, weights, testbench
      verification.json, .md     images, outputs compared, mismatches (0), compiler

When Vitis HLS has synthesized the project (``hls/<top>_prj/solution1/syn/report/
<top>_csynth.xml``) and the build is run again over it (``force``, or ``hls_project=``),
the reports are carried into the new project if its synthesis sources are unchanged
(:func:`numfmt.hw.hls.sources_digest`) and their estimate goes into the manifest and README.

Everything is written into a temporary directory beside ``OUT`` and renamed into place
only when every step succeeded: an error or Ctrl-C leaves neither ``OUT`` nor the
temporary directory behind. An existing ``OUT`` is refused unless ``force=True``.
Errors are :class:`numfmt.flow.design.DesignError` (the design is wrong) or
:class:`BuildError` (a tool or a check failed).

>>> from numfmt.flow.design import loads
>>> d = loads('[network]\\nmodel = "mlp"\\n[verify]\\nimages = 5\\n', "tiny.toml")
>>> default_out(d).name
'tiny'
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .design import Design, DesignError, load, prepare

__all__ = ["BuildError", "build", "default_out", "readme", "synthesis_markdown", "verification_markdown"]

STREAM_PROTOCOL = (
    "valid/ready (amaranth.lib.stream): a transfer happens on a rising clk edge where valid and ready "
    "are both high; valid never depends on ready; one input transfer is one image, one output transfer "
    "its logits and label, in order; payload fields are packed with the first field in the least "
    "significant bits; rst is synchronous and active high")


class BuildError(RuntimeError):
    """A step of the build failed (a simulator, synthesis tool, or a check of their results)."""


def default_out(design: Design) -> Path:
    """``numfmt-build/<design name>`` in the working directory."""
    return Path("numfmt-build") / design.name


def _say(progress, text: str) -> None:
    if progress:
        print(f"numfmt build: {text}", file=sys.stderr, flush=True)


def build(design, out=None, *, synth: bool = True, images=None, force: bool = False,
          progress: bool = True, hls_project=None, field_ports: bool = False) -> Path:
    """Build ``design`` (a path or a loaded :class:`~numfmt.flow.design.Design`) into ``out``.

    Parameters
    ----------
    design : path or Design
    out : path, optional
        The output directory (default :func:`default_out`); must not exist unless ``force``.
    synth : bool
        Synthesize when the design names a target (``False``: skip, as ``--no-synth``).
    images : int, optional
        Test images to verify, instead of the design's ``[verify] images``.
    force : bool
        Replace an existing ``out``.
    progress : bool
        One line per step on stderr.
    hls_project : path, optional
        ``backend = "hls"`` only: an HLS project where Vitis HLS ran (the ``hls/`` folder of
        an earlier build); its csynth reports are copied into the new project, and their
        estimate into the manifest and README, if its synthesis sources equal the new ones
        (:func:`numfmt.hw.hls.sources_digest`), else ``ValueError``. Without it, a replaced
        ``out`` (``force``) is looked at the same way, and a report for other sources is
        left behind with a progress line.
    field_ports : bool
        Also write ``rtl/<module>_fields.v`` (:func:`numfmt.hw.emit.with_field_ports`): a
        wrapper with one port per payload field (``i_x0 …``, ``o_y0 …``, ``o_label``)
        around the packed-bus module; ``manifest.json`` names its ports.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    DesignError
        The design file is wrong (message ``FILE:LINE: key 'x.y' = value: …``).
    FileExistsError
        ``out`` exists and ``force`` is false.
    BuildError
        Verification or synthesis failed.
    """
    if not isinstance(design, Design):
        design = load(design)
    if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < 1):
        raise ValueError(f"images must be an integer ≥ 1, not {images!r}")
    if not isinstance(field_ports, bool):
        raise ValueError(f"field_ports must be True or False, not {field_ports!r}")
    if field_ports and design.backend == "hls":
        raise ValueError(f"field_ports=True (--field-ports): applies to the RTL accelerator; {design.path} "
                         "builds HLS C++")
    if hls_project is not None:
        if design.backend != "hls":
            raise ValueError(f"hls_project={str(hls_project)!r}: applies to backend = \"hls\" designs; "
                             f"{design.path} builds the RTL accelerator")
        if not Path(hls_project).is_dir():
            raise ValueError(f"hls_project must be an HLS project directory, not {str(hls_project)!r}")
    out = Path(default_out(design) if out is None else out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; choose another output directory or replace it with --force")
    previous = None
    if design.backend == "hls":
        previous = (Path(hls_project), True) if hls_project is not None else (
            (out / "hls", False) if (out / "hls").is_dir() else None)
    _say(progress, f"{design.path}: quantizing the network and "
                   + ("checking it against the HLS generator" if design.backend == "hls"
                      else "constructing the accelerator"))
    prep = prepare(design)
    n = len(prep.x_test) if design.verify.images == "all" else design.verify.images
    n = n if images is None else images
    if n > len(prep.x_test):
        raise ValueError(f"images must be at most {len(prep.x_test)} (the test split), not {n}")

    made = [p for p in [out.parent, *out.parent.parents] if not p.exists()]   # created here, removed on failure
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())                   # mkdtemp's directory is private
        if design.backend == "hls":
            _write_hls(prep, tmp, out, n=n, progress=progress, previous=previous)
        else:
            _write(prep, tmp, n=n, synth=synth, progress=progress, field_ports=field_ports)
        _into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    _say(progress, f"wrote {out}")
    return out


def _umask() -> int:
    from numfmt.hw.emit import _umask as umask
    return umask()


def _into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` (``force``) is moved aside first and
    deleted only once the new directory is in place."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old / out.name, out)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _write_json(path: Path, data) -> None:
    _write_text(path, json.dumps(data, indent=2) + "\n")


def _write(prep, tmp: Path, *, n: int, synth: bool, progress: bool, field_ports: bool = False) -> None:
    from numfmt.hw.emit import emit, verilog_ports

    design, acc = prep.design, prep.accelerator
    _say(progress, f"generating the Verilog of {acc.name}")
    paths = emit(acc, tmp / "rtl")
    text = paths["verilog"].read_text(encoding="utf-8")
    ports = verilog_ports(text, acc.name)
    wrapper = None
    if field_ports:
        _say(progress, "generating the wrapper with one port per payload field")
        wpaths = emit(acc, tmp / "rtl", field_ports=True)
        wmanifest = json.loads(wpaths["manifest"].read_text(encoding="utf-8"))
        wrapper = {"verilog": f"rtl/{wpaths['verilog'].name}", "manifest": f"rtl/{wpaths['manifest'].name}",
                   "module": wmanifest["module"], "wraps": acc.name,
                   "ports": verilog_ports(wpaths["verilog"].read_text(encoding="utf-8"), wmanifest["module"])}
    _write_text(tmp / "design.toml", design.text)

    _say(progress, "writing the weights")
    weights = _weights(acc, tmp / "weights")

    _say(progress, f"verifying {n} test images in {design.verify.simulator} (the first build of a design "
                   "takes a minute)")
    report = _verify(prep, n)
    _write_json(tmp / "verification.json", report)
    _write_text(tmp / "verification.md", verification_markdown(report))

    synthesis = None
    if synth and design.target.synth != "none":
        _say(progress, f"synthesizing for {design.target.synth} (Yosys; cached)")
        synthesis = _synthesize(design, acc, text)
        _write_json(tmp / "synthesis.json", synthesis)
        _write_text(tmp / "synthesis.md", synthesis_markdown(synthesis))

    manifest = _manifest(prep, ports, weights, report, synthesis)
    manifest["field_ports"] = wrapper
    _write_json(tmp / "manifest.json", manifest)
    _write_text(tmp / "README.md", readme(manifest))


# -- weights -------------------------------------------------------------------------------------
def _hex(words, width: int) -> str:
    digits = max(1, -(-width // 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def _weights(acc, folder: Path) -> dict:
    """``weights.npz``, and per matrix-vector stage a readable JSON and the ROM words as hex."""
    folder.mkdir()
    arrays, files = {}, {}
    for s in acc.mvus:
        node, name = s.node, s.node.name
        arrays.update({f"{name}.weight": np.asarray(s.weights, dtype=np.int64),
                       f"{name}.bias": np.asarray(node.bias, dtype=np.int64),
                       f"{name}.multiplier": np.asarray(node.multiplier, dtype=np.int64),
                       f"{name}.shift": np.asarray(node.shift, dtype=np.int64)})
        rom_w, rom_b = f"{name}_weights.hex", f"{name}_biases.hex"
        wwidth, bwidth = s.pe * s.simd * s.weight_bits, s.pe * s.register_width
        _write_text(folder / rom_w, _hex(s.weight_words(), wwidth))
        _write_text(folder / rom_b, _hex(s.bias_words(), bwidth))
        layer = {
            "layer": name, "shape": [s.n_out, s.n_in],
            "weight_format": str(node.weight_format),
            "weight": "integers in units of the weight format's quantum, weight[out][in]",
            "weights": np.asarray(s.weights, dtype=np.int64).tolist(),
            "channel_scale": np.asarray(node.channel_scale, dtype=np.float64).tolist(),
            "bias": np.asarray(node.bias, dtype=np.int64).tolist(),
            "bias_units": "accumulator units (the start value of each channel's register)",
            "requantizer": {"multiplier": np.asarray(node.multiplier, dtype=np.int64).tolist(),
                            "shift": np.asarray(node.shift, dtype=np.int64).tolist(),
                            "rule": "output = round(K * multiplier * 2**-shift) into the output format"},
            "rom": {"weights": {"file": rom_w, "words": s.nf * s.sf, "width": wwidth,
                                "layout": "word nf*SF + sf holds weight (nf*pe + p, sf*simd + s) at bits "
                                          "(p*simd + s)*weight_bits, two's complement"},
                    "biases": {"file": rom_b, "words": s.nf, "width": bwidth,
                               "layout": "word nf holds the register start of channel nf*pe + p at bits "
                                         "p*register_width"}},
        }
        if hasattr(s, "rom_description"):          # a stage whose constants are not MatrixVector's
            layer.update(s.rom_description(rom_w, rom_b))
        _write_json(folder / f"{name}.json", layer)
        files[name] = {"json": f"weights/{name}.json", "weights_hex": f"weights/{rom_w}",
                       "biases_hex": f"weights/{rom_b}"}
    np.savez(folder / "weights.npz", **arrays)
    return {"npz": "weights/weights.npz", "layers": files}


# -- verification --------------------------------------------------------------------------------
def _verify(prep, n: int) -> dict:
    from numfmt.sim import MismatchError, SimulationError, check

    design, acc, q = prep.design, prep.accelerator, prep.qgraph
    x, y = prep.x_test[:n], np.asarray(prep.y_test[:n])
    v = design.verify
    t0 = time.perf_counter()
    try:
        r = check(acc, vectors=acc.input_codes(x), simulator=v.simulator, seed=v.seed,
                  stall_limit=3 * acc.latency_cycles + 16)
    except MismatchError as exc:
        raise BuildError(f"verification failed: {str(exc).splitlines()[0]} (seed {v.seed})") from exc
    except SimulationError as exc:
        raise BuildError(f"the simulation failed: {str(exc).splitlines()[0]}") from exc
    seconds = time.perf_counter() - t0
    per_image = np.diff(r.out_cycles).astype(np.int64)
    measured_ii = sorted(set(per_image.tolist()))
    latency = int(r.latencies[0])
    labels = q.predict(x)                # == the RTL's labels: check compared every one
    report = {
        "design": design.name, "module": acc.name, "simulator": r.simulator, "seed": r.seed,
        "images": int(r.n_vectors), "test_split": int(len(prep.x_test)),
        "logits_checked": int(r.n_vectors) * len(acc.out_fields) - int(r.n_vectors),
        "labels_checked": int(r.n_vectors), "mismatches": 0,
        "comparison": "every output code (logits and label) equals the QuantizedGraph's, bit for bit",
        "cycles_per_image": {"model": acc.ii, "measured": measured_ii},
        "latency_cycles": {"model": acc.latency_cycles, "measured_first_image": latency},
        "cycles_simulated": int(r.cycles),
        "accuracy": {"hardware": float(np.mean(labels == y)),
                     "float_model": float(np.mean(prep.graph.predict(x) == y))},
        "seconds": {"build": round(r.build_seconds, 2), "simulation": round(r.seconds, 2),
                    "total": round(seconds, 2)},
    }
    if measured_ii and measured_ii != [acc.ii]:
        raise BuildError(f"verification failed: measured cycles per image {measured_ii}, the model says {acc.ii}")
    if latency != acc.latency_cycles:
        raise BuildError(f"verification failed: measured latency {latency} cycles, the model says "
                         f"{acc.latency_cycles}")
    return report


def verification_markdown(r: dict) -> str:
    """The verification report (its JSON) as Markdown."""
    if r.get("backend") == "hls":
        return _verification_markdown_hls(r)
    acc = r["accuracy"]
    lines = [f"# Verification of `{r['module']}`", "",
             f"{r['images']} of the {r['test_split']} test images streamed through the Verilog in "
             f"{r['simulator']} (seed {r['seed']}): {r['comparison']}.", "",
             "| check | model | measured |", "|---|---|---|",
             f"| logits and labels compared | {r['logits_checked']} + {r['labels_checked']} | "
             f"{r['mismatches']} mismatches |",
             f"| cycles per image (II) | {r['cycles_per_image']['model']} | "
             f"{', '.join(map(str, r['cycles_per_image']['measured'])) or 'n/a (one image)'} |",
             f"| latency, first image (cycles) | {r['latency_cycles']['model']} | "
             f"{r['latency_cycles']['measured_first_image']} |", "",
             f"Accuracy on these images: {100 * acc['hardware']:.2f}% (the hardware, equal to the quantized "
             f"model); the float model: {100 * acc['float_model']:.2f}%.",
             ""]
    return "\n".join(lines)


# -- synthesis -----------------------------------------------------------------------------------
def _synthesize(design, acc, text: str) -> dict:
    from numfmt.hw.cost import SynthesisError, synthesize

    t = design.target
    try:
        res = synthesize(text, acc.name, target=t.synth, options=t.options, clock_mhz=t.clock_mhz)
    except SynthesisError as exc:
        raise BuildError(f"synthesis failed: {str(exc).splitlines()[0]}") from exc
    cells = res.cells_by_type
    if res.latches:
        raise BuildError(f"synthesis found latches: {res.latches}")
    return {"target": res.target, "options": list(res.options), "top": res.top,
            "luts": res.luts, "ffs": res.ffs, "dsps": res.dsps, "brams": res.brams, "carry": res.carry,
            "muxes": res.muxes, "latches": 0, "fmax_mhz": res.fmax_mhz, "clock_mhz": res.clock_mhz,
            "cells": cells, "tool_versions": dict(res.tool_versions), "seconds": round(res.seconds, 2)}


def synthesis_markdown(s: dict) -> str:
    """The synthesis report (its JSON) as Markdown."""
    flags = " ".join(s["options"]) or "default options"
    lines = [f"# Synthesis of `{s['top']}`", "", f"Yosys, target {s['target']} ({flags}).", "",
             "| LUT | FF | DSP | BRAM | carry | latches | Fmax (MHz) |", "|---|---|---|---|---|---|---|",
             f"| {s['luts']} | {s['ffs']} | {s['dsps']} | {s['brams']} | {s['carry']} | {s['latches']} | "
             f"{'n/a (not placed)' if s['fmax_mhz'] is None else format(s['fmax_mhz'], '.1f')} |", "",
             "Cells: " + ", ".join(f"{c} {k}" for c, k in sorted(s["cells"].items())) + ".", ""]
    return "\n".join(lines)


# -- manifest and README -------------------------------------------------------------------------
def _accumulator(s) -> str:
    if s.register is None:
        return f"exact: signed {s.register_width}-bit register (never overflows)"
    return f"{s.register} ({s.register_width}-bit register)"


#: the matrix–vector stages of a Dense layer (numfmt.hw.accel: the MVU and its variants)
_MVU_KINDS = ("MatrixVector", "BitSerialMatrixVector", "LutMatrixVector", "BlockMatrixVector", "FloatMatrixVector")


def _layers(acc) -> list:
    out = []
    for k, s in enumerate(acc.stages):
        entry = {"stage": k, "kind": type(s).__name__}
        if hasattr(s, "node"):
            entry["layer"] = s.node.name
        if type(s).__name__ in _MVU_KINDS:
            entry.update({"op": "dense", "variant": getattr(s, "variant", "mvu"), "inputs": s.n_in,
                          "outputs": s.n_out,
                          "in_format": str(s.in_fmt), "weight_format": str(s.node.weight_format),
                          "accumulator": _accumulator(s), "out_format": str(s.out_fmt),
                          "out_scale": float(s.node.out.scale), "pe": s.pe, "simd": s.simd,
                          "mac_cycles": s.cycles, "ii": s.ii, "latency": s.latency,
                          "fifo_in_front": k in acc.fifo_before})
        elif type(s).__name__ == "Activation":
            entry.update({"op": type(s.node.layer).__name__.lower(), "size": s.size, "format": str(s.fmt),
                          "ii": s.ii, "latency": s.latency})
        elif type(s).__name__ == "Convolution":
            entry.update({"op": "conv", "in_shape": list(s.in_shape), "out_shape": list(s.out_shape),
                          "kernel": list(s.kernel), "stride": list(s.stride), "padding": list(s.padding),
                          "in_format": str(s.in_fmt), "weight_format": str(s.node.weight_format),
                          "accumulator": _accumulator(s.mvu), "out_format": str(s.out_fmt),
                          "out_scale": float(s.node.out.scale), "pe": s.pe, "simd": s.simd,
                          "mac_cycles": s.cycles, "ii": s.ii, "latency": s.latency,
                          "fifo_in_front": k in acc.fifo_before})
        elif type(s).__name__ in ("MaxPool", "AvgPool", "Add"):
            entry.update({"op": type(s).__name__.lower(), "inputs": list(acc.sources[k]), "size": s.n_out,
                          "format": str(s.fmt), "lanes": getattr(s, "lanes", None), "ii": s.ii,
                          "latency": s.latency})
        else:
            entry.update({"op": "argmax", "size": s.size, "format": str(s.fmt),
                          "label_bits": s.label_fmt.bits, "ii": s.ii, "latency": s.latency})
        out.append(entry)
    return out


def _manifest(prep, ports, weights, report, synthesis) -> dict:
    design, acc = prep.design, prep.accelerator
    unit = acc.manifest()
    stream = {}
    for side in ("i", "o"):
        u = unit["ports"][side]
        stream[side] = {"valid": u["valid"], "ready": u["ready"], "payload": u["payload"], "width": u["width"],
                        "fields": u["fields"]}
    inp = prep.qgraph.nodes[0].out
    return {
        "design": design.name, "description": design.description, "module": acc.name,
        "verilog": f"rtl/{acc.name}.v", "ports": ports, "clock": "clk" if "clk" in ports else None,
        "reset": "rst" if "rst" in ports else None, "streams": stream,
        "field_order": unit["field_order"], "stream_protocol": STREAM_PROTOCOL,
        "input": {"shape": list(acc.input_shape), "format": str(acc.input_format), "scale": float(inp.scale),
                  "encoding": "code = format.encode(x / scale), elements in C order as fields x0, x1, ..."},
        "output": {"format": str(acc.output_format), "scale": float(prep.qgraph.node(prep.qgraph.output).out.scale),
                   "label": "index of the largest logit (the lowest on ties)"},
        "ii_cycles": acc.ii, "latency_cycles": acc.latency_cycles,
        "timing": "ii: cycles per image in steady state with o always ready; latency: input to output "
                  "handshake through an empty pipeline",
        "folding": {s.node.name: {"pe": s.pe, "simd": s.simd, "variant": getattr(s, "variant", "mvu")}
                    for s in acc.mvus},
        "fifo_depth": acc.fifo_depth, "variant": design.variant,
        "quantization": prep.design.quantization(), "layers": _layers(acc),
        "weights": weights,
        "verification": {"json": "verification.json", "markdown": "verification.md", "images": report["images"],
                         "simulator": report["simulator"], "mismatches": 0},
        "synthesis": None if synthesis is None else {
            "json": "synthesis.json", "markdown": "synthesis.md", "target": synthesis["target"],
            "luts": synthesis["luts"], "ffs": synthesis["ffs"], "dsps": synthesis["dsps"],
            "brams": synthesis["brams"]},
    }


def readme(m: dict) -> str:
    """The README for the engineer who receives the directory (a view of the manifest)."""
    if m.get("backend") == "hls":
        return _readme_hls(m)
    lines = [f"# `{m['module']}`", ""]
    if m["description"]:
        lines += [m["description"], ""]
    lines += [f"Built by `numfmt build` from `design.toml` (design `{m['design']}`): a streaming accelerator "
              "for a quantized network, one stage per layer, valid/ready streams, weights in ROMs.", "",
              "## Files", "",
              f"* `{m['verilog']}` — the Verilog, top module `{m['module']}` (self-contained, no includes).",
              "* `manifest.json` — ports, stream fields, protocol, latency, II, formats per layer, folding.",
              "* `weights/` — every layer's integers (`weights.npz`, readable `<layer>.json`) and the ROM "
              "contents as `$readmemh` files (already inside the Verilog; for inspection).",
              "* `verification.md` / `.json` — the simulation against the bit-exact model."]
    if m["synthesis"] is not None:
        lines.append("* `synthesis.md` / `.json` — Yosys resource counts.")
    wrapper = m.get("field_ports")
    if wrapper is not None:
        lines.append(f"* `{wrapper['verilog']}` — top module `{wrapper['module']}` (self-contained): "
                     f"`{m['module']}` with one port per payload field (`i_<field>`, `o_<field>`, handshakes "
                     f"`i_valid`, `i_ready`, `o_valid`, `o_ready`), {len(wrapper['ports'])} ports; "
                     f"`{wrapper['manifest']}` lists them.")
    lines += ["", "## Ports", "", "| port | direction | width |", "|---|---|---|"]
    lines += [f"| `{name}` | {p['direction']} | {p['width']} |" for name, p in m["ports"].items()]
    lines += ["", f"Clock `{m['clock']}` (rising edge), reset `{m['reset']}`. Protocol: {m['stream_protocol']}.", ""]
    for side, what in (("i", "Input"), ("o", "Output")):
        s = m["streams"][side]
        fields = s["fields"]
        shown = ", ".join(f"`{f['name']}` ({f['format'] or 'unsigned'}, {f['width']} b)" for f in fields[:3])
        more = f", … `{fields[-1]['name']}`" if len(fields) > 3 else ""
        lines.append(f"* {what} payload `{s['payload']}`, {s['width']} bits: {len(fields)} fields, "
                     f"{shown}{more}; first field in the least significant bits.")
    i, o = m["input"], m["output"]
    lines += ["", f"Input image: shape {tuple(i['shape'])}, {i['format']} codes of x / {i['scale']:.6g}. "
              f"Output: {o['format']} logits (scale {o['scale']:.6g}) and `label`, {o['label']}.", "",
              "## Timing", "",
              f"* II: {m['ii_cycles']} cycles per image; latency: {m['latency_cycles']} cycles "
              f"(input handshake to output handshake, empty pipeline, `o` ready). A stalled output stalls "
              "the pipeline; nothing is dropped.", "",
              "## Layers", "", "| stage | layer | op | formats | pe × simd | cycles (II) |",
              "|---|---|---|---|---|---|"]
    for s in m["layers"]:
        if s["kind"] in _MVU_KINDS:
            fmts = f"{s['in_format']} × {s['weight_format']} → {s['out_format']}; acc {s['accumulator']}"
            variant = "" if s.get("variant", "mvu") == "mvu" else f" {s['variant']}"
            lines.append(f"| {s['stage']} | {s['layer']} | dense {s['inputs']}→{s['outputs']}{variant} | {fmts} | "
                         f"{s['pe']} × {s['simd']} | {s['ii']} |")
        elif s["kind"] == "Convolution":
            fmts = f"{s['in_format']} × {s['weight_format']} → {s['out_format']}; acc {s['accumulator']}"
            shape = "×".join(map(str, s["in_shape"])) + " → " + "×".join(map(str, s["out_shape"]))
            lines.append(f"| {s['stage']} | {s['layer']} | conv {s['kernel'][0]}x{s['kernel'][1]} {shape} | {fmts} | "
                         f"{s['pe']} × {s['simd']} | {s['ii']} |")
        else:
            lines.append(f"| {s['stage']} | {s.get('layer', '')} | {s['op']} | {s['format']} | — | {s['ii']} |")
    v = m["verification"]
    lines += ["", "## Verified", "",
              f"{v['images']} test images in {v['simulator']}: every logit and label equal to the bit-exact model "
              "(numfmt's QuantizedGraph), cycles per image and latency as above; see `verification.md`."]
    if m["synthesis"] is not None:
        s = m["synthesis"]
        lines += ["", f"Synthesis ({s['target']}): {s['luts']} LUT, {s['ffs']} FF, {s['dsps']} DSP, "
                      f"{s['brams']} BRAM; see `synthesis.md`."]
    lines.append("")
    return "\n".join(lines)



# -- backend = "hls": an HLS C++ project, verified by C simulation under g++ ----------------------
_VITIS_OPTS = ("reset 0", "csim 1", "synth 1", "cosim 0", "validation 0", "export 0", "vsynth 0", "fifo_opt 0")


def _c_name(name: str) -> str:
    """The top function's name: the design's name as a C identifier."""
    ident = re.sub(r"\W", "_", name)
    return ident if re.match(r"[A-Za-z_]", ident) else "d_" + ident


def _gxx_version() -> str:
    from numfmt.hw.hls import GxxError
    from numfmt.hw.hls._gxx import gxx

    try:
        res = subprocess.run([gxx(), "--version"], capture_output=True, text=True)
    except (GxxError, OSError) as exc:
        raise BuildError(f"the C simulation needs g++: {exc}") from exc
    return res.stdout.splitlines()[0] if res.stdout else "g++"


def _hls4ml_project(q, x, folder: Path, final: Path, top: str, opts) -> np.ndarray:
    """Write and compile the hls4ml project; the C simulation's outputs (values) for ``x``."""
    import io

    from numfmt.hw.hls import convert, input_values

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):       # hls4ml prints progress; stdout is the CLI's result
            model = convert(q, folder, project_name=top, backend=opts.tool.capitalize(), part=opts.part,
                            clock_period=opts.clock_ns)
            model.compile()
            y = model.predict(input_values(q, x))
    except (TypeError, ValueError):
        raise
    except Exception as exc:     # bare Exceptions (a failed g++), RuntimeError (hls4ml changed a planned type)
        raise BuildError(f"hls4ml could not build the C simulation: {exc}\n{log.getvalue()[-3000:]}") from exc
    for lib in (folder / "firmware").glob("*.so"):  # this host's library, built with this path: not handed off
        lib.unlink()
    config = folder / "hls4ml_config.yml"           # hls4ml records where it wrote: the final place
    if config.is_file():
        text = config.read_text(encoding="utf-8")
        _write_text(config, text.replace(f"OutputDir: {folder}\n", f"OutputDir: {final.resolve() / 'hls'}\n"))
    # the hls4ml testbench (<top>_test.cpp) reads tb_data/ as float: the input values and the
    # expected outputs, when float32 holds them exactly (Vitis csim then runs these images)
    values = q.run(x)
    xin, want = values[q.input_name].reshape(len(x), -1), values[q.output].reshape(len(x), -1)
    if all(np.array_equal(a.astype(np.float32), a) for a in (xin, want)):
        (folder / "tb_data").mkdir(exist_ok=True)
        np.savetxt(folder / "tb_data" / "tb_input_features.dat", xin, fmt="%.9g", delimiter=" ")
        np.savetxt(folder / "tb_data" / "tb_output_predictions.dat", want, fmt="%.9g", delimiter=" ")
    if opts.tool == "vitis":        # its build_prj.tcl sources build_opt.tcl, which hls4ml's build() writes
        _write_text(folder / "build_opt.tcl", "array set opt {\n" + "".join(f"    {o}\n" for o in _VITIS_OPTS) + "}\n")
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


def _numfmt_project(q, x, folder: Path, top: str, opts) -> np.ndarray:
    """Generate the HLS C++ project and run its testbench under g++; the output codes for ``x``."""
    from numfmt.hw.hls import GxxError, check_project, generate_project

    project = generate_project(q, x, folder, name=top, part=opts.part, clock_ns=opts.clock_ns)
    try:
        result = check_project(project)
    except GxxError as exc:
        raise BuildError(f"the C simulation failed: {str(exc).splitlines()[0]}") from exc
    return result.outputs


def _write_hls(prep, tmp: Path, final: Path, *, n: int, progress: bool, previous) -> None:
    from numfmt.hw.hls import sources_digest

    design, q, opts = prep.design, prep.qgraph, prep.design.hls
    top = _c_name(design.name)
    _write_text(tmp / "design.toml", design.text)
    folder = tmp / "hls"
    x = prep.x_test[:n]
    compiler = _gxx_version()
    t0 = time.perf_counter()
    if opts.generator == "hls4ml":
        _say(progress, f"writing the hls4ml project ({opts.tool.capitalize()} back end) and running its C "
                       f"simulation with g++ over {n} test images")
        got = _hls4ml_project(q, x, folder, final, top, opts)
        want = np.asarray(q.run(x)[q.output], dtype=np.float64).reshape(n, -1)
    else:
        _say(progress, f"generating the HLS C++ project and running its testbench with g++ over {n} test images")
        got = _numfmt_project(q, x, folder, top, opts)
        want = np.asarray(q.trace(x)[q.output], dtype=np.uint32).reshape(n, -1)
    seconds = time.perf_counter() - t0
    report = _verify_hls(prep, n, got, want, top, compiler, seconds)
    _write_json(tmp / "verification.json", report)
    _write_text(tmp / "verification.md", verification_markdown(report))

    digest = sources_digest(folder)
    csynth = _carry_reports(previous, folder, digest, progress)
    _readable(folder)
    manifest = _hls_manifest(prep, top, report, digest, csynth, previous)
    _write_json(tmp / "manifest.json", manifest)
    _write_text(tmp / "README.md", readme(manifest))


def _readable(folder: Path) -> None:
    """Read (and, for folders, search) permission for whom the umask allows: the project's
    writers create some files private (0600)."""
    allow = ~_umask()
    for p in [folder, *folder.rglob("*")]:
        mode = p.stat().st_mode
        extra = (0o555 if p.is_dir() else 0o444) & allow
        if mode & extra != extra:
            os.chmod(p, (mode | extra) & 0o7777)


def _verify_hls(prep, n: int, got, want, top: str, compiler: str, seconds: float) -> dict:
    design, q = prep.design, prep.qgraph
    if got.shape != want.shape or not np.array_equal(got, want):
        if got.shape != want.shape:
            raise BuildError(f"verification failed: the C simulation gave outputs of shape {got.shape}, numfmt "
                             f"{want.shape}")
        bad = np.flatnonzero((got != want).any(axis=1))
        i = int(bad[0])
        what = "values" if design.hls.generator == "hls4ml" else "codes"
        raise BuildError(f"verification failed: test image {i}: the HLS C simulation gives {what} "
                         f"{_short(got[i])} where numfmt gives {_short(want[i])} ({len(bad)} of {n} images differ)")
    x, y = prep.x_test[:n], np.asarray(prep.y_test[:n])
    labels = q.predict(x)
    hls4ml = design.hls.generator == "hls4ml"
    return {
        "design": design.name, "backend": "hls", "generator": design.hls.generator, "top": top,
        "c_simulation": ("hls4ml compile() (g++) and predict()" if hls4ml
                         else f"the project's testbench {top}_tb.cpp, compiled with g++ and run"),
        "compiler": compiler, "images": n, "test_split": int(len(prep.x_test)),
        "outputs_checked": int(want.size), "mismatches": 0,
        "comparison": ("every output value of the top function equals the QuantizedGraph's output node, exactly"
                       if hls4ml else "every output code of the top function equals the QuantizedGraph's, bit for bit"),
        "accuracy": {"hls": float(np.mean(labels == y)), "float_model": float(np.mean(prep.graph.predict(x) == y))},
        "seconds": {"total": round(seconds, 2)},
    }


def _short(row) -> str:
    vals = [int(v) if float(v).is_integer() else float(v) for v in np.asarray(row).tolist()]
    return str(vals[:12])[:-1] + (", …]" if len(vals) > 12 else "]")


def _carry_reports(previous, folder: Path, digest: str, progress: bool):
    """Copy the csynth reports of ``previous`` (path, explicit) into ``folder`` when its synthesis
    sources equal the new project's; the parsed reports ``{solution: (relative path, CsynthReport)}``."""
    from numfmt.hw.cost.reports import ReportError
    from numfmt.hw.hls import find_reports, read_reports, sources_digest

    if previous is None:
        return None
    old, explicit = previous
    try:
        found = find_reports(old)
    except ValueError as exc:
        if explicit:
            raise ValueError(f"hls_project: {exc}") from None
        return None                                  # the replaced directory holds no HLS project
    if not found:
        if explicit:
            raise ValueError(f"hls_project {str(old)!r} holds no csynth report (<top>_prj/<solution>/syn/report/"
                             "<top>_csynth.xml or .rpt): run Vitis HLS there first")
        return None
    if sources_digest(old) != digest:
        msg = (f"the csynth report in {old} was made from other sources than this build's (the design, numfmt "
               "or hls4ml changed)")
        if explicit:
            raise ValueError(f"hls_project: {msg}; synthesize the new project instead")
        _say(progress, f"{msg}: not carried over")
        return None
    for sol, path in found.items():
        dest = folder / path.relative_to(old)
        dest.parent.mkdir(parents=True, exist_ok=True)
        for twin in (path.with_suffix(".xml"), path.with_suffix(".rpt")):
            if twin.is_file():
                shutil.copyfile(twin, dest.with_suffix(twin.suffix))
    _say(progress, f"carried over the csynth report{'s' if len(found) > 1 else ''} of {old}")
    try:
        parsed = read_reports(folder)
    except ReportError as exc:
        raise BuildError(f"cannot read the csynth report: {exc}") from exc
    new = find_reports(folder)
    return {sol: (new[sol].relative_to(folder.parent).as_posix(), r) for sol, r in parsed.items()}


def _csynth_entry(sol: str, rel: str, r) -> dict:
    return {"solution": sol, "report": rel, "tool_version": r.version, "part": r.part, "top": r.top,
            "clock_ns": {"target": r.target_period_ns, "estimated": r.estimated_period_ns,
                         "uncertainty": r.uncertainty_ns},
            "estimated_fmax_mhz": round(r.estimated_fmax_mhz, 2),
            "latency_cycles": {"best": r.latency_best, "average": r.latency_average, "worst": r.latency_worst},
            "interval_cycles": {"min": r.interval_min, "max": r.interval_max},
            "resources": dataclasses.asdict(r.resources), "available": dataclasses.asdict(r.available)}


def _hls_layers(q, generator: str) -> list:
    from numfmt.arith import ExactAccumulator
    from numfmt.nn.quantized import QInput, QLinear

    if generator == "hls4ml":
        from numfmt.hw.hls import plan
        return [{"layer": lay.name, "node": lay.node, "kind": lay.kind,
                 "types": {k: str(v) for k, v in lay.types.items()}} for lay in plan(q)]
    out = []
    for node in q.nodes:
        if isinstance(node, QInput):
            continue
        entry = {"node": node.name}
        if isinstance(node, QLinear):
            block = node.x.block is not None
            n_out, n_in = node.weight_codes.shape
            entry.update({"op": f"dense {n_in}→{n_out}",
                          "in_format": str(node.x.block if block else node.x.format),
                          "weight_format": str(node.block_format if block else node.weight_format),
                          "accumulator": "exact" if isinstance(node.acc or ExactAccumulator(), ExactAccumulator)
                          else str(node.acc), "out_format": str(node.out.format)})
        else:
            entry.update({"op": type(node.layer).__name__.lower(), "out_format": str(node.out.format)})
        out.append(entry)
    return out


def _hls_manifest(prep, top: str, report: dict, digest: str, csynth, previous) -> dict:
    design, q, opts = prep.design, prep.qgraph, prep.design.hls
    hls4ml = opts.generator == "hls4ml"
    inp, outp = q.node(q.input_name).out, q.node(q.output).out
    if hls4ml:
        files = {"top": f"hls/firmware/{top}.cpp", "header": f"hls/firmware/{top}.h",
                 "weights": "hls/firmware/weights/", "types": "hls/firmware/defines.h",
                 "testbench": f"hls/{top}_test.cpp", "tcl": "hls/build_prj.tcl", "settings": "hls/project.tcl"}
        run = ("cd hls && vitis-run --mode hls --tcl build_prj.tcl   # options: build_opt.tcl; before "
               "Vitis 2024.2: vitis_hls -f build_prj.tcl" if opts.tool == "vitis" else
               'cd hls && vivado_hls -f build_prj.tcl "reset=0 csim=1 synth=1 cosim=0 validation=0 export=0 '
               'vsynth=0 fifo_opt=0"')
        interface = (f"void {top}(input_t x[N], result_t y[M]) — hls4ml io_parallel arrays; input_t is "
                     f"{inp.format} (ap_fixed), result_t {outp.format}")
        encoding = "x / scale, as the input_t value (the host's division; the type rounds it once)"
    else:
        files = {"top": f"hls/{top}.cpp", "header": f"hls/{top}.h", "weights": f"hls/{top}_weights.h",
                 "library": "hls/include/numfmt/", "testbench": f"hls/{top}_tb.cpp", "tcl": "hls/build.tcl"}
        run = "cd hls && vitis_hls -f build.tcl   # Vitis 2024.2 and later: vitis-run --mode hls --tcl build.tcl"
        interface = (f"void {top}(const in_t x[N_IN], out_t y[N_OUT]) — codes (numfmt::code_t) of {inp.format} "
                     f"in, of {outp.format} out")
        encoding = "code = format.encode(x / scale), elements in C order (MX networks: x as FP32 codes)"
    return {
        "design": design.name, "description": design.description, "backend": "hls",
        "generator": opts.generator, "tool": opts.tool, "top": top, "project": "hls/",
        "part": opts.part, "clock_ns": opts.clock_ns, "files": files, "interface": interface,
        "input": {"shape": list(q.input_shape), "format": str(inp.format), "scale": float(inp.scale),
                  "encoding": encoding},
        "output": {"shape": [int(report["outputs_checked"] // report["images"])], "format": str(outp.format),
                   "scale": float(outp.scale), "label": "index of the largest output (the lowest on ties)"},
        "quantization": design.qconfig.to_dict(), "layers": _hls_layers(q, opts.generator),
        "synthesis_sources_sha256": digest,
        "verification": {"json": "verification.json", "markdown": "verification.md", "images": report["images"],
                         "c_simulation": report["c_simulation"], "mismatches": 0},
        "csynth_command": run,
        "csynth_report": f"hls/{top}_prj/solution1/syn/report/{top}_csynth.xml",
        "csynth": None if not csynth else [_csynth_entry(sol, rel, r) for sol, (rel, r) in csynth.items()],
        "csynth_from": None if not csynth else str(previous[0]),
    }


_FILE_WHAT = {
    "top": "the top function", "header": "its declaration and the interface types",
    "weights": "the constants: weights, biases, requantization", "types": "every layer's ap_fixed types",
    "library": "numfmt's header library of minifloat and MX arithmetic (C++14, standard library only)",
    "testbench": "the C testbench (Vitis csim runs it)", "tcl": "the HLS Tcl script: C simulation and synthesis",
    "settings": "part, clock and project name, read by the script"}


def _readme_hls(m: dict) -> str:
    hls4ml = m["generator"] == "hls4ml"
    top = m["top"]
    lines = [f"# `{top}` (HLS C++)", ""]
    if m["description"]:
        lines += [m["description"], ""]
    how = ("an hls4ml project (io_parallel, Latency strategy) whose every precision numfmt derived from the "
           "quantized network's formats (docs/hls4ml.md)" if hls4ml else
           "an HLS C++ project generated by numfmt: the top function calls numfmt's header library of minifloat "
           "and MX arithmetic (docs/hls.md)")
    lines += [f"Built by `numfmt build` from `design.toml` (design `{m['design']}`, `backend = \"hls\"`): {how}. "
              f"Part `{m['part']}`, clock {m['clock_ns']:g} ns.", "",
              "## Files", ""]
    lines += [f"* `{path}` — {_FILE_WHAT[what]}" for what, path in m["files"].items()]
    lines += ["* `manifest.json` — formats, layers, interface, verification and (when present) the csynth estimate.",
              "* `verification.md` / `.json` — the C simulation against the bit-exact model.", "",
              "## Interface", "", f"`{m['interface']}`.", "",
              f"Input: shape {tuple(m['input']['shape'])}, {m['input']['format']}: {m['input']['encoding']} "
              f"(scale {m['input']['scale']:.6g}). Output: {m['output']['shape'][0]} × {m['output']['format']} "
              f"(scale {m['output']['scale']:.6g}); the label is the {m['output']['label']}.", "",
              "## Layers", ""]
    if hls4ml:
        lines += ["| hls4ml layer | node | kind | types |", "|---|---|---|---|"]
        lines += [f"| {lay['layer']} | {lay['node']} | {lay['kind']} | "
                  + ", ".join(f"{k} {v}" for k, v in lay["types"].items()) + " |" for lay in m["layers"]]
    else:
        lines += ["| node | op | formats |", "|---|---|---|"]
        for lay in m["layers"]:
            fmts = (f"{lay['in_format']} × {lay['weight_format']} → {lay['out_format']}; acc {lay['accumulator']}"
                    if "weight_format" in lay else lay["out_format"])
            lines.append(f"| {lay['node']} | {lay['op']} | {fmts} |")
    v = m["verification"]
    lines += ["", "## Verified here", "",
              f"C simulation ({v['c_simulation']}) over {v['images']} test images: every output equals "
              "the bit-exact model (numfmt's QuantizedGraph); see `verification.md`.", "",
              "## Synthesis (needs Vitis HLS)", "",
              "Nothing here ran a vendor tool. On a machine with Vitis HLS:", "", "```sh", m["csynth_command"], "```",
              "",
              f"C simulation runs the testbench over the same images, then C synthesis writes `{m['csynth_report']}`. "
              "Run `numfmt build` again with `--force` on this directory (or `--hls-project <this hls/ folder>`) "
              "and the estimate below is filled in from that report, if the synthesis sources are unchanged. "
              "Not verified here: that the vendor front end accepts the code, C/RTL co-simulation, and "
              "resources and timing after implementation.", ""]
    if m["csynth"]:
        lines += ["## C-synthesis estimate", "",
                  f"From Vitis/Vivado HLS (carried over from `{m['csynth_from']}`): HLS's own estimate, not placed "
                  "and routed.", "",
                  "| solution | LUT | FF | DSP | BRAM_18K | URAM | latency (cycles) | interval | clock target / "
                  "estimated (ns) |", "|---|---|---|---|---|---|---|---|---|"]
        for c in m["csynth"]:
            r, lat, ii, clk = c["resources"], c["latency_cycles"], c["interval_cycles"], c["clock_ns"]
            lat_s, ii_s = _span(lat["best"], lat["worst"]), _span(ii["min"], ii["max"])
            lines.append(f"| {c['solution']} | {r['lut']} | {r['ff']} | {r['dsp']} | {r['bram_18k']} | "
                         f"{'—' if r['uram'] is None else r['uram']} | {lat_s} | {ii_s} | "
                         f"{clk['target']:g} / {clk['estimated']:g} |")
        lines.append("")
    return "\n".join(lines)


def _span(lo, hi) -> str:
    """``"6"``, ``"6–11"``, ``"6–?"`` (HLS could not bound it)."""
    lo_s, hi_s = ("?" if v is None else str(v) for v in (lo, hi))
    return lo_s if lo == hi else f"{lo_s}–{hi_s}"


def _verification_markdown_hls(r: dict) -> str:
    acc = r["accuracy"]
    return "\n".join([
        f"# Verification of `{r['top']}` (HLS C++)", "",
        f"{r['images']} of the {r['test_split']} test images through {r['c_simulation']} ({r['compiler']}): "
        f"{r['comparison']}.", "",
        "| check | compared | mismatches |", "|---|---|---|",
        f"| outputs of the top function | {r['outputs_checked']} | {r['mismatches']} |", "",
        f"Accuracy on these images: {100 * acc['hls']:.2f}% (the HLS C++, equal to the quantized model); the float "
        f"model: {100 * acc['float_model']:.2f}%. Not simulated here: the RTL Vitis HLS would make (C/RTL "
        "co-simulation needs the vendor tools).", ""])
