"""The ``numfmt`` command.

``numfmt info FORMAT`` prints a format's parameters, its range and, for
formats of at most 8 bits, the value of every code::

    $ numfmt info e2m1fn
    $ numfmt info "ap_fixed<6,2,AP_RND_CONV,AP_SAT>"
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

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


def main(argv=None) -> int:
    """Entry point of the ``numfmt`` console script."""
    parser = argparse.ArgumentParser(prog="numfmt", description="Number formats for quantized-NN hardware.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print a format's parameters, range and code table")
    info.add_argument("format", help='format name, e.g. e4m3fn, fp6_e3m2, "ap_fixed<8,3>", int4')
    info.add_argument("--no-table", action="store_true", help="omit the table of codes")
    info.set_defaults(func=_cmd_info)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
