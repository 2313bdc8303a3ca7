"""A unit's ``rand`` input fed by an LFSR: stochastic rounding as hardware builds it.

:class:`WithLfsr` wraps a unit that takes random bits in a ``rand`` field (``Convert``,
``FloatMul`` with ``rounding="stochastic"``) and drives that field from a Galois LFSR
(:class:`numfmt.LFSR`, the one definition of the register: width, taps, seed). The
register steps once per accepted input transaction, and the transaction sees the low
``sr_bits`` bits of the *new* state — exactly one draw of ``numfmt.LFSR.integers`` per
element. So the emulator reproduces the hardware with

``out_fmt.encode(x, "stochastic", rng=nf.LFSR(width, seed), sr_bits=sr_bits)``

on the sequence of inputs the unit accepted since reset.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Signal

from numfmt.lfsr import LFSR

from ._unit import Unit

__all__ = ["WithLfsr"]


class WithLfsr(Unit):
    """``unit`` with its ``rand`` field driven by a ``width``-bit LFSR reset to ``seed``.

    Parameters
    ----------
    unit : Unit
        A unit with an input field ``rand`` (its other fields become this unit's).
    width : int
        LFSR width, ≥ the width of ``rand``, ≤ 32.
    seed : int
        Reset state, 1..2**width − 1.

    Examples
    --------
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import Convert, WithLfsr
    >>> u = WithLfsr(Convert(nf.parse("fp16"), nf.parse("e4m3fn"), rounding="stochastic", sr_bits=8), 16)
    >>> list(u.in_fields), list(u.out_fields), u.latency
    (['x'], ['y'], 1)
    >>> x = nf.parse("fp16").encode([0.3, 0.3, 0.3])
    >>> u.model({"x": x})["y"].tolist() == nf.parse("e4m3fn").encode(
    ...     [0.3] * 3, "stochastic", rng=nf.LFSR(16, seed=1), sr_bits=8).tolist()
    True
    """

    def __init__(self, unit: Unit, width: int = 16, seed: int = 1):
        if not isinstance(unit, Unit):
            raise TypeError(f"unit must be a hw.rtl.Unit, not {unit!r}")
        if "rand" not in unit.in_fields:
            raise ValueError(f"unit must have an input field 'rand' (e.g. rounding='stochastic'); "
                             f"{unit.name} has {list(unit.in_fields)}")
        self.unit = unit
        self.sr_bits = unit.in_fields["rand"].width
        self.lfsr = LFSR(width, seed)           # checks width and seed
        if self.sr_bits > self.lfsr.width:
            raise ValueError(f"width must be at least the {self.sr_bits} bits of rand, not {width}")
        self.latency = unit.latency
        super().__init__({k: f for k, f in unit.in_fields.items() if k != "rand"}, unit.out_fields)

    def parameters(self) -> dict:
        return {"unit": self.unit.name, "lfsr": self.lfsr.width, "seed": self.lfsr.seed}

    def model(self, inputs: dict) -> dict:
        n = len(next(iter(inputs.values())))
        rand = LFSR(self.lfsr.width, self.lfsr.seed, taps=self.lfsr.taps).integers(
            0, 1 << self.sr_bits, size=n).astype(np.uint64)
        return self.unit.model({**inputs, "rand": rand})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = inner = self.unit
        w, mask = self.lfsr.width, self.lfsr.mask
        state = Signal(w, init=self.lfsr.seed)
        nxt = Signal(w)
        m.d.comb += nxt.eq((state >> 1) ^ (Const(mask, w) & state[0].replicate(w)))
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += state.eq(nxt)
        for name in self.in_fields:
            m.d.comb += getattr(inner.i.payload, name).eq(getattr(self.i.payload, name))
        m.d.comb += [
            inner.i.payload.rand.eq(nxt[:self.sr_bits]),
            inner.i.valid.eq(self.i.valid),
            self.i.ready.eq(inner.i.ready),
            self.o.valid.eq(inner.o.valid),
            self.o.payload.eq(inner.o.payload),
            inner.o.ready.eq(self.o.ready),
        ]
        return m
