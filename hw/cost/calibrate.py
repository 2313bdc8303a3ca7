"""Calibration sweep and fit of the analytic cost models (:mod:`numfmt.hw.cost.model`).

Run ``python -m numfmt.hw.cost.calibrate`` (from the repository, with the ``hw`` extra):

1. draws a deterministic sample of configurations per unit family (seeded, :data:`SEED`),
   splits each family's sample by a seeded shuffle into a *fit* set and a *held-out* set;
2. synthesizes every configuration with ``synth_xilinx -nodsp`` (cached, so a rerun only
   synthesizes what is missing; ``--processes`` workers, default 2), or with
   ``--target ecp5`` with ``synth_ecp5 -nodsp`` (no place-and-route) for the families of
   :data:`TARGET_FAMILIES` ``["ecp5"]`` — the same configurations and split; and the
   target's table of integer products (:func:`sweep_products`), which the IntMac terms read;
3. fits each family's LUT and carry coefficients on the fit set only, by weighted least
   squares on relative error, or the LUTs by the family's :func:`estimator` (on xilinx,
   BlockDot's by the mean absolute relative error plus 0.3 × the worst, :func:`l1_max`,
   and IntMac's as :data:`FAMILY_ESTIMATORS` says); FFs are
   counted, not fitted (:func:`numfmt.hw.cost.model.count_ffs`);
4. writes ``hw/cost/calibration/xilinx_nodsp.json`` (``ecp5_nodsp.json`` for ECP5) —
   coefficients, tool versions, date, every configuration with its split, synthesized and
   predicted counts — and, with ``--report FILE``, the Markdown error tables
   (``docs/cost_model.md``, one generated section per target).

``--report-only`` rewrites the report from the stored JSON without synthesizing;
``--refit`` refits the coefficients on the stored synthesis counts (no synthesis: after a
change of a model's terms; only the product table is synthesized when the JSON has none)
and rewrites the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import sys
import warnings
from pathlib import Path

import numpy as np

SEED = 20261205
"""Seed of the configuration sample and of the fit/held-out split."""

N_CONFIGS = {"IntMac": 200, "FloatMul": 200, "FloatKulischMac": 100, "BlockDot": 100, "Convert": 200,
             "BitSerialDot": 100, "LutDot": 100, "Requantizer": 200, "RequantizerPerChannel": 200,
             "FloatAccMac": 100}
"""Configurations drawn per family (a sample of 200 begins with the sample of 100): 200 for
the families whose LUT model missed the target on 100 (``docs/cost_model.md``, *A larger
sample*)."""
N_HELD_OUT = 40
TARGET, OPTIONS = "xilinx", ("-nodsp",)
DATA = Path(__file__).resolve().parent / "calibration" / "xilinx_nodsp.json"

TARGET_OPTIONS = {"xilinx": ("-nodsp",), "ecp5": ("-nodsp",)}
"""The synthesis options each calibrated target is swept with (LUT-only: no DSP blocks;
ECP5 logic is then LUT4s, ``CCU2C`` carry cells and the ``PFUMX``/``L6MUX21`` muxes that
join LUT4s)."""

TARGET_FAMILIES = {"xilinx": tuple(N_CONFIGS), "ecp5": tuple(N_CONFIGS)}
"""The families each target's calibration covers (every family on both)."""

CARRY_CELLS = {"xilinx": "`CARRY4` (4 bits each)", "ecp5": "`CCU2C` (2 bits each)"}


def _check_target(target: str) -> str:
    if target not in TARGET_OPTIONS:
        raise ValueError(f"target must be one of {', '.join(TARGET_OPTIONS)}, not {target!r}")
    return target


def data_path(target: str = TARGET) -> Path:
    """The calibration JSON of ``target`` (``hw/cost/calibration/<target>_nodsp.json``).

    >>> data_path("ecp5").name, data_path().name
    ('ecp5_nodsp.json', 'xilinx_nodsp.json')
    """
    from . import model as M

    if _check_target(target) == TARGET:
        return DATA
    return M.CALIBRATION_DIR / M._file_name(target, TARGET_OPTIONS[target])


def float_formats() -> list[str]:
    """Every signed float format of 3–8 bits numfmt accepts with default bias: ``exp`` ≥ 2,
    specials ``fn``/``ieee``/``none``, subnormals on/off (as ``str(fmt)``).

    ``exp = 1`` formats (one binade: fixed point with a sign, or a handful of values) are
    outside the models' domain: Yosys folds much of their datapath away (e.g. 5 LUTs for
    an e1m4fn FloatMul without subnormals), which no smooth model of the widths follows."""
    import numfmt as nf

    out = []
    for e in range(2, 7):
        for m in range(0, 6):
            if not 2 <= e + m <= 7:
                continue
            for sp in ("fn", "ieee", "none"):
                for sub in (True, False):
                    try:
                        out.append(str(nf.FloatFormat(exp=e, man=m, specials=sp, subnormals=sub)))
                    except ValueError:
                        pass
    return out


