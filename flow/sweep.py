"""Design-space sweep: accuracy of a quantized network at every (format, method) point.

A *point* fixes the weight format, the activation format (``None``: weight-only
quantization, activations in :data:`W_ONLY_ACT`), the accumulator, the PTQ method and the
weight granularity.
:func:`points` enumerates the usual grid — integers, every minifloat split
``fp{N}_e{E}m{M}`` and fixed point at 3–8 bits, and the OCP MX formats — and :func:`run`
evaluates them on a model (by default the embedded digits MLP), one record per point.

Records are appended to a CSV file as they are computed, so an interrupted sweep keeps
every finished point, and ``resume=True`` skips the points already in the file. A point
the exact datapath cannot build (e.g. an exact accumulator too wide for the 64-bit
requantizer) is recorded with accuracy NaN and the reason in ``note``.

>>> pts = points(families=("int",), bits=(4, 8), modes=("w",))
>>> [(p.weight, p.act) for p in pts]
[('int4', None), ('int8', None)]
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import time

import numpy as np

import numfmt as nf

__all__ = ["FAMILIES", "Point", "RECORD_FIELDS", "load_records", "plot", "points", "run",
           "table", "write_csv"]

FAMILIES = ("int", "minifloat", "fixed", "mx")
MODES = ("w", "wa")
#: activations of weight-only points: wide enough that their rounding is negligible, yet on
#: the same exact integer datapath as every other point
W_ONLY_ACT = "int16"
_MX_BITS = {"mxint8": 8, "mxfp8_e4m3": 8, "mxfp8_e5m2": 8, "mxfp6_e3m2": 6, "mxfp6_e2m3": 6,
            "mxfp4": 4}
_ACCS = {"exact": None, "fp32": "fp32", "fp16": "fp16", "bf16": "bf16"}
RECORD_FIELDS = ("model", "family", "bits", "mode", "weight", "act", "acc", "method",
                 "granularity", "accuracy", "float_accuracy", "delta", "seconds", "note")


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Point:
    """One configuration of the sweep.

    >>> Point("fp4_e2m1", "fp4_e2m1", method="gptq").key
    ('fp4_e2m1', 'fp4_e2m1', 'exact', 'gptq', 'channel')
    """
    weight: str
    act: str | None = None
    acc: str = "exact"
    method: str = "rtn"
    granularity: str = "channel"

    def __post_init__(self):
        nf.parse(self.weight)                     # a clear error for an unknown format
        if self.act is not None:
            nf.parse(self.act)
        _choice("acc", self.acc, tuple(_ACCS))

    @property
    def key(self) -> tuple:
        return (self.weight, self.act or "", self.acc, self.method, str(self.granularity))

    @property
    def family(self) -> str:
        return family_of(self.weight)

    @property
    def bits(self) -> int:
        return bits_of(self.weight)

    @property
    def mode(self) -> str:
        return "w" if self.act is None else "wa"

    def qconfig(self, nn):
        acc = _ACCS[self.acc]
        if acc is not None:
            acc = nf.arith.FloatAccumulator(nf.FLOATS[acc])
        return nn.QConfig(weight=self.weight, act=self.act or W_ONLY_ACT, acc=acc,
                          granularity=self.granularity, method=self.method)


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
           acc="exact", granularity="channel") -> list[Point]:
    """The grid of points: every format of ``families`` with ``bits`` per element, in each
    mode (``"w"``: weights only, ``"wa"``: weights and activations in the same format),
    for each PTQ method.

    >>> len(points(families=("minifloat",), bits=(3, 4), modes=("wa",)))   # e1m1 e2m0 e1m2 e2m1 e3m0
    5
    """
    for f in families:
        _choice("families", f, FAMILIES)
    for m in modes:
        _choice("modes", m, MODES)
    for b in bits:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 2 <= b <= 16:
            raise ValueError(f"bits must be integers in 2..16, not {b!r}")
    out = []
    for family in families:
        for n in bits:
            for name in _formats(family, int(n)):
                for mode in modes:
                    for method in methods:
                        out.append(Point(name, None if mode == "w" else name, acc, method,
                                         granularity))
    return out


# -- running -------------------------------------------------------------------------------
def _workload(model, data):
    from numfmt import nn
    if isinstance(model, str) and model in ("mlp", "cnn"):
        graph = nn.digits_mlp() if model == "mlp" else nn.digits_cnn()
        label = model
    elif isinstance(model, (str, os.PathLike)):
        graph = nn.from_onnx(model)
        label = os.path.basename(os.fspath(model))
    else:
        graph, label = model, "model"
    if data is None:
        x_train, _, x_test, y_test = nn.digits_data()
        shape = tuple(graph.input_shape)
        if int(np.prod(shape)) != x_test.shape[1]:
            raise ValueError(f"model input shape {shape} does not fit the digits data "
                             f"(64 features); pass data=(x_calib, x_test, y_test)")
        x_calib, x_test = x_train.reshape((-1,) + shape), x_test.reshape((-1,) + shape)
    else:
        x_calib, x_test, y_test = data
    return label, graph, np.asarray(x_calib), np.asarray(x_test), np.asarray(y_test)


def load_records(path) -> list[dict]:
    """Records of a sweep CSV (numbers parsed back)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("accuracy", "float_accuracy", "delta", "seconds"):
            r[k] = float(r[k])
        r["bits"] = int(r["bits"])
    return rows


