"""The shape every generated unit shares: a stream in, a stream out, and a numfmt model.

A unit is an Amaranth :class:`wiring.Component` with two ports,

* ``i``: ``In(stream.Signature(in_layout))`` — one input transaction per handshake,
* ``o``: ``Out(stream.Signature(out_layout))`` — one output transaction per handshake,

whose payloads are :class:`data.StructLayout` s of named *fields*. Every field carries
the codes of one numfmt :class:`~numfmt.Format` (integers in two's complement are the
codes of an :class:`~numfmt.IntFormat`), or raw control bits (``format=None``).

A unit also says what it computes: :meth:`Unit.model` maps a sequence of input
transactions to the sequence of output transactions by calling numfmt, the one
definition of every format's meaning. The testbenches in :mod:`numfmt.sim` compare the two.

Timing contract: output transaction ``k`` answers input transaction ``k`` (same order,
one for one). Units built with :func:`pipeline` have a fixed latency of ``stages``
cycles when the output is not stalled; back-pressure on ``o`` stalls the whole pipe.
:class:`Cuts` places some of those registers inside a datapath, at named cut points,
with the same timing; :class:`InputRegister` puts a register in front of a unit (so
that place-and-route times the unit's first stage, see ``docs/fmax.md``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np
from amaranth.hdl import Const, Module, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Cuts", "Field", "Group", "InputRegister", "Lanes", "Unit", "pipeline"]


@dataclasses.dataclass(frozen=True)
class Field:
    """One named field of a payload: ``width`` bits holding codes of ``format``.

    >>> import numfmt as nf
    >>> f = Field.of(nf.parse("e4m3fn"))
    >>> f.width, str(f.format)
    (8, 'e4m3fn')
    """
    width: int
    format: object = None

    def __post_init__(self):
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be an integer ≥ 1, not {self.width!r}")

    @classmethod
    def of(cls, fmt) -> "Field":
        """The field holding one code of ``fmt`` (its width is ``fmt.bits``)."""
        return cls(int(fmt.bits), fmt)


_MAX_NAME = 64   # Verilator replaces longer identifiers by hashes, which cocotb cannot find


def _module_name(text: str) -> str:
    """``text`` as a Verilog identifier of at most 64 characters (a digest replaces the tail).

    >>> _module_name("floatmul_e4m3fn(subnormals=false)")
    'floatmul_e4m3fn_subnormals_false_'
    >>> len(_module_name("x" * 100))
    64
    """
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{name[:_MAX_NAME - 11]}_{digest}"


def _layout(fields: dict) -> data.StructLayout:
    for name, f in fields.items():
        if not isinstance(f, Field):
            raise TypeError(f"field {name!r} must be a hw.rtl.Field, not {f!r}")
    return data.StructLayout({name: unsigned(f.width) for name, f in fields.items()})


class Unit(wiring.Component):
    """Base class of the generated units (see the module docstring).

    Subclasses pass their fields to ``__init__``, set :attr:`latency` (``None`` when the
    number of cycles is not fixed), and implement ``elaborate`` and :meth:`model`.
    """

    #: cycles from an accepted input to its valid output when ``o`` is never stalled
    latency: int | None = None

    def __init__(self, in_fields: dict, out_fields: dict):
        self.in_fields = dict(in_fields)
        self.out_fields = dict(out_fields)
        self.in_layout = _layout(self.in_fields)
        self.out_layout = _layout(self.out_fields)
        super().__init__({"i": In(stream.Signature(self.in_layout)),
                          "o": Out(stream.Signature(self.out_layout))})

    # -- what it computes ---------------------------------------------------------
    def model(self, inputs: dict) -> dict:
        """Expected output fields (uint64 arrays) for a sequence of input transactions.

        ``inputs`` maps every input field name to a uint64 array of codes, all of one
        length ``n``; the result maps every output field to a length-``n`` uint64 array.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement model()")

    # -- description --------------------------------------------------------------
    def parameters(self) -> dict:
        """JSON-able parameters that, with the class name, define the unit."""
        return {}

    @property
    def name(self) -> str:
        """A Verilog module name derived from the class and its parameters."""
        text = "_".join([type(self).__name__.lower()] +
                        [f"{v}" for v in self.parameters().values()])
        return _module_name(text)

    def manifest(self) -> dict:
        """Formats, ports and latency, as written next to the Verilog by :func:`numfmt.hw.emit`."""
        def fields(fs):
            return [{"name": n, "width": f.width,
                     "format": None if f.format is None else str(f.format)} for n, f in fs.items()]
        offset_in = offset_out = 0
        return {
            "unit": type(self).__name__,
            "module": self.name,
            "parameters": self.parameters(),
            "latency": self.latency,
            "ports": {
                "clk": "clk", "rst": "rst",
                "i": {"valid": "i__valid", "ready": "i__ready", "payload": "i__payload",
                      "width": self.in_layout.size, "fields": fields(self.in_fields)},
                "o": {"valid": "o__valid", "ready": "o__ready", "payload": "o__payload",
                      "width": self.out_layout.size, "fields": fields(self.out_fields)},
            },
            "field_order": "first field in the least significant bits",
        }


