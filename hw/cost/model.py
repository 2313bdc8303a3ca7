"""Analytic resource models of :mod:`numfmt.hw.rtl` units, calibrated against Yosys.

:func:`estimate` prices one unit; :func:`estimate_features` prices arrays of
configurations at once (NumPy, no elaboration) for design-space sweeps. Both read the
fitted coefficients from ``hw/cost/calibration/<target>_<options>.json`` (data, refitted
by ``python -m numfmt.hw.cost.calibrate``), which also records the tool versions, the
date, every calibration configuration and the error on configurations held out from the
fit. See ``docs/cost_model.md`` for the model forms and the error tables.

Families and targets: :data:`FAMILIES` on ``target="xilinx"``, ``options=("-nodsp",)``
(LUT-only ``synth_xilinx``). Anything else raises ``ValueError`` naming the parameter.

* **LUTs** and **carry** (``CARRY4``) are linear in a few *terms* computed from the unit's
  formats and parameters (:data:`TERMS`), coefficients by least squares on the fit set.
* **FFs** are counted, not fitted: the register bits the unit declares (the bits its
  Amaranth design assigns in the ``sync`` domain, :func:`declared_ffs`) less the bits
  Yosys provably removes (a product register's constant or duplicated sign bits,
  :func:`count_ffs`).
* **DSPs** are 0 with ``-nodsp``.

>>> import numfmt as nf
>>> from numfmt.arith import FixedAccumulator
>>> from numfmt.hw.rtl import IntMac
>>> e = estimate(IntMac(nf.IntFormat(8), nf.IntFormat(8), FixedAccumulator(20)))
>>> e.family, e.ffs, e.dsps, e.luts > 0
('IntMac', 39, 0, True)
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

__all__ = ["Estimate", "FAMILIES", "RAW", "TERMS", "Calibration", "calibration", "count_ffs", "declared_ffs",
           "estimate", "estimate_features", "raw_features", "terms"]

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"

FAMILIES = ("IntMac", "FloatMul", "FloatKulischMac")
"""The unit families with a model (class names of :mod:`numfmt.hw.rtl`)."""


def _float_raw(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{k}" for k in ("exp", "man", "sub", "fn", "ieee"))


RAW = {
    "IntMac": ("a_bits", "b_bits", "a_signed", "b_signed", "width", "sat", "stages"),
    "FloatMul": _float_raw("a") + _float_raw("b") + _float_raw("out") + ("stages",),
    "FloatKulischMac": _float_raw("a") + _float_raw("b") + ("width", "stages"),
}
"""Columns of the feature array of each family (what :func:`raw_features` reads from a
unit): format fields (``exp``, ``man``; ``sub`` subnormals on; ``fn``/``ieee`` the
specials policy, both 0 for ``none``), integer widths and signedness, the accumulator
register ``width``, ``sat`` (saturating accumulator), ``stages``."""


# -- features of a unit ---------------------------------------------------------------------
def _family(unit) -> str:
    from numfmt.hw import rtl

    for name in FAMILIES:
        if type(unit) is getattr(rtl, name):
            return name
    raise ValueError(f"unit must be one of the modelled families ({', '.join(FAMILIES)}), "
                     f"not {type(unit).__name__}")


def _float_fields(fmt) -> list[float]:
    spec = str(fmt.specials)
    return [fmt.exp, fmt.man, float(bool(fmt.subnormals)), float(spec == "fn"), float(spec == "ieee")]


def raw_features(unit) -> tuple[str, np.ndarray]:
    """``(family, row)``: the unit's :data:`RAW` features, read from its formats and
    parameters (``float64`` row)."""
    family = _family(unit)
    if family == "IntMac":
        row = [unit.a_fmt.bits, unit.b_fmt.bits, float(unit.a_fmt.signed), float(unit.b_fmt.signed),
               unit.acc.width, float(str(unit.acc.overflow) != "wrap"), unit.stages]
    elif family == "FloatMul":
        if unit.rounding.value != "rne" or unit.sr_bits:
            raise ValueError(f"unit.rounding must be 'rne' for the FloatMul model (the calibrated mode), "
                             f"not {unit.rounding.value!r}")
        row = _float_fields(unit.a_fmt) + _float_fields(unit.b_fmt) + _float_fields(unit.out_fmt) + [unit.stages]
    else:
        row = _float_fields(unit.a_fmt) + _float_fields(unit.b_fmt) + [unit.register.width, unit.stages]
    names = ("a_fmt", "b_fmt", "out_fmt") if family == "FloatMul" else ("a_fmt", "b_fmt")
    for name in names if family != "IntMac" else ():
        fmt = getattr(unit, name)
        if not fmt.signed or fmt.exp < 2 or fmt.bits > 8:
            raise ValueError(f"unit.{name} must be a signed float format of at most 8 bits with exp ≥ 2 "
                             f"(the {family} model's calibrated domain), not {fmt}")
    if family == "IntMac":
        for name in ("a_fmt", "b_fmt"):
            if getattr(unit, name).bits > 8:
                raise ValueError(f"unit.{name} must have at most 8 bits (the IntMac model's calibrated domain), "
                                 f"not {getattr(unit, name)}")
    return family, np.asarray(row, dtype=np.float64)


def _cols(family: str, X: np.ndarray) -> dict[str, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    names = RAW[family]
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"features must be an array of shape (n, {len(names)}) with columns "
                         f"{', '.join(names)} for family {family!r}, not shape {X.shape}")
    return {n: X[:, i] for i, n in enumerate(names)}


def _sig(c, p):             # significand bits incl. the hidden bit
    return c[f"{p}_man"] + 1


def _shift_bits(c, p):      # width of the alignment shift of FloatKulischMac._aligned
    return np.maximum(c[f"{p}_exp"], 1) + 1


TERMS = {
    "IntMac": {
        "luts": ("one", "ab", "a_plus_b", "width", "sat_width", "signed_ab"),
        "carry": ("one", "ab", "a_plus_b", "width", "sat_width"),
    },
    "FloatMul": {
        "luts": ("one", "sig_product", "norm", "denorm", "round_width", "exp_width", "out_exp", "out_man",
                 "specials_in", "specials_out", "sub_in"),
        "carry": ("one", "sig_product", "round_width", "exp_width", "out_exp", "out_man"),
    },
    "FloatKulischMac": {
        "luts": ("one", "sig_product", "width", "width_shift", "sig_sum_shift", "specials_in", "sub_in"),
        "carry": ("one", "sig_product", "width", "sig_sum"),
    },
}
"""Names of the terms each fitted quantity is linear in (see :func:`terms`)."""


def terms(family: str, X) -> dict[str, np.ndarray]:
    """Every term of :data:`TERMS` for the rows of ``X`` (columns :data:`RAW` ``[family]``).

    IntMac (``a``, ``b`` operand bits, ``W`` register width): ``ab = a·b`` (the array
    multiplier's partial-product bits), ``a_plus_b`` (the product's width),
    ``width = W`` (the accumulator adder and its ``first`` mux), ``sat_width = sat·W``
    (the clamp's comparators and mux), ``signed_ab = (a or b signed)·(a+b)`` (sign
    extension of the partial products).

    FloatMul (``sa = a.man+1``, ``sb`` significand bits, ``S = sa+sb``; ``R = max(S,
    out.man+2)`` the width :func:`hw.rtl._float.round_pack` normalises): ``sig_product =
    sa·sb``, ``norm = R·⌈log2 R⌉`` (leading-zero count and left shift), ``denorm =
    out.sub·(R + out.man + 2)·⌈log2(out.man + 3)⌉`` (the right shift into the subnormal
    binade, absent when the output flushes to zero), ``round_width = R`` (the rounding
    compares), ``exp_width = max(a.exp, b.exp)``, ``out_exp``, ``out_man`` (exponent
    clamp, rounding increment, packing), ``specials_in``/``specials_out``: number of
    operand / output formats with ``fn`` or ``ieee`` specials, ``sub_in = a.sub·sa +
    b.sub·sb`` (subnormal operands: their significands' leading zeros).

    FloatKulischMac (``W`` register width, ``h = max(exp,1)+1`` shift bits):
    ``sig_product``, ``width = W`` (negation and accumulation), ``width_shift =
    W·(max(h_a, h_b)+1)`` (the barrel shifter), ``sig_sum_shift = S·(h_a+h_b)``,
    ``specials_in``, ``sub_in`` (subnormal operands' hidden-bit logic).
    """
    c = _cols(family, X)
    one = np.ones_like(next(iter(c.values())))
    if family == "IntMac":
        a, b, w = c["a_bits"], c["b_bits"], c["width"]
        return {"one": one, "ab": a * b, "a_plus_b": a + b, "width": w, "sat_width": c["sat"] * w,
                "signed_ab": np.maximum(c["a_signed"], c["b_signed"]) * (a + b)}
    sa, sb = _sig(c, "a"), _sig(c, "b")
    s = sa + sb
    spec_in = c["a_fn"] + c["a_ieee"] + c["b_fn"] + c["b_ieee"]
    if family == "FloatMul":
        r = np.maximum(s, c["out_man"] + 2)
        return {"one": one, "sig_product": sa * sb, "norm": r * np.ceil(np.log2(r)),
                "denorm": c["out_sub"] * (r + c["out_man"] + 2) * np.ceil(np.log2(c["out_man"] + 3)),
                "round_width": r, "exp_width": np.maximum(c["a_exp"], c["b_exp"]),
                "out_exp": c["out_exp"], "out_man": c["out_man"],
                "specials_in": spec_in, "specials_out": c["out_fn"] + c["out_ieee"],
                "sub_in": c["a_sub"] * sa + c["b_sub"] * sb}
    if family == "FloatKulischMac":
        ha, hb = _shift_bits(c, "a"), _shift_bits(c, "b")
        w = c["width"]
        return {"one": one, "sig_product": sa * sb, "width": w, "width_shift": w * (np.maximum(ha, hb) + 1),
                "sig_sum": s, "sig_sum_shift": s * (ha + hb), "specials_in": spec_in,
                "sub_in": c["a_sub"] + c["b_sub"]}
    raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")


def design_matrix(family: str, quantity: str, X) -> np.ndarray:
    """The ``(n, len(TERMS[family][quantity]))`` matrix the coefficients multiply."""
    t = terms(family, X)
    return np.stack([t[name] for name in TERMS[family][quantity]], axis=1)


# -- flip-flops ---------------------------------------------------------------------------------
def _declared(family: str, c) -> np.ndarray:
    """Register bits the unit declares (its ``sync``-domain signals), from the features."""
    st = c["stages"]
    if family == "IntMac":    # per stage: product (a+b+1), first, valid; register, valid
        return st * (c["a_bits"] + c["b_bits"] + 3) + c["width"] + 1
    if family == "FloatMul":  # per stage: the output code, valid
        return st * (1 + c["out_exp"] + c["out_man"] + 1)
    # FloatKulischMac per stage: product (W+1), first, valid, invalid; register, valid, invalid
    return st * (c["width"] + 4) + c["width"] + 2


def _removed(family: str, c) -> np.ndarray:
    """Register bits Yosys removes: constant or duplicate bits of the product register."""
    st = c["stages"]
    if family == "IntMac":
        # the (a+b+1)-bit product: its top bit repeats bit a+b (a+b bits hold any product)
        return st * 1.0
    if family == "FloatMul":
        return np.zeros_like(st)
    # one product bit per stage; and when neither format has NaN or inf codes (specials
    # "none") the ``invalid`` flag is constant 0: one more bit. Observed on the sweep,
    # which has stages=1 only for this family (so the per-stage split is not tested).
    any_special = np.minimum(c["a_fn"] + c["a_ieee"] + c["b_fn"] + c["b_ieee"], 1)
    return st * 1.0 + (1 - any_special)


def _ffs(family: str, c) -> np.ndarray:
    return _declared(family, c) - _removed(family, c)


def declared_ffs(unit) -> int:
    """The register bits ``unit``'s Amaranth design assigns in clocked domains, counted on
    the elaborated design (every signal on the left of a ``sync`` statement, each once)."""
    import warnings

    from amaranth.hdl import Fragment

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frag = Fragment.get(unit, None)
    seen = {}

    def walk(f):
        for domain, stmts in f.statements.items():
            if domain == "comb":
                continue
            for st in stmts:
                for s in st._lhs_signals():
                    seen[id(s)] = len(s)
        for sub, *_ in f.subfragments:
            walk(sub)

    walk(frag)
    return sum(seen.values())


def count_ffs(unit) -> int:
    """FFs after ``synth_xilinx``: :func:`declared_ffs` less the bits Yosys removes."""
    family, row = raw_features(unit)
    c = _cols(family, row[None, :])
    return int(declared_ffs(unit) - _removed(family, c)[0])


# -- calibration data -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Calibration:
    """The stored calibration of one target and option set (the JSON file as a record)."""
    path: Path
    target: str
    options: tuple[str, ...]
    tool_versions: dict
    date: str
    coefficients: dict      # family → quantity → {term: coefficient}
    errors: dict            # family → {"luts"/"ffs"/"carry"/"baseline_luts": {median, worst, n}}
    configs: list           # every configuration: family, spec, held_out, synthesized and predicted counts

    def coef(self, family: str, quantity: str) -> np.ndarray:
        table = self.coefficients[family][quantity]
        names = TERMS[family][quantity]
        if tuple(table) != names:
            raise ValueError(f"{self.path}: the {family} {quantity} coefficients are for terms {tuple(table)}, "
                             f"the model's are {names}; rerun python -m numfmt.hw.cost.calibrate")
        return np.array([table[n] for n in names], dtype=np.float64)


def _file_name(target: str, options) -> str:
    return f"{target}{''.join('_' + o.lstrip('-') for o in sorted(options))}.json"


def _check(target, options) -> tuple[str, tuple[str, ...]]:
    if isinstance(options, str) or not isinstance(options, (list, tuple, set, frozenset)):
        raise ValueError(f"options must be a sequence of flags such as ('-nodsp',), not {options!r}")
    options = tuple(sorted(set(options)))
    if not (CALIBRATION_DIR / _file_name(target, options)).exists():
        have = sorted(p.stem for p in CALIBRATION_DIR.glob("*.json"))
        raise ValueError(f"target and options must have a calibration (have: {', '.join(have) or 'none'}), "
                         f"not target={target!r}, options={options!r}")
    return target, options


@functools.lru_cache(maxsize=None)
def _load(path: Path) -> Calibration:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return Calibration(path, doc["target"], tuple(doc["options"]), doc["tool_versions"], doc["date"],
                       doc["coefficients"], doc["errors"], doc["configs"])


def calibration(target: str = "xilinx", options=("-nodsp",)) -> Calibration:
    """The stored :class:`Calibration` of ``target`` and ``options``."""
    target, options = _check(target, options)
    return _load(CALIBRATION_DIR / _file_name(target, options))


# -- estimates --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Estimate:
    """A model estimate of one unit. ``luts`` and ``carry`` are fitted (rounded to whole
    cells, at least 0); ``ffs`` counted; ``dsps`` 0 with ``-nodsp``. ``luts_error_median``
    and ``luts_error_worst``: the model's absolute relative LUT error on the held-out
    configurations of this family (from the calibration data)."""
    luts: int
    ffs: int
    dsps: int
    carry: int
    family: str
    target: str
    options: tuple[str, ...]
    luts_error_median: float
    luts_error_worst: float


def estimate_features(family: str, X, target: str = "xilinx", options=("-nodsp",)) -> dict[str, np.ndarray]:
    """Estimates for every row of ``X`` (columns :data:`RAW` ``[family]``), vectorised:
    ``{"luts", "carry"}`` (float, unrounded), ``{"ffs", "dsps"}`` (int64)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    cal = calibration(target, options)
    c = _cols(family, X)
    t = terms(family, X)
    out = {}
    for q in ("luts", "carry"):
        names = TERMS[family][q]
        coef = cal.coef(family, q)
        acc = np.zeros(len(c["stages"]))
        for k, name in enumerate(names):
            acc += coef[k] * t[name]
        out[q] = np.maximum(acc, 0.0)
    out["ffs"] = _ffs(family, c).astype(np.int64)
    out["dsps"] = np.zeros(len(c["stages"]), dtype=np.int64)
    return out


def estimate(unit, target: str = "xilinx", options=("-nodsp",)) -> Estimate:
    """The model's :class:`Estimate` of ``unit`` (a :mod:`numfmt.hw.rtl` unit of a family
    in :data:`FAMILIES`) on ``target`` with synthesis ``options``."""
    target, options = _check(target, options)
    family, row = raw_features(unit)
    e = estimate_features(family, row[None, :], target, options)
    err = calibration(target, options).errors[family]["luts"]
    return Estimate(luts=int(round(e["luts"][0])), ffs=int(e["ffs"][0]), dsps=int(e["dsps"][0]),
                    carry=int(round(e["carry"][0])), family=family, target=target, options=options,
                    luts_error_median=float(err["median"]), luts_error_worst=float(err["worst"]))