_MX_ELEMENTS = ["e2m1fn", "e2m3fn", "e3m2fn", "e4m3fn", "e5m2", "int8"]
_WIDE_FLOATS = ["fp16", "bf16", "fp32"]
_ACC_FLOATS = ["fp16", "fp16", "bf16", "bf16", "fp32", "fp32", "e5m6", "e6m5", "e8m15"]
"""Float accumulator registers of the FloatAccMac draws: FP16, BF16 and FP32 mostly, and
12- and 24-bit ones (accumulators narrower than FP16, or between it and FP32)."""


def _int_formats() -> list[str]:
    return [f"{'' if s else 'u'}int{b}" for b in range(2, 9) for s in (True, False)]


def _narrowed(rng) -> int:
    """Bits an accumulator is narrowed by below the exact width (0: exact), 30 % of draws."""
    return int(rng.choice([0, 0, 0, 0, 0, 0, 0, 2, 4, 8]))


_REQUANT_ROUNDINGS = ["rnp", "rnp", "rnp", "rne", "rne", "floor", "floor", "rna", "rnm", "rnz", "ceil", "rtz", "rta"]


def _requant_output(rng) -> dict:
    """The output side of a Requantizer draw: an int/uint output of 2–16 bits, saturating
    (2/3) or wrapping; every deterministic rounding mode (``rnp``, ``rne``, ``floor`` most
    often); a nonzero zero point for 40 %; 0–2 stages."""
    import numfmt as nf

    out = nf.IntFormat(int(rng.choice([2, 3, 4, 4, 5, 6, 7, 8, 8, 8, 8, 10, 12, 16, 16])),
                       signed=bool(rng.random() < 0.75),
                       overflow="sat" if rng.random() < 2 / 3 else "wrap")
    zp = 0 if rng.random() < 0.6 else int(rng.integers(out.min, out.max + 1))
    return {"out": str(out), "rounding": str(rng.choice(_REQUANT_ROUNDINGS)), "zero_point": zp,
            "stages": int(rng.choice([0, 1, 1, 2]))}


def _requant_spec(rng) -> dict:
    """One per-tensor Requantizer draw: a signed accumulator of 8–32 bits; a constant
    multiplier of 1–16 bits whose bits below the leading one are each set with probability
    0.2, 0.5 or 0.8 (sparse, mixed or dense patterns: the popcount and the CSD digit count
    vary apart from the width); a right shift in ``0 … acc+m−2`` (10 %: a left shift of 1–3);
    the output side of :func:`_requant_output`. :func:`sample_configs` keeps the draws whose
    scale ``b·2**-c`` is below 1 (the model's domain; the skipped draws keep the stream of
    the earlier, unrestricted sample, so its kept configurations stay cached)."""
    acc, m = int(rng.integers(8, 33)), int(rng.integers(1, 17))
    density = float(rng.choice([0.2, 0.5, 0.8]))
    low = sum(1 << k for k, on in enumerate(rng.random(m - 1) < density) if on)
    shift = -int(rng.integers(1, 4)) if rng.random() < 0.1 else int(rng.integers(0, acc + m - 1))
    return {"acc_bits": acc, "multiplier": (1 << (m - 1)) | low, "shift": shift, **_requant_output(rng)}


def _requant_channel_spec(rng) -> dict:
    """One per-channel Requantizer draw: 2–64 channels, each with its own multiplier and
    right shift (a table the ``channel`` input selects, so the multiply is a variable one);
    a signed accumulator of 8–24 bits; multipliers of ``m`` = 2–16 bits, each normalised
    (top bit set) as :meth:`numfmt.quant.Requantizer.from_scale` makes them, or for 20 %
    of draws any value in ``1 … 2**m − 1``; shifts ``c0 + 0…spread`` with ``spread`` 0–8
    bits and ``c0`` in ``0 … acc+m−2−spread``; the output side of :func:`_requant_output`."""
    channels = int(rng.choice([2, 3, 4, 8, 8, 16, 16, 32, 64]))
    acc, m = int(rng.integers(8, 25)), int(rng.integers(2, 17))
    if rng.random() < 0.8:
        mult = (1 << (m - 1)) + rng.integers(0, 1 << (m - 1), size=channels)
    else:
        mult = rng.integers(1, 1 << m, size=channels)
    spread = int(rng.choice([0, 1, 2, 2, 3, 4, 8]))
    c0 = int(rng.integers(0, max(acc + m - 1 - spread, 1)))
    shift = c0 + rng.integers(0, spread + 1, size=channels)
    return {"acc_bits": acc, "multiplier": [int(v) for v in mult], "shift": [int(v) for v in shift],
            **_requant_output(rng)}


