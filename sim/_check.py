"""``sim.check``: stream vectors through a unit's RTL in a simulator and compare every
output code with the unit's numfmt model.

The pieces, in the order they run (cocotb's matrix-multiplier example split):

* **vectors** — :func:`numfmt.sim.vectors.generate` (or the caller's dict);
* **model** — ``unit.model`` (numfmt), laned by :class:`numfmt.hw.rtl.Lanes`;
* **driver / monitor** — :mod:`numfmt.sim._bench` (loaded as the top-level module ``_bench``,
  so that the simulator's Python does not import numfmt), inside the simulator, with seeded idle
  cycles and back-pressure;
* **checker** — :class:`Checker`, here: unpacks the observed payloads and compares
  codes exactly. There is no NaN leniency: a NaN code must be *the* code the model
  gives.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from . import _runner, vectors as _vectors

__all__ = ["Checker", "MismatchError", "Report", "check", "check_many", "pack", "unpack"]


class MismatchError(AssertionError):
    """The RTL's outputs differ from the model's. The message names the unit, the first
    failing vectors field by field (codes and decoded values), expected and observed
    outputs, and the seed; :attr:`waveform` is the path of a trace of the failing run
    (or ``None``)."""

    def __init__(self, message: str, *, indices=None, seed=None, waveform=None):
        super().__init__(message)
        self.indices = indices
        self.seed = seed
        self.waveform = waveform


@dataclasses.dataclass
class Report:
    """What a passing :func:`check` measured.

    Attributes
    ----------
    n_vectors : int
        Vectors checked.
    cycles : int
        Clock cycles simulated (after reset).
    seconds : float
        Wall time of the simulation run (simulator start to results written).
    vectors_per_second : float
        ``n_vectors / seconds``.
    latencies : numpy.ndarray of int64
        Per vector: cycles from its input handshake to its output handshake (equal
        to the cycles until ``o.valid`` when ``o`` is never stalled).
    build_seconds : float
        Wall time of the build (near zero when cached).
    seed : int
        The seed of the vectors, idle cycles and back-pressure.
    lanes : int
        Vectors per cycle.
    simulator : str
    loop_seconds : float
        Wall time of the clocked loop alone, inside the simulator (``seconds`` minus
        the simulator's start-up and the file transfers).
    in_cycles, out_cycles : numpy.ndarray of int64
        Per vector: the cycle (counted from the end of reset) of its input and of its
        output handshake; ``np.diff(out_cycles)`` is the unit's cycles per transaction.
    """
    n_vectors: int
    cycles: int
    seconds: float
    vectors_per_second: float
    latencies: np.ndarray
    build_seconds: float = 0.0
    seed: int = 0
    lanes: int = 1
    simulator: str = "verilator"
    loop_seconds: float = 0.0
    in_cycles: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    out_cycles: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))


# -- packing: fields <-> payload rows (first field in the least significant bits) --------------

def _width(fields: dict) -> int:
    return sum(f.width for f in fields.values())


def pack(fields: dict, values: dict) -> np.ndarray:
    """Pack field codes into little-endian payload bytes, one row per transaction.

    >>> from numfmt.hw.rtl import Field
    >>> import numpy as np
    >>> pack({"a": Field(4), "b": Field(8)}, {"a": np.array([0x1]), "b": np.array([0xAB])}).tolist()
    [[177, 10]]
    """
    n = len(next(iter(values.values())))
    bits = []
    for name, f in fields.items():
        v = np.asarray(values[name], dtype=np.uint64)
        if v.shape != (n,):
            raise ValueError(f"field {name!r} must have {n} codes, not shape {v.shape}")
        bits.append(((v[:, None] >> np.arange(f.width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8))
    return np.packbits(np.concatenate(bits, axis=1), axis=1, bitorder="little")


def unpack(fields: dict, rows: np.ndarray) -> dict:
    """Inverse of :func:`pack`: field codes (uint64) from payload rows.

    >>> from numfmt.hw.rtl import Field
    >>> import numpy as np
    >>> {k: v.tolist() for k, v in unpack({"a": Field(4), "b": Field(8)}, np.array([[177, 10]], np.uint8)).items()}
    {'a': [1], 'b': [171]}
    """
    bits = np.unpackbits(np.asarray(rows, dtype=np.uint8), axis=1, bitorder="little")
    out, pos = {}, 0
    for name, f in fields.items():
        b = bits[:, pos:pos + f.width].astype(np.uint64)
        out[name] = (b << np.arange(f.width, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
        pos += f.width
    return out


# -- the checker ----------------------------------------------------------------------------

def _describe(field, code) -> str:
    code = int(code)
    digits = max(1, (field.width + 3) // 4)
    text = f"0x{code:0{digits}x}"
    fmt = field.format
    if fmt is not None:
        try:
            val = fmt.decode(np.array([code], dtype=np.uint64))[0]
            text += f" ({float(val)!r})"
        except (ValueError, TypeError):  # pragma: no cover - codes come from the field width
            pass
    return text


class Checker:
    """Compares observed output codes with the model's, per vector and field.

    Parameters
    ----------
    unit_name : str
    in_fields, out_fields : dict of str -> hw.rtl.Field
        The fields of one lane.
    seed : int
        Printed in the message.
    show : int
        How many failing vectors the message lists.
    """

    def __init__(self, unit_name: str, in_fields: dict, out_fields: dict, seed, show: int = 5):
        self.unit_name, self.in_fields, self.out_fields = unit_name, in_fields, out_fields
        self.seed, self.show = seed, show

    def mismatches(self, expected: dict, got: dict) -> np.ndarray:
        """Indices of the vectors where any output field differs."""
        bad = np.zeros(len(next(iter(expected.values()))), dtype=bool)
        for name in self.out_fields:
            bad |= np.asarray(expected[name], dtype=np.uint64) != np.asarray(got[name], dtype=np.uint64)
        return np.flatnonzero(bad)

    def message(self, bad, inputs: dict, expected: dict, got: dict, *, lanes: int = 1,
                in_cycles=None, out_cycles=None, extra: str = "") -> str:
        """The error message for the failing vector indices ``bad``."""
        n = len(next(iter(inputs.values())))
        lines = [f"{self.unit_name}: {len(bad)} of {n} vectors differ from the model "
                 f"(seed={self.seed}); first {min(len(bad), self.show)}:"]
        for j in bad[:self.show]:
            j = int(j)
            where = f"vector {j}"
            if lanes > 1:
                where += f" (lane {j % lanes}, transaction {j // lanes})"
            if in_cycles is not None:
                t = j // lanes
                where += f", in at cycle {int(in_cycles[t])}, out at cycle {int(out_cycles[t])}"
            lines.append(f"  {where}:")
            lines.append("    inputs:   " + ", ".join(
                f"{name}={_describe(f, inputs[name][j])}" for name, f in self.in_fields.items()))
            for name, f in self.out_fields.items():
                e, g = expected[name][j], got[name][j]
                mark = "  " if int(e) == int(g) else "!="
                lines.append(f"    {mark} {name}: expected {_describe(f, e)}, got {_describe(f, g)}")
        lines.append(f"  reproduce with seed={self.seed}{extra}")
        return "\n".join(lines)


def _read_results(folder: Path, params: dict) -> dict:
    nbytes = (params["out_width"] + 7) // 8
    summary = json.loads((folder / "result.json").read_text())
    rows = np.frombuffer((folder / "outputs.bin").read_bytes(), dtype=np.uint8)
    return {"outputs": rows.reshape(-1, nbytes),
            "in_cycles": np.frombuffer((folder / "in_cycles.bin").read_bytes(), dtype=np.int64),
            "out_cycles": np.frombuffer((folder / "out_cycles.bin").read_bytes(), dtype=np.int64),
            **summary}


# -- check ----------------------------------------------------------------------------------

def _resolve_unit(unit_or_factory, lanes):
    from numfmt.hw.rtl import Lanes, Unit

    if isinstance(unit_or_factory, Unit):
        if lanes not in (None, 1):
            _silence(unit_or_factory)
            raise ValueError(f"lanes must be None or 1 when a Unit instance is given (a factory "
                             f"can be replicated), not {lanes!r}")
        unit = unit_or_factory
        if isinstance(unit, Lanes):
            return unit, unit.lanes[0], len(unit.lanes)
        return unit, unit, 1
    if not callable(unit_or_factory):
        raise TypeError(f"unit_or_factory must be a hw.rtl.Unit or a zero-argument callable "
                        f"returning one, not {unit_or_factory!r}")
    lanes = 8 if lanes is None else lanes
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be an integer ≥ 1, not {lanes!r}")
    if lanes == 1:
        unit = unit_or_factory()
        if not isinstance(unit, Unit):
            raise TypeError(f"unit_or_factory must return a hw.rtl.Unit, not {unit!r}")
        return unit, unit, 1
    unit = Lanes(unit_or_factory, lanes)
    return unit, unit.lanes[0], lanes


def _silence(unit) -> None:
    """Mark a unit that will never be converted as deliberately unused (Amaranth warns)."""
    unit._MustUse__silence = True
    for u in list(getattr(unit, "lanes", [])) + list(getattr(unit, "units", [])):
        _silence(u)


def _check_vectors(fields: dict, vectors) -> dict:
    if not isinstance(vectors, dict):
        raise TypeError(f"vectors must be None or a dict of field name -> codes, not {type(vectors).__name__}")
    if set(vectors) != set(fields):
        raise ValueError(f"vectors must have exactly the input fields {sorted(fields)}, not {sorted(vectors)}")
    out, n = {}, None
    for name, f in fields.items():
        v = np.asarray(vectors[name])
        if v.ndim != 1:
            raise ValueError(f"vectors[{name!r}] must be one-dimensional, not shape {v.shape}")
        if n is None:
            n = len(v)
        if len(v) != n:
            raise ValueError(f"vectors[{name!r}] has {len(v)} codes, the first field {n}")
        if v.size and (v.dtype.kind not in "ui" or int(v.min()) < 0 or int(v.max()) >= 1 << f.width):
            raise ValueError(f"vectors[{name!r}] must hold integer codes in [0, 2**{f.width}), "
                             f"not {v.dtype} in [{v.min()}, {v.max()}]")
        out[name] = v.astype(np.uint64)
    if not n:
        raise ValueError("vectors must hold at least one vector")
    return out


def _check_prob(p, name):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), not {p!r}")
    return float(p)


def _run_arguments(simulator, idle, backpressure, seed, stall_limit):
    """The checked ``(simulator, idle, backpressure, seed)`` of a run (``stall_limit`` checked)."""
    simulator = _runner.default_simulator() if simulator is None else simulator
    _runner._check_simulator(simulator)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0, not {seed!r}")
    if isinstance(stall_limit, bool) or not isinstance(stall_limit, int) or stall_limit < 1:
        raise ValueError(f"stall_limit must be an integer ≥ 1, not {stall_limit!r}")
    return simulator, _check_prob(idle, "idle"), _check_prob(backpressure, "backpressure"), int(seed)


def _model_outputs(unit, model, lane_inputs: dict) -> dict:
    if model is None:
        out = unit.model(lane_inputs)
    else:   # a replacement model of one lane, applied per lane like Lanes.model
        from numfmt.hw.rtl import Lanes

        if isinstance(unit, Lanes):
            out = {}
            for k, seq in enumerate(unit.split(lane_inputs)):
                for name, v in model(seq).items():
                    out[f"{name}_{k}"] = v
        else:
            out = model(lane_inputs)
    for name in unit.out_fields:
        if name not in out:
            raise ValueError(f"the model of {unit.name} returned no field {name!r}")
    return {name: np.asarray(out[name], dtype=np.uint64) for name in unit.out_fields}


def _interleave(base_fields, per_vector: dict, lanes: int, n_tx: int) -> dict:
    """Per-vector arrays (length n_tx*lanes) -> laned fields ``<name>_<k>`` (length n_tx)."""
    if lanes == 1:
        return dict(per_vector)
    return {f"{name}_{k}": per_vector[name].reshape(n_tx, lanes)[:, k]
            for k in range(lanes) for name in base_fields}


def _deinterleave(base_fields, laned: dict, lanes: int, prefix: str = "") -> dict:
    """Laned fields ``<prefix><name>_<k>`` -> per-vector arrays ``<name>``."""
    if lanes == 1:
        return {name: laned[prefix + name] for name in base_fields}
    return {name: np.stack([laned[f"{prefix}{name}_{k}"] for k in range(lanes)], axis=1).reshape(-1)
            for name in base_fields}


def check(unit_or_factory, *, vectors=None, n_random: int = 100_000, seed: int = 0, lanes=None,
          simulator: str | None = None, idle: float = 0.0, backpressure: float = 0.0,
          build_dir=None, model=None, waves: bool = True, stall_limit: int = 10_000) -> Report:
    """Check a unit's RTL against its numfmt model, code for code, in a simulator.

    Parameters
    ----------
    unit_or_factory : hw.rtl.Unit or callable
        A zero-argument callable returning a fresh Unit (replicated into ``lanes``
        lanes with :class:`numfmt.hw.rtl.Lanes`), or one Unit instance (simulated as is).
    vectors : dict of str -> array of codes, optional
        The input vectors, one array per input field of one lane; default
        :func:`numfmt.sim.vectors.generate` (exhaustive at ≤ 16 input bits, else corners +
        ``n_random`` seeded random vectors).
    n_random : int
        Random vectors when generated.
    seed : int
        Seed of the vectors, idle cycles and back-pressure; printed on failure.
    lanes : int, optional
        Vectors per cycle (default 8 for a factory). Lane ``k`` sees vectors
        ``k, k+lanes, …``; a stateful unit accumulates along that sequence.
    simulator : {"verilator", "icarus"}, optional
        Default: ``$NUMFMT_SIMULATOR``, else ``"verilator"`` — so that the same tests run
        under Icarus with ``NUMFMT_SIMULATOR=icarus pytest tests/hw tests/sim``.
    idle : float
        Probability that the driver inserts an idle cycle before a transaction.
    backpressure : float
        Probability that ``o.ready`` is low in a cycle.
    build_dir : path, optional
        Cache root of the builds (default ``$NUMFMT_CACHE/sim`` or ``~/.cache/numfmt/sim``).
    model : callable, optional
        Replaces ``unit.model`` for one lane (to test the checker itself).
    waves : bool
        On a mismatch, re-run with tracing up to a few transactions past the first
        failing one and name the waveform file (VCD) in the error.
    stall_limit : int
        Cycles without any handshake before the run is declared hung.

    Returns
    -------
    Report

    Raises
    ------
    MismatchError
        An output code differs from the model's; the message lists the failing vectors
        field by field with decoded values, expected and observed codes, and the seed.
    sim._runner.SimulationError
        The build or simulation failed, the unit hung, or produced extra outputs.

    Examples
    --------
    >>> import numfmt as nf
    >>> from amaranth.hdl import Module
    >>> from numfmt.hw.rtl import Field, Unit, pipeline
    >>> class Inc(Unit):
    ...     def __init__(self):
    ...         fmt = nf.IntFormat(4, signed=False, overflow="wrap")
    ...         super().__init__({"a": Field.of(fmt)}, {"y": Field.of(fmt)})
    ...         self.fmt, self.latency = fmt, 1
    ...     def elaborate(self, platform):
    ...         m = Module()
    ...         pipeline(m, self.i, self.o, self.i.payload.a + 1, 1)
    ...         return m
    ...     def model(self, inputs):
    ...         return {"y": self.fmt.encode(self.fmt.decode(inputs["a"]) + 1).astype("uint64")}
    >>> report = check(Inc, lanes=2)
    >>> report.n_vectors, sorted(set(report.latencies.tolist()))
    (16, [1])
    """
    simulator, idle, backpressure, seed = _run_arguments(simulator, idle, backpressure, seed, stall_limit)
    if model is not None and not callable(model):
        raise TypeError(f"model must be callable, not {model!r}")
    unit, base, lanes = _resolve_unit(unit_or_factory, lanes)
    try:
        if vectors is None:
            vecs = _vectors.generate(base.in_fields, n_random=n_random, seed=seed)
        else:
            vecs = _check_vectors(base.in_fields, vectors)
    except Exception:
        _silence(unit)
        raise
    return _run(unit, [_Member(base, lanes, vecs, "")], model=model, seed=seed, simulator=simulator,
                idle=idle, backpressure=backpressure, build_dir=build_dir, waves=waves,
                stall_limit=stall_limit)[0]


def check_many(factories, *, vectors=None, n_random: int = 100_000, seed: int = 0, lanes: int = 1,
               simulator: str | None = None, idle: float = 0.0, backpressure: float = 0.0,
               build_dir=None, waves: bool = True, stall_limit: int = 10_000) -> list:
    """Check several units in one build: :func:`check` for each, one simulator run.

    Each factory's unit (replicated into ``lanes`` lanes) is given its own vectors
    (``vectors[j]``, else :func:`numfmt.sim.vectors.generate`: exhaustive at ≤ 16 input bits,
    else corners + ``n_random`` random vectors). The members sit side by side in a
    :class:`numfmt.hw.rtl.Group` and run in lockstep; shorter vector sets are padded with
    repeats, which are not checked. The units must share their handshake timing (same
    class and latency). One build and one simulation instead of ``len(factories)`` of
    each is what makes the exhaustive RTL suite short: the build (the C++ compile of the
    model) costs far more than the cycles, so one lane per member is the default.

    Parameters are those of :func:`check`, except ``factories`` (a list of zero-argument
    callables returning units) and ``vectors`` (a list, one entry per factory: a dict of
    input codes of one lane, or ``None``).

    Returns
    -------
    list of Report
        One per factory, in order.

    Raises
    ------
    MismatchError
        For the first member whose outputs differ, named in the message (which also
        counts the other failing members).

    Examples
    --------
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> reports = check_many([lambda: FloatMul(nf.FloatFormat(2, 1)),
    ...                       lambda: FloatMul(nf.FloatFormat(2, 1, specials="fn"))])
    >>> [r.n_vectors for r in reports]
    [256, 256]
    """
    from numfmt.hw.rtl import Group

    simulator, idle, backpressure, seed = _run_arguments(simulator, idle, backpressure, seed, stall_limit)
    if not isinstance(factories, (list, tuple)) or not factories:
        raise ValueError(f"factories must be a non-empty list of zero-argument callables returning "
                         f"units, not {factories!r}")
    if vectors is None:
        vectors = [None] * len(factories)
    if not isinstance(vectors, (list, tuple)) or len(vectors) != len(factories):
        got = f"a list of {len(vectors)}" if isinstance(vectors, (list, tuple)) else type(vectors).__name__
        raise ValueError(f"vectors must be None or a list of {len(factories)} entries (one per factory), "
                         f"not {got}")
    members = []
    for j, make in enumerate(factories):
        if not callable(make):
            raise TypeError(f"factories[{j}] must be a zero-argument callable, not {make!r}")
        unit, base, n_lanes = _resolve_unit(make, lanes)
        members.append((unit, base, n_lanes))
    try:
        top = Group([u for u, _, _ in members])
        parts = [_Member(base, n_lanes,
                         _vectors.generate(base.in_fields, n_random=n_random, seed=seed) if vec is None
                         else _check_vectors(base.in_fields, vec), top.prefix(j))
                 for j, ((_, base, n_lanes), vec) in enumerate(zip(members, vectors))]
    except Exception:
        for u, _, _ in members:
            _silence(u)
        raise
    return _run(top, parts, model=None, seed=seed, simulator=simulator, idle=idle,
                backpressure=backpressure, build_dir=build_dir, waves=waves, stall_limit=stall_limit)


@dataclasses.dataclass
class _Member:
    """One unit of a run: its one-lane unit, lanes, per-vector inputs and field prefix."""
    base: object
    lanes: int
    vecs: dict
    prefix: str

    @property
    def n(self) -> int:
        return len(next(iter(self.vecs.values())))


def _run(unit, members, *, model, seed, simulator, idle, backpressure, build_dir, waves, stall_limit):
    """Model, build, simulate and compare ``unit`` (one member, or a Group of them)."""
    n_tx = max(-(-m.n // m.lanes) for m in members)
    lane_in = {}
    for m in members:
        padded = {k: np.resize(v, n_tx * m.lanes) for k, v in m.vecs.items()}   # pad with repeats
        lane_in.update({m.prefix + k: v for k, v in
                        _interleave(m.base.in_fields, padded, m.lanes, n_tx).items()})
    try:
        outputs = _model_outputs(unit, model, lane_in)
        expected = [_deinterleave(m.base.out_fields, outputs, m.lanes, m.prefix) for m in members]
        for m, exp in zip(members, expected):
            for name, v in exp.items():
                if v.shape != (n_tx * m.lanes,):
                    raise ValueError(f"the model of {unit.name} returned {v.shape} codes for field "
                                     f"{name!r}, expected {n_tx * m.lanes}")
    except Exception:
        _silence(unit)
        raise

    from numfmt.hw.emit import verilog as _verilog
    text = _verilog(unit)
    t_build = time.perf_counter()
    build_path = _runner.build(text, unit.name, simulator=simulator, build_dir=build_dir)
    build_seconds = time.perf_counter() - t_build

    root = _runner.cache_root(build_dir)
    root.mkdir(parents=True, exist_ok=True)
    test_dir = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    params = {"n": n_tx, "in_width": _width(unit.in_fields), "out_width": _width(unit.out_fields),
              "seed": seed, "idle": idle, "backpressure": backpressure,
              "stall_limit": stall_limit, "drain": 4}
    (test_dir / "params.json").write_text(json.dumps(params))
    (test_dir / "inputs.bin").write_bytes(pack(unit.in_fields, lane_in).tobytes())

    def simulate(path, tdir, waves_on, n_run=n_tx):
        if tdir != test_dir:    # a re-run of the first n_run transactions
            tdir.mkdir(parents=True, exist_ok=True)
            (tdir / "params.json").write_text(json.dumps({**params, "n": n_run}))
            row = (params["in_width"] + 7) // 8
            (tdir / "inputs.bin").write_bytes((test_dir / "inputs.bin").read_bytes()[:n_run * row])
        _runner.run(path, unit.name, _runner.BENCH_MODULE, simulator=simulator, test_dir=tdir,
                    env={"NUMFMT_SIM_DIR": str(tdir)}, waves=waves_on, python_path=[_runner.BENCH_DIR])
        return _read_results(tdir, params)

    t_sim = time.perf_counter()
    try:
        result = simulate(build_path, test_dir, False)
    except _runner.SimulationError as e:
        raise _runner.SimulationError(f"{unit.name} (seed={seed}): {e}\nrun directory: {test_dir}") from None
    seconds = time.perf_counter() - t_sim

    observed = unpack(unit.out_fields, result["outputs"])
    failing = []
    for m, exp in zip(members, expected):
        got = _deinterleave(m.base.out_fields, observed, m.lanes, m.prefix)
        checker = Checker(m.base.name, m.base.in_fields, m.base.out_fields, seed)
        bad = checker.mismatches({k: v[:m.n] for k, v in exp.items()}, {k: v[:m.n] for k, v in got.items()})
        if len(bad):
            failing.append((m, checker, bad, exp, got))
    if failing:
        m, checker, bad, exp, got = failing[0]
        wave = None
        extra = f", idle={idle}, backpressure={backpressure}, lanes={m.lanes}; run directory: {test_dir}"
        if len(members) > 1:
            extra += (f"; member {m.prefix.rstrip('_')} of {unit.name}, "
                      f"{len(failing)} of {len(members)} members fail: "
                      + ", ".join(f.base.name for f, *_ in failing))
        if waves:
            try:
                traced = _runner.build(text, unit.name, simulator=simulator, waves=True, build_dir=build_dir)
                wdir = test_dir / "waves"
                # up to a little past the first failing transaction: a short trace
                simulate(traced, wdir, True, n_run=min(n_tx, int(bad[0]) // m.lanes + 8))
                found = sorted(wdir.glob("dump.*"))
                wave = found[0] if found else None
            except _runner.SimulationError as e:  # pragma: no cover - the first run worked
                extra += f"; tracing failed: {e}"
            if wave is not None:
                extra += f"; waveform: {wave}"
        raise MismatchError(checker.message(bad, m.vecs, exp, got, lanes=m.lanes,
                                            in_cycles=result["in_cycles"],
                                            out_cycles=result["out_cycles"], extra=extra),
                            indices=bad, seed=seed, waveform=wave)
    shutil.rmtree(test_dir, ignore_errors=True)
    lat_tx = result["out_cycles"] - result["in_cycles"]
    return [Report(n_vectors=m.n, cycles=int(result["cycles"]), seconds=seconds,
                   vectors_per_second=m.n / seconds if seconds > 0 else float("inf"),
                   latencies=np.repeat(lat_tx, m.lanes)[:m.n], build_seconds=build_seconds, seed=seed,
                   lanes=m.lanes, simulator=simulator, loop_seconds=float(result["loop_seconds"]),
                   in_cycles=np.repeat(result["in_cycles"], m.lanes)[:m.n],
                   out_cycles=np.repeat(result["out_cycles"], m.lanes)[:m.n])
            for m in members]
