"""Design-space sweep: accuracy of a quantized network at every (format, method) point.

A *point* fixes the weight format, the activation format (``None``: weight-only
quantization, activations in :data:`W_ONLY_ACT`), the accumulator, the PTQ method, the
weight granularity and the calibration.
:func:`points` enumerates the usual grid — integers, every minifloat split
``fp{N}_e{E}m{M}`` and fixed point at 3–8 bits, and the OCP MX formats — and :func:`run`
evaluates them on a model (by default the embedded digits MLP), one record per point.

Every option, the model and the data's shapes are checked before the first point: an
unknown value raises :class:`OptionError` naming the option and the valid choices. A point
the exact datapath cannot build (e.g. an exact accumulator too wide for the 64-bit
requantizer) is recorded with accuracy NaN and the reason in ``note``.

With ``store=PATH`` each record is appended to a results file (:mod:`numfmt.flow.results`)
as soon as it is computed, so a crash or Ctrl-C keeps every finished point. The file's
header carries the identity of the sweep (model, data, points); ``resume=True`` continues
a sweep with that identity, running only the missing points, and a file of another sweep
is refused. :func:`write_csv` writes the records as a CSV table.

>>> pts = points(families=("int",), bits=(4, 8), modes=("w",))
>>> [(p.weight, p.act) for p in pts]
[('int4', None), ('int8', None)]
>>> points(methods=("gtpq",))
Traceback (most recent call last):
...
numfmt.flow.sweep.OptionError: methods must be one of 'rtn', 'gptq', 'adaround', not 'gtpq'
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import pathlib
import time

import numpy as np

import numfmt as nf
from numfmt import ptq

from . import results

__all__ = ["FAMILIES", "MODES", "ACCS", "OptionError", "Point", "RECORD_FIELDS", "W_ONLY_ACT",
           "evaluate", "load_records", "plot", "points", "run", "table", "write_csv"]

FAMILIES = ("int", "minifloat", "fixed", "mx")
MODES = ("w", "wa")
#: activations of weight-only points: wide enough that their rounding is negligible, yet on
#: the same exact integer datapath as every other point
W_ONLY_ACT = "int16"
_MX_BITS = {"mxint8": 8, "mxfp8_e4m3": 8, "mxfp8_e5m2": 8, "mxfp6_e3m2": 6, "mxfp6_e2m3": 6,
            "mxfp4": 4}
#: accumulator names: None is exact (Kulisch), else the float format of a FloatAccumulator
ACCS = {"exact": None, "fp32": "fp32", "fp16": "fp16", "bf16": "bf16"}
RECORD_FIELDS = ("model", "family", "bits", "mode", "weight", "act", "acc", "method",
                 "granularity", "calib", "act_scale", "accuracy", "float_accuracy", "delta",
                 "seconds", "note")
#: values of the fields that older CSV files lack
_DEFAULTS = {"calib": "minmax", "act_scale": "float"}


class OptionError(ValueError):
    """An option (a parameter of :func:`points` or :func:`run`) the sweep cannot use.

    ``option`` is the parameter's name (``"methods"``, ``"data"``, ...); the message
    shows the value and, for a choice, the valid values.
    """

    def __init__(self, option, message):
        super().__init__(message)
        self.option = option


def _choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise OptionError(name, f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


def _granularity(name, value):
    """``"tensor"``, ``"channel"`` (:data:`numfmt.ptq.GRANULARITIES`) or an int group size ≥ 1."""
    if isinstance(value, str) and value in ptq.GRANULARITIES:
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return int(value)
    raise OptionError(name, f"{name} must be {', '.join(map(repr, ptq.GRANULARITIES))} or an integer group "
                            f"size ≥ 1, not {value!r}")


def _act_scale(name, value):
    """The library's own check (``numfmt.nn.QConfig``), reported under ``name``."""
    from numfmt import nn
    try:
        nn.QConfig(act_scale=value)
    except ValueError as exc:
        raise OptionError(name, str(exc)) from None
    return value


