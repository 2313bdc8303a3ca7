"""The ``numfmt`` command.

``numfmt info FORMAT`` prints a format's parameters, its range and, for
formats of at most 8 bits, the value of every code::

    $ numfmt info e2m1fn
    $ numfmt info "ap_fixed<6,2,AP_RND_CONV,AP_SAT>"

``numfmt sweep`` measures a quantized network's accuracy for every format
family and width (default: the embedded digits MLP), prints the table and
saves ``sweep.csv`` and ``sweep.png``. Each point's result is appended to the results
store ``sweep.jsonl`` as soon as it is computed; after a crash or Ctrl-C, ``--resume``
runs only the missing points. A directory holding results is never reused without
``--resume`` or ``--overwrite``::

    $ numfmt sweep --families int,minifloat --bits 3-8 --methods rtn,gptq
    $ numfmt sweep --model model.onnx --data digits.npz --calib mse --out results/
    $ numfmt sweep --model model.onnx --data digits.npz --calib mse --out results/ --resume

``numfmt explore`` quantizes the network at every format × mode × PTQ method, prices each
format's MAC unit in LUTs, synthesizes and verifies the Pareto front and writes a report
(``pareto.png``, ``index.html``, ``summary.md``) into ``--out`` (docs/explore.md)::

    $ numfmt explore
    $ numfmt explore --families int,minifloat --bits 4-6 --methods rtn --out small/ --resume
    $ numfmt explore --families int --verify full --images 20 --fold 4,8 --out int/
    $ numfmt explore --families int,minifloat --bits 4 --target ecp5 --out ecp5/

``numfmt cache`` prints where the simulator builds are cached, their size and the
bound (``$NUMFMT_CACHE_MAX_MB``); ``numfmt cache --clear`` empties the cache::

    $ numfmt cache
    $ numfmt cache --clear

``numfmt build DESIGN.toml`` turns a design file (``designs/``) into a hand-off directory:
Verilog, manifest, weights, verification and synthesis reports, README
(:mod:`numfmt.flow.build`). A bad design file exits 2 with ``FILE:LINE: key …``; a failing
tool or check exits 1; nothing is left behind on failure::

    $ numfmt build designs/digits_mlp_int8.toml --out hw/ --no-synth --images 20
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

import numfmt as nf

__all__ = ["main", "describe"]

_RANGE_ATTRS = ("max", "min", "smallest_normal", "smallest_subnormal", "eps", "resolution")
_TABLE_MAX_BITS = 8


def _fmt_value(v) -> str:
    if isinstance(v, float) or isinstance(v, np.floating):
        return repr(float(v))
    return str(v)


def describe(fmt, *, table: bool | None = None) -> str:
    """The text ``numfmt info`` prints for ``fmt``.

    >>> print(describe(nf.parse("e2m1fn"), table=False).splitlines()[0])
    e2m1fn: FloatFormat, 4 bits
    """
    if hasattr(fmt, "bits_per_element"):   # a block format: describe it, then its element
        lines = [f"{fmt}: {type(fmt).__name__}, {fmt.bits_per_element:g} bits per element"]
        for field in dataclasses.fields(fmt):
            lines.append(f"  {field.name:<20} {getattr(fmt, field.name)}")
        lines.append(f"  {'emax_elem':<20} {fmt.emax_elem}")
        lines.append("element " + describe(fmt.element, table=table))
        return "\n".join(lines)
    lines = [f"{fmt}: {type(fmt).__name__}, {fmt.bits} bits"]
    for field in dataclasses.fields(fmt):
        lines.append(f"  {field.name:<20} {getattr(fmt, field.name)}")
    lines.append("range")
    for name in _RANGE_ATTRS:
        if hasattr(type(fmt), name):
            lines.append(f"  {name:<20} {_fmt_value(getattr(fmt, name))}")
    if hasattr(fmt, "to_hls"):
        lines.append(f"  {'hls':<20} {fmt.to_hls()}")
    if table is None:
        table = fmt.bits <= _TABLE_MAX_BITS
    if table:
        lines.append("codes")
        lines.extend(_code_table(fmt))
    return "\n".join(lines)


def _code_table(fmt, columns: int = 4) -> list[str]:
    codes = fmt.codes()
    values = fmt.decode(codes)
    width = fmt.bits
    cells = [f"{int(c):#04x} {int(c):0{width}b} {_fmt_value(v):>12}" for c, v in zip(codes, values)]
    rows = (len(cells) + columns - 1) // columns
    out = []
    for r in range(rows):
        out.append("  " + "   ".join(cells[r + k * rows] for k in range(columns) if r + k * rows < len(cells)))
    return out


def _cmd_info(args) -> int:
    try:
        fmt = nf.parse(args.format)
    except ValueError as exc:
        print(f"numfmt info: {exc}", file=sys.stderr)
        return 2
    print(describe(fmt, table=False if args.no_table else None))
    return 0


def _int_range(text: str) -> list[int]:
    """``"3-8"`` → [3, ..., 8]; ``"4,8"`` → [4, 8]."""
    from .sweep import OptionError
    out = []
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            raise OptionError("bits", f"bits must look like 3-8 or 4,6,8, not {text!r}") from None
        if sep and int(lo) > int(hi):
            raise OptionError("bits", f"bits range {part!r} is empty: give the low end first ({hi}-{lo})")
    return out


def _granularity(text: str):
    """``"16"`` → 16 (a group size); names stay names."""
    return int(text) if text.strip().isdigit() else text


def _int_or_list(text: str):
    """``"205"`` → 205; ``"205,180,97"`` → [205, 180, 97] (one value per channel)."""
    try:
        values = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or comma-separated integers, not {text!r}") from None
    return values[0] if len(values) == 1 else values


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _percent(v) -> str:
    return "n/a" if v != v else f"{100 * v:.2f}%"


class _Progress:
    """A sweep's progress on ``stream``: a tqdm bar on a terminal, one plain line per point otherwise.

    Says what it does from the start (the first run trains the digits networks); the bar
    and the time left count points only, from when the first point starts.
    """

    def __init__(self, stream=None, *, digits=True, command="sweep", unit="point"):
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = None
        self.command, self.unit = f"numfmt {command}", unit
        print(f"{self.command}: preparing the model and data"
              + (" (the first run trains the digits networks)" if digits else ""), file=self.stream, flush=True)

    def __call__(self, done, total, rec):
        """``rec``: None when a phase of ``total`` steps starts, then a sweep record or a label."""
        if rec is None:                                  # the model and data are ready
            self.close()
            self.t0 = time.perf_counter()
            if self.tty:
                from tqdm import tqdm
                self.bar = tqdm(total=total, file=self.stream, unit=self.unit, desc=self.command,
                                dynamic_ncols=True)
            else:
                print(f"{self.command}: {total} {self.unit}s to run", file=self.stream, flush=True)
            return
        point = rec if isinstance(rec, str) else \
            f"{rec['weight']}/{rec['act']} {rec['method']} {_percent(rec['accuracy'])}"
        if self.bar is not None:
            self.bar.set_postfix_str(point, refresh=False)
            self.bar.update(1)
        else:
            elapsed = time.perf_counter() - self.t0
            eta = elapsed / done * (total - done)
            print(f"[{done}/{total}] {point}  {elapsed:.0f}s, ETA {eta:.0f}s", file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _load_data(path):
    from .sweep import OptionError
    try:
        with np.load(path) as d:
            missing = {"x_calib", "x_test", "y_test"} - set(d.files)
            if missing:
                raise OptionError("data", f"missing arrays {sorted(missing)} (it needs x_calib, x_test and y_test)")
            return d["x_calib"], d["x_test"], d["y_test"]
    except (OSError, ValueError) as exc:
        if isinstance(exc, OptionError):
            raise
        raise OptionError("data", f"{path}: {exc}") from None


def _option_error(exc) -> int:
    print(f"numfmt sweep: --{exc.option.replace('_', '-')}: {exc}", file=sys.stderr)
    return 2


def _cmd_sweep(args) -> int:
    from . import results, sweep
    try:
        pts = sweep.points(families=args.families, bits=_int_range(args.bits), modes=args.modes,
                           methods=args.methods, acc=args.acc, granularity=_granularity(args.granularity),
                           calib=args.calib, act_scale=args.act_scale)
        data = _load_data(args.data) if args.data else None
    except sweep.OptionError as exc:
        return _option_error(exc)
    store = os.path.join(args.out, "sweep.jsonl")
    csv_path = os.path.join(args.out, "sweep.csv")
    if os.path.exists(csv_path) and not os.path.exists(store) and not args.overwrite:
        print(f"numfmt sweep: {csv_path} holds results without a results store (sweep.jsonl), from an older "
              "numfmt; choose another --out, or --overwrite to replace it", file=sys.stderr)
        return 2
    progress = None if args.quiet else _Progress(digits=args.model in ("mlp", "cnn"))
    try:
        records = sweep.run(pts, args.model, data=data, store=store, resume=args.resume,
                            overwrite=args.overwrite, progress=progress)
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        try:
            kept = results.read(store)[1]
        except (OSError, ValueError):
            kept = []
        if not kept:
            print("numfmt sweep: interrupted before the first point finished", file=sys.stderr)
            return 130
        sweep.write_csv(kept, csv_path)
        print(f"numfmt sweep: interrupted; {len(kept)} of {len(pts)} points finished, kept in {store} and "
              f"{csv_path}; the same command with --resume continues", file=sys.stderr)
        return 130
    except sweep.OptionError as exc:
        return _option_error(exc)
    except results.ResultsExist as exc:
        print(f"numfmt sweep: {exc.path} already holds {exc.count} results of this sweep; --resume continues "
              "it, --overwrite discards them, or choose another --out", file=sys.stderr)
        return 2
    except results.ForeignResults as exc:
        print(f"numfmt sweep: {exc.path} holds results of a different sweep ({exc.what}); choose another "
              "--out, or --overwrite to discard them", file=sys.stderr)
        return 2
    except results.CorruptResults as exc:
        print(f"numfmt sweep: {exc}; choose another --out, or --overwrite to discard it", file=sys.stderr)
        return 2
    except (ValueError, ImportError, OSError) as exc:
        print(f"numfmt sweep: {exc}", file=sys.stderr)
        return 2
    finally:
        if progress is not None:
            progress.close()
    sweep.write_csv(records, csv_path)
    print(sweep.table(records))
    png = os.path.join(args.out, "sweep.png")
    sweep.plot(records, png)
    print(f"\nsaved {csv_path}, {png} and the results store {store}")
    return 0


def _cmd_explore(args) -> int:
    from . import explore, results, sweep

    def fail(message):
        print(f"numfmt explore: {message}", file=sys.stderr)
        return 2

    try:
        opts = explore.Options(
            model=args.model, data=args.data, families=tuple(args.families), bits=tuple(_int_range(args.bits)),
            modes=tuple(args.modes), methods=tuple(args.methods), granularity=_granularity(args.granularity),
            calib=args.calib, target=args.target, budget=args.budget, out=args.out, resume=args.resume,
            overwrite=args.overwrite, verify=args.verify, synth=not args.no_synth, workers=args.workers,
            scheduler=args.scheduler, vectors=args.vectors,
            fold=explore.DEFAULT_FOLD if args.fold is None else _fold(args.fold), images=args.images)
        opts.check()
    except sweep.OptionError as exc:
        return fail(f"--{exc.option.replace('_', '-')}: {exc}")
    progress = None if args.quiet else _Progress(digits=args.model in ("mlp", "cnn"), command="explore",
                                                 unit="task")
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    try:
        res = explore.explore(opts, progress=progress)
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        print(f"numfmt explore: interrupted; finished results are kept in {os.path.join(args.out, explore.STORE)}; "
              "the same command with --resume continues", file=sys.stderr)
        return 130
    except sweep.OptionError as exc:
        return fail(f"--{exc.option.replace('_', '-')}: {exc}")
    except results.ResultsExist as exc:
        return fail(f"{exc.path} already holds {exc.count} results of this exploration; --resume continues it, "
                    "--overwrite discards them, or choose another --out")
    except results.ForeignResults as exc:
        return fail(f"{exc.path} holds results of a different exploration ({exc.what}); choose another --out, "
                    "or --overwrite to discard them")
    except results.CorruptResults as exc:
        return fail(f"{exc}; choose another --out, or --overwrite to discard it")
    finally:
        if progress is not None:
            progress.close()
    on = [r for r, f in zip(res.records, res.front) if f]
    print(f"{len(res.records)} formats × modes, {len(on)} on the front (validation accuracy against LUTs):")
    for r in on:
        print(f"  {r['label']:<36} {r['method']:<9} test {_percent(r['accuracy']):>7}  {r['luts']:8.1f} LUTs"
              + (f"  verified: {r['verified']}" if "verified" in r else "")
              + (f"  accelerator: {r['accel_verified']}" if "accel_verified" in r else ""))
    for line in res.finding:
        print(line)
    print(f"\nreport: {res.paths['html']}, {res.paths['markdown']}, {res.paths['plot']}")
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"wall time {_duration(wall)} ({cpu:.0f} CPU seconds in this process and its workers{load})")
    return 0


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished child processes."""
    import resource
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def _fold(text):
    """``"pe,simd"`` → ``(pe, simd)``; anything else is passed on for Options.check to name."""
    parts = text.split(",") if isinstance(text, str) else []
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return text


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _cmd_cache(args) -> int:
    from numfmt.sim import _cache, cache_root
    root = cache_root()
    try:
        limit = _cache.max_bytes()
    except ValueError as exc:
        print(f"numfmt cache: {exc}", file=sys.stderr)
        return 2
    if args.clear:
        freed = _cache.clear(root)
        print(f"cleared {root}: {_mb(freed)} freed")
        return 0
    print(f"location  {root}{'' if root.exists() else ' (not created yet)'}")
    print(f"size      {_mb(_cache.usage(root))}")
    print(f"limit     {_mb(limit)} ($NUMFMT_CACHE_MAX_MB, default {_cache.DEFAULT_MAX_MB})")
    return 0


