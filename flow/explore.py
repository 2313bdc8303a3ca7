"""Accuracy × hardware cost exploration: which number format and PTQ method give the best
accuracy per LUT for a network (``numfmt explore``).

:func:`explore` takes an :class:`Options` value and

1. quantizes the network at every point of the grid (:func:`numfmt.flow.sweep.points`:
   format × mode × PTQ method), calibrating on the training data less a validation split
   and measuring accuracy on the validation split and on the test split;
2. keeps, for each format and mode, the method best on *validation* accuracy;
3. prices each kept point by the multiply–accumulate unit its formats need, in LUTs per
   MAC lane on ``xilinx -nodsp`` (:func:`unit_of`; the analytic model
   :func:`numfmt.hw.cost.model.estimate`, or real Yosys synthesis, cached, for a unit
   outside the model's families or domain, and for every unit on a target the model has no
   calibration for), and the whole accelerator's MAC array at a folding (:func:`folding`);
4. takes the Pareto front of validation accuracy against LUTs (within ``budget``),
   synthesizes the front's units for real, writes each one's Verilog and checks it
   against its numfmt model in a simulator (:func:`numfmt.sim.check_many`); with
   ``verify="full"`` also generates each front point's whole accelerator
   (:class:`numfmt.hw.accel.Accelerator`) and checks it over test images against the
   QuantizedGraph, or says why it cannot be built;
5. writes the report (:func:`numfmt.flow.report.write`: ``pareto.png``, ``index.html``,
   ``summary.md``, plus ``points.json``, the table behind them) with *test* accuracy.

Every result (a point's accuracy, a unit's cost, synthesis or verification) is appended to
``<out>/points.jsonl`` (:class:`numfmt.flow.results.ResultStore`) as soon as it is
computed; ``resume=True`` reruns only what is missing, and a file of another model, data
set or grid is refused. Tasks run in local worker processes, or on a Dask cluster
(``scheduler="tcp://HOST:PORT"``); the records are the same either way.

>>> opts = Options(families=("int",), bits=(4,), modes=("wa",), methods=("rtn",), out="x")
>>> [p.weight for p in opts.points()]
['int4']
>>> Options(verify="all").check()
Traceback (most recent call last):
...
numfmt.flow.sweep.OptionError: verify must be one of 'unit', 'full', 'none', not 'all'
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import math
import multiprocessing
import os
import re
import threading
from pathlib import Path

import numpy as np

import numfmt as nf
from numfmt._files import write_atomic

from . import pareto, report, results, sweep
from .sweep import OptionError

__all__ = ["DEFAULT_FOLD", "Options", "Result", "STORE", "TARGET_OPTIONS", "calibrated", "explore", "folding",
           "unit_of"]

STORE = "points.jsonl"
#: the default target (the one the cost model is calibrated for) and its synthesis flags
TARGET, SYNTH_OPTIONS = "xilinx", ("-nodsp",)
#: the targets and the flags of their Yosys runs: LUT-only where the target has DSPs (ice40's
#: synthesis infers none unless given -dsp)
TARGET_OPTIONS = {"xilinx": SYNTH_OPTIONS, "ecp5": ("-nodsp",), "ice40": ()}
#: (pe, simd) of every layer, each cut to the largest divisor of the layer's outputs / inputs
DEFAULT_FOLD = (2, 8)
_VERIFY = ("unit", "full", "none")
_SCHEDULER = re.compile(r"^tcp://[^\s:/]+:\d{1,5}$")


@dataclasses.dataclass(frozen=True)
class Options:
    """What :func:`explore` runs. Every field is checked by :meth:`check` before any work.

    ``model``: ``"mlp"``, ``"cnn"`` (the embedded digits networks) or an ONNX file, with
    ``data`` an ``.npz`` holding ``x_calib``, ``x_test``, ``y_test`` and either ``x_val`` and
    ``y_val`` or ``y_calib`` (then the validation split is carved from ``x_calib``).
    ``families``, ``bits``, ``modes``, ``methods``, ``granularity``, ``calib``: the grid, as
    :func:`numfmt.flow.sweep.points` takes it. ``val_fraction`` of the calibration data
    (seeded permutation, ``seed``) is held out to choose on. ``budget``: largest LUTs per
    MAC lane a front point may have. ``target``: ``"xilinx"`` (the cost model's calibrated
    target), ``"ecp5"`` (calibrated for every unit family explore prices) or
    ``"ice40"`` (no calibration: every unit is priced by Yosys for that target, so ``synth``
    must be on). ``fold``: ``(pe, simd)`` of the accelerator's layers
    (:func:`folding`), for the whole-accelerator LUTs and ``verify="full"``. ``verify``:
    ``"unit"`` (simulate each front unit), ``"full"`` (also the whole accelerator of each
    front point over ``images`` test images) or ``"none"``. ``synth``: run Yosys (off: units
    outside the cost model get no cost). ``workers``: local processes (default: the usable
    cores); ``scheduler``: a Dask scheduler address instead. ``vectors``: random vectors per
    verified unit.
    """
    model: str = "mlp"
    data: str | None = None
    families: tuple = sweep.FAMILIES
    bits: tuple = (3, 4, 5, 6, 7, 8)
    modes: tuple = sweep.MODES
    methods: tuple = ("rtn", "gptq", "adaround")
    granularity: str | int = "channel"
    calib: str = "minmax"
    val_fraction: float = 0.2
    seed: int = 0
    target: str = TARGET
    budget: int | None = None
    out: str = "numfmt-explore"
    resume: bool = False
    overwrite: bool = False
    verify: str = "unit"
    synth: bool = True
    workers: int | None = None
    scheduler: str | None = None
    vectors: int = 10_000
    fold: tuple = DEFAULT_FOLD
    images: int = 20

    def points(self) -> list:
        """The grid (:class:`numfmt.flow.sweep.Point` s); OptionError for a bad grid option."""
        return sweep.points(families=self.families, bits=self.bits, modes=self.modes, methods=self.methods,
                            granularity=self.granularity, calib=self.calib)

    def check(self) -> list:
        """Check every option (OptionError naming it); return the grid."""
        pts = self.points()
        if not isinstance(self.target, str) or self.target not in TARGET_OPTIONS:
            raise OptionError("target", f"target must be one of {', '.join(map(repr, TARGET_OPTIONS))}, "
                                        f"not {self.target!r}")
        if not self.synth and not calibrated(self.target):
            raise OptionError("target", f"target {self.target!r} has no cost-model calibration, so its units are "
                                        "priced by Yosys synthesis, which synth=False (--no-synth) turns off")
        if not self.synth:
            missing = sorted({UNIT_FAMILY[f] for f in self.families} - fitted_families(self.target))
            if missing:
                raise OptionError("target", f"target {self.target!r}: the cost model has no {', '.join(missing)} "
                                            "coefficients, so those units are priced by Yosys synthesis, which "
                                            "synth=False (--no-synth) turns off")
        if not isinstance(self.verify, str) or self.verify not in _VERIFY:
            raise OptionError("verify", f"verify must be one of {', '.join(map(repr, _VERIFY))}, not {self.verify!r}")
        try:
            _check_fold(self.fold)
        except ValueError as exc:
            raise OptionError("fold", str(exc)) from None
        if not (isinstance(self.val_fraction, float) and 0 < self.val_fraction < 1):
            raise OptionError("val_fraction", f"val_fraction must be a float in (0, 1), not {self.val_fraction!r}")
        for name, least in (("seed", 0), ("budget", 1), ("workers", 1), ("vectors", 1), ("images", 1)):
            value = getattr(self, name)
            if name in ("budget", "workers") and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise OptionError(name, f"{name} must be an integer ≥ {least}, not {value!r}")
        if self.resume and self.overwrite:
            raise OptionError("resume", "resume and overwrite exclude each other")
        if self.scheduler is not None and not (isinstance(self.scheduler, str) and _SCHEDULER.match(self.scheduler)):
            raise OptionError("scheduler", f"scheduler must be a Dask scheduler address tcp://HOST:PORT, "
                                           f"not {self.scheduler!r}")
        if self.scheduler is not None and self.workers is not None:
            raise OptionError("workers", "workers is for local processes; with scheduler the cluster has its own")
        if not isinstance(self.out, (str, os.PathLike)) or not os.fspath(self.out):
            raise OptionError("out", f"out must be a directory path, not {self.out!r}")
        if self.data is not None and not os.path.isfile(self.data):
            raise OptionError("data", f"data must be an .npz file, not {os.fspath(self.data)!r} (no such file)")
        return pts


@dataclasses.dataclass(frozen=True)
class Result:
    """What :func:`explore` found: ``records`` (one per format and mode, its chosen method;
    the rows of the report), ``front`` (mask over ``records``), ``points`` (every point's
    accuracy record), ``finding`` (sentences), ``paths`` (report files)."""
    records: list
    front: np.ndarray
    points: list
    finding: list
    paths: dict


# -- the workload ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Workload:
    label: str
    graph: object
    x_fit: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    float_acc: float
    fan_in: int


def _split(n, fraction, seed):
    """(fit, val) row indices: a seeded ``fraction`` of ``n`` rows held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fraction * n)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _carve(x, y, fraction, seed):
    """(x_fit, x_val, y_val): a seeded ``fraction`` of the rows held out."""
    fit, val = _split(len(x), fraction, seed)
    return x[fit], x[val], y[val]