def _check_stages(stages) -> int:
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 0:
        raise ValueError(f"stages must be an integer ≥ 0, not {stages!r}")
    return stages


def _stall(m: Module, i, o) -> Signal:
    """The registers' enable ``~o.valid | o.ready``, also driven to ``i.ready``."""
    enable = Signal()
    m.d.comb += [enable.eq(~o.valid | o.ready), i.ready.eq(enable)]
    return enable


def _output_registers(m: Module, enable, o, payload, valid, stages: int) -> None:
    for s in range(stages):
        reg = Signal(len(o.payload.as_value()), name=f"stage{s}_payload")
        reg_valid = Signal(name=f"stage{s}_valid")
        with m.If(enable):
            m.d.sync += [reg.eq(payload), reg_valid.eq(valid)]
        payload, valid = reg, reg_valid
    m.d.comb += [o.payload.eq(payload), o.valid.eq(valid)]


def pipeline(m: Module, i, o, result, stages: int, cuts: "Cuts | None" = None) -> None:
    """Carry ``result`` (computed combinationally from ``i.payload``) to ``o`` through
    ``stages`` registers, with a whole-pipe stall while ``o`` is not ready.

    ``stages=0`` makes the unit combinational (``o.valid = i.valid``, ``i.ready = o.ready``).
    With ``cuts`` (the :class:`Cuts` the datapath of ``result`` went through), its
    registers count among the ``stages``: the rest are output registers.
    """
    stages = _check_stages(stages)
    if cuts is not None and cuts.n_active:
        if stages <= cuts.n_active:
            raise ValueError(f"stages must leave an output register after the {cuts.n_active} "
                             f"active cuts, not {stages}")
        _output_registers(m, cuts.enable, o, result, cuts.valid, stages - cuts.n_active)
        return
    if stages == 0:
        m.d.comb += [o.payload.eq(result), o.valid.eq(i.valid), i.ready.eq(o.ready)]
        return
    _output_registers(m, _stall(m, i, o), o, result, i.valid, stages)


class Cuts:
    """Pipeline registers at named cut points inside a datapath, timed as :func:`pipeline`.

    ``names`` are the datapath's cut points in priority order; the first ``active`` of
    them get a register: at each, :meth:`cut` registers the values it is given
    (Amaranth values; plain ints and constants pass through) together with the valid
    bit and the ``carry`` values (e.g. a MAC's ``first``), all enabled by the
    whole-pipe stall signal ``~o.valid | o.ready``. At an inactive cut the values
    pass unchanged, so a datapath written once with its cuts gives every depth.

    The datapath must call :meth:`cut` for its cut points in datapath order (each
    once); ``valid`` and ``carry`` are then those of the last register passed.

    >>> from amaranth.hdl import Module, Signal
    >>> from amaranth.lib import stream, wiring
    >>> m = Module()
    >>> i = stream.Signature(8).flip().create()
    >>> o = stream.Signature(8).create()
    >>> cuts = Cuts(m, i, o, ("sum", "product"), active=1)
    >>> x = Signal(8)
    >>> cuts.cut("product", {"x": x})["x"] is x, cuts.cut("sum", {"x": x})["x"] is x
    (True, False)
    >>> cuts.n_active
    1
    """

    def __init__(self, m: Module, i, o, names, active: int, *, carry: dict | None = None, enable=None):
        names = tuple(names)
        if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"names must be distinct strings, not {names!r}")
        if isinstance(active, bool) or not isinstance(active, int) or active < 0:
            raise ValueError(f"active must be an integer ≥ 0, not {active!r}")
        self.m = m
        self.names = names
        self.active = frozenset(names[:active])
        self.n_active = len(self.active)
        self.valid = i.valid
        self.carry = dict(carry or {})
        self.enable = enable
        if self.enable is None and self.n_active:
            self.enable = _stall(m, i, o)
        self._done = set()

    def cut(self, name: str, values: dict) -> dict:
        """``values`` after the cut point ``name``: registered copies if it is active."""
        if name not in self.names:
            raise ValueError(f"name must be one of the cut points {self.names}, not {name!r}")
        if name in self._done:
            raise ValueError(f"cut point {name!r} is already placed")
        self._done.add(name)
        if name not in self.active:
            return dict(values)
        out = {}
        stmts = []
        for key, v in {**values, **{f"carry_{k}": v for k, v in self.carry.items()}}.items():
            if v is None or isinstance(v, int) or isinstance(v, Const):
                out[key] = v
                continue
            v = Value.cast(v)
            reg = Signal(v.shape(), name=f"{name}_{key}")
            stmts.append(reg.eq(v))
            out[key] = reg
        valid = Signal(name=f"{name}_valid")
        stmts.append(valid.eq(self.valid))
        with self.m.If(self.enable):
            self.m.d.sync += stmts
        self.valid = valid
        self.carry = {k: out.pop(f"carry_{k}") for k in self.carry}
        return out


