"""Small units for the sim tests, built with hw.rtl's pipeline; their models call numfmt."""

import numpy as np
import pytest
from amaranth.hdl import Module, Mux

import numfmt as nf
from numfmt.hw.rtl import Field, Unit, pipeline

U8 = nf.IntFormat(8, signed=False)
U8_WRAP = nf.IntFormat(8, signed=False, overflow="wrap")


class Mul8(Unit):
    """``bits``×``bits`` unsigned multiplier (default 8), ``stages`` pipeline registers;
    ``bug`` adds 1 to the product when both operands are the largest (a mutated unit)."""

    def __init__(self, stages=1, bug=False, bits=8):
        self.fin = nf.IntFormat(bits, signed=False)
        self.fout = nf.IntFormat(2 * bits, signed=False)
        super().__init__({"a": Field.of(self.fin), "b": Field.of(self.fin)}, {"y": Field.of(self.fout)})
        self.stages, self.bug, self.bits, self.latency = stages, bug, bits, stages

    def parameters(self):
        return {"bits": self.bits, "stages": self.stages, "bug": int(self.bug)}

    def elaborate(self, platform):
        m = Module()
        a, b = self.i.payload.a, self.i.payload.b
        y = a * b
        if self.bug:
            top = self.fin.max
            y = Mux((a == top) & (b == top), y + 1, y)
        pipeline(m, self.i, self.o, y, self.stages)
        return m

    def model(self, inputs):
        product = self.fin.decode(inputs["a"]) * self.fin.decode(inputs["b"])
        return {"y": self.fout.encode(product).astype(np.uint64)}


class Acc8(Unit):
    """A stateful unit: ``acc = (first ? x : acc + x) mod 256``, output after each input."""

    def __init__(self):
        super().__init__({"x": Field.of(U8_WRAP), "first": Field(1)}, {"acc": Field.of(U8_WRAP)})
        self.latency = 1

    def elaborate(self, platform):
        m = Module()
        acc = self.o.payload.acc
        nxt = Mux(self.i.payload.first, self.i.payload.x, (acc + self.i.payload.x)[:8])
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += acc.eq(nxt)
        return m

    def model(self, inputs):
        x = U8_WRAP.decode(inputs["x"])
        out, acc = np.empty(len(x)), 0.0
        for k, (v, first) in enumerate(zip(x, inputs["first"])):
            acc = v if first else acc + v
            out[k] = acc
        return {"acc": U8_WRAP.encode(out).astype(np.uint64)}


class Hang(Unit):
    """Takes inputs and never answers (for the hang detection)."""

    def __init__(self):
        super().__init__({"a": Field.of(U8)}, {"y": Field.of(U8)})
        self.latency = None

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.i.ready.eq(1), self.o.valid.eq(0), self.o.payload.y.eq(self.i.payload.a)]
        return m

    def model(self, inputs):
        return {"y": U8.encode(U8.decode(inputs["a"])).astype(np.uint64)}


@pytest.fixture(scope="session")
def units():
    return {"Mul8": Mul8, "Acc8": Acc8, "Hang": Hang}