def _load_npz(path):
    try:
        with np.load(path) as d:
            arrays = {k: d[k] for k in d.files}
    except (OSError, ValueError) as exc:
        raise OptionError("data", f"{path}: {exc}") from None
    missing = {"x_calib", "x_test", "y_test"} - set(arrays)
    if missing:
        raise OptionError("data", f"data is missing arrays {sorted(missing)} (it needs x_calib, x_test, y_test "
                                  "and x_val, y_val or y_calib)")
    if not ({"x_val", "y_val"} <= set(arrays) or "y_calib" in arrays):
        raise OptionError("data", "data needs a validation split: arrays x_val and y_val, or y_calib (labels of "
                                  "x_calib) to carve one from x_calib")
    return arrays


def _fan_in(graph) -> int:
    """The most inputs any output of a Dense/Conv2d layer sums."""
    from numfmt import nn
    return max(int(np.prod(node.layer.weight.shape[1:])) for node in graph.nodes
               if isinstance(node.layer, (nn.Dense, nn.Conv2d)))


def _workload(opts) -> _Workload:
    from numfmt import nn
    if opts.data is None:
        _, y_train, _, _ = nn.digits_data()
        model = opts.model
        if model in ("mlp", "cnn"):
            # the embedded network trained without the validation images, so that choosing on
            # them is choosing on data the network never saw
            _, val = _split(len(y_train), opts.val_fraction, opts.seed)
            model = (nn.digits_mlp if model == "mlp" else nn.digits_cnn)(exclude=val)
        label, graph, x_train, x_test, y_test = sweep._workload(model, None)
        label = opts.model if opts.model in ("mlp", "cnn") else label
        x_fit, x_val, y_val = _carve(x_train, y_train, opts.val_fraction, opts.seed)
    else:
        d = _load_npz(opts.data)
        if "x_val" in d and "y_val" in d:
            x_fit, x_val, y_val = d["x_calib"], d["x_val"], d["y_val"]
        else:
            if np.shape(d["y_calib"]) != (len(d["x_calib"]),):
                raise OptionError("data", f"y_calib must have one label per x_calib input, shape "
                                          f"({len(d['x_calib'])},), not {np.shape(d['y_calib'])}")
            x_fit, x_val, y_val = _carve(d["x_calib"], d["y_calib"], opts.val_fraction, opts.seed)
        label, graph, x_fit, x_test, y_test = sweep._workload(opts.model, (x_fit, d["x_test"], d["y_test"]))
    _, _, _, x_val, y_val = sweep._workload(graph, (x_fit, x_val, y_val))       # the same checks
    float_acc = nn.accuracy(graph, x_test, y_test)
    return _Workload(label, graph, x_fit, x_val, np.asarray(y_val), x_test, y_test, float_acc, _fan_in(graph))