def sample_configs(family: str, n: int, seed: int = SEED) -> list[dict]:
    """``n`` distinct JSON-able configurations of ``family`` (see :func:`build_unit`), drawn
    with ``numpy.random.default_rng([seed, family index])``; invalid draws (e.g. a Kulisch
    register over 53 bits) are skipped."""
    import numfmt as nf

    from . import model as M

    rng = np.random.default_rng([seed, list(N_CONFIGS).index(family)])
    floats, ints = float_formats(), _int_formats()
    seen, out = set(), []
    for _ in range(100 * n):
        if len(out) == n:
            break
        if family == "IntMac":
            a, b = rng.choice(ints), rng.choice(ints)
            p = nf.parse(a).bits + nf.parse(b).bits
            width = int(rng.choice([p, p + 2, p + 4, p + 8, p + 12, 24, 32]))
            if width < p:
                continue
            spec = {"a": str(a), "b": str(b), "width": width, "overflow": str(rng.choice(["wrap", "wrap", "sat"])),
                    "stages": int(rng.choice([1, 1, 2]))}
        elif family == "FloatMul":
            a = str(rng.choice(floats))
            b = a if rng.random() < 0.5 else str(rng.choice(floats))
            out_fmt = a if rng.random() < 0.5 else str(rng.choice(floats))
            spec = {"a": a, "b": b, "out": out_fmt, "rounding": "rne", "stages": 1}
        elif family == "FloatKulischMac":
            a = str(rng.choice(floats))
            b = a if rng.random() < 0.5 else str(rng.choice(floats))
            spec = {"a": a, "b": b, "n_max": int(rng.choice([1, 4, 16, 64, 256, 1024, 4096])), "stages": 1}
        elif family == "FloatAccMac":
            # minifloat operands (the same format half the time) into a float register, rne
            a = str(rng.choice(floats))
            b = a if rng.random() < 0.5 else str(rng.choice(floats))
            spec = {"a": a, "b": b, "acc": str(rng.choice(_ACC_FLOATS)), "rounding": "rne", "stages": 1}
        elif family == "BlockDot":
            # elements: the OCP MX ones half the time, else any 3–8-bit float or 4–8-bit int;
            # E8M0 scales; blocks of 2–16 (32, the OCP block, for a few: they take minutes)
            pool = _MX_ELEMENTS if rng.random() < 0.5 else floats + [f"int{n}" for n in range(4, 9)]
            a = str(rng.choice(pool))
            b = a if rng.random() < 0.7 else str(rng.choice(pool))
            spec = {"a": a, "b": b, "block": int(rng.choice([2, 2, 4, 4, 4, 8, 8, 16, 32])), "stages": 1}
        elif family == "Convert":
            # wide to narrow (an accumulator to FP8/FP6/FP4) half the time, else narrow to narrow
            # or narrow to wide (FP16/BF16)
            u = rng.random()
            a = str(rng.choice(_WIDE_FLOATS if u < 0.5 else floats))
            b = str(rng.choice(floats if u < 0.8 else _WIDE_FLOATS[:2]))
            if a == b:
                continue
            spec = {"in": a, "out": b, "rounding": "rne", "stages": int(rng.choice([1, 1, 1, 2]))}
        elif family in ("BitSerialDot", "LutDot"):
            # int/uint 2–8-bit operands; the exact accumulator for 70 %, else 2, 4 or 8 bits
            # narrower (wrapping); BitSerialDot vectors of 2–32, both serial modes; LutDot
            # vectors of 4–32, 1–6 weight bits per lookup, plain or sign-symmetric exact tables
            a, b = str(rng.choice(ints)), str(rng.choice(ints))
            if family == "BitSerialDot":
                spec = {"a": a, "b": b, "n": int(rng.choice([2, 4, 4, 8, 8, 16, 16, 32])),
                        "serial": str(rng.choice(["a", "both"]))}
            else:
                spec = {"w": a, "a": b, "n": int(rng.choice([4, 8, 12, 16, 24, 32])),
                        "g": int(rng.choice([1, 2, 3, 4, 4, 5, 6])), "sign_symmetric": bool(rng.random() < 0.5)}
            narrow = _narrowed(rng)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exact = build_unit(family, {**spec, "acc_width": None})
            except ValueError:
                continue
            if family == "LutDot" and exact.groups * exact.entries > M.LUT_TABLE_ENTRIES:
                continue
            spec["acc_width"] = exact.out_fmt.bits - narrow if narrow and exact.out_fmt.bits - narrow >= 2 else None
        elif family == "Requantizer":
            spec = _requant_spec(rng)
            if not M.scales_down(spec["multiplier"], spec["shift"]):
                continue        # a scale b·2**-c ≥ 1 (every left shift): outside the model's domain
        elif family == "RequantizerPerChannel":
            spec = _requant_channel_spec(rng)
        else:
            raise ValueError(f"family must be one of {', '.join(N_CONFIGS)}, not {family!r}")
        key = json.dumps(spec, sort_keys=True)
        if key in seen:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                build_unit(family, spec)
        except ValueError:
            continue
        seen.add(key)
        out.append(spec)
    return out


def build_unit(family: str, spec: dict):
    """The :mod:`numfmt.hw.rtl` unit of a configuration from :func:`sample_configs` (many are
    read for their features only: Amaranth's warning that one was never elaborated is off)."""
    unit = _build_unit(family, spec)
    unit._MustUse__silence = True
    return unit


