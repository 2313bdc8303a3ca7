"""``numfmt cost``: what a unit costs — the analytic model's estimate and, with ``--synth``,
the Yosys/nextpnr figures beside it.

A unit is named by its kind and its formats, as on the command line
(``floatmul e4m3fn``, ``intmac int8 int8 --acc-width 24``), or listed in a TOML design file:

.. code-block:: toml

    target = "xilinx"          # optional: defaults for every unit
    nodsp = true
    [[unit]]
    kind = "floatmul"
    formats = ["e4m3fn"]
    stages = 2
    [[unit]]
    kind = "intmac"
    formats = ["int4", "int4"]
    acc_width = 16

Every unit is built (and so every argument checked) before the first tool runs.

>>> spec = UnitSpec("intmac", ("int4", "uint4"), {"acc_width": 14})
>>> unit = spec.build()
>>> unit.name.startswith("intmac"), unit.register.width
(True, 14)
>>> UnitSpec("floatmul", ("e4m3fn",), {"n": 8}).build()
Traceback (most recent call last):
...
ValueError: floatmul takes no 'n' (its parameters: rounding, stages)
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numfmt as nf

__all__ = ["KINDS", "UnitSpec", "load_design", "run"]


def _float_mul(f, p):
    from numfmt.hw.rtl import FloatMul
    return FloatMul(*f, **p)


def _int_mac(f, p):
    from numfmt.arith import FixedAccumulator
    from numfmt.hw.rtl import IntMac
    acc = FixedAccumulator(p.pop("acc_width"), overflow=p.pop("overflow", "wrap"))
    return IntMac(*f, acc, **p)


def _kulisch_mac(f, p):
    from numfmt.hw.rtl import FloatKulischMac
    return FloatKulischMac(*f, p.pop("n"), **p)


def _fixed_mac(f, p):
    from numfmt.hw.rtl import FixedMac
    return FixedMac(*f, p.pop("n"), **p)


def _convert(f, p):
    from numfmt.hw.rtl import Convert
    return Convert(*f, **p)


def _bit_serial(f, p):
    from numfmt.hw.rtl import BitSerialDot
    return BitSerialDot(*f, p.pop("n"), **p)


def _lut_dot(f, p):
    from numfmt.hw.rtl import LutDot
    return LutDot(*f, p.pop("n"), **p)


def _requant(f, p):
    from numfmt.hw.rtl import Requantizer
    from numfmt.quant import Requantizer as Dyadic
    if not isinstance(f[0], nf.IntFormat):
        raise ValueError(f"requant takes an integer output format (e.g. int8, uint4), not {f[0]}")
    rq = Dyadic(p.pop("multiplier"), p.pop("shift"), f[0],
                **{k: p.pop(k) for k in ("rounding", "zero_point") if k in p})
    return Requantizer(rq, p.pop("acc_width"), **p)


def _block_dot(f, p):
    from numfmt.hw.rtl import BlockDot
    for k, fmt in enumerate(f):
        if not isinstance(fmt, nf.BlockFormat):
            raise ValueError(f"blockdot takes block formats (e.g. mxfp4, mxfp8_e4m3), not {fmt}")
    return BlockDot(*f, **p)


@dataclasses.dataclass(frozen=True)
class _Kind:
    build: object
    n_formats: tuple[int, int]          # least, most
    required: tuple[str, ...]
    optional: tuple[str, ...]
    usage: str


KINDS = {
    "floatmul": _Kind(_float_mul, (1, 3), (), ("rounding", "stages"), "A [B [OUT]]"),
    "intmac": _Kind(_int_mac, (2, 2), ("acc_width",), ("overflow", "stages"), "A B --acc-width W"),
    "kulischmac": _Kind(_kulisch_mac, (2, 2), ("n",), ("stages",), "A B --n N_MAX"),
    "fixedmac": _Kind(_fixed_mac, (3, 3), ("n",), ("stages",), "A B OUT --n N_MAX"),
    "convert": _Kind(_convert, (2, 2), (), ("rounding", "stages", "impl"), "IN OUT"),
    "bitserial": _Kind(_bit_serial, (2, 2), ("n",), ("serial", "acc_width"), "A B --n N"),
    "lutdot": _Kind(_lut_dot, (2, 2), ("n",), ("g", "acc_width"), "W A --n N"),
    "blockdot": _Kind(_block_dot, (1, 2), (), ("stages",), "A [B] (block formats)"),
    "requant": _Kind(_requant, (1, 1), ("acc_width", "multiplier", "shift"),
                     ("rounding", "zero_point", "stages", "multiply", "saturate"),
                     "OUT --acc-width W --multiplier B --shift C"),
}
"""The unit kinds ``numfmt cost`` builds: :mod:`numfmt.hw.rtl` classes by a short name."""


@dataclasses.dataclass(frozen=True)
class UnitSpec:
    """A unit by kind, format names and parameters; :meth:`build` makes the RTL unit."""
    kind: str
    formats: tuple[str, ...]
    params: dict = dataclasses.field(default_factory=dict)

    def build(self):
        """The :class:`numfmt.hw.rtl.Unit`; ``ValueError`` naming what is wrong otherwise."""
        if self.kind not in KINDS:
            raise ValueError(f"unit kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        kind = KINDS[self.kind]
        lo, hi = kind.n_formats
        if not lo <= len(self.formats) <= hi:
            raise ValueError(f"{self.kind} takes formats {kind.usage}, not {len(self.formats)} format(s) "
                             f"{list(self.formats)}")
        allowed = kind.required + kind.optional
        for key in self.params:
            if key not in allowed:
                raise ValueError(f"{self.kind} takes no {key!r} (its parameters: {', '.join(allowed)})")
        for key in kind.required:
            if key not in self.params:
                raise ValueError(f"{self.kind} needs {key!r} ({self.kind} {kind.usage})")
        formats = [nf.parse(name) for name in self.formats]
        return kind.build(formats, dict(self.params))


def load_design(path) -> tuple[list[UnitSpec], dict]:
    """The units of a TOML design file and its defaults (``target``, ``nodsp``, ``synth``)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"design file {str(path)!r} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"design file {str(path)!r} is not valid TOML: {exc}") from None
    defaults = {k: doc.pop(k) for k in ("target", "nodsp", "synth") if k in doc}
    units = doc.pop("unit", None)
    if doc:
        raise ValueError(f"design file {str(path)!r}: unknown key(s) {', '.join(sorted(doc))} "
                         "(expected target, nodsp, synth and [[unit]] tables)")
    if not isinstance(units, list) or not units:
        raise ValueError(f"design file {str(path)!r} lists no [[unit]] tables")
    specs = []
    for i, table in enumerate(units, 1):
        table = dict(table)
        kind, formats = table.pop("kind", None), table.pop("formats", None)
        if not isinstance(kind, str) or not isinstance(formats, list) or not formats:
            raise ValueError(f"design file {str(path)!r}: unit {i} needs kind = \"...\" and formats = [...]")
        specs.append(UnitSpec(kind, tuple(str(f) for f in formats), table))
    return specs, defaults