def _identity(wl, pts, opts) -> dict:
    ident = sweep._identity(wl.label, wl.graph, wl.x_fit, wl.x_test, wl.y_test, pts)
    del ident["sweep"]
    ident = {"explore": 1, **ident, "validation": f"sha256:{sweep._sha256(wl.x_val, wl.y_val)}",
             "cost": f"{_synth_command(opts.target)}, LUTs per MAC lane, fan-in {wl.fan_in}"}
    return ident


def _synth_command(target) -> str:
    return " ".join((target,) + TARGET_OPTIONS[target])


def calibrated(target: str) -> bool:
    """Whether the cost model has a calibration for ``target`` (with its :data:`TARGET_OPTIONS`).

    >>> calibrated("xilinx"), calibrated("ice40")
    (True, False)
    """
    return bool(fitted_families(target))


def fitted_families(target: str) -> set:
    """The unit families the cost model has coefficients for on ``target`` (empty without a
    calibration).

    >>> {"BlockDot", "FloatKulischMac", "IntMac"} <= fitted_families("xilinx"), fitted_families("ice40")
    (True, set())
    """
    from numfmt.hw.cost import model
    try:
        return set(model.calibration(target, TARGET_OPTIONS[target]).coefficients)
    except ValueError:
        return set()


def _check_fold(fold):
    if (not isinstance(fold, (tuple, list)) or len(fold) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in fold)):
        raise ValueError(f"fold must be two integers ≥ 1 (pe, simd), not {fold!r}")


def _largest_divisor(n: int, most: int) -> int:
    return max(d for d in range(1, min(n, most) + 1) if n % d == 0)


def folding(graph, fold=DEFAULT_FOLD) -> dict:
    """``{layer: (pe, simd)}`` of the Dense/Conv2d layers of ``graph`` at ``fold = (pe, simd)``:
    each cut to the largest divisor of the layer's outputs (pe) and inputs (simd), as
    :class:`numfmt.hw.accel.MatrixVector` needs. The layer has ``pe·simd`` MAC lanes.

    >>> from numfmt import nn
    >>> folding(nn.digits_mlp(), (4, 8))
    {'dense0': (4, 8), 'dense2': (4, 8), 'dense4': (2, 8)}
    """
    from numfmt import nn
    _check_fold(fold)
    out = {}
    for node in graph.nodes:
        if isinstance(node.layer, (nn.Dense, nn.Conv2d)):
            n_out, n_in = node.layer.weight.shape[0], int(np.prod(node.layer.weight.shape[1:]))
            out[node.name] = (_largest_divisor(n_out, fold[0]), _largest_divisor(n_in, fold[1]))
    return out


# -- units and their cost ----------------------------------------------------------------------
#: the unit family :func:`unit_of` prices each format family's points with
UNIT_FAMILY = {"int": "IntMac", "fixed": "IntMac", "minifloat": "FloatKulischMac", "mx": "BlockDot"}


def unit_of(weight: str, mode: str, fan_in: int):
    """The MAC unit that prices a point, and LUTs are divided by ``lanes`` (MX: the block).

    Returns ``(unit, lanes)``; raises ValueError when no unit does the point's arithmetic
    (weight-only minifloat/MX: no unit multiplies them by integer activations) or the
    unit cannot be built (e.g. an exact accumulator wider than 53 bits).

    * integer and fixed point (a fixed-point MAC is an integer MAC on the codes; the binary
      point only moves the requantizer's shift): ``IntMac`` of the signed codes, the
      accumulator exactly as wide as ``fan_in`` products need (``kulisch_width``); weight-only
      points multiply by the ``int16`` activations (:data:`numfmt.flow.sweep.W_ONLY_ACT`);
    * minifloat: ``FloatKulischMac(fmt, fmt, n_max=fan_in)``;
    * MX: ``BlockDot`` of one block pair, per lane ``1/block`` of it.

    >>> u, lanes = unit_of("int4", "wa", 64)
    >>> type(u).__name__, u.register.width, lanes
    ('IntMac', 14, 1)
    >>> unit_of("fp4_e2m1", "w", 64)
    Traceback (most recent call last):
    ...
    ValueError: no unit multiplies minifloat weights by int16 activations (weight-only minifloat points are not priced)
    """
    from numfmt.arith import FixedAccumulator
    from numfmt.arith.accumulators import kulisch_width
    from numfmt.hw.rtl import BlockDot, FloatKulischMac, IntMac
    family = sweep.family_of(weight)
    fmt = nf.parse(weight)
    element = fmt.element if isinstance(fmt, nf.BlockFormat) else fmt
    if mode == "wa" and family in ("minifloat", "mx"):
        # checked here, not by the unit's constructor: a half-built Amaranth unit warns when freed
        width = kulisch_width(element, element, fmt.block if family == "mx" else fan_in)
        if width > 53:
            raise ValueError(f"the exact sum of {weight} products needs a {width}-bit register; the RTL "
                             "units hold 53")
    if family in ("int", "fixed"):
        a = nf.IntFormat(fmt.bits, signed=True)
        b = a if mode == "wa" else nf.parse(sweep.W_ONLY_ACT)
        unit, lanes = IntMac(a, b, FixedAccumulator(kulisch_width(a, b, fan_in))), 1
    elif mode == "w":
        raise ValueError(f"no unit multiplies {family} weights by {sweep.W_ONLY_ACT} activations "
                         f"(weight-only {family} points are not priced)")
    elif family == "minifloat":
        unit, lanes = FloatKulischMac(fmt, fmt, fan_in), 1
    else:
        unit, lanes = BlockDot(fmt), fmt.block
    unit._MustUse__silence = True        # most are priced, never elaborated: no Amaranth "unused" warning
    return unit, lanes


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def _cost_key(weight, mode, fan_in, synth) -> str:
    return f"{weight}|{mode}|{fan_in}|{'synth' if synth else 'model'}"


