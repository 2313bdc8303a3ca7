"""Bit-serial and LUT-based (T-MAC) matrix–vector stages: other datapaths for a Dense layer.

Both stages keep every convention of :class:`~numfmt.hw.accel.MatrixVector` — one whole
vector per transaction, the folding by ``pe`` × ``simd`` (channel ``o`` on PE ``o % pe``
in neuron fold ``o // pe``), the same weight and bias ROMs (:meth:`weight_words`), the
register of the node's accumulator and the :class:`numfmt.hw.rtl.Requantizer` per PE —
and differ only in how a PE forms the dot product of its ``simd`` weights and inputs for
one (neuron fold, synapse fold): a verified ``hw.rtl`` unit per PE takes the ``simd``
pairs and answers after a fixed number of *passes*, and the PE adds the exact dot product
to its register.

* :class:`BitSerialMatrixVector` — :class:`numfmt.hw.rtl.BitSerialDot` (``serial="both"``,
  BISMO): AND + popcount of one activation bit plane with one weight bit plane per cycle,
  ``passes = act_bits · weight_bits``.
* :class:`LutMatrixVector` — :class:`numfmt.hw.rtl.LutDot` (T-MAC): tables of partial sums
  of ``g`` activations, one lookup per weight bit plane and group per cycle,
  ``passes = ceil(simd/g) · weight_bits``.

Timing (measured in simulation equal to this model): :attr:`cycles` ``= (out/pe)·(in/simd)
· passes``; :attr:`latency` ``= cycles + 3`` (:data:`~numfmt.hw.accel.MVU_OVERHEAD`: the
ROM read, the accumulator and the output register); :attr:`ii` ``= latency``. The
:meth:`model` is the node's ``run``, as for every stage. See ``docs/accel.md``.

>>> import numpy as np
>>> from numfmt import nn
>>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0], [1.0, 0.25]]))], input_shape=(2,))
>>> q = nn.quantize(g, nn.QConfig(weight="int4", act="int8"), np.array([[1.0, 0.5], [-1.0, 1.0]]))
>>> bs = BitSerialMatrixVector(q.node("dense0"), pe=2, simd=2)
>>> bs.passes, bs.cycles, bs.latency         # 8 activation bits × 4 weight bits, one fold
(32, 32, 35)
>>> lut = LutMatrixVector(q.node("dense0"), pe=1, simd=2)
>>> lut.passes, lut.cycles                   # one group of 2 weights × 4 planes, 2 neuron folds
(4, 8)
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed

from numfmt.arith import FixedAccumulator
from numfmt.arith.accumulators import kulisch_width
from numfmt.formats import IntFormat
from numfmt.modes import Overflow

from ..rtl.bitserial import BitSerialDot
from ..rtl.lutgemm import LutDot
from .stages import MVU_OVERHEAD, MatrixVector, _code_int, _counter, _is_last, _rom, _select

__all__ = ["VARIANTS", "BitSerialMatrixVector", "LutMatrixVector"]

#: the matrix–vector datapaths a Dense layer can be built with (``Accelerator(variants=…)``)
VARIANTS = ("mvu", "bitserial", "lutgemm")


class _DotMatrixVector(MatrixVector):
    """A :class:`MatrixVector` whose PEs are multi-cycle dot-product units (``_unit``)."""

    #: the name of the variant (``Accelerator(variants=…)``, design files)
    variant = ""
    #: input field prefixes of the unit: activations, weights
    _fields = ("a", "w")

    def __init__(self, node, *, pe: int = 1, simd: int = 1):
        super().__init__(node, pe=pe, simd=simd)
        saturating = self.register is not None and self.register.overflow is Overflow.SATURATE
        if saturating and self.simd > 1:
            raise ValueError(f"node {node.name!r}: the {self.variant} variant adds the simd={self.simd} products "
                             f"of a cycle as one exact sum, not saturating after each as {self.register} "
                             "does; use simd=1, a wrapping register or the exact accumulator")
        # the unit's result modulo 2**width is all a register that holds its sum modulo
        # 2**register_width needs: the exact width, or the register's when that is narrower
        # (a saturating register takes the exact product)
        self.weight_int = IntFormat(self.weight_bits, signed=bool(node.weight_format.signed))
        width = kulisch_width(self.in_fmt, self.weight_int, self.simd)
        if not saturating:
            width = min(width, self.register_width)
        if width > 32:
            raise ValueError(f"node {node.name!r}: the {self.variant} units' sum of {self.simd} products of "
                             f"{self.in_fmt} × {self.weight_int} needs {width} bits, more than 32; use a "
                             "smaller simd")
        #: one dot-product unit per PE (elaborated by this stage only)
        self.units = [self._unit(width) for _ in range(self.pe)]
        for unit in self.units:
            unit._MustUse__silence = True     # a stage constructed to be checked is never elaborated
        #: cycles of one unit per (neuron fold, synapse fold)
        self.passes = self.units[0].cycles
        #: cycles per vector, ``(out/pe)·(in/simd)·passes``
        self.cycles = self.nf * self.sf * self.passes
        self.latency = self.ii = self.cycles + MVU_OVERHEAD

    def parameters(self) -> dict:
        return {**super().parameters(), "passes": self.passes}

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        pe, simd, ab, wb, rw = self.pe, self.simd, self.in_fmt.bits, self.weight_bits, self.register_width
        folds = self.nf * self.sf
        act, wts = self._fields

        busy = Signal()                                    # from input handshake to output handshake
        running = Signal()                                 # folds left to hand to the units
        x = Signal(self.n_in * ab, name="x_buffer")
        m.d.comb += i.ready.eq(~busy | (o.valid & o.ready))

        # issue: the units take fold `addr` together; the ROM reads the next fold's word then
        addr = _counter(folds, "addr")
        sf = _counter(self.sf, "sf")
        feed = Signal(name="feed")
        for p, unit in enumerate(self.units):
            m.submodules[f"pe{p}"] = unit
        m.d.comb += feed.eq(running & self.units[0].i.ready)     # the units run in lockstep
        last_fold = _is_last(addr, folds)
        next_addr = _counter(folds, "next_addr")
        m.d.comb += next_addr.eq(Mux(feed & ~last_fold, addr + 1, Mux(feed, 0, addr)))
        wport = _rom(m, "weights", pe * simd * wb, self.weight_words())
        if wport.addr is not None:
            m.d.comb += wport.addr.eq(next_addr)           # the word of `addr` is on data while it holds
        with m.If(feed):
            m.d.sync += [addr.eq(next_addr), sf.eq(Mux(_is_last(sf, self.sf), 0, sf + 1))]
            with m.If(last_fold):
                m.d.sync += running.eq(0)
        xs = Signal(simd * ab, name="x_slice")
        _select(m, xs, x, sf, self.sf)
        for p, unit in enumerate(self.units):
            m.d.comb += [unit.i.valid.eq(running), unit.o.ready.eq(1)]
            for s in range(simd):
                k = p * simd + s
                m.d.comb += [getattr(unit.i.payload, f"{act}{s}").eq(xs[s * ab:(s + 1) * ab]),
                             getattr(unit.i.payload, f"{wts}{s}").eq(wport.data[k * wb:(k + 1) * wb])]

        # results: each PE adds its unit's dot product to its register (the bias starts a sum)
        done = self.units[0].o.valid
        sf_r = _counter(self.sf, "sum_sf")
        nf_r = _counter(self.nf, "sum_nf")
        first = Signal(init=1, name="sum_first")           # sf_r == 0
        last_sf = _is_last(sf_r, self.sf)
        next_nf = _counter(self.nf, "next_nf")
        m.d.comb += next_nf.eq(Mux(done & last_sf, Mux(_is_last(nf_r, self.nf), 0, nf_r + 1), nf_r))
        bport = _rom(m, "biases", pe * rw, self.bias_words())
        if bport.addr is not None:
            m.d.comb += bport.addr.eq(next_nf)
        with m.If(done):
            m.d.sync += [sf_r.eq(Mux(last_sf, 0, sf_r + 1)), nf_r.eq(next_nf), first.eq(last_sf)]
        accs = []
        for p, unit in enumerate(self.units):
            reg = Signal(signed(rw), name=f"acc{p}")
            base = Mux(first, bport.data[p * rw:(p + 1) * rw].as_signed(), reg)
            with m.If(done):
                m.d.sync += reg.eq(self._add(m, p, base, [_code_int(unit.o.payload.y, unit.out_fmt)]))
            accs.append(reg)
        v2, nf2 = Signal(name="sum_valid"), _counter(self.nf, "sum_nf2")
        m.d.sync += [v2.eq(done & last_sf), nf2.eq(nf_r)]
        self._requantize(m, accs, v2, nf2, busy)
        with m.If(i.valid & i.ready):                      # after _requantize: a new vector stays busy
            m.d.sync += [x.eq(i.payload.as_value()), busy.eq(1), running.eq(1)]
        return m


class BitSerialMatrixVector(_DotMatrixVector):
    """A quantized Dense layer with a bit-serial PE per output channel in flight (BISMO).

    Parameters are those of :class:`~numfmt.hw.accel.MatrixVector` (``node``, ``pe``,
    ``simd``). PE ``p`` is a :class:`numfmt.hw.rtl.BitSerialDot` of ``simd`` elements,
    ``serial="both"``: per cycle one activation bit plane AND one weight bit plane,
    popcount, shifted by the planes' weights and subtracted for a signed MSB plane, so a
    (neuron fold, synapse fold) takes :attr:`passes` ``= act_bits · weight_bits`` cycles.
    The accumulator is the node's: exact, a wrapping ``FixedAccumulator`` (the sum modulo
    ``2**width``), or a saturating one with ``simd = 1`` (one product per addition, as numfmt
    defines it); a saturating register with ``simd > 1`` is refused.

    >>> import numpy as np
    >>> from numfmt import nn
    >>> g = nn.Graph.sequential([nn.Dense(np.eye(4))], input_shape=(4,))
    >>> q = nn.quantize(g, nn.QConfig(weight="int2", act="int4"), np.eye(4))
    >>> s = BitSerialMatrixVector(q.node("dense0"), pe=2, simd=4)
    >>> s.passes, s.cycles, s.ii
    (8, 16, 19)
    """

    variant = "bitserial"
    _fields = ("a", "b")

    def _unit(self, width):
        return BitSerialDot(self.in_fmt, self.weight_int, self.simd, serial="both", acc_width=width)


class LutMatrixVector(_DotMatrixVector):
    """A quantized Dense layer whose PEs look partial sums up in tables (T-MAC, LUT Tensor Core).

    Parameters
    ----------
    node, pe, simd
        As :class:`~numfmt.hw.accel.MatrixVector`.
    g : int
        Weights per lookup (1..8; default 4, T-MAC's; at most ``simd``): the ``simd`` inputs
        of a cycle form ``ceil(simd/g)`` groups, each with a table of the ``2**g`` sums of its activations.
    sign_symmetric : bool
        Store half of each table (``2**(g-1)`` entries of the ``{-1, +1}`` table) and negate
        (T-MAC's mirror consolidation, LUT Tensor Core's symmetry); default ``True``.

    PE ``p`` is a :class:`numfmt.hw.rtl.LutDot` of ``simd`` elements with exact tables: a
    (neuron fold, synapse fold) takes :attr:`passes` ``= ceil(simd/g) · weight_bits``
    cycles, one lookup per group and weight bit plane. It suits 1- to 4-bit weights (few
    planes); the activations may be wide. The accumulator rules are those of
    :class:`BitSerialMatrixVector`.

    >>> import numpy as np
    >>> from numfmt import nn
    >>> g = nn.Graph.sequential([nn.Dense(np.eye(8))], input_shape=(8,))
    >>> q = nn.quantize(g, nn.QConfig(weight="int2", act="int8"), np.eye(8))
    >>> s = LutMatrixVector(q.node("dense0"), pe=4, simd=8)
    >>> s.passes, s.cycles, s.units[0].entries
    (4, 8, 8)
    """

    variant = "lutgemm"

    def __init__(self, node, *, pe: int = 1, simd: int = 1, g: int = 4, sign_symmetric: bool = True):
        if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or not 1 <= g <= 8:
            raise ValueError(f"g must be an integer in 1..8, not {g!r}")
        if not isinstance(sign_symmetric, bool):
            raise TypeError(f"sign_symmetric must be a bool, not {sign_symmetric!r}")
        self.sign_symmetric = sign_symmetric
        self._g = int(g)
        super().__init__(node, pe=pe, simd=simd)

    @property
    def g(self) -> int:
        """Weights per lookup: ``min(g, simd)`` (a group never spans more than the cycle's inputs)."""
        return min(self._g, self.simd)

    def _unit(self, width):
        return LutDot(self.weight_int, self.in_fmt, self.simd, self.g, sign_symmetric=self.sign_symmetric,
                      acc_width=width)

    def parameters(self) -> dict:
        return {**super().parameters(), "g": self.g, "sym": int(self.sign_symmetric)}
