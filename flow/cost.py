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
import numbers
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numfmt as nf

__all__ = ["KINDS", "UnitSpec", "load_design", "run"]


_FLOAT = (nf.FloatFormat,), "float formats (e.g. e4m3fn)"
_INT = (nf.IntFormat,), "integer formats (e.g. int8, uint4)"
_FIXED = (nf.FixedFormat,), "fixed-point formats (e.g. ap_fixed<8,3>)"
_SCALAR = (nf.FloatFormat, nf.IntFormat, nf.FixedFormat), "float, integer or fixed-point formats (e.g. fp16, int8)"


def _check_formats(kind, f, takes):
    """``ValueError`` naming the first format of ``f`` that is not one of ``takes`` (classes, description)."""
    labels = KINDS[kind].usage.replace("[", "").replace("]", "").split()      # the formats come first
    for label, fmt in zip(labels, f):
        if not isinstance(fmt, takes[0]):
            raise ValueError(f"{kind} takes {takes[1]}, not {fmt} (format {label})")


def _float_mul(f, p):
    from numfmt.hw.rtl import FloatMul
    _check_formats("floatmul", f, _FLOAT)
    return FloatMul(*f, **p)


def _int_mac(f, p):
    from numfmt.arith import FixedAccumulator
    from numfmt.hw.rtl import IntMac
    _check_formats("intmac", f, _INT)
    acc = FixedAccumulator(p.pop("acc_width"), overflow=p.pop("overflow", "wrap"))
    return IntMac(*f, acc, **p)


def _kulisch_mac(f, p):
    from numfmt.hw.rtl import FloatKulischMac
    _check_formats("kulischmac", f, _FLOAT)
    return FloatKulischMac(*f, p.pop("n"), **p)


def _float_acc_mac(f, p):
    from numfmt.arith import FloatAccumulator
    from numfmt.hw.rtl import FloatAccMac
    _check_formats("floataccmac", f, _FLOAT)
    acc = FloatAccumulator(f[2], **({"rounding": p.pop("rounding")} if "rounding" in p else {}))
    return FloatAccMac(f[0], f[1], acc, **p)


def _fixed_mac(f, p):
    from numfmt.hw.rtl import FixedMac
    _check_formats("fixedmac", f, _FIXED)
    return FixedMac(*f, p.pop("n"), **p)


def _convert(f, p):
    from numfmt.hw.rtl import Convert
    _check_formats("convert", f, _SCALAR)
    return Convert(*f, **p)


def _bit_serial(f, p):
    from numfmt.hw.rtl import BitSerialDot
    _check_formats("bitserial", f, _INT)
    return BitSerialDot(*f, p.pop("n"), **p)


def _lut_dot(f, p):
    from numfmt.hw.rtl import LutDot
    _check_formats("lutdot", f, _INT)
    return LutDot(*f, p.pop("n"), **p)