def _cmd_cost(args) -> int:
    from numfmt.hw.cost import SynthesisError

    from . import cost
    params = {k: v for k, v in (("rounding", args.rounding), ("stages", args.stages), ("acc_width", args.acc_width),
                                ("overflow", args.overflow), ("n", args.n), ("g", args.g), ("serial", args.serial),
                                ("multiplier", args.multiplier), ("shift", args.shift),
                                ("zero_point", args.zero_point), ("impl", args.impl), ("multiply", args.multiply),
                                ("saturate", args.saturate))
              if v is not None}
    try:
        if args.jobs is not None and args.jobs < 1:
            raise ValueError(f"-j/--jobs must be at least 1, not {args.jobs}")
        if args.target is not None:              # "" too: not read as the default
            from numfmt.hw.cost.cells import check_target
            check_target(args.target)
        if args.design:
            if args.kind or args.formats or params:
                given = "a unit" if args.kind or args.formats else f"--{next(iter(params)).replace('_', '-')}"
                raise ValueError(f"give either a unit (KIND FORMAT ... and its options) or --design FILE (options in "
                                 f"its [[unit]] tables), not both: {given} with --design")
            specs, defaults = cost.load_design(args.design)
        else:
            if not args.kind or not args.formats:
                raise ValueError("give a unit kind and its formats (e.g. numfmt cost floatmul e4m3fn) or --design FILE")
            specs, defaults = [cost.UnitSpec(args.kind, tuple(args.formats), params)], {}
        cost.run(specs, target=args.target or defaults.get("target", "xilinx"),
                 nodsp=args.nodsp or defaults.get("nodsp", False),
                 synth=args.synth or defaults.get("synth", False), processes=args.jobs,
                 as_json=args.json, progress=not args.quiet)
    except ValueError as exc:
        print(f"numfmt cost: {exc}", file=sys.stderr)
        return 2
    except SynthesisError as exc:  # a failing tool: its message has the command and the log's tail
        print(f"numfmt cost: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_build(args) -> int:
    from . import build, design
    try:
        out = build.build(args.design, args.out, synth=not args.no_synth, images=args.images, force=args.force,
                          progress=not args.quiet, hls_project=args.hls_project, field_ports=args.field_ports)
    except (design.DesignError, FileExistsError, ValueError) as exc:
        print(f"numfmt build: {exc}", file=sys.stderr)
        return 2
    except (build.BuildError, OSError) as exc:
        print(f"numfmt build: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("numfmt build: interrupted; nothing was written", file=sys.stderr)
        return 130
    print(out)
    return 0


def main(argv=None) -> int:
    """Entry point of the ``numfmt`` console script."""
    parser = argparse.ArgumentParser(prog="numfmt", description="Number formats for quantized-NN hardware.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print a format's parameters, range and code table")
    info.add_argument("format", help='format name, e.g. e4m3fn, fp6_e3m2, "ap_fixed<8,3>", int4')
    info.add_argument("--no-table", action="store_true", help="omit the table of codes")
    info.set_defaults(func=_cmd_info)
    sw = sub.add_parser("sweep", help="accuracy of a quantized network for every format family and width")
    sw.add_argument("--model", default="mlp",
                    help="mlp or cnn (the embedded digits networks), or a path to an ONNX model")
    sw.add_argument("--data", help="an .npz with x_calib, x_test, y_test (default: the digits data)")
    sw.add_argument("--families", type=_names, default=["int", "minifloat", "fixed", "mx"],
                    help="comma-separated, from int,minifloat,fixed,mx")
    sw.add_argument("--bits", default="3-8", help="e.g. 3-8 or 4,8")
    sw.add_argument("--modes", type=_names, default=["w", "wa"],
                    help="w (weights only), wa (weights and activations)")
    sw.add_argument("--methods", type=_names, default=["rtn", "gptq"], help="e.g. rtn,gptq,adaround")
    sw.add_argument("--acc", default="exact", help="accumulator: exact, fp32, fp16 or bf16")
    sw.add_argument("--granularity", default="channel",
                    help="weight scales per tensor, per channel, or per group of N inputs (an integer)")
    sw.add_argument("--calib", default="minmax", help="scale calibration: minmax, percentile or mse")
    sw.add_argument("--act-scale", default="float",
                    help="activation scales: float, pow2 (powers of two) or none (scale 1)")
    sw.add_argument("--out", default="numfmt-sweep",
                    help="directory for sweep.jsonl (the results store), sweep.csv and sweep.png")
    again = sw.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the sweep in --out: run only the points not yet in sweep.jsonl")
    again.add_argument("--overwrite", action="store_true", help="discard the results already in --out")
    sw.add_argument("--quiet", action="store_true", help="no progress")
    sw.set_defaults(func=_cmd_sweep)
    ex = sub.add_parser("explore", help="accuracy × hardware cost of every format and PTQ method; Pareto report")
    ex.add_argument("--model", default="mlp",
                    help="mlp or cnn (the embedded digits networks), or a path to an ONNX model")
    ex.add_argument("--data", help="an .npz with x_calib, x_test, y_test and x_val, y_val or y_calib "
                                   "(default: the digits data)")
    ex.add_argument("--families", type=_names, default=["int", "minifloat", "fixed", "mx"],
                    help="comma-separated, from int,minifloat,fixed,mx")
    ex.add_argument("--bits", default="3-8", help="e.g. 3-8 or 4,8")
    ex.add_argument("--modes", type=_names, default=["w", "wa"], help="w (weights only), wa (weights = activations)")
    ex.add_argument("--methods", type=_names, default=["rtn", "gptq", "adaround"], help="e.g. rtn,gptq,adaround")
    ex.add_argument("--granularity", default="channel", help="weight scales per tensor, channel or group of N")
    ex.add_argument("--calib", default="minmax", help="scale calibration: minmax, percentile or mse")
    ex.add_argument("--target", default="xilinx",
                    help="cost target: xilinx (cost model, synth_xilinx -nodsp), ecp5 (cost model, synth_ecp5 "
                         "-nodsp) or ice40 (no calibration: every unit synthesized by Yosys)")
    ex.add_argument("--fold", help="pe,simd of every layer (default 2,8), cut to divisors of its outputs/inputs: "
                                   "the whole-accelerator LUTs and --verify full")
    ex.add_argument("--budget", type=int, help="most LUTs per MAC lane a front point may have")
    ex.add_argument("--out", default="numfmt-explore", help="directory of the results store and the report")
    again = ex.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the exploration in --out")
    again.add_argument("--overwrite", action="store_true", help="discard the results already in --out")
    ex.add_argument("--verify", default="unit",
                    help="unit (simulate each front unit against numfmt), full (also each front point's whole "
                         "accelerator over --images test images) or none")
    ex.add_argument("--images", type=int, default=20, help="test images per accelerator with --verify full")
    ex.add_argument("--vectors", type=int, default=10_000, help="random vectors per verified unit")
    ex.add_argument("--no-synth", action="store_true", help="no Yosys: units outside the cost model get no cost")
    ex.add_argument("--workers", type=int, help="local worker processes (default: the usable cores)")
    ex.add_argument("--scheduler", help="a Dask scheduler, tcp://HOST:PORT, instead of local processes")
    ex.add_argument("--quiet", action="store_true", help="no progress")
    ex.set_defaults(func=_cmd_explore)
    co = sub.add_parser("cost", help="a unit's resources and latency: model estimate and, with --synth, "
                                     "Yosys/nextpnr",
                        description="Kinds: floatmul A [B [OUT]], intmac A B --acc-width W, kulischmac A B --n N, "
                                    "floataccmac A B ACC, fixedmac A B OUT --n N, convert IN OUT, bitserial A B --n N, "
                                    "lutdot W A --n N, requant OUT --acc-width W --multiplier B --shift C.")
    co.add_argument("kind", nargs="?", help="floatmul, intmac, kulischmac, floataccmac, fixedmac, convert, bitserial, "
                                            "lutdot, blockdot or requant")
    co.add_argument("formats", nargs="*", help="the unit's formats, e.g. e4m3fn or int8 int8")
    co.add_argument("--design", help="a TOML file of [[unit]] tables instead of one unit")
    co.add_argument("--target", help="xilinx (default), ecp5 (placed: Fmax) or ice40; the model covers xilinx "
                                     "and ecp5 with --nodsp")
    co.add_argument("--nodsp", action="store_true", help="LUTs only: no DSP blocks")
    co.add_argument("--synth", action="store_true", help="also synthesize (cached) and print the tools' figures")
    co.add_argument("--stages", type=int, help="pipeline stages")
    co.add_argument("--rounding", help="rounding mode of the result, e.g. rne, rtz")
    co.add_argument("--acc-width", type=int, help="accumulator width in bits (intmac; bitserial, lutdot; requant: "
                                                  "its signed input)")
    co.add_argument("--overflow", help="accumulator overflow: wrap or sat (intmac)")
    co.add_argument("--n", type=int, help="terms per dot product / accumulation (kulischmac, fixedmac, bitserial, lutdot)")
    co.add_argument("--g", type=int, help="weights per lookup table (lutdot)")
    co.add_argument("--serial", help="a or both: which operand is bit-serial (bitserial)")
    co.add_argument("--multiplier", type=_int_or_list,
                    help="the multiplier b (requant: q = sat(round(acc*b/2**c) + zp)); B1,B2,... one per channel")
    co.add_argument("--shift", type=_int_or_list,
                    help="the right shift c (requant; negative: a left shift); C1,C2,... one per channel")
    co.add_argument("--zero-point", type=int, help="the output zero point (requant)")
    co.add_argument("--impl", help="auto (default), table or datapath: the converter's hardware (convert)")
    co.add_argument("--multiply", help="shift_add (default) or operator: a constant multiplier's hardware (requant)")
    co.add_argument("--saturate", help="result (default) or accumulator: where a saturating output is "
                                       "saturated (requant)")
    co.add_argument("-j", "--jobs", type=int, help="parallel synthesis processes (default: one per core)")
    co.add_argument("--json", action="store_true", help="print the rows as JSON")
    co.add_argument("--quiet", action="store_true", help="no progress bar")
    co.set_defaults(func=_cmd_cost)
    cache = sub.add_parser("cache", help="location, size and limit of the simulator build cache")
    cache.add_argument("--clear", action="store_true", help="delete every cached build")
    cache.set_defaults(func=_cmd_cache)
    bu = sub.add_parser("build", help="a design file (designs/*.toml) to Verilog, manifest, weights and reports")
    bu.add_argument("design", help="the design file, e.g. designs/digits_mlp_int8.toml")
    bu.add_argument("--out", help="output directory (default numfmt-build/<design name>); must not exist")
    bu.add_argument("--force", action="store_true", help="replace an existing output directory")
    bu.add_argument("--no-synth", action="store_true", help="skip synthesis even if the design names a target")
    bu.add_argument("--images", type=int, help="test images to verify (default: the design's [verify] images)")
    bu.add_argument("--field-ports", action="store_true",
                    help="also write rtl/<module>_fields.v: a wrapper with one port per payload field")
    bu.add_argument("--hls-project", metavar="DIR",
                    help='backend = "hls": a project where Vitis HLS ran; its csynth reports are carried over '
                         "if its synthesis sources equal the new ones")
    bu.add_argument("--quiet", action="store_true", help="no progress lines")
    bu.set_defaults(func=_cmd_build)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