class InputRegister(Unit):
    """``unit`` behind one register on its input payload and valid bit (latency + 1).

    For timing a unit alone: place-and-route counts register-to-register paths only,
    so without it a unit's first stage (from its input ports) is not timed. The
    register holds while ``unit`` stalls (its enable is ``unit.i.ready``).

    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> r = InputRegister(FloatMul(nf.parse("e4m3fn"), stages=2))
    >>> r.latency, r.name
    (3, 'inreg_floatmul_e4m3fn_e4m3fn_e4m3fn_rne_2')
    """

    def __init__(self, unit):
        if not isinstance(unit, Unit):
            raise TypeError(f"unit must be a hw.rtl.Unit, not {unit!r}")
        self.unit = unit
        self.latency = None if unit.latency is None else unit.latency + 1
        super().__init__(unit.in_fields, unit.out_fields)

    @property
    def name(self) -> str:
        return _module_name(f"inreg_{self.unit.name}")

    def parameters(self) -> dict:
        return {"unit": self.unit.name}

    def model(self, inputs: dict) -> dict:
        return self.unit.model(inputs)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = u = self.unit
        payload = Signal(len(self.i.payload.as_value()), name="in_payload")
        valid = Signal(name="in_valid")
        with m.If(u.i.ready):
            m.d.sync += [payload.eq(self.i.payload), valid.eq(self.i.valid)]
        m.d.comb += [u.i.payload.eq(payload), u.i.valid.eq(valid), self.i.ready.eq(u.i.ready),
                     self.o.payload.eq(u.o.payload), self.o.valid.eq(u.o.valid), u.o.ready.eq(self.o.ready)]
        return m


class Lanes(Unit):
    """``n`` copies of a unit side by side, in lockstep, to check several vectors a cycle.

    Lane ``k`` takes input transactions ``k, k+n, k+2n, …``; fields are named
    ``<field>_<k>``. The copies must have data-independent timing (every unit here has),
    so lane 0's handshake speaks for all. Its :meth:`model` runs each lane's model on
    that lane's own sequence (``<field>_<k>`` over the cycles).
    """

    def __init__(self, make, n: int):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer ≥ 1, not {n!r}")
        self.lanes = [make() for _ in range(n)]
        first = self.lanes[0]
        if not isinstance(first, Unit):
            raise TypeError(f"make must return a hw.rtl.Unit, not {first!r}")
        self.latency = first.latency
        super().__init__(
            {f"{name}_{k}": f for k in range(n) for name, f in first.in_fields.items()},
            {f"{name}_{k}": f for k in range(n) for name, f in first.out_fields.items()})

    @property
    def name(self) -> str:
        return _module_name(f"{self.lanes[0].name}_x{len(self.lanes)}")

    def parameters(self) -> dict:
        return {"lanes": len(self.lanes), "unit": self.lanes[0].name}

    def elaborate(self, platform):
        m = Module()
        for k, lane in enumerate(self.lanes):
            m.submodules[f"lane{k}"] = lane
            for name in lane.in_fields:
                m.d.comb += getattr(lane.i.payload, name).eq(getattr(self.i.payload, f"{name}_{k}"))
            for name in lane.out_fields:
                m.d.comb += getattr(self.o.payload, f"{name}_{k}").eq(getattr(lane.o.payload, name))
            m.d.comb += [lane.i.valid.eq(self.i.valid), lane.o.ready.eq(self.o.ready)]
        m.d.comb += [self.i.ready.eq(self.lanes[0].i.ready), self.o.valid.eq(self.lanes[0].o.valid)]
        return m

    def split(self, inputs: dict) -> list[dict]:
        """Lane ``k``'s input sequence: the ``<field>_<k>`` arrays, renamed ``<field>``."""
        n = len(self.lanes)
        return [{name: np.asarray(inputs[f"{name}_{k}"]) for name in self.lanes[0].in_fields}
                for k in range(n)]

    def model(self, inputs: dict) -> dict:
        out = {}
        for k, (lane, lane_in) in enumerate(zip(self.lanes, self.split(inputs))):
            for name, v in lane.model(lane_in).items():
                out[f"{name}_{k}"] = v
        return out