@dataclasses.dataclass(frozen=True)
class Point:
    """One configuration of the sweep.

    >>> Point("fp4_e2m1", "fp4_e2m1", method="gptq").key
    ('fp4_e2m1', 'fp4_e2m1', 'exact', 'gptq', 'channel', 'minmax', 'float')
    """
    weight: str
    act: str | None = None
    acc: str = "exact"
    method: str = "rtn"
    granularity: str | int = "channel"
    calib: str = "minmax"
    act_scale: str = "float"

    def __post_init__(self):
        nf.parse(self.weight)                     # a clear error for an unknown format
        if self.act is not None:
            nf.parse(self.act)
        _choice("acc", self.acc, tuple(ACCS))
        _choice("method", self.method, tuple(ptq.METHODS))
        object.__setattr__(self, "granularity", _granularity("granularity", self.granularity))
        _choice("calib", self.calib, ptq.CALIBRATIONS)
        _act_scale("act_scale", self.act_scale)

    @property
    def key(self) -> tuple:
        return (self.weight, self.act or "", self.acc, self.method, str(self.granularity), self.calib,
                self.act_scale)

    @property
    def family(self) -> str:
        return family_of(self.weight)

    @property
    def bits(self) -> int:
        return bits_of(self.weight)

    @property
    def mode(self) -> str:
        return "w" if self.act is None else "wa"

    def qconfig(self):
        """The ``numfmt.nn.QConfig`` of this point."""
        from numfmt import nn
        acc = ACCS[self.acc]
        if acc is not None:
            acc = nf.arith.FloatAccumulator(nf.FLOATS[acc])
        return nn.QConfig(weight=self.weight, act=self.act or W_ONLY_ACT, acc=acc,
                          granularity=self.granularity, method=self.method, calib=self.calib,
                          act_scale=self.act_scale)


def family_of(name: str) -> str:
    """``"int"``, ``"minifloat"``, ``"fixed"`` or ``"mx"`` for a format name."""
    fmt = nf.parse(name)
    if isinstance(fmt, nf.BlockFormat):
        return "mx"
    if isinstance(fmt, nf.FloatFormat):
        return "minifloat"
    if isinstance(fmt, nf.FixedFormat):
        return "fixed"
    return "int"


def bits_of(name: str) -> int:
    """Bits per element (block formats: the element's bits, without the shared scale)."""
    fmt = nf.parse(name)
    return int(fmt.element.bits if isinstance(fmt, nf.BlockFormat) else fmt.bits)


def _formats(family: str, n: int) -> list[str]:
    if family == "int":
        return [f"int{n}"]
    if family == "minifloat":
        return [f"fp{n}_e{e}m{n - 1 - e}" for e in range(1, n)]
    if family == "fixed":
        return [f"ap_fixed<{n},1,AP_RND_CONV,AP_SAT>"]
    return [name for name, b in _MX_BITS.items() if b == n]


def points(*, families=FAMILIES, bits=range(3, 9), modes=MODES, methods=("rtn",),
           acc="exact", granularity="channel", calib="minmax", act_scale="float") -> list[Point]:
    """The grid of points: every format of ``families`` with ``bits`` per element, in each
    mode (``"w"``: weights only, ``"wa"``: weights and activations in the same format),
    for each PTQ method (:data:`numfmt.ptq.METHODS`).

    ``granularity`` is ``"tensor"``, ``"channel"`` or an integer group size; ``calib``
    one of :data:`numfmt.ptq.CALIBRATIONS`; ``act_scale`` as ``numfmt.nn.QConfig`` takes
    it. Every value is checked first: :class:`OptionError` names the parameter.

    >>> len(points(families=("minifloat",), bits=(3, 4), modes=("wa",)))   # e1m1 e2m0 e1m2 e2m1 e3m0
    5
    """
    lists = {"families": families, "bits": bits, "modes": modes, "methods": methods}
    for name, values in lists.items():
        if isinstance(values, str) or not hasattr(values, "__iter__"):
            raise OptionError(name, f"{name} must be a list, not {values!r}")
        lists[name] = list(values)
        if not lists[name]:
            raise OptionError(name, f"{name} must not be empty")
    families, bits, modes, methods = lists.values()
    for f in families:
        _choice("families", f, FAMILIES)
    for m in modes:
        _choice("modes", m, MODES)
    for b in bits:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 2 <= b <= 16:
            raise OptionError("bits", f"bits must be integers in 2..16, not {b!r}")
    for m in methods:
        _choice("methods", m, tuple(ptq.METHODS))
    _choice("acc", acc, tuple(ACCS))
    granularity = _granularity("granularity", granularity)
    _choice("calib", calib, ptq.CALIBRATIONS)
    _act_scale("act_scale", act_scale)
    out = []
    for family in families:
        for n in bits:
            for name in _formats(family, int(n)):
                for mode in modes:
                    for method in dict.fromkeys(methods):
                        out.append(Point(name, None if mode == "w" else name, acc, method, granularity,
                                         calib, act_scale))
    return out