def _synth(unit, target=TARGET):
    from numfmt.hw.cost import synth
    return synth.synthesize(unit, target=target, options=TARGET_OPTIONS[target], place=False)


def _cost_task(formats, fan_in, allow_synth, target=TARGET) -> list:
    """The cost records of ``formats`` (``(weight, mode)`` pairs priced by one unit): the model,
    else Yosys, else n/a with the reason. On a target without a calibration: Yosys."""
    from numfmt.hw.cost import SynthesisError, model
    recs = [{"kind": "cost", "key": _cost_key(w, m, fan_in, allow_synth), "weight": w, "mode": m, "unit": None,
             "lanes": 1, "luts": math.nan, "ffs": math.nan, "source": None, "note": ""} for w, m in formats]
    fill = lambda **fields: [{**r, **fields} for r in recs]
    try:
        unit, lanes = unit_of(*formats[0], fan_in)
    except ValueError as exc:
        return fill(note=str(exc))
    recs = fill(unit=unit.name, lanes=lanes)
    family = type(unit).__name__
    options = TARGET_OPTIONS[target]
    if not calibrated(target):
        why = None
    elif family not in model.calibration(target, options).coefficients:    # a family not (yet) fitted
        why = f"the {_synth_command(target)} calibration has no {family} coefficients"
    else:
        twin = _integer_twin(unit)
        try:
            est = model.estimate(unit if twin is None else twin, target=target, options=options)
            note = "" if twin is None else (f"priced as the BlockDot of {twin.a_fmt.element} elements (its integer "
                                            "codes; the binary point only offsets the block exponent)")
            return fill(luts=est.luts / lanes, ffs=est.ffs / lanes, source="model", note=note)
        except ValueError as exc:
            why = str(exc)
    if not allow_synth:
        return fill(note=f"outside the cost model ({why}); synthesis is off")
    try:
        res = _synth(unit, target)
    except SynthesisError as exc:
        return fill(note=f"synthesis failed: {str(exc).splitlines()[0]}")
    return fill(luts=res.luts / lanes, ffs=res.ffs / lanes, source="yosys", synth_luts=res.luts / lanes,
                note="" if why is None else f"outside the cost model ({why}); priced by Yosys")


def _integer_twin(unit):
    """For a BlockDot of fixed-point elements (``mxint8``: ``ap_fixed<8,2>`` codes), the BlockDot
    of signed integer elements of the same width and block scale; None for any other unit.

    A fixed-point element is an integer code with a binary point, and the block's products and
    their exact sum are those of the codes shifted by a constant: the same datapath, which the
    BlockDot model prices (its calibrated domain has integer elements, not fixed-point ones).
    """
    from numfmt.hw.rtl import BlockDot
    if type(unit) is not BlockDot or unit.out_fmt is not None:
        return None
    fmts = []
    for blk in (unit.a_fmt, unit.b_fmt):
        if not isinstance(blk.element, nf.FixedFormat):
            return None
        fmts.append(dataclasses.replace(blk, element=nf.IntFormat(blk.element.width,
                                                                 signed=blk.element.signed)))
    twin = BlockDot(*fmts, stages=unit.stages)
    twin._MustUse__silence = True
    return twin


def _synth_task(weight, mode, fan_in, target=TARGET) -> dict:
    unit, lanes = unit_of(weight, mode, fan_in)
    res = _synth(unit, target)
    return {"kind": "synth", "key": unit.name, "unit": unit.name, "synth_luts": res.luts / lanes,
            "synth_ffs": res.ffs / lanes}


def _verify_task(units, vectors, seed) -> list:
    """Verification records of ``units`` (``(weight, mode, fan_in)`` of one unit class), checked
    against their numfmt models in one simulator build (:func:`numfmt.sim.check_many`)."""
    from numfmt import sim
    built = [unit_of(*u)[0] for u in units]
    recs = [{"kind": "verify", "key": _verify_key(b.name, vectors, seed), "unit": b.name, "seed": seed}
            for u, b in zip(units, built)]
    try:
        reports = sim.check_many([lambda u=u: unit_of(*u)[0] for u in units], n_random=vectors, seed=seed,
                                 waves=False)
    except AssertionError as exc:            # sim.MismatchError: some RTL differs from its model
        return [{**r, "passed": False, "message": str(exc)} for r in recs]
    return [{**r, "passed": True, "vectors": int(rep.n_vectors), "simulator": rep.simulator, "message": ""}
            for r, rep in zip(recs, reports)]