def _timing(unit) -> tuple:
    """What fixes a unit's handshake timing here: its class (a Lanes' lane's) and latency."""
    inner = unit.lanes[0] if isinstance(unit, Lanes) else unit
    while isinstance(getattr(inner, "unit", None), Unit):      # a wrapper (WithLfsr): the unit inside
        inner = inner.unit
    return type(inner).__name__, unit.latency


class Group(Unit):
    """Different units side by side in one module, in lockstep: one build checks them all.

    Member ``j`` 's fields are named ``u<j>_<field>`` (:meth:`prefix`). The members must
    have the same handshake timing — units of one class with one latency (or
    :class:`Lanes` of such units) — so member 0's handshake speaks for all. Its
    :meth:`model` runs each member's model on that member's own fields.

    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul, Group
    >>> g = Group([FloatMul(nf.FloatFormat(2, 1)), FloatMul(nf.FloatFormat(2, 1, specials="fn"))])
    >>> list(g.in_fields), g.latency
    (['u0_a', 'u0_b', 'u1_a', 'u1_b'], 1)
    """

    def __init__(self, units):
        if not isinstance(units, (list, tuple)) or not units:
            raise ValueError(f"units must be a non-empty list of hw.rtl.Unit, not {units!r}")
        for j, u in enumerate(units):
            if not isinstance(u, Unit):
                raise TypeError(f"units[{j}] must be a hw.rtl.Unit, not {u!r}")
            if _timing(u) != _timing(units[0]):
                raise ValueError(f"units[{j}] ({u.name}: class, latency {_timing(u)}) must have the "
                                 f"handshake timing of units[0] ({_timing(units[0])})")
        self.units = list(units)
        self.latency = units[0].latency
        super().__init__(
            {self.prefix(j) + name: f for j, u in enumerate(units) for name, f in u.in_fields.items()},
            {self.prefix(j) + name: f for j, u in enumerate(units) for name, f in u.out_fields.items()})

    @staticmethod
    def prefix(j: int) -> str:
        """The field-name prefix of member ``j``."""
        return f"u{j}_"

    @property
    def name(self) -> str:
        return _module_name("group_" + "_".join(u.name for u in self.units))

    def parameters(self) -> dict:
        return {"units": [u.name for u in self.units]}

    def elaborate(self, platform):
        m = Module()
        for j, unit in enumerate(self.units):
            m.submodules[f"u{j}"] = unit
            for name in unit.in_fields:
                m.d.comb += getattr(unit.i.payload, name).eq(getattr(self.i.payload, self.prefix(j) + name))
            for name in unit.out_fields:
                m.d.comb += getattr(self.o.payload, self.prefix(j) + name).eq(getattr(unit.o.payload, name))
            m.d.comb += [unit.i.valid.eq(self.i.valid), unit.o.ready.eq(self.o.ready)]
        m.d.comb += [self.i.ready.eq(self.units[0].i.ready), self.o.valid.eq(self.units[0].o.valid)]
        return m

    def model(self, inputs: dict) -> dict:
        out = {}
        for j, unit in enumerate(self.units):
            p = self.prefix(j)
            own = {name: np.asarray(inputs[p + name]) for name in unit.in_fields}
            out.update({p + name: v for name, v in unit.model(own).items()})
        return out