def _build_unit(family: str, spec: dict):
    import numfmt as nf
    from numfmt.arith import FixedAccumulator
    from numfmt.hw import rtl

    if family == "IntMac":
        return rtl.IntMac(nf.parse(spec["a"]), nf.parse(spec["b"]),
                          FixedAccumulator(spec["width"], overflow=spec["overflow"]), stages=spec["stages"])
    if family == "FloatMul":
        return rtl.FloatMul(nf.parse(spec["a"]), nf.parse(spec["b"]), nf.parse(spec["out"]),
                            rounding=spec["rounding"], stages=spec["stages"])
    if family == "FloatKulischMac":
        return rtl.FloatKulischMac(nf.parse(spec["a"]), nf.parse(spec["b"]), spec["n_max"], stages=spec["stages"])
    if family == "FloatAccMac":
        from numfmt.arith import FloatAccumulator

        return rtl.FloatAccMac(nf.parse(spec["a"]), nf.parse(spec["b"]),
                               FloatAccumulator(nf.parse(spec["acc"]), rounding=spec["rounding"]),
                               stages=spec["stages"])
    if family == "BlockDot":
        return rtl.BlockDot(nf.BlockFormat(nf.parse(spec["a"]), spec["block"]),
                            nf.BlockFormat(nf.parse(spec["b"]), spec["block"]), stages=spec["stages"])
    if family == "Convert":
        return rtl.Convert(nf.parse(spec["in"]), nf.parse(spec["out"]), rounding=spec["rounding"],
                           stages=spec["stages"])
    if family == "BitSerialDot":
        return rtl.BitSerialDot(nf.parse(spec["a"]), nf.parse(spec["b"]), spec["n"], serial=spec["serial"],
                                acc_width=spec["acc_width"])
    if family == "LutDot":
        return rtl.LutDot(nf.parse(spec["w"]), nf.parse(spec["a"]), spec["n"], g=spec["g"],
                          sign_symmetric=spec["sign_symmetric"], acc_width=spec["acc_width"])
    if family in ("Requantizer", "RequantizerPerChannel"):
        from numfmt.quant import Requantizer

        rq = Requantizer(spec["multiplier"], spec["shift"], nf.parse(spec["out"]), rounding=spec["rounding"],
                         zero_point=spec["zero_point"])
        return rtl.Requantizer(rq, spec["acc_bits"], stages=spec["stages"])
    raise ValueError(f"family must be one of {', '.join(N_CONFIGS)}, not {family!r}")


def split(n: int, n_held_out: int = N_HELD_OUT, seed: int = SEED) -> np.ndarray:
    """Boolean mask, True = held out: the last ``n_held_out`` indices of a seeded permutation."""
    perm = np.random.default_rng(seed).permutation(n)
    held = np.zeros(n, dtype=bool)
    held[perm[n - n_held_out:]] = True
    return held


def sweep(processes: int = 2, families=None, stored: dict | None = None, target: str = TARGET) -> list[dict]:
    """Synthesize every configuration (cached); records with family, spec, split and counts.

    ``target``'s families are :data:`TARGET_FAMILIES` ``[target]``, synthesized with
    :data:`TARGET_OPTIONS` ``[target]`` and no place-and-route; every target draws the
    same configurations (:func:`sample_configs`) and the same split. With ``families``,
    only theirs are synthesized; the other families' records are those of ``stored`` (a
    calibration document of the target made with the same tool versions), as its sweep
    recorded them."""
    from . import synth

    all_families = TARGET_FAMILIES[_check_target(target)]
    families = list(all_families) if families is None else list(families)
    for f in families:
        if f not in all_families:
            raise ValueError(f"families must be among {', '.join(all_families)} (target {target!r}), not {f!r}")
    kept = []
    if set(families) != set(all_families):
        if stored is None or stored.get("tool_versions") != synth.tool_versions():
            raise ValueError("families: the other families' records come from the stored calibration, which "
                             "must be made with these tool versions "
                             f"({synth.tool_versions()}); rerun without --families")
        kept = [{"family": c["family"], "spec": c["spec"], "held_out": c["held_out"], **c["synth"]}
                for c in stored["configs"] if c["family"] in all_families and c["family"] not in families]
        missing = [f for f in all_families if f not in families and not any(r["family"] == f for r in kept)]
        if missing:
            raise ValueError(f"families: the stored calibration has no records of {', '.join(missing)}; "
                             f"add them to --families")
    per_family = []
    for family, n in N_CONFIGS.items():
        if family not in families:
            continue
        specs = sample_configs(family, n)
        held = split(len(specs))
        per_family.append([(family, s, bool(h)) for s, h in zip(specs, held)])
    # interleaved, so that an interrupted first run has some of every family in the cache
    plan = [p for group in itertools.zip_longest(*per_family) for p in group if p is not None]
    jobs = [synth.SynthJob.of(build_unit(f, s), target=target, options=TARGET_OPTIONS[target], place=False)
            for f, s, _ in plan]
    results = synth.synthesize_many(jobs, processes=processes)
    new = [{"family": f, "spec": s, "held_out": h, "luts": r.luts, "ffs": r.ffs, "dsps": r.dsps,
            "carry": r.carry} for (f, s, h), r in zip(plan, results)]
    return sorted(kept + new, key=lambda r: list(N_CONFIGS).index(r["family"]))