def _verify_key(unit_name, vectors, seed) -> str:
    return f"{unit_name}|{vectors}|{seed}"


def _point_task(wl, pts) -> list:
    """The records of ``pts`` (points of one format and method, e.g. both modes): the weights are
    rounded once for all of them (``numfmt.nn.quantize``'s ``memo``; the same records)."""
    memo = {}
    return [{"kind": "point", "key": list(p.key),
             **sweep.evaluate(p, wl.label, wl.graph, wl.x_fit, wl.x_test, wl.y_test, wl.float_acc,
                              val=(wl.x_val, wl.y_val), memo=memo)} for p in pts]


def _warm():
    """Compile numfmt's Numba kernels in this worker (on a Dask worker: before the first task)."""
    x = np.linspace(-1, 1, 16)
    for name in ("int4", "fp4_e2m1", "ap_fixed<4,1,AP_RND_CONV,AP_SAT>", "mxfp4"):
        fmt = nf.parse(name)
        fmt.decode(fmt.encode(np.tile(x, 2) if name.startswith("mx") else x))
    return os.getpid()


def _compile_ahead(wl, samples) -> None:
    """Run the point tasks of ``samples`` here (in the parent), discarding their records, and
    round with the modes the PTQ methods use (nearest even, floor and ceil; short and long
    arrays take different kernels) in each sample's weight format.

    Numba compiles the kernels the points need (about half a minute on a cold cache) and
    writes them to its disk cache, before the local workers start; they load them instead of
    each compiling the same kernels at the same time. Only a warm-up: a point that fails here
    fails again, and is reported, in its own task.
    """
    x = np.linspace(-2.0, 2.0, 4096)
    try:
        with nf.threads(1):
            for p in samples:
                _point_task(wl, (p,))
                fmt = nf.parse(p.weight)
                element = fmt.element if isinstance(fmt, nf.BlockFormat) else fmt
                for rounding in ("rne", "floor", "ceil"):
                    for v in (x[:8], x):
                        element.quantize(v, rounding=rounding)
    except Exception:                       # noqa: BLE001 - see above
        pass


def _accel_key(p, images, fold, seed) -> list:
    return [*p.key, images, "_".join(f"{pe}x{simd}" for pe, simd in fold.values()), seed]


def _accelerator(wl, p, fold):
    """(QuantizedGraph, Accelerator) of point ``p``; ValueError when the generator cannot build it."""
    from numfmt import nn
    from numfmt.hw.accel import Accelerator
    q = nn.quantize(wl.graph, p.qconfig(), wl.x_fit)
    acc = Accelerator(q, dict(fold))
    return q, acc


def _accel_task(wl, p, images, fold, seed) -> dict:
    """The whole accelerator of point ``p`` at ``fold`` checked over the first ``images`` test
    images against its QuantizedGraph (:func:`numfmt.sim.check`: every logit and label, and
    the cycles per image and latency of the generator's model), as
    :func:`numfmt.flow.build.build` does; or why the generator cannot build it."""
    from numfmt import sim
    rec = {"kind": "accel", "key": _accel_key(p, images, fold, seed), "weight": p.weight, "mode": p.mode,
           "method": p.method, "folding": {k: list(v) for k, v in fold.items()}, "seed": seed}
    try:
        q, acc = _accelerator(wl, p, fold)
    except ValueError as exc:
        return {**rec, "built": False, "passed": False, "message": str(exc)}
    x, y = wl.x_test[:images], np.asarray(wl.y_test[:images])
    try:
        r = sim.check(acc, vectors=acc.input_codes(x), seed=seed, stall_limit=3 * acc.latency_cycles + 16,
                      waves=False)
    except (sim.MismatchError, sim.SimulationError) as exc:
        return {**rec, "built": True, "passed": False, "message": str(exc).splitlines()[0]}
    measured_ii = sorted(set(np.diff(r.out_cycles).astype(np.int64).tolist()))
    latency = int(r.latencies[0])
    timing_ok = measured_ii in ([], [acc.ii]) and latency == acc.latency_cycles
    return {**rec, "built": True, "passed": timing_ok, "module": acc.name, "simulator": r.simulator,
            "images": int(r.n_vectors),
            "comparison": "every output code (logits and label) equals the QuantizedGraph's, bit for bit",
            "cycles_per_image": {"model": acc.ii, "measured": measured_ii},
            "latency_cycles": {"model": acc.latency_cycles, "measured_first_image": latency},
            "hardware_accuracy": float(np.mean(q.predict(x) == y)),
            "message": "" if timing_ok else "the measured cycles differ from the generator's model"}


# -- running tasks -----------------------------------------------------------------------------
_WORKER_WL = None


def _init_worker(wl):
    global _WORKER_WL
    _WORKER_WL = wl
    try:        # one BLAS thread per worker: the workers already use every core (results are the same)
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:                     # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def _with_workload(fn) -> bool:
    return fn is _point_task or fn is _accel_task


