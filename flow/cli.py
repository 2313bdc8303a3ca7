"""The ``numfmt`` command.

``numfmt info FORMAT`` prints a format's parameters, its range and, for
formats of at most 8 bits, the value of every code::

    $ numfmt info e2m1fn
    $ numfmt info "ap_fixed<6,2,AP_RND_CONV,AP_SAT>"

``numfmt sweep`` measures a quantized network's accuracy for every format
family and width (default: the embedded digits MLP), prints the table and
saves ``sweep.csv`` and ``sweep.png``::

    $ numfmt sweep --families int,minifloat --bits 3-8 --methods rtn,gptq
    $ numfmt sweep --model model.onnx --data digits.npz --out results/

``numfmt cache`` prints where the simulator builds are cached, their size and the
bound (``$NUMFMT_CACHE_MAX_MB``); ``numfmt cache --clear`` empties the cache::

    $ numfmt cache
    $ numfmt cache --clear
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
    out = []
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            raise argparse.ArgumentTypeError(f"--bits must look like 3-8 or 4,6,8, not {text!r}")
    return out


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


class _ProgressBar:
    """One line on stderr: bar, count, the last point and its accuracy, time left."""

    def __init__(self, stream=sys.stderr, width=28):
        self.stream, self.width, self.t0 = stream, width, time.perf_counter()

    def __call__(self, done, total, rec):
        filled = self.width * done // max(total, 1)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / done * (total - done)
        point = f"{rec['weight']}/{rec['act'] or 'float'} {rec['method']}"
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} "
                          f"{point:<34.34} {100 * rec['accuracy']:6.2f}%  ETA {eta:5.0f}s")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def _load_data(path):
    with np.load(path) as d:
        missing = {"x_calib", "x_test", "y_test"} - set(d.files)
        if missing:
            raise ValueError(f"--data {path}: missing arrays {sorted(missing)} "
                             "(it needs x_calib, x_test and y_test)")
        return d["x_calib"], d["x_test"], d["y_test"]


def _cmd_sweep(args) -> int:
    from . import sweep
    try:
        pts = sweep.points(families=args.families, bits=args.bits, modes=args.modes,
                           methods=args.methods, acc=args.acc, granularity=args.granularity)
        data = _load_data(args.data) if args.data else None
    except (ValueError, OSError) as exc:
        print(f"numfmt sweep: {exc}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "sweep.csv")
    if os.path.exists(csv_path) and not args.resume:
        os.replace(csv_path, csv_path + ".previous")
    progress = None if args.quiet else _ProgressBar()
    try:
        records = sweep.run(pts, args.model, data=data, csv_path=csv_path, resume=args.resume,
                            progress=progress)
    except KeyboardInterrupt:
        print(f"\nnumfmt sweep: interrupted; the finished points are in {csv_path} "
              "(--resume continues)", file=sys.stderr)
        return 130
    except (ValueError, ImportError, OSError) as exc:
        print(f"numfmt sweep: {exc}", file=sys.stderr)
        return 2
    print(sweep.table(records))
    png = os.path.join(args.out, "sweep.png")
    sweep.plot(records, png)
    print(f"\nsaved {csv_path} and {png}")
    return 0


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
                                ("overflow", args.overflow), ("n", args.n), ("g", args.g), ("serial", args.serial))
              if v is not None}
    try:
        if args.design:
            if args.kind or args.formats or params:
                raise ValueError("give either a unit (KIND FORMAT ...) or --design FILE, not both")
            specs, defaults = cost.load_design(args.design)
        else:
            if not args.kind or not args.formats:
                raise ValueError("give a unit kind and its formats (e.g. numfmt cost floatmul e4m3fn) or --design FILE")
            specs, defaults = [cost.UnitSpec(args.kind, tuple(args.formats), params)], {}
        cost.run(specs, target=args.target or defaults.get("target", "xilinx"),
                 nodsp=args.nodsp or bool(defaults.get("nodsp", False)),
                 synth=args.synth or bool(defaults.get("synth", False)), processes=args.jobs,
                 as_json=args.json, progress=not args.quiet)
    except ValueError as exc:
        print(f"numfmt cost: {exc}", file=sys.stderr)
        return 2
    except SynthesisError as exc:  # a failing tool: its message has the command and the log's tail
        print(f"numfmt cost: {exc}", file=sys.stderr)
        return 1
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
    sw.add_argument("--bits", type=_int_range, default=list(range(3, 9)), help="e.g. 3-8 or 4,8")
    sw.add_argument("--modes", type=_names, default=["w", "wa"],
                    help="w (weights only), wa (weights and activations)")
    sw.add_argument("--methods", type=_names, default=["rtn", "gptq"], help="e.g. rtn,gptq,adaround")
    sw.add_argument("--acc", default="exact", help="accumulator: exact, fp32, fp16 or bf16")
    sw.add_argument("--granularity", default="channel", help="tensor or channel")
    sw.add_argument("--out", default="numfmt-sweep", help="directory for sweep.csv and sweep.png")
    sw.add_argument("--resume", action="store_true", help="skip the points already in sweep.csv")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(func=_cmd_sweep)
    co = sub.add_parser("cost", help="a unit's resources: model estimate and, with --synth, Yosys/nextpnr",
                        description="Kinds: floatmul A [B [OUT]], intmac A B --acc-width W, kulischmac A B --n N, "
                                    "fixedmac A B OUT --n N, convert IN OUT, bitserial A B --n N, lutdot W A --n N.")
    co.add_argument("kind", nargs="?", help="floatmul, intmac, kulischmac, fixedmac, convert, bitserial or lutdot")
    co.add_argument("formats", nargs="*", help="the unit's formats, e.g. e4m3fn or int8 int8")
    co.add_argument("--design", help="a TOML file of [[unit]] tables instead of one unit")
    co.add_argument("--target", help="xilinx (default), ecp5 (placed: Fmax) or ice40")
    co.add_argument("--nodsp", action="store_true", help="LUTs only: no DSP blocks")
    co.add_argument("--synth", action="store_true", help="also synthesize (cached) and print the tools' figures")
    co.add_argument("--stages", type=int, help="pipeline stages")
    co.add_argument("--rounding", help="rounding mode of the result, e.g. rne, rtz")
    co.add_argument("--acc-width", type=int, help="accumulator width in bits (intmac; bitserial, lutdot)")
    co.add_argument("--overflow", help="accumulator overflow: wrap or sat (intmac)")
    co.add_argument("--n", type=int, help="terms per dot product / accumulation (kulischmac, fixedmac, bitserial, lutdot)")
    co.add_argument("--g", type=int, help="weights per lookup table (lutdot)")
    co.add_argument("--serial", help="a or both: which operand is bit-serial (bitserial)")
    co.add_argument("-j", "--jobs", type=int, help="parallel synthesis processes (default: one per core)")
    co.add_argument("--json", action="store_true", help="print the rows as JSON")
    co.add_argument("--quiet", action="store_true", help="no progress bar")
    co.set_defaults(func=_cmd_cost)
    cache = sub.add_parser("cache", help="location, size and limit of the simulator build cache")
    cache.add_argument("--clear", action="store_true", help="delete every cached build")
    cache.set_defaults(func=_cmd_cache)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