# -- the workload ----------------------------------------------------------------------------
def _workload(model, data):
    """(label, graph, x_calib, x_test, y_test), checked; trains the digits networks on first use."""
    from numfmt import nn
    from numfmt.nn.graph import check_input
    if isinstance(model, str) and model in ("mlp", "cnn"):
        graph = nn.digits_mlp() if model == "mlp" else nn.digits_cnn()
        label = model
    elif isinstance(model, (str, os.PathLike)):
        if not os.path.isfile(model):
            raise OptionError("model", f"model must be 'mlp', 'cnn' or an ONNX file, not {os.fspath(model)!r}")
        try:
            graph = nn.from_onnx(model)
        except (ValueError, OSError) as exc:
            raise OptionError("model", f"{os.fspath(model)}: {exc}") from None
        label = os.path.basename(os.fspath(model))
    elif isinstance(model, nn.Graph):
        graph, label = model, "model"
    else:
        raise OptionError("model", f"model must be 'mlp', 'cnn', an ONNX file or a numfmt.nn.Graph, "
                                   f"not {type(model).__name__}")
    shape = tuple(graph.input_shape)
    if data is None:
        x_train, _, x_test, y_test = nn.digits_data()
        if int(np.prod(shape)) != x_test.shape[1]:
            raise OptionError("model", f"model input shape {shape} does not fit the digits data "
                                       "(64 features); give data=(x_calib, x_test, y_test)")
        x_calib, x_test = x_train.reshape((-1,) + shape), x_test.reshape((-1,) + shape)
    else:
        if not isinstance(data, (tuple, list)) or len(data) != 3:
            raise OptionError("data", f"data must be (x_calib, x_test, y_test), not {type(data).__name__}")
        x_calib, x_test, y_test = data
    try:
        x_calib = check_input(x_calib, shape, "x_calib")
        x_test = check_input(x_test, shape, "x_test")
    except (TypeError, ValueError) as exc:
        raise OptionError("data", str(exc)) from None
    y_test = np.asarray(y_test)
    if y_test.shape != (len(x_test),):
        raise OptionError("data", f"y_test must have shape ({len(x_test)},) (one label per x_test input), "
                                  f"not {y_test.shape}")
    classes = graph.output_shape[-1] if len(graph.output_shape) == 1 else None
    if (y_test.dtype.kind not in "iuf" or not np.array_equal(y_test, np.round(y_test))
            or (classes is not None and y_test.size and not 0 <= y_test.min() <= y_test.max() < classes)):
        raise OptionError("data", f"y_test must hold integer class labels in 0..{classes - 1 if classes else 'n'}"
                                  f" (the model's outputs), not values such as {y_test.flat[0]!r}")
    return label, graph, x_calib, x_test, y_test


def _check_groups(graph, pts):
    """Every integer group size divides the inputs (per output) of every Dense/Conv2d."""
    from numfmt import nn
    for g in sorted({p.granularity for p in pts if isinstance(p.granularity, int)}):
        for node in graph.nodes:
            if isinstance(node.layer, (nn.Dense, nn.Conv2d)):
                n_in = int(np.prod(node.layer.weight.shape[1:]))
                if n_in % g:
                    raise OptionError("granularity", f"granularity (group size) {g} must divide the {n_in} "
                                                     f"inputs of node {node.name!r}")