def _local_task(name, *args):
    return globals()[name](_WORKER_WL, *args)


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _Runner:
    """Runs tasks ``(fn, args)`` on local processes (or in this one with one worker) or on Dask;
    :meth:`run` yields results as they complete."""

    def __init__(self, opts, wl, warm=()):
        self.wl, self.client, self.pool, self.warm = wl, None, None, tuple(warm)
        if opts.scheduler is not None:
            try:
                from distributed import Client
            except ImportError:
                raise OptionError("scheduler", "scheduler needs Dask: pip install 'numfmt-hw[explore]'") from None
            try:
                self.client = Client(opts.scheduler, timeout=20)
            except (OSError, TimeoutError) as exc:
                raise OptionError("scheduler", f"scheduler {opts.scheduler}: cannot connect ({exc})") from None
            self.client.run(_warm)
            self.wl_future = self.client.scatter(wl, broadcast=True)
            return
        self.workers = opts.workers or _usable_cores()

    def run(self, tasks):
        """Yield ``(task index, result)`` in completion order."""
        if self.client is not None:
            from distributed import as_completed
            futures = {}
            for i, (fn, args) in enumerate(tasks):
                f = (self.client.submit(fn, self.wl_future, *args, pure=False) if _with_workload(fn)
                     else self.client.submit(fn, *args, pure=False))
                futures[f] = i
            for f in as_completed(futures):
                yield futures[f], f.result()
        elif self.workers > 1 and tasks:
            if self.pool is None:                # started at the first task: a resumed run may need none
                _compile_ahead(self.wl, self.warm)
                self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                   initializer=_init_worker, initargs=(self.wl,))
            futures = {(self.pool.submit(_local_task, fn.__name__, *args) if _with_workload(fn)
                        else self.pool.submit(fn, *args)): i for i, (fn, args) in enumerate(tasks)}
            try:
                for f in cf.as_completed(futures):
                    yield futures[f], f.result()
            finally:
                for f in futures:
                    f.cancel()
        else:
            for i, (fn, args) in enumerate(tasks):
                yield i, (fn(self.wl, *args) if _with_workload(fn) else fn(*args))

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.client is not None:
            self.client.close()


def _label(task) -> str:
    fn, args = task
    if fn is _point_task:
        return f"{args[0][0].weight} {'+'.join(p.mode for p in args[0])} {args[0][0].method}"
    if fn is _verify_task:
        return f"verify {', '.join(u[0] for u in args[0])}"
    if fn is _accel_task:
        return f"accelerator {args[0].weight} {args[0].mode} {args[0].method}"
    if fn is _emit_task:
        return f"Verilog {args[0][0]} {args[0][1]}"
    if fn is _cost_task:
        return f"cost {', '.join(f'{w} {m}' for w, m in args[0])}"
    return f"{fn.__name__.strip('_').replace('_task', '')} {args[0]} {args[1]}"


def _run_phase(runner, tasks, store, progress):
    """Run ``tasks``, storing each result (a record, or a list of records) as it arrives."""
    if not tasks:
        return []
    if progress is not None:
        progress(0, len(tasks), None)
    out = []
    for done, (i, recs) in enumerate(runner.run(tasks), 1):
        for rec in recs if isinstance(recs, list) else [recs]:
            if rec["kind"] != "files":              # generated files are written by the caller, not stored
                store.append(rec)
            out.append(rec)
        if progress is not None:
            progress(done, len(tasks), _label(tasks[i]))
    return out


# -- choosing and reporting --------------------------------------------------------------------
def _choose(pts, records, methods) -> list:
    """Per (weight, mode): the record of the method with the best validation accuracy
    (ties: the earlier method of ``methods``)."""
    rank = {m: k for k, m in enumerate(methods)}
    best = {}
    for p in pts:
        r = records[tuple(p.key)]
        group = (p.weight, p.mode)
        score = -math.inf if math.isnan(r["val_accuracy"]) else r["val_accuracy"]
        old = best.get(group)
        if old is None or (score, -rank[p.method]) > old[0]:
            best[group] = ((score, -rank[p.method]), r)
    return [r for _, r in best.values()]


def _row(r, cost, fan_in, lanes) -> dict:
    wa = r["mode"] == "wa"
    label = r["weight"] if wa else f"{r['weight']} W-only"
    return {"label": label, "family": r["family"], "bits": r["bits"], "mode": "W=A" if wa else "W-only",
            "method": r["method"], "weight": r["weight"], "val_accuracy": r["val_accuracy"],
            "accuracy": r["accuracy"], "luts": cost["luts"], "ffs": cost["ffs"], "acc_luts": lanes * cost["luts"],
            "cost_source": cost["source"], "unit": cost["unit"],
            "note": "; ".join(n for n in (r["note"], cost["note"]) if n), "fan_in": fan_in}


def _finding(rows) -> list:
    """The study's question on the W=A points, width by width (test accuracy of the chosen points)."""
    wa = [r for r in rows if r["mode"] == "W=A"]
    return [f"W=A {f.sentence()}" for f in pareto.integer_finding(wa)]