def _check_dyadic(name, value, lo, hi, span):
    """``ValueError`` unless ``value`` is an integer in ``lo..hi`` or a non-empty list of them."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and lo <= v <= hi
                             for v in values):
        raise ValueError(f"{name} must be an integer in {span} or a non-empty list of them (one per channel), "
                         f"not {value!r}")


def _requant(f, p):
    from numfmt.hw.rtl import Requantizer
    from numfmt.quant import Requantizer as Dyadic
    from numfmt.quant.dyadic import MAX_SHIFT, MIN_SHIFT
    if not isinstance(f[0], nf.IntFormat):
        raise ValueError(f"requant takes an integer output format (e.g. int8, uint4), not {f[0]}")
    _check_dyadic("multiplier", p["multiplier"], 1, 2**63 - 1, "1..2**63-1")
    _check_dyadic("shift", p["shift"], MIN_SHIFT, MAX_SHIFT, f"{MIN_SHIFT}..{MAX_SHIFT}")
    rq = Dyadic(p.pop("multiplier"), p.pop("shift"), f[0],
                **{k: p.pop(k) for k in ("rounding", "zero_point") if k in p})
    asked = {k: p[k] for k in ("multiply", "saturate") if k in p}
    unit = Requantizer(rq, p.pop("acc_width"), **p)
    built = unit.parameters()
    for key, value in asked.items():        # options the unit would ignore: refused, not dropped
        if built.get(key, "result") != value:
            where = "per-channel parameters" if unit.channels else f"the output {f[0]}"
            raise ValueError(f"{key}={value!r} applies to a per-tensor requantizer"
                             f"{' with a saturating output' if key == 'saturate' else ''} only, not to {where}")
    return unit


def _block_dot(f, p):
    from numfmt.hw.rtl import BlockDot
    _check_formats("blockdot", f, ((nf.BlockFormat,), "block formats (e.g. mxfp4, mxfp8_e4m3)"))
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
    "floataccmac": _Kind(_float_acc_mac, (3, 3), (), ("rounding", "stages"), "A B ACC"),
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


_UNIT_NAMES = {"acc_width": ("width ", "acc_bits ", "acc_width "), "n": ("n_max ", "n ", "the exact register ")}
"""The names the units give these parameters in their errors (``IntMac``'s register
``width``, the requantizer's ``acc_bits``, the MACs' ``n_max`` and exact register)."""


@dataclasses.dataclass(frozen=True)
class UnitSpec:
    """A unit by kind, format names and parameters; :meth:`build` makes the RTL unit.
    ``origin`` (e.g. ``"design file 'x.toml', unit 2"``) prefixes its errors."""
    kind: str
    formats: tuple[str, ...]
    params: dict = dataclasses.field(default_factory=dict)
    origin: str = dataclasses.field(default="", compare=False)

    def build(self):
        """The :class:`numfmt.hw.rtl.Unit`; ``ValueError`` naming what is wrong otherwise."""
        prefix = f"{self.origin} ({self.kind}): " if self.origin else ""
        try:
            return self._build()
        except ValueError as exc:
            if not prefix:
                raise
            raise ValueError(f"{prefix}{exc}") from None
        except TypeError as exc:            # a check of the unit's own that the kind's checks missed
            raise ValueError(f"{prefix or self.kind + ': '}{exc}") from exc

    def _build(self):
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
        try:
            return kind.build(formats, dict(self.params))
        except ValueError as exc:           # the unit names its own parameter: say which one was given
            for key, names in _UNIT_NAMES.items():
                if key in self.params and str(exc).startswith(names):
                    raise ValueError(f"{key} {self.params[key]!r} (--{key.replace('_', '-')}): {exc}") from None
            raise


def load_design(path) -> tuple[list[UnitSpec], dict]:
    """The units of a TOML design file and its defaults (``target``, ``nodsp``, ``synth``)."""
    path = Path(path)
    where = f"design file {str(path)!r}"
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{where} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not UTF-8 text (byte {exc.start}: {exc.object[exc.start]:#04x})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where} is not valid TOML: {exc}") from None
    defaults = {k: doc.pop(k) for k in ("target", "nodsp", "synth") if k in doc}
    for key in ("nodsp", "synth"):
        if not isinstance(defaults.get(key, False), bool):
            raise ValueError(f"{where}: {key} must be true or false, not {defaults[key]!r}")
    if "target" in defaults:
        from numfmt.hw.cost.cells import check_target
        try:
            check_target(defaults["target"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    units = doc.pop("unit", None)
    if doc:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(doc))} "
                         "(expected target, nodsp, synth and [[unit]] tables)")
    if not isinstance(units, list) or not units:
        raise ValueError(f"{where} lists no [[unit]] tables")
    specs = []
    for i, table in enumerate(units, 1):
        if not isinstance(table, dict):
            raise ValueError(f"{where}: unit {i} must be a [[unit]] table, not {table!r}")
        table = dict(table)
        kind, formats = table.pop("kind", None), table.pop("formats", None)
        if not isinstance(kind, str) or not isinstance(formats, list) or not formats:
            raise ValueError(f"{where}: unit {i} needs kind = \"...\" and formats = [...]")
        if not all(isinstance(f, str) for f in formats):
            raise ValueError(f"{where}, unit {i} ({kind}): formats must be format names, not {formats!r}")
        specs.append(UnitSpec(kind, tuple(formats), table, origin=f"{where}, unit {i}"))
    return specs, defaults


_NO_DSP_MODEL = ("no model without --nodsp: the models are calibrated for LUT-only synthesis; add --nodsp "
                 "(or --synth for the tools' figures)")


def _calibrated(target, options) -> bool:
    from numfmt.hw.cost import model
    try:
        model.calibration(target, options)
    except ValueError:
        return False
    return True


def _model(unit, target, options):
    """The model's estimate as a dict, or the reason there is none."""
    from numfmt.hw import cost
    try:
        est = cost.estimate(unit, target=target, options=options)
    except ValueError as exc:          # no model for this family or target (the unit itself is valid)
        if not _calibrated(target, options) and _calibrated(target, (*options, "-nodsp")):
            return {"none": _NO_DSP_MODEL}       # a calibrated target, but with DSPs
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