def _model(unit, target, options):
    """The model's estimate as a dict, or the reason there is none."""
    from numfmt.hw import cost
    try:
        est = cost.estimate(unit, target=target, options=options)
    except ValueError as exc:          # no model for this family or target (the unit itself is valid)
        return {"none": str(exc)}
    return {"luts": est.luts, "ffs": est.ffs, "dsps": est.dsps, "carry": est.carry, "latency": est.latency,
            "family": est.family, "luts_error": {"median": est.luts_error_median, "worst": est.luts_error_worst}}


def _error_line(figures) -> str:
    """How far the model's LUTs are from synthesis on its family's held-out configurations."""
    e = figures["luts_error"]
    return (f"         model LUT error on held-out {figures['family']} units: median {100 * e['median']:.1f} %, "
            f"worst {100 * e['worst']:.1f} % (docs/cost_model.md)")


def _row(label, figures):
    if "none" in figures:
        return f"  {label:<6} {figures['none']}"
    fmax, latency = figures.get("fmax_mhz"), figures.get("latency")
    return (f"  {label:<6} {figures['luts']:>7} {figures['ffs']:>6} {figures['dsps']:>4} {figures['carry']:>6} "
            f"{'' if latency is None else latency:>7} {'' if fmax is None else f'{fmax:8.1f}':>8}")


def run(specs, *, target="xilinx", nodsp=False, synth=False, processes=None, as_json=False, progress=True,
        out=None) -> list[dict]:
    """Estimate (and with ``synth`` synthesize) every unit of ``specs``; print (to ``out``,
    default standard output) and return the rows."""
    from numfmt.hw import cost
    out = sys.stdout if out is None else out
    from numfmt.hw.cost.cells import check_target
    check_target(target)
    units = [spec.build() for spec in specs]            # every argument checked before any tool runs
    options = ("-nodsp",) if nodsp else ()
    rows = [{"unit": u.name, "target": target, "options": list(options), "model": _model(u, target, options)}
            for u in units]
    if synth:
        jobs = [cost.SynthJob.of(u, target=target, options=options) for u in units]
        for row, res in zip(rows, cost.synthesize_many(jobs, processes=processes, progress=progress)):
            row["synth"] = {"luts": res.luts, "ffs": res.ffs, "dsps": res.dsps, "carry": res.carry,
                            "brams": res.brams, "fmax_mhz": res.fmax_mhz}
    if as_json:
        json.dump(rows, out, indent=1)
        out.write("\n")
        return rows
    out.write(f"target {target}{' ' + ' '.join(options) if options else ''}\n")
    out.write(f"  {'':<6} {'LUT':>7} {'FF':>6} {'DSP':>4} {'carry':>6} {'latency':>7} {'Fmax MHz':>8}\n")
    for row in rows:
        out.write(f"{row['unit']}\n{_row('model', row['model'])}\n")
        if "none" not in row["model"]:
            out.write(_error_line(row["model"]) + "\n")
        if "synth" in row:
            out.write(_row("synth", row["synth"]) + "\n")
    return rows