def _write_report(out, rows, on_front, wl, opts, n_points, finding, fold):
    write_atomic(out / "points.json", json.dumps(rows, indent=1, allow_nan=True) + "\n")
    counts = {s: sum(r["cost_source"] == s for r in rows) for s in ("model", "yosys")}
    command = _synth_command(opts.target)
    if calibrated(opts.target):
        cost = (f"LUTs per MAC lane, {command}: analytic model for {counts['model']} points, Yosys for "
                f"{counts['yosys']}")
    else:
        cost = (f"LUTs per MAC lane, {command}: the cost model has no {opts.target} calibration, so every unit is "
                f"priced by Yosys synthesis (synth_{opts.target}, not placed): {counts['yosys']} points")
    lanes = sum(pe * simd for pe, simd in fold.values())
    fold_text = ", ".join(f"{k} {pe}×{simd}" for k, (pe, simd) in fold.items())
    meta = {"model": f"{wl.label} (largest fan-in {wl.fan_in}), float accuracy {100 * wl.float_acc:.2f} %",
            "data": f"calibration {len(wl.x_fit)}, validation {len(wl.x_val)} (chosen on), test {len(wl.x_test)} "
                    "(reported)",
            "grid": f"{n_points} points: {', '.join(opts.families)} × bits {min(opts.bits)}–{max(opts.bits)} × "
                    f"{', '.join(opts.modes)} × {', '.join(opts.methods)}; per format and mode the method best on "
                    "validation is kept",
            "cost": f"{cost}, n/a for {len(rows) - sum(counts.values())} (no unit; left out of the front). Fixed "
                    "point is priced as the integer MAC of its codes (the binary point only moves the requantizer's "
                    "shift); MX as a BlockDot divided by its block",
            "accelerator": f"LUTs (accel.) = the MAC array of the whole accelerator at folding (pe×simd) "
                           f"{fold_text}: {lanes} MAC lanes × LUTs per lane (requantizers, ROMs, FIFOs and control "
                           "not counted)",
            "front": "validation accuracy against LUTs" + (f", at most {opts.budget} LUTs" if opts.budget else "")}
    if opts.verify == "full":
        meta["verification"] = (f"front units against their numfmt models; the whole accelerator of each front point "
                                f"the generator can build over {opts.images} test images against the QuantizedGraph")
    title = f"numfmt explore: {wl.label}, accuracy against MAC LUTs"
    return report.write(out, rows, title=title, meta=meta, front=on_front, finding=finding,
                        xlabel=f"LUTs per MAC lane ({'cost model, ' if counts['model'] else ''}{command})")


# -- the entry point ---------------------------------------------------------------------------
def explore(options: Options, *, progress=None) -> Result:
    """Run the exploration ``options`` describes; see the module docstring.

    ``progress(done, total, label)`` is called with ``label`` None at the start of each
    phase (accuracy and cost; synthesis and verification of the front), then after each task.

    Raises
    ------
    OptionError
        Before any work: an option, model or data the exploration cannot use.
    numfmt.flow.results.ResultsError
        ``<out>/points.jsonl`` holds results of this exploration and neither ``resume`` nor
        ``overwrite``, or results of another one (another model, data or grid).
    """
    if not isinstance(options, Options):
        raise TypeError(f"options must be an explore.Options, not {type(options).__name__}")
    opts = options
    pts = opts.check()
    wl = _workload(opts)
    sweep._check_groups(wl.graph, pts)
    fold = folding(wl.graph, tuple(opts.fold))
    out = Path(opts.out)
    store = results.ResultStore(out / STORE, _identity(wl, pts, opts), resume=opts.resume, overwrite=opts.overwrite)
    runner = None
    try:
        have = {(r["kind"], json.dumps(r["key"])): r for r in store.records}
        missing = lambda kind, key: (kind, json.dumps(key)) not in have
        # one cost task per unit (fixed point and integers share theirs), one point task per format and
        # method (its modes share the rounded weights); the longest first
        by_unit = {}
        for w, m in dict.fromkeys((p.weight, p.mode) for p in pts):
            if missing("cost", _cost_key(w, m, wl.fan_in, opts.synth)):
                try:
                    name = unit_of(w, m, wl.fan_in)[0].name
                except ValueError:
                    name = (w, m)
                by_unit.setdefault(name, []).append((w, m))
        cost_tasks = [(_cost_task, (tuple(group), wl.fan_in, opts.synth, opts.target)) for group in by_unit.values()]
        by_format = {}
        for p in pts:
            if missing("point", list(p.key)):
                by_format.setdefault((p.weight, p.method), []).append(p)
        slow = {"adaround": 0, "gptq": 1}
        point_tasks = [(_point_task, (tuple(group),))
                       for group in sorted(by_format.values(), key=lambda g: slow.get(g[0].method, 2))]
        # one cheap point per family to run is compiled ahead in this process (see _compile_ahead)
        warm = {}
        for _, (group,) in sorted(point_tasks, key=lambda t: t[1][0][0].method != "rtn"):
            warm.setdefault(sweep.family_of(group[0].weight), group[0])
        runner = _Runner(opts, wl, warm.values())
        if opts.synth or not calibrated(opts.target):
            # YoWASP compiles Yosys on its first run (80 CPU seconds; cached): once, here, beside
            # the Numba warm-up, not in each worker at its first synthesis (they wait for it)
            from numfmt.hw.cost import synth
            preparing = threading.Thread(target=synth.prepare, args=("yosys",), daemon=True)
            preparing.start()
        for rec in _run_phase(runner, point_tasks + cost_tasks, store, progress):
            have[(rec["kind"], json.dumps(rec["key"]))] = rec
        points = {tuple(r["key"]): r for (kind, _), r in have.items() if kind == "point"}
        costs = {(r["weight"], r["mode"]): r for (kind, key), r in have.items()
                 if kind == "cost" and r["key"].endswith("synth" if opts.synth else "model")}
        lanes = sum(pe * simd for pe, simd in fold.values())
        rows = [_row(r, costs[(r["weight"], r["mode"])], wl.fan_in, lanes)
                for r in _choose(pts, points, opts.methods)]
        rows.sort(key=lambda r: (sweep.FAMILIES.index(r["family"]), r["bits"], r["weight"], r["mode"]))
        budget = math.inf if opts.budget is None else opts.budget
        on_front = pareto.front([r["luts"] if r["luts"] <= budget else math.nan for r in rows],
                                [r["val_accuracy"] for r in rows])
        for r, f in zip(rows, on_front):
            r["front"] = bool(f)
        # the front: real synthesis and verification of each unit (and of each whole accelerator)
        front_rows = [r for r, f in zip(rows, on_front) if f]
        point_of = {(p.weight, p.mode, p.method): p for p in pts}
        specs = {}                                  # unit name → (weight, mode, fan_in): each unit once
        for r in front_rows:
            specs.setdefault(r["unit"], (r["weight"], "wa" if r["mode"] == "W=A" else "w", wl.fan_in))
        accel = {}                                  # row label → its point
        if opts.verify == "full":
            for r in front_rows:
                accel[r["label"]] = point_of[(r["weight"], "wa" if r["mode"] == "W=A" else "w", r["method"])]
        # one simulator build per unit class and latency; a block dot product (a wide datapath whose
        # C++ compile is the longest task of the run) builds alone, so that two of them compile at once
        to_verify = {}
        for name, spec in specs.items():
            if opts.verify != "none" and missing("verify", _verify_key(name, opts.vectors, opts.seed)):
                unit, _ = unit_of(*spec)
                group = name if sweep.family_of(spec[0]) == "mx" else (type(unit).__name__, unit.latency)
                to_verify.setdefault(group, []).append(spec)
        # the simulator builds first (the longest tasks), then the syntheses
        later = [(_verify_task, (tuple(group), opts.vectors, opts.seed)) for group in to_verify.values()]
        # each front unit's Verilog once (rows sharing a unit share it), generated on the workers
        later += [(_emit_task, (spec,)) for spec in specs.values()] if opts.verify != "none" else []
        later += [(_accel_task, (p, opts.images, fold, opts.seed)) for p in accel.values()
                  if missing("accel", _accel_key(p, opts.images, fold, opts.seed))]
        later += [(_synth_task, spec + (opts.target,)) for name, spec in specs.items()
                  if opts.synth and missing("synth", name) and costs[spec[:2]]["source"] == "model"]
        files = {}
        for rec in _run_phase(runner, later, store, progress):
            if rec["kind"] == "files":
                files[rec["key"]] = rec
            else:
                have[(rec["kind"], json.dumps(rec["key"]))] = rec
        for r in front_rows:
            synth_rec = have.get(("synth", json.dumps(r["unit"])))
            if r["cost_source"] == "yosys":
                r["synth_luts"] = r["luts"]
            elif synth_rec is not None:
                r["synth_luts"] = synth_rec["synth_luts"]
            if opts.verify != "none":
                _emit(out, r, files[r["unit"]], have[("verify", json.dumps(_verify_key(r["unit"], opts.vectors,
                                                                                        opts.seed)))])
            if r["label"] in accel:
                p = accel[r["label"]]
                _emit_accel(out, r, wl, p, fold, have[("accel", json.dumps(_accel_key(p, opts.images, fold,
                                                                                      opts.seed)))])
    finally:
        if runner is not None:
            runner.close()
        store.close()
    finding = _finding(rows)
    paths = _write_report(out, rows, on_front, wl, opts, len(pts), finding, fold)
    return Result(rows, on_front, [points[tuple(p.key)] for p in pts], finding, paths)