def _sha256(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def _graph_parts(graph):
    yield (graph.input_name, tuple(graph.input_shape), graph.output)
    for node in graph.nodes:
        yield (node.name, node.inputs, type(node.layer).__name__)
        for field in dataclasses.fields(node.layer):
            value = getattr(node.layer, field.name)
            yield field.name
            yield value if isinstance(value, np.ndarray) else repr(value)


def _identity(label, graph, x_calib, x_test, y_test, pts) -> dict:
    """What fixes the meaning of the records: model, data and points (hashes, with readable labels)."""
    keys = sorted(p.key for p in pts)
    return {"sweep": 1, "model": f"{label} sha256:{_sha256(*_graph_parts(graph))}",
            "data": f"sha256:{_sha256(x_calib, x_test, y_test)}",
            "points": f"{len(keys)} points sha256:{_sha256(json.dumps(keys))}", "w_only_act": W_ONLY_ACT}


# -- running -------------------------------------------------------------------------------
def load_records(path) -> list[dict]:
    """Records of a results file (``*.jsonl``, a torn last line left out) or of a sweep CSV."""
    path = pathlib.Path(path)
    if path.suffix == ".jsonl":
        return results.read(path)[1]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("accuracy", "float_accuracy", "delta", "seconds"):
            r[k] = float(r[k])
        r["bits"] = int(r["bits"])
        for k, v in _DEFAULTS.items():
            r.setdefault(k, v)
    return rows


def _key_of_record(r) -> tuple:
    act = "" if r["mode"] == "w" else r["act"]
    return (r["weight"], act, r["acc"], r["method"], str(r["granularity"]), r.get("calib", "minmax"),
            r.get("act_scale", "float"))


def evaluate(p, label, graph, x_calib, x_test, y_test, float_acc, *, val=None, memo=None) -> dict:
    """The record of one point (:data:`RECORD_FIELDS`): ``p`` quantized with ``x_calib``,
    its accuracy on ``(x_test, y_test)``; with ``val=(x_val, y_val)`` also
    ``val_accuracy``, the accuracy on a validation split (the same quantized network).
    ``memo``: a dict shared with other points, passed to ``numfmt.nn.quantize``.

    A point the datapath cannot build has accuracy NaN and the reason in ``note``.
    """
    from numfmt import nn
    t0 = time.perf_counter()
    val_acc = math.nan
    try:
        q = nn.quantize(graph, p.qconfig(), x_calib, memo=memo)
        acc, note = nn.accuracy(q, x_test, y_test), ""
        if val is not None:
            val_acc = nn.accuracy(q, *val)
    except ValueError as exc:       # a point the datapath cannot build: say why, go on
        acc, note = math.nan, str(exc)
    rec = {"model": label, "family": p.family, "bits": p.bits, "mode": p.mode, "weight": p.weight,
           "act": p.act or W_ONLY_ACT, "acc": p.acc, "method": p.method, "granularity": str(p.granularity),
           "calib": p.calib, "act_scale": p.act_scale, "accuracy": acc, "float_accuracy": float_acc,
           "delta": acc - float_acc, "seconds": round(time.perf_counter() - t0, 4), "note": note}
    if val is not None:
        rec["val_accuracy"] = val_acc
    return rec


_evaluate = evaluate        # what run() calls (tests replace it)


def run(pts, model="mlp", *, data=None, calib_size=None, store=None, resume=False, overwrite=False,
        progress=None) -> list[dict]:
    """Accuracy at every point; one record (dict with :data:`RECORD_FIELDS`) per point, in order.

    Parameters
    ----------
    pts : list of Point
    model : "mlp", "cnn", a path to an ONNX file, or an ``nn.Graph``
    data : (x_calib, x_test, y_test), optional
        Default: the digits data (calibration on the training images, the first
        ``calib_size`` of them if given).
    store : path, optional
        A results file (:class:`numfmt.flow.results.ResultStore`): each record is appended,
        synced, as soon as it is computed.
    resume : bool
        Continue the sweep in ``store``: its records are kept, only the missing points run.
    overwrite : bool
        Start ``store`` afresh even if it holds results.
    progress : callable(done, total, record), optional
        Called with ``(0, total, None)`` once the model and data are ready (``total``
        points to run), then after each point.

    Raises
    ------
    OptionError
        Before the first point: a model, data or group size the sweep cannot use.
    numfmt.flow.results.ResultsError
        ``store`` holds results of this sweep and neither ``resume`` nor ``overwrite``,
        or results of another sweep (another model, data or set of points).
    """
    from numfmt import nn
    pts = list(pts)
    for p in pts:
        if not isinstance(p, Point):
            raise TypeError(f"pts must be Point objects, not {type(p).__name__}")
    pts = list({p.key: p for p in pts}.values())
    if calib_size is not None and (isinstance(calib_size, bool) or not isinstance(calib_size, int)
                                   or calib_size < 1):
        raise OptionError("calib_size", f"calib_size must be None or an integer ≥ 1, not {calib_size!r}")
    label, graph, x_calib, x_test, y_test = _workload(model, data)
    x_calib = x_calib[:calib_size]
    _check_groups(graph, pts)
    float_acc = nn.accuracy(graph, x_test, y_test)
    sink = None
    if store is not None:
        sink = results.ResultStore(store, _identity(label, graph, x_calib, x_test, y_test, pts),
                                   resume=resume, overwrite=overwrite)
    try:
        done = {_key_of_record(r): r for r in (sink.records if sink else [])}
        todo = [p for p in pts if p.key not in done]
        if progress is not None:
            progress(0, len(todo), None)
        for i, p in enumerate(todo):
            rec = _evaluate(p, label, graph, x_calib, x_test, y_test, float_acc)
            if sink is not None:
                sink.append(rec)
            done[p.key] = rec
            if progress is not None:
                progress(i + 1, len(todo), rec)
    finally:
        if sink is not None:
            sink.close()
    return [done[p.key] for p in pts]


def write_csv(records, path) -> None:
    """Write ``records`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RECORD_FIELDS)
        w.writeheader()
        w.writerows({**_DEFAULTS, **r} for r in records)
    os.replace(tmp, path)


# -- reporting -----------------------------------------------------------------------------
def _percent(v, sign="") -> str:
    return "n/a" if math.isnan(v) else f"{100 * v:{sign}.2f}"


def table(records) -> str:
    """A fixed-width text table of the records (accuracy in percent)."""
    head = ("model", "family", "bits", "mode", "weight", "act", "acc", "method", "accuracy", "Δ")
    rows = [(r["model"], r["family"], str(r["bits"]), r["mode"], r["weight"], r["act"],
             r["acc"], r["method"], _percent(r["accuracy"]), _percent(r["delta"], "+"))
            for r in records]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
    notes = [f"  {r['weight']}/{r['act']} {r['method']}: {r['note']}" for r in records if r["note"]]
    if notes:
        out += ["", "n/a: points the datapath cannot build"] + notes
    return "\n".join(out)


def plot(records, path) -> None:
    """Accuracy against bits per element, one line per (family, mode, method), saved as PNG.

    Minifloat lines show the best exponent/mantissa split at each width; every split is
    drawn as a dot. The float accuracy is the dashed line.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:                       # pragma: no cover - nn extra missing
        raise ImportError("plotting needs matplotlib: pip install 'numfmt[nn]'") from exc
    if not records:
        raise ValueError("records is empty: nothing to plot")
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    groups = {}
    for r in records:
        if not math.isnan(r["accuracy"]):
            groups.setdefault((r["family"], r["mode"], r["method"]), []).append(r)
    for (family, mode, method), rs in sorted(groups.items()):
        best = {}
        for r in rs:
            best[r["bits"]] = max(best.get(r["bits"], 0.0), r["accuracy"])
        xs = sorted(best)
        label = f"{family} {'W-only' if mode == 'w' else 'W=A'} {method}"
        (line,) = ax.plot(xs, [100 * best[x] for x in xs], marker="o", label=label)
        if family == "minifloat":
            ax.scatter([r["bits"] for r in rs], [100 * r["accuracy"] for r in rs], s=8,
                       color=line.get_color(), alpha=0.4)
    ax.axhline(100 * records[0]["float_accuracy"], color="k", linestyle="--", label="float")
    ax.set_xlabel("bits per element")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{records[0]['model']}: accuracy against bits per format family")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    tmp = f"{path}.tmp{os.getpid()}.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
