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
import json
import os
import shutil
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
          progress: bool = True) -> Path:
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
    out = Path(default_out(design) if out is None else out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; choose another output directory or replace it with --force")
    _say(progress, f"{design.path}: quantizing the network and constructing the accelerator")
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
        _write(prep, tmp, n=n, synth=synth, progress=progress)
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


def _write(prep, tmp: Path, *, n: int, synth: bool, progress: bool) -> None:
    from numfmt.hw.emit import emit, verilog_ports

    design, acc = prep.design, prep.accelerator
    _say(progress, f"generating the Verilog of {acc.name}")
    paths = emit(acc, tmp / "rtl")
    text = paths["verilog"].read_text(encoding="utf-8")
    ports = verilog_ports(text, acc.name)
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
            "rom": {"weights": {"file": rom_w, "words": s.cycles, "width": wwidth,
                                "layout": "word nf*SF + sf holds weight (nf*pe + p, sf*simd + s) at bits "
                                          "(p*simd + s)*weight_bits, two's complement"},
                    "biases": {"file": rom_b, "words": s.nf, "width": bwidth,
                               "layout": "word nf holds the register start of channel nf*pe + p at bits "
                                         "p*register_width"}},
        }
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
    latches = {c: k for c, k in cells.items() if "LATCH" in c.upper() or c.startswith("LD")}
    if latches:
        raise BuildError(f"synthesis found latches: {latches}")
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


def _layers(acc) -> list:
    out = []
    for k, s in enumerate(acc.stages):
        entry = {"stage": k, "kind": type(s).__name__}
        if hasattr(s, "node"):
            entry["layer"] = s.node.name
        if type(s).__name__ == "MatrixVector":
            entry.update({"op": "dense", "inputs": s.n_in, "outputs": s.n_out,
                          "in_format": str(s.in_fmt), "weight_format": str(s.node.weight_format),
                          "accumulator": _accumulator(s), "out_format": str(s.out_fmt),
                          "out_scale": float(s.node.out.scale), "pe": s.pe, "simd": s.simd,
                          "mac_cycles": s.cycles, "ii": s.ii, "latency": s.latency,
                          "fifo_in_front": k in acc.fifo_before})
        elif type(s).__name__ == "Activation":
            entry.update({"op": type(s.node.layer).__name__.lower(), "size": s.size, "format": str(s.fmt),
                          "ii": s.ii, "latency": s.latency})
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
        "folding": {s.node.name: {"pe": s.pe, "simd": s.simd} for s in acc.mvus},
        "fifo_depth": acc.fifo_depth, "variant": design.variant,
        "quantization": prep.design.qconfig.to_dict(), "layers": _layers(acc),
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
        if s["kind"] == "MatrixVector":
            fmts = f"{s['in_format']} × {s['weight_format']} → {s['out_format']}; acc {s['accumulator']}"
            lines.append(f"| {s['stage']} | {s['layer']} | dense {s['inputs']}→{s['outputs']} | {fmts} | "
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