def _emit_task(spec) -> dict:
    """The files :func:`numfmt.hw.emit.emit` writes for the unit of ``spec`` (Verilog and manifest),
    as ``{"kind": "files", "key": unit name, "files": {name: text}, "verilog": name}``: generated
    on a worker, written by the parent (not a result: never stored)."""
    import tempfile
    from numfmt.hw import emit
    unit, _ = unit_of(*spec)
    with tempfile.TemporaryDirectory() as d:
        paths = emit(unit, d)
        files = {p.name: p.read_text(encoding="utf-8") for p in paths.values()}
    return {"kind": "files", "key": unit.name, "files": files, "verilog": paths["verilog"].name}


def _emit(out, row, files, verification):
    """Write the unit's files (:func:`_emit_task`) and its verification report under
    ``out/units/<label>/``."""
    folder = out / "units" / _slug(row["label"])
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files["files"].items():
        write_atomic(folder / name, text)
    report_path = folder / "verification.json"
    write_atomic(report_path, json.dumps(verification, indent=1) + "\n")
    row.update(verilog=(folder / files["verilog"]).relative_to(out).as_posix(),
               verification=report_path.relative_to(out).as_posix(),
               verified="yes" if verification["passed"] else "MISMATCH")


def _emit_accel(out, row, wl, p, fold, verification):
    """Write the point's accelerator Verilog (when the generator builds it) and its verification
    report under ``out/accel/<label>/``; say in the row what was verified, or why nothing was."""
    folder = out / "accel" / _slug(row["label"])
    folder.mkdir(parents=True, exist_ok=True)
    if verification["built"]:
        from numfmt.hw import emit
        _, acc = _accelerator(wl, p, fold)
        row["accel_verilog"] = emit(acc, folder)["verilog"].relative_to(out).as_posix()
        row["accel_verified"] = (f"yes, {verification['images']} images" if verification["passed"]
                                 else f"MISMATCH: {verification['message']}")
    else:
        row["accel_verified"] = f"cannot build: {verification['message']}"
    report_path = folder / "verification.json"
    write_atomic(report_path, json.dumps(verification, indent=1) + "\n")
    row["accel_verification"] = report_path.relative_to(out).as_posix()
