"""LUT-based mixed-precision dot-product PE (T-MAC, LUT Tensor Core).

:class:`LutDot` computes the exact dot product of ``n`` integer activations with ``n``
low-bit integer weights without multiplying: the weights are read as bit planes, ``g``
weight bits of one plane and group index a table of partial sums of the group's
activations, and the looked-up values are shifted by the plane weight and added. The
definitions (padding of ``n`` to ``G·g``, tables, the sign-symmetric half tables, the
correction ``(Σ_i w_i·L±_i + S·Σ_i w_i) / 2``) are those of ``docs/units.md``
(*LUT-based GEMM*); the model is :func:`numfmt.units.lut_matmul` (``table="exact"``).

Schedule: ``cycles = G·b`` (``G = ceil(n/g)`` groups, ``b`` weight bits), one lookup per
cycle, groups one after another and, inside a group, planes LSB first. The tables of all
groups are built combinationally from the payload in the accepting cycle (``E − 1`` adds
per table, ``E = 2**g`` or ``2**(g−1)``) and registered; the first lookup reads them in
that same cycle, so the output is valid ``G·b`` cycles after the accepting edge. The
tables and weights rotate by one group every ``b`` cycles, so the lookup always reads
the front table. With ``sign_symmetric=True`` the accumulator starts at ``S·Σ_i w_i``
(``S = −Σ_j T±_j[0]``, the activation sum) and the output is the accumulator halved.
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal

from numfmt.arith.accumulators import kulisch_width
from numfmt.units import lut_matmul

from ._unit import Field, Unit
from .bitserial import (_check_int_format, _check_n, diagonal_products, equals, extend, int_rows,
                        output_format, shift_left)

__all__ = ["LutDot"]


class LutDot(Unit):
    """Dot product of ``n`` activations and ``n`` weights by table lookups over weight planes.

    Parameters
    ----------
    w_fmt : IntFormat
        Weight format (``b`` bits, signed or unsigned).
    a_fmt : IntFormat
        Activation format.
    n : int
        Vector length (padded with zeros to ``G·g``).
    g : int
        Weight bits per lookup (1..8).
    sign_symmetric : bool
        Store ``2**(g−1)`` entries of the ``{−1, +1}`` table and negate (LUT Tensor Core).
    acc_width : int, optional
        Output width; default the exact width ``kulisch_width(a_fmt, w_fmt, n)``; a
        narrower one wraps as ``IntFormat(acc_width, overflow="wrap")`` encodes.

    Ports: input fields ``w0 … w{n-1}`` (codes of ``w_fmt``), ``a0 … a{n-1}`` (codes of
    ``a_fmt``); output ``y`` (code of :attr:`out_fmt`). :attr:`latency` = :attr:`cycles`
    = ``lut_matmul(...).cycles`` = ``G·b``; a new input every ``cycles`` cycles at most.

    Examples
    --------
    >>> import numfmt as nf
    >>> u = LutDot(nf.IntFormat(2), nf.IntFormat(4), 4, g=2, sign_symmetric=True)
    >>> u.cycles, u.entries, str(u.out_fmt)
    (4, 2, 'int8(overflow=wrap)')
    >>> codes = {"w0": [1], "w1": [2], "w2": [0], "w3": [1], "a0": [3], "a1": [15], "a2": [2], "a3": [5]}
    >>> u.model(codes)["y"].tolist()          # 3 + (-2)(-1) + 0 + 5
    [10]
    """

    def __init__(self, w_fmt, a_fmt, n: int, g: int = 4, *, sign_symmetric: bool = False, acc_width=None):
        self.w_fmt = _check_int_format("w_fmt", w_fmt)
        self.a_fmt = _check_int_format("a_fmt", a_fmt)
        self.n = _check_n(n)
        if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or not 1 <= g <= 8:
            raise ValueError(f"g must be an integer in 1..8, not {g!r}")
        if not isinstance(sign_symmetric, bool):
            raise TypeError(f"sign_symmetric must be a bool, not {sign_symmetric!r}")
        self.g, self.sign_symmetric = int(g), sign_symmetric
        self.groups = math.ceil(self.n / self.g)
        #: stored entries per table
        self.entries = 1 << (self.g - 1) if sign_symmetric else 1 << self.g
        self.out_fmt = output_format(a_fmt, w_fmt, self.n, acc_width)
        self.acc_width = acc_width
        zeros = np.zeros((1, self.n))
        #: cycles per transaction, as numfmt.units.lut_matmul counts them
        self.cycles = int(lut_matmul(zeros, zeros.T, w_fmt, g=self.g, sign_symmetric=sign_symmetric,
                                     a_format=a_fmt).cycles)
        self.latency = self.cycles
        fields = {f"w{k}": Field.of(w_fmt) for k in range(self.n)}
        fields.update({f"a{k}": Field.of(a_fmt) for k in range(self.n)})
        super().__init__(fields, {"y": Field.of(self.out_fmt)})

    def parameters(self) -> dict:
        return {"w_fmt": str(self.w_fmt), "a_fmt": str(self.a_fmt), "n": self.n, "g": self.g,
                "sym": int(self.sign_symmetric), "width": self.out_fmt.bits}

    def model(self, inputs: dict) -> dict:
        W = int_rows(inputs, self.in_fields, self.w_fmt, "w", self.n)
        A = int_rows(inputs, self.in_fields, self.a_fmt, "a", self.n)
        values = diagonal_products(A, W, lambda a, w: lut_matmul(
            a, w, self.w_fmt, g=self.g, sign_symmetric=self.sign_symmetric, a_format=self.a_fmt))
        return {"y": self.out_fmt.encode(values.astype(np.float64)).astype(np.uint64)}

    def elaborate(self, platform):
        m = Module()
        n, g, G, E = self.n, self.g, self.groups, self.entries
        fw, fa = self.w_fmt, self.a_fmt
        b = fw.bits
        sym = self.sign_symmetric
        W = self.out_fmt.bits + int(sym)              # the symmetric accumulator holds 2·out
        # table entries: sums of up to g activations (times 2 when symmetric), in two's complement
        TW = min(W, fa.bits + 1 + g.bit_length() + int(sym))
        TW = max(TW, fa.bits + 1)

        busy, done = Signal(), Signal()
        acc = Signal(W)
        plane = Signal(range(max(b, 2)))
        group = Signal(range(max(G, 2)))
        accept = Signal()
        m.d.comb += [
            self.i.ready.eq(~busy & (~done | self.o.ready)),
            accept.eq(self.i.valid & self.i.ready),
            self.o.valid.eq(done),
            self.o.payload.y.eq(acc[int(sym):]),
        ]
        p = self.i.payload
        # activations and weights of the payload, padded to G·g
        act = [extend(getattr(p, f"a{k}"), TW, fa.signed) if k < n else Const(0, TW) for k in range(G * g)]
        wts = [getattr(p, f"w{k}") if k < n else Const(0, b) for k in range(G * g)]

        # tables built from the payload (the recurrences of docs/units.md)
        new_tab = []
        for j in range(G):
            a_g = act[j * g:(j + 1) * g]
            t = [None] * E
            if sym:
                s = a_g[0]
                for x in a_g[1:]:
                    s = (s + x)[:TW]
                t[0] = (~s + 1)[:TW]
                for q in range(1, E):
                    h = q.bit_length() - 1
                    t[q] = (t[q - (1 << h)] + Cat(Const(0, 1), a_g[h][:TW - 1]))[:TW]
            else:
                t[0] = Const(0, TW)
                for q in range(1, E):
                    h = q.bit_length() - 1
                    t[q] = a_g[h] if q == 1 << h else (t[q - (1 << h)] + a_g[h])[:TW]
            sigs = []
            for q in range(E):
                v = Signal(TW, name=f"new_t{j}_{q}")
                m.d.comb += v.eq(t[q])
                sigs.append(v)
            new_tab.append(sigs)

        tab = [[Signal(TW, name=f"t{j}_{q}") for q in range(E)] for j in range(G)]
        wreg = [[Signal(b, name=f"w{j}_{t}") for t in range(g)] for j in range(G)]
        src_tab = [[Mux(busy, tab[j][q], new_tab[j][q]) for q in range(E)] for j in range(G)]
        src_w = [[Mux(busy, wreg[j][t], wts[j * g + t]) for t in range(g)] for j in range(G)]

        # lookup in the front table with the pattern of the front group's current plane
        pattern = Cat(*[src_w[0][t][0] for t in range(g)])
        if sym:
            top = pattern[g - 1]
            index = Mux(top, ~pattern, pattern)[:g - 1] if g > 1 else Const(0, 1)
            entry = Signal(TW)
            m.d.comb += entry.eq(Array(src_tab[0])[index])
            looked = Mux(top, (~entry + 1)[:TW], entry)
        else:
            entry = Signal(TW)
            m.d.comb += entry.eq(Array(src_tab[0])[pattern])
            looked = entry
        term = shift_left(m, extend(looked, W, True), plane, b - 1, W, "term")
        negate = equals(plane, b - 1) if fw.signed else Const(0, 1)

        if sym:   # start at S·Σ_i w_i with S = −Σ_j T±_j[0]
            ext0 = [extend(new_tab[j][0], W, True) for j in range(G)]
            neg_s = ext0[0]
            for x in ext0[1:]:
                neg_s = (neg_s + x)[:W]                  # = −S
            if fw.signed:                                # Σ w_i = −1
                init = neg_s
            else:                                        # Σ w_i = 2**b − 1
                init = (neg_s - Cat(Const(0, b), neg_s[:W - b]))[:W] if b < W else neg_s
            base = Mux(busy, acc, init)
        else:
            base = Mux(busy, acc, 0)

        last_plane = equals(plane, b - 1)
        last = last_plane & equals(group, G - 1)
        with m.If(busy | accept):
            m.d.sync += acc.eq(Mux(negate, (base - term)[:W], (base + term)[:W]))
            with m.If(last_plane):                       # next group to the front
                m.d.sync += [plane.eq(0), group.eq(Mux(last, 0, (group + 1)[:len(group)]))]
                for j in range(G):
                    nxt = (j + 1) % G
                    m.d.sync += [tab[j][q].eq(src_tab[nxt][q]) for q in range(E)]
                    m.d.sync += [wreg[j][t].eq(src_w[nxt][t]) for t in range(g)]
            with m.Else():
                m.d.sync += plane.eq((plane + 1)[:len(plane)])
                for j in range(G):
                    m.d.sync += [tab[j][q].eq(src_tab[j][q]) for q in range(E)]
                    shift = (lambda v: v >> 1) if j == 0 else (lambda v: v)
                    m.d.sync += [wreg[j][t].eq(shift(src_w[j][t])) for t in range(g)]
            m.d.sync += [busy.eq(~last), done.eq(last)]
        with m.Elif(self.o.ready):
            m.d.sync += done.eq(0)
        return m
