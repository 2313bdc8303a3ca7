"""LUT-based mixed-precision dot-product PE (T-MAC, LUT Tensor Core).

:class:`LutDot` computes the exact dot product of ``n`` integer activations with ``n``
low-bit integer weights without multiplying: the weights are read as bit planes, ``g``
weight bits of one plane and group index a table of partial sums of the group's
activations, and the looked-up values are shifted by the plane weight and added. The
definitions (padding of ``n`` to ``G·g``, tables, the sign-symmetric half tables, the
correction ``(Σ_i w_i·L±_i + S·Σ_i w_i) / 2``) are those of ``docs/units.md``
(*LUT-based GEMM*); the model is :func:`numfmt.units.lut_matmul`.

Schedule: ``cycles = G·b`` (``G = ceil(n/g)`` groups, ``b`` weight bits), one lookup per
cycle, groups one after another and, inside a group, planes LSB first. The tables of all
groups are built combinationally from the payload in the accepting cycle (``E − 1`` adds
per table, ``E = 2**g`` or ``2**(g−1)``) and registered; the first lookup reads them in
that same cycle, so the output is valid ``G·b`` cycles after the accepting edge. The
tables and weights rotate by one group every ``b`` cycles, so the lookup always reads
the front table. With ``sign_symmetric=True`` the accumulator starts at ``S·Σ_i w_i``
(``S = −Σ_j T±_j[0]``, the activation sum) and the output is the accumulator halved.

``table="int8"`` (T-MAC's table quantization, ``lut_matmul(..., table="int8")``): in the
accepting cycle each table is also quantized — ``t = max |entry|`` over its stored entries
and ``q = round(127·T / t)``, ties to even, by a combinational divider per entry — and the
int8 entries ``q`` and the scale ``t`` are registered. A group's lookups are summed over
its planes (``P_j = Σ_i w_i·q_j[p_ij]``) and the sum is scaled once, on the group's last
plane (``acc += t_j·P_j``: ``scale_muls`` = one per table, as the model counts). The output
is the integer numerator ``N`` of the model's value ``N / 127`` (plain) or ``N / 254``
(symmetric, the accumulator starting at ``127·S·Σ_i w_i``); :attr:`denominator` says which.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal

from numfmt.formats import IntFormat
from numfmt.units import lut_matmul

from ._unit import Field, Unit
from .bitserial import (_check_int_format, _check_n, diagonal_products, equals, extend, int_rows,
                        output_format, shift_left)

__all__ = ["LutDot"]


def _divide(m: Module, num, den, name: str):
    """``(num // den, num % den)`` of unsigned values (``den > 0``) by restoring division,
    one compare-subtract per bit of ``num``: quotient ``len(num)`` bits, remainder
    ``len(den)`` bits."""
    dw = len(den)
    den = Cat(den, Const(0, 1))
    rem = Const(0, dw)
    bits = []
    for k in reversed(range(len(num))):
        trial = Cat(num[k], rem)                                 # 2·rem + bit, dw + 1 bits
        ge = Signal(name=f"{name}_ge{k}")
        nxt = Signal(dw, name=f"{name}_r{k}")
        m.d.comb += [ge.eq(trial >= den), nxt.eq(Mux(ge, (trial - den)[:dw], trial[:dw]))]
        bits.append(ge)
        rem = nxt
    return Cat(*reversed(bits)), rem


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
    table : {"exact", "int8"}
        Exact tables, or tables quantized to int8 with a per-table scale (T-MAC).
    acc_width : int, optional
        ``table="exact"`` only. Output width; default the exact width
        ``kulisch_width(a_fmt, w_fmt, n)``; a narrower one wraps as
        ``IntFormat(acc_width, overflow="wrap")`` encodes.

    Ports: input fields ``w0 … w{n-1}`` (codes of ``w_fmt``), ``a0 … a{n-1}`` (codes of
    ``a_fmt``); output ``y`` (code of :attr:`out_fmt`; with ``table="int8"`` the numerator
    of ``y / denominator``). :attr:`latency` = :attr:`cycles` = ``lut_matmul(...).cycles`` =
    ``G·b``; a new input every ``cycles`` cycles at most.

    Examples
    --------
    >>> import numfmt as nf
    >>> u = LutDot(nf.IntFormat(2), nf.IntFormat(4), 4, g=2, sign_symmetric=True)
    >>> u.cycles, u.entries, str(u.out_fmt)
    (4, 2, 'int8(overflow=wrap)')
    >>> codes = {"w0": [1], "w1": [2], "w2": [0], "w3": [1], "a0": [3], "a1": [15], "a2": [2], "a3": [5]}
    >>> u.model(codes)["y"].tolist()          # 3 + (-2)(-1) + 0 + 5
    [10]
    >>> q = LutDot(nf.IntFormat(2), nf.IntFormat(4), 4, g=4, table="int8")
    >>> int(q.model(codes)["y"][0]), q.denominator       # 1280 / 127 ≈ 10.08 (int8 table, t = 10)
    (1280, 127)
    """

    def __init__(self, w_fmt, a_fmt, n: int, g: int = 4, *, sign_symmetric: bool = False, table: str = "exact",
                 acc_width=None):
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
        if table not in ("exact", "int8"):
            raise ValueError(f"table must be 'exact' or 'int8', not {table!r}")
        self.table = table
        if table == "exact":
            self.out_fmt = output_format(a_fmt, w_fmt, self.n, acc_width)
            self.denominator = 1
        else:
            if acc_width is not None:
                raise ValueError(f"acc_width applies to table='exact' only, not {acc_width!r} with 'int8'")
            self.out_fmt = IntFormat(self._int8_width(), overflow="wrap")
            #: the output is y / denominator
            self.denominator = 254 if sign_symmetric else 127
        self.acc_width = acc_width
        zeros = np.zeros((1, self.n))
        #: cycles per transaction, as numfmt.units.lut_matmul counts them
        self.cycles = int(lut_matmul(zeros, zeros.T, w_fmt, g=self.g, sign_symmetric=sign_symmetric,
                                     table=table, a_format=a_fmt).cycles)
        self.latency = self.cycles
        fields = {f"w{k}": Field.of(w_fmt) for k in range(self.n)}
        fields.update({f"a{k}": Field.of(a_fmt) for k in range(self.n)})
        super().__init__(fields, {"y": Field.of(self.out_fmt)})

    def _amax(self) -> int:
        return max(-self.a_fmt.min, self.a_fmt.max)

    def _int8_width(self) -> int:
        """Bits of the int8-table numerator: ``|R| ≤ G·t_max·127·(2**b − 1)`` plus, symmetric,
        ``127·|S·Σw| ≤ 127·n·a_max·(2**b − 1)``."""
        span = (1 << self.w_fmt.bits) - 1
        bound = self.groups * self.g * self._amax() * 127 * span
        if self.sign_symmetric:
            bound += 127 * self.n * self._amax() * span
        width = bound.bit_length() + 1
        if width > 32:
            raise ValueError(f"the int8-table result of {self.n} products of {self.w_fmt} × {self.a_fmt} "
                             f"needs {width} bits, more than an IntFormat holds (32)")
        return width

    def parameters(self) -> dict:
        p = {"w_fmt": str(self.w_fmt), "a_fmt": str(self.a_fmt), "n": self.n, "g": self.g,
             "sym": int(self.sign_symmetric), "width": self.out_fmt.bits}
        if self.table != "exact":
            p["table"] = self.table
        return p

    def model(self, inputs: dict) -> dict:
        W = int_rows(inputs, self.in_fields, self.w_fmt, "w", self.n)
        A = int_rows(inputs, self.in_fields, self.a_fmt, "a", self.n)

        def matmul(a, w):
            r = lut_matmul(a, w, self.w_fmt, g=self.g, sign_symmetric=self.sign_symmetric, table=self.table,
                           a_format=self.a_fmt)
            if self.table == "exact":
                return r
            # N from v = fl(N / d): v·d = N·(1 + ε), |ε| ≤ 2**-52, and |N| < 2**31 (the out width
            # ≤ 32 that _int8_width enforces), so v·d is within 2**-21 of the integer N: rint is exact
            return SimpleNamespace(values=np.rint(r.values * self.denominator))
        values = diagonal_products(A, W, matmul)
        return {"y": self.out_fmt.encode(values.astype(np.float64)).astype(np.uint64)}

    def _quantize(self, m, entries, TW, j):
        """int8 table of one group: ``(q entries, t)`` with ``t = max |entry|`` and
        ``q = round(127·T / t)``, ties to even (``q = 0`` when ``t = 0``), on magnitudes
        (the rounding is symmetric) with a restoring divider per entry."""
        mags = []
        for k, e in enumerate(entries):
            mag = Signal(TW, name=f"abs_t{j}_{k}")
            m.d.comb += mag.eq(Mux(e[TW - 1], (~e + 1)[:TW], e))
            mags.append(mag)
        t = mags[0]
        for mag in mags[1:]:
            t = Mux(mag > t, mag, t)
        scale = Signal(TW, name=f"scale{j}")
        m.d.comb += scale.eq(t)
        qs = []
        for k, (e, mag) in enumerate(zip(entries, mags)):
            num = Signal(TW + 7, name=f"num{j}_{k}")
            m.d.comb += num.eq(Cat(Const(0, 7), mag) - mag)               # 127·|T|
            quo, rem = _divide(m, num, scale, f"div{j}_{k}")
            twice = Cat(Const(0, 1), rem)                                 # 2·rem, TW + 1 bits
            den = Cat(scale, Const(0, 1))
            up = (twice > den) | (equals(twice ^ den, 0) & quo[0])
            qm = Signal(8, name=f"qmag{j}_{k}")
            m.d.comb += qm.eq(Mux(scale.any(), (quo[:8] + up)[:8], 0))
            q = Signal(8, name=f"q{j}_{k}")
            m.d.comb += q.eq(Mux(e[TW - 1], (~qm + 1)[:8], qm))
            qs.append(q)
        return qs, scale

    def elaborate(self, platform):
        m = Module()
        n, g, G, E = self.n, self.g, self.groups, self.entries
        fw, fa = self.w_fmt, self.a_fmt
        b = fw.bits
        sym = self.sign_symmetric
        int8 = self.table == "int8"
        W = self.out_fmt.bits + int(sym and not int8)  # the exact symmetric accumulator holds 2·out
        # table entries: sums of up to g activations (times 2 when symmetric), in two's complement
        TW = min(W, fa.bits + 1 + g.bit_length() + int(sym))
        TW = max(TW, fa.bits + 1)
        EW = 8 if int8 else TW                        # width of a stored entry

        busy, done = Signal(), Signal()
        acc = Signal(W)
        plane = Signal(range(max(b, 2)))
        group = Signal(range(max(G, 2)))
        accept = Signal()
        m.d.comb += [
            self.i.ready.eq(~busy & (~done | self.o.ready)),
            accept.eq(self.i.valid & self.i.ready),
            self.o.valid.eq(done),
            self.o.payload.y.eq(acc[int(sym and not int8):]),
        ]
        p = self.i.payload
        # activations and weights of the payload, padded to G·g
        act = [extend(getattr(p, f"a{k}"), TW, fa.signed) if k < n else Const(0, TW) for k in range(G * g)]
        wts = [getattr(p, f"w{k}") if k < n else Const(0, b) for k in range(G * g)]

        # tables built from the payload (the recurrences of docs/units.md)
        exact_tab, new_tab, new_scale = [], [], []
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
            exact_tab.append(sigs)
            if int8:
                qs, scale = self._quantize(m, sigs, TW, j)
                new_tab.append(qs)
                new_scale.append(scale)
            else:
                new_tab.append(sigs)

        tab = [[Signal(EW, name=f"t{j}_{q}") for q in range(E)] for j in range(G)]
        wreg = [[Signal(b, name=f"w{j}_{t}") for t in range(g)] for j in range(G)]
        src_tab = [[Mux(busy, tab[j][q], new_tab[j][q]) for q in range(E)] for j in range(G)]
        src_w = [[Mux(busy, wreg[j][t], wts[j * g + t]) for t in range(g)] for j in range(G)]
        if int8:
            sreg = [Signal(TW, name=f"s{j}") for j in range(G)]
            src_s = [Mux(busy, sreg[j], new_scale[j]) for j in range(G)]

        # lookup in the front table with the pattern of the front group's current plane
        pattern = Cat(*[src_w[0][t][0] for t in range(g)])
        entry = Signal(EW)
        if sym:
            top = pattern[g - 1]
            index = Mux(top, ~pattern, pattern)[:g - 1] if g > 1 else Const(0, 1)
            m.d.comb += entry.eq(Array(src_tab[0])[index])
            looked = Mux(top, (~entry + 1)[:EW], entry)
        else:
            m.d.comb += entry.eq(Array(src_tab[0])[pattern])
            looked = entry
        negate = equals(plane, b - 1) if fw.signed else Const(0, 1)
        last_plane = equals(plane, b - 1)
        last = last_plane & equals(group, G - 1)

        if sym:   # start at S·Σ_i w_i with S = −Σ_j T±_j[0] (times 127 for int8 tables)
            ext0 = [extend(exact_tab[j][0], W, True) for j in range(G)]
            neg_s = ext0[0]
            for x in ext0[1:]:
                neg_s = (neg_s + x)[:W]                  # = −S
            if fw.signed:                                # Σ w_i = −1
                init = neg_s
            else:                                        # Σ w_i = 2**b − 1
                init = (neg_s - Cat(Const(0, b), neg_s[:W - b]))[:W] if b < W else neg_s
            if int8:
                init = (Cat(Const(0, 7), init[:W - 7]) - init)[:W]
            base = Mux(busy, acc, init)
        else:
            base = Mux(busy, acc, 0)

        if int8:      # P = Σ over the front group's planes of ±q << plane; acc += t·P on its last plane
            PW = (127 * ((1 << b) - 1)).bit_length() + 1
            part = Signal(PW)
            term = shift_left(m, extend(looked, PW, True), plane, b - 1, PW, "term")
            base_p = Mux(busy & ~equals(plane, 0), part, 0)
            part_next = Signal(PW)
            m.d.comb += part_next.eq(Mux(negate, (base_p - term)[:PW], (base_p + term)[:PW]))
            scaled = Signal(W)
            m.d.comb += scaled.eq(extend(src_s[0].as_unsigned() * part_next.as_signed(), W, True))
            acc_next = Mux(last_plane, (base + scaled)[:W], base)
        else:
            term = shift_left(m, extend(looked, W, True), plane, b - 1, W, "term")
            acc_next = Mux(negate, (base - term)[:W], (base + term)[:W])

        with m.If(busy | accept):
            m.d.sync += acc.eq(acc_next)
            if int8:
                m.d.sync += part.eq(part_next)
            with m.If(last_plane):                       # next group to the front
                m.d.sync += [plane.eq(0), group.eq(Mux(last, 0, (group + 1)[:len(group)]))]
                for j in range(G):
                    nxt = (j + 1) % G
                    m.d.sync += [tab[j][q].eq(src_tab[nxt][q]) for q in range(E)]
                    m.d.sync += [wreg[j][t].eq(src_w[nxt][t]) for t in range(g)]
                    if int8:
                        m.d.sync += sreg[j].eq(src_s[nxt])
            with m.Else():
                m.d.sync += plane.eq((plane + 1)[:len(plane)])
                for j in range(G):
                    m.d.sync += [tab[j][q].eq(src_tab[j][q]) for q in range(E)]
                    shift = (lambda v: v >> 1) if j == 0 else (lambda v: v)
                    m.d.sync += [wreg[j][t].eq(shift(src_w[j][t])) for t in range(g)]
                    if int8:
                        m.d.sync += sreg[j].eq(src_s[j])
            m.d.sync += [busy.eq(~last), done.eq(last)]
        with m.Elif(self.o.ready):
            m.d.sync += done.eq(0)
        return m
