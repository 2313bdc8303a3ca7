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
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Field", "Group", "Lanes", "Unit", "pipeline"]


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


def pipeline(m: Module, i, o, result, stages: int) -> None:
    """Carry ``result`` (computed combinationally from ``i.payload``) to ``o`` through
    ``stages`` registers, with a whole-pipe stall while ``o`` is not ready.

    ``stages=0`` makes the unit combinational (``o.valid = i.valid``, ``i.ready = o.ready``).
    """
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 0:
        raise ValueError(f"stages must be an integer ≥ 0, not {stages!r}")
    if stages == 0:
        m.d.comb += [o.payload.eq(result), o.valid.eq(i.valid), i.ready.eq(o.ready)]
        return
    enable = Signal()
    m.d.comb += [enable.eq(~o.valid | o.ready), i.ready.eq(enable)]
    payload, valid = result, i.valid
    for s in range(stages):
        reg = Signal(len(o.payload.as_value()), name=f"stage{s}_payload")
        reg_valid = Signal(name=f"stage{s}_valid")
        with m.If(enable):
            m.d.sync += [reg.eq(payload), reg_valid.eq(valid)]
        payload, valid = reg, reg_valid
    m.d.comb += [o.payload.eq(payload), o.valid.eq(valid)]


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