def _key_of_record(r) -> tuple:
    act = "" if r["mode"] == "w" else r["act"]
    return (r["weight"], act, r["acc"], r["method"], str(r["granularity"]))


def run(pts, model="mlp", *, data=None, calib_size=None, csv_path=None, resume=False,
        progress=None) -> list[dict]:
    """Accuracy at every point; one record (dict with :data:`RECORD_FIELDS`) per point.

    Parameters
    ----------
    pts : list of Point
    model : "mlp", "cnn", a path to an ONNX file, or an ``nn.Graph``
    data : (x_calib, x_test, y_test), optional
        Default: the digits data (calibration on the training images, the first
        ``calib_size`` of them if given).
    csv_path : path, optional
        Append each record as it is computed (the header is written first).
    resume : bool
        Skip the points already recorded in ``csv_path`` and return them with the new ones.
    progress : callable(done, total, record), optional
    """
    from numfmt import nn
    if calib_size is not None and (isinstance(calib_size, bool) or not isinstance(calib_size, int)
                                   or calib_size < 1):
        raise ValueError(f"calib_size must be None or an integer ≥ 1, not {calib_size!r}")
    label, graph, x_calib, x_test, y_test = _workload(model, data)
    x_calib = x_calib[:calib_size]
    float_acc = nn.accuracy(graph, x_test, y_test)
    records = []
    if resume and csv_path is not None and os.path.exists(csv_path):
        records = load_records(csv_path)
    done = {_key_of_record(r) for r in records}
    todo = [p for p in pts if p.key not in done]
    writer = _CsvAppender(csv_path) if csv_path is not None else None
    try:
        for i, p in enumerate(todo):
            t0 = time.perf_counter()
            try:
                q = nn.quantize(graph, p.qconfig(nn), x_calib)
                acc, note = nn.accuracy(q, x_test, y_test), ""
            except ValueError as exc:       # a point the datapath cannot build: say why, go on
                acc, note = math.nan, str(exc)
            rec = {"model": label, "family": p.family, "bits": p.bits, "mode": p.mode,
                   "weight": p.weight, "act": p.act or W_ONLY_ACT, "acc": p.acc, "method": p.method,
                   "granularity": str(p.granularity), "accuracy": acc,
                   "float_accuracy": float_acc, "delta": acc - float_acc,
                   "seconds": round(time.perf_counter() - t0, 4), "note": note}
            records.append(rec)
            if writer is not None:
                writer.write(rec)
            if progress is not None:
                progress(i + 1, len(todo), rec)
    finally:
        if writer is not None:
            writer.close()
    return records


class _CsvAppender:
    """Appends records to a CSV file, flushed after every row (an interrupted sweep keeps them)."""

    def __init__(self, path):
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if os.path.dirname(os.fspath(path)):
            os.makedirs(os.path.dirname(os.fspath(path)), exist_ok=True)
        self._f = open(path, "a", newline="")
        self._w = csv.DictWriter(self._f, fieldnames=RECORD_FIELDS)
        if new:
            self._w.writeheader()
            self._f.flush()

    def write(self, rec):
        self._w.writerow(rec)
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self):
        self._f.close()


def write_csv(records, path) -> None:
    """Write ``records`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RECORD_FIELDS)
        w.writeheader()
        w.writerows(records)
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