def sweep_products(processes: int = 2, target: str = TARGET) -> dict[str, int]:
    """The product table of ``target``: LUTs of every integer product the IntMac terms read
    (:mod:`numfmt.hw.cost.products`), synthesized with :data:`TARGET_OPTIONS` ``[target]``
    (cached)."""
    from .products import synthesize_table

    return synthesize_table(_check_target(target), TARGET_OPTIONS[target], processes=processes)


# -- fit ------------------------------------------------------------------------------------------
BASELINE = "FINN-R-style: luts = c_mul·a·b + c_acc·W (a, b operand bits, W accumulator bits)"


def _wls(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares on relative error: minimise Σ ((A·c − y) / y)²  (y ≥ 1 in the weights)."""
    w = 1.0 / np.maximum(y, 1.0)
    coef, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
    return coef


def l1_max(A: np.ndarray, y: np.ndarray, weight: float = 0.3) -> np.ndarray:
    """Coefficients minimising mean |r| + λ·max |r| (λ = ``weight``), ``r = (A·c − y) / max(y, 1)``
    the relative errors: the mean absolute relative error plus λ × the worst.

    A linear program (HiGHS, ``scipy.optimize.linprog``) over the coefficients ``c`` (free),
    one bound ``t_i ≥ |r_i|`` a row and ``z ≥ t_i``: minimise ``Σ t / n + weight·z``
    (``n`` rows), solved as ``Σ t + n·weight·z``, the same minimiser.

    Parameters
    ----------
    A : (n, p) array
        The design matrix (one row a configuration, one column a term).
    y : (n,) array
        The counts to fit (LUTs); rows with ``y < 1`` are weighted as ``y = 1``.
    weight : float
        λ, the weight of the worst relative error beside their mean (0: least absolute
        relative error).

    Examples
    --------
    >>> A = np.stack([np.ones(5), np.arange(1.0, 6.0)], axis=1)
    >>> np.round(l1_max(A, 2 * A[:, 1] + 1), 9).tolist()
    [1.0, 2.0]
    """
    from scipy.optimize import linprog

    if weight < 0:
        raise ValueError(f"weight must be ≥ 0, not {weight}")
    n, p = A.shape
    s = np.maximum(y, 1.0)
    B, b = A / s[:, None], y / s
    eye = np.eye(n)
    # rows:  B·c − t ≤ b,  −B·c − t ≤ −b,  t − z ≤ 0;  variables [c (p), t (n), z]
    A_ub = np.block([[B, -eye, np.zeros((n, 1))],
                     [-B, -eye, np.zeros((n, 1))],
                     [np.zeros((n, p)), eye, -np.ones((n, 1))]])
    b_ub = np.concatenate([b, -b, np.zeros(n)])
    cost = np.concatenate([np.zeros(p), np.ones(n), [n * weight]])
    bounds = [(None, None)] * p + [(0, None)] * (n + 1)
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"l1_max: the linear program failed: {res.message}")
    return res.x[:p]


def _l1_max_2(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    return l1_max(A, y, 2.0)


ESTIMATORS = {"wls": _wls, "l1_max": l1_max, "l1_max_2": _l1_max_2}
"""The LUT estimators by name: ``"wls"`` weighted least squares on relative error
(:func:`_wls`), ``"l1_max"`` the mean absolute relative error plus 0.3 × the worst
(:func:`l1_max` with its default λ), ``"l1_max_2"`` the same with λ = 2."""

_LP = "(r the relative error (A·c − y)/max(y, 1)), a linear program, scipy linprog HiGHS"
ESTIMATOR_TEXT = {"wls": "weighted least squares minimising the squared relative error (weights 1/y), numpy lstsq",
                  "l1_max": f"minimum of mean |r| + 0.3·max |r| {_LP}",
                  "l1_max_2": f"minimum of mean |r| + 2·max |r| {_LP}"}
"""What each estimator of :data:`ESTIMATORS` minimises, as the calibration JSON records it."""

ESTIMATOR_LABEL = {"wls": "weighted LS", "l1_max": "mean + 0.3·max", "l1_max_2": "mean + 2·max"}
"""Each estimator's short name in :func:`report`'s tables."""

FAMILY_ESTIMATORS = {"xilinx": {"BlockDot": "l1_max", "IntMac": "l1_max_2"}, "ecp5": {}}
"""Per target, the families whose LUT coefficients are fitted by another estimator than
``"wls"`` (a key of :data:`ESTIMATORS`); chosen by fit-set leave-one-out with the adoption
rule of ``docs/cost_model.md``. Carry cells and the IntMac baseline are always ``"wls"``."""


def estimator(family: str, target: str = TARGET) -> str:
    """The name of the estimator ``family``'s LUT coefficients are fitted by on ``target``.

    >>> estimator("FloatMul"), estimator("BlockDot"), estimator("IntMac"), estimator("BlockDot", "ecp5")
    ('wls', 'l1_max', 'l1_max_2', 'wls')
    """
    return FAMILY_ESTIMATORS[_check_target(target)].get(family, "wls")


def estimators(family: str, target: str = TARGET) -> dict:
    """The estimator of each fitted quantity of ``family`` on ``target``, as the
    calibration JSON records it (``"estimators"``): LUTs by :func:`estimator`, carry by
    ``"wls"``.

    >>> estimators("BlockDot")
    {'luts': 'l1_max', 'carry': 'wls'}
    """
    return {"luts": estimator(family, target), "carry": "wls"}


def _rel(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(pred - y) / np.maximum(y, 1.0)


def _stats(err: np.ndarray) -> dict:
    return {"median": float(np.median(err)), "worst": float(np.max(err)), "n": int(err.size)}


def leave_one_out(A: np.ndarray, y: np.ndarray, estimator: str = "wls") -> np.ndarray:
    """Absolute relative errors of leave-one-out predictions: row ``i`` predicted by the
    fit of ``estimator`` (a key of :data:`ESTIMATORS`; :func:`fit` passes the family's,
    :func:`estimator`) on every other row (the fit set's cross-validation, by which the
    models' terms and estimators are chosen).

    >>> A = np.array([[1.0, 1], [1, 2], [1, 3], [1, 4]])
    >>> bool(leave_one_out(A, 2 * A[:, 1] + 1).max() < 1e-12)
    True
    >>> bool(leave_one_out(A, 2 * A[:, 1] + 1, "l1_max").max() < 1e-9)
    True
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {estimator!r}")
    if len(y) < 2:
        raise ValueError(f"y must have at least 2 rows for leave-one-out, not {len(y)}")
    solve = ESTIMATORS[estimator]
    pred = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        pred[i] = max(float(A[i] @ solve(A[keep], y[keep])), 0.0)
    return _rel(pred, y)


def fit(records: list[dict], products: dict, target: str = TARGET) -> tuple[dict, dict, list[dict]]:
    """``(coefficients, errors, configs)`` from the sweep's records: LUT and carry
    coefficients of each family of :data:`TARGET_FAMILIES` ``[target]`` fitted on its fit
    set (LUTs by the family's :func:`estimator`, which the fit-set leave-one-out error
    scores too; carry cells by :func:`_wls`), errors on its held-out set; FFs by
    ``target``'s rule (:func:`numfmt.hw.cost.model.count_ffs`). ``products``: the
    target's product table (:func:`sweep_products`), which the IntMac terms read."""
    from . import model as M
    from .products import table_array

    table = table_array(products)
    coefficients, errors, configs = {}, {}, []
    for family in TARGET_FAMILIES[_check_target(target)]:
        recs = [r for r in records if r["family"] == family]
        X = np.stack([M.raw_features(build_unit(family, r["spec"]))[1] for r in recs])
        held = np.array([r["held_out"] for r in recs])
        pred, coefficients[family], errors[family] = {}, {}, {}
        for q in ("luts", "carry"):
            A = M.design_matrix(family, q, X, table, target)
            y = np.array([r[q] for r in recs], dtype=np.float64)
            coef = ESTIMATORS[estimators(family, target)[q]](A[~held], y[~held])
            coefficients[family][q] = dict(zip(M.term_names(family, q, target), coef.tolist()))
            pred[q] = np.maximum(A @ coef, 0.0)
            ok = held & (y > 0) if q == "carry" else held
            errors[family][q] = _stats(_rel(pred[q][ok], y[ok]))
            if q == "luts":
                errors[family]["luts_loo"] = _stats(leave_one_out(A[~held], y[~held], estimator(family, target)))
        c = M._cols(family, X)
        pred["ffs"] = M._ffs(family, c)
        y_ff = np.array([r["ffs"] for r in recs], dtype=np.float64)
        errors[family]["ffs"] = dict(_stats(_rel(pred["ffs"][held], y_ff[held])),
                                     exact=int(np.sum(pred["ffs"][held] == y_ff[held])),
                                     exact_all=int(np.sum(pred["ffs"] == y_ff)), n_all=int(y_ff.size))
        y_dsp = np.array([r["dsps"] for r in recs])
        errors[family]["dsps"] = {"exact": int(np.sum(y_dsp[held] == 0)), "n": int(held.sum())}
        if family == "IntMac":
            B = np.stack([c["a_bits"] * c["b_bits"], c["width"]], axis=1)
            y = np.array([r["luts"] for r in recs], dtype=np.float64)
            coef = _wls(B[~held], y[~held])
            coefficients[family]["baseline_luts"] = {"ab": float(coef[0]), "width": float(coef[1])}
            pred["baseline_luts"] = B @ coef
            errors[family]["baseline_luts"] = _stats(_rel(pred["baseline_luts"][held], y[held]))
        for k, r in enumerate(recs):
            configs.append({"family": family, "spec": r["spec"], "held_out": bool(r["held_out"]),
                            "synth": {q: int(r[q]) for q in ("luts", "ffs", "carry", "dsps")},
                            "model": {q: round(float(v[k]), 3) for q, v in pred.items()}})
    return coefficients, errors, configs


def write(records: list[dict], products: dict, path: Path = DATA, families=None,
          tool_versions: dict | None = None, target: str = TARGET) -> dict:
    """Fit and write ``target``'s calibration JSON; returns the document. ``swept`` records
    the date each family was last synthesized (``families``: those synthesized now; default
    all; ``()`` for a refit of stored counts, which also passes their ``tool_versions``);
    ``products`` is the product table (:func:`sweep_products`), stored with them."""
    from . import synth

    coefficients, errors, configs = fit(records, products, target)
    today = datetime.date.today().isoformat()
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    all_families = TARGET_FAMILIES[target]
    used = sorted({k for f in all_families for k in estimators(f, target).values()}, key=list(ESTIMATORS).index)
    now = all_families if families is None else families
    swept = {f: (old.get("swept", {}).get(f, old.get("date", today)) if f not in now else today)
             for f in all_families}
    tools = synth.tool_versions() if tool_versions is None else tool_versions
    doc = {"target": target, "options": list(TARGET_OPTIONS[target]), "tool_versions": tools,
           "date": today, "swept": swept, "seed": SEED,
           "split": f"per family: a seeded sample (numpy default_rng([{SEED}, family index])) of "
                    f"{ {f: N_CONFIGS[f] for f in all_families} } configurations; held out: the last "
                    f"{N_HELD_OUT} indices of "
                    f"default_rng({SEED}).permutation(n); the rest fit",
           "fit": "per family and quantity the estimator named in \"estimators\": "
                  + "; ".join(f"{k}: {ESTIMATOR_TEXT[k]}" for k in used),
           "estimators": {f: estimators(f, target) for f in all_families},
           "baseline": BASELINE, "coefficients": coefficients, "errors": errors,
           "products": dict(sorted(products.items())), "configs": configs}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return doc


# -- report ---------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _short(v) -> str:
    """A configuration value for the report: a per-channel list as its first values and its length."""
    if isinstance(v, list) and len(v) > 4:
        return f"[{', '.join(map(str, v[:3]))}, … ({len(v)} channels)]"
    return str(v)


def report(doc: dict) -> str:
    """The Markdown error tables of a calibration document (``docs/cost_model.md``'s
    generated section). A family fitted by another estimator than weighted least squares
    (the document's ``"estimators"``; a document without them is all ``"wls"``) is named
    with it in the tables and the coefficient list."""
    e = doc["errors"]
    families = list(doc["coefficients"])
    est = {f: doc.get("estimators", {}).get(f, {}) for f in families}
    other = {(f, q): k for f in families for q, k in est[f].items() if k != "wls"}
    lines = [f"Target `{doc['target']}` options `{' '.join(doc['options'])}`; tools "
             + ", ".join(f"{k} {v}" for k, v in doc["tool_versions"].items()) + f"; fitted {doc['date']}"
             + ("; swept " + ", ".join(f"{f} {d}" for f, d in doc["swept"].items()) if "swept" in doc else "") + ".",
             "",
             "LUTs, held-out configurations (absolute relative error against Yosys), and beside them the "
             "leave-one-out error on the fit set (each fit configuration predicted from the other fit "
             "configurations; terms are chosen by it):", "",
             "| family | model | held out | fit set | median | worst | fit-set LOO median | fit-set LOO worst |",
             "|---|---|---|---|---|---|---|---|"]
    n_all = {f: sum(1 for c in doc["configs"] if c["family"] == f) for f in families}
    for f in families:
        s = e[f]["luts"]
        loo = e[f].get("luts_loo")
        cv = f"{_pct(loo['median'])} | {_pct(loo['worst'])}" if loo else "– | –"
        name = other.get((f, "luts"))
        model = f"this model, {ESTIMATOR_LABEL[name]}" if name else "this model"
        lines.append(f"| {f} | {model} | {s['n']} | {n_all[f] - s['n']} | {_pct(s['median'])} | {_pct(s['worst'])} "
                     f"| {cv} |")
        if "baseline_luts" in e[f]:
            b = e[f]["baseline_luts"]
            lines.append(f"| {f} | FINN-R-style baseline | {b['n']} | {n_all[f] - b['n']} | {_pct(b['median'])} "
                         f"| {_pct(b['worst'])} | – | – |")
    if other:
        lines += ["", "Coefficients, and the leave-one-out fits, by weighted least squares on relative error, "
                  "except " + "; ".join(f"{f} {q}: {ESTIMATOR_TEXT[k]}" for (f, q), k in other.items()) + "."]
    lines += ["", f"FFs (counted, not fitted), carry cells ({CARRY_CELLS[doc['target']]}, fitted), DSPs, held out:", "",
              "| family | FF exact | FF median | FF worst | FF exact, all configs | carry median | carry worst "
              "| DSP = 0 |", "|---|---|---|---|---|---|---|---|"]
    for f in families:
        ff, ca, d = e[f]["ffs"], e[f]["carry"], e[f]["dsps"]
        lines.append(f"| {f} | {ff['exact']}/{ff['n']} | {_pct(ff['median'])} | {_pct(ff['worst'])} "
                     f"| {ff['exact_all']}/{ff['n_all']} | {_pct(ca['median'])} | {_pct(ca['worst'])} "
                     f"| {d['exact']}/{d['n']} |")
    lines += ["", "Coefficients (LUTs = Σ coefficient · term; terms in `numfmt.hw.cost.model.terms`):", ""]
    for f in families:
        for q, table in doc["coefficients"][f].items():
            by = f" ({ESTIMATOR_LABEL[other[f, q]]})" if (f, q) in other else ""
            lines.append(f"* {f} `{q}`{by}: " + ", ".join(f"{v:+.3f}·{k}" for k, v in table.items()))
    worst = sorted((c for c in doc["configs"] if c["held_out"]),
                   key=lambda c: -abs(c["model"]["luts"] - c["synth"]["luts"]) / max(c["synth"]["luts"], 1))[:5]
    lines += ["", "The five worst held-out LUT estimates:", "", "| family | configuration | Yosys | model | error |",
              "|---|---|---|---|---|"]
    for c in worst:
        spec = ", ".join(f"{k}={_short(v)}" for k, v in c["spec"].items())
        err = abs(c["model"]["luts"] - c["synth"]["luts"]) / max(c["synth"]["luts"], 1)
        lines.append(f"| {c['family']} | {spec} | {c['synth']['luts']} | {c['model']['luts']:.1f} | {_pct(err)} |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- BEGIN GENERATED: python -m numfmt.hw.cost.calibrate --report docs/cost_model.md -->", \
    "<!-- END GENERATED -->"


def begin_marker(target: str = TARGET) -> str:
    """The line opening ``target``'s generated section (:data:`BEGIN` for xilinx).

    >>> begin_marker("ecp5")
    '<!-- BEGIN GENERATED: python -m numfmt.hw.cost.calibrate --target ecp5 --report docs/cost_model.md -->'
    """
    if _check_target(target) == TARGET:
        return BEGIN
    return BEGIN.replace("calibrate --report", f"calibrate --target {target} --report")


def write_report(doc: dict, path: Path) -> None:
    """Replace the generated section of ``path`` for the document's target (between
    :func:`begin_marker` and the next :data:`END`, appended when absent) with :func:`report`."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    begin = begin_marker(doc["target"])
    block = f"{begin}\n{report(doc)}{END}"
    if begin in text and END in text[text.find(begin):]:
        start = text.index(begin)
        text = text[:start] + block + text[text.index(END, start) + len(END):]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m numfmt.hw.cost.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--processes", type=int, default=2, help="synthesis worker processes (default 2)")
    ap.add_argument("--report", type=Path, help="write the error tables into this Markdown file")
    ap.add_argument("--report-only", action="store_true", help="no sweep: report from the stored JSON")
    ap.add_argument("--refit", action="store_true", help="no sweep: refit the models on the stored synthesis "
                                                         "counts and rewrite the JSON (after a change of terms)")
    ap.add_argument("--families", help="comma-separated families to synthesize; the others' records are "
                                       "taken from the stored JSON (same tool versions)")
    ap.add_argument("--target", default=TARGET, help=f"the target to calibrate: {', '.join(TARGET_OPTIONS)} "
                                                     f"(default {TARGET}); each has its own JSON and report section")
    args = ap.parse_args(argv)
    if args.processes < 1:
        ap.error(f"--processes must be at least 1, not {args.processes}")
    if args.report is not None:                   # checked before a sweep of hours, not after it
        if not str(args.report) or args.report.is_dir():
            ap.error(f"--report must name a Markdown file, not {str(args.report)!r}")
        if not args.report.parent.is_dir():
            ap.error(f"--report's directory {str(args.report.parent)!r} does not exist")
    if args.target not in TARGET_OPTIONS:
        ap.error(f"--target must be one of {', '.join(TARGET_OPTIONS)}, not {args.target!r}")
    target, data = args.target, data_path(args.target)
    all_families = TARGET_FAMILIES[target]
    families = None
    if args.families:
        families = [f.strip() for f in args.families.split(",") if f.strip()]
        bad = [f for f in families if f not in all_families]
        if bad or not families:
            ap.error(f"--families must name families among {', '.join(all_families)} (target {target}), "
                     f"not {args.families!r}")
        if set(families) == set(all_families):
            families = None         # every family of the target: a whole sweep
    if args.report_only and args.refit:
        ap.error("--report-only and --refit exclude each other (--refit also writes the report)")
    if (args.report_only or args.refit) and families:
        ap.error(f"--families synthesizes; it cannot go with --report-only or --refit, not {args.families!r}")
    if args.report_only:
        doc = json.loads(data.read_text(encoding="utf-8"))
    elif args.refit:
        import warnings

        stored = json.loads(data.read_text(encoding="utf-8"))
        records = [{"family": c["family"], "spec": c["spec"], "held_out": c["held_out"], **c["synth"]}
                   for c in stored["configs"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            products = stored.get("products") or sweep_products(args.processes, target)
            doc = write(records, products, data, families=(), tool_versions=stored["tool_versions"],
                        target=target)
        print(f"refitted {data} on its stored synthesis counts")
    else:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = json.loads(data.read_text(encoding="utf-8")) if families and data.exists() else None
            try:
                records = sweep(processes=args.processes, families=families, stored=stored, target=target)
            except ValueError as e:
                ap.error(str(e))
            products = sweep_products(args.processes, target)
            doc = write(records, products, data, families=families, target=target)
        print(f"wrote {data}")
    print(report(doc))
    if args.report:
        write_report(doc, args.report)
        print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
