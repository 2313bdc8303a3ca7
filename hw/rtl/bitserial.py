"""Bit-serial integer dot-product PE (BISMO, BitMoD): one bit plane (or plane pair) per cycle.

:class:`BitSerialDot` takes two ``n``-element integer vectors in one transaction and
returns their exact dot product after as many cycles as :func:`numfmt.units.bitserial_dot`
counts for the same formats (``b_a`` planes for ``serial="a"``, ``b_a·b_b`` plane pairs
for ``serial="both"``). The bit-plane decomposition, the negated MSB plane of a signed
format and the cycle formulas are those of ``docs/units.md``; the model *is*
:func:`numfmt.units.bitserial_matmul`.

Datapath (one step per cycle, LSB plane first):

* ``serial="a"`` (Stripes/BitMoD): ``acc += ±(Σ_k a_k[i]·b_k) << i``: a plane dot (gated
  adds of the parallel ``b`` integers) shifted by the plane index ``i``, subtracted for
  the MSB plane of a signed ``a``. ``a`` sits in a shift register that moves one bit a
  cycle.
* ``serial="both"`` (BISMO): ``acc += ±popcount(a[i] AND b[j]) << (i + j)`` for the pair
  ``(i, j)``, ``j`` fastest; the sign is negative when exactly one of the two planes is
  a signed MSB plane. ``b`` rotates one bit a cycle, ``a`` shifts once per ``b_b`` cycles.

The first step is taken in the cycle that accepts the input (from the payload), so the
output is valid exactly ``cycles`` cycles after the accepting clock edge. ``i.ready`` is
low while a transaction is in flight; a finished result waits in the output register
(``o.valid``) and the next input is accepted in the cycle that hands it over.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

from numfmt.arith.accumulators import kulisch_width
from numfmt.formats import IntFormat
from numfmt.units import bitserial_dot, bitserial_matmul

from ._unit import Field, Unit

__all__ = ["BitSerialDot"]

_SERIAL = {"a": "serial_a", "both": "serial_both"}
_CHUNK = 128       # transactions per model call (the diagonal of a CHUNK × CHUNK product)


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer ≥ 1, not {n!r}")
    return int(n)


def _check_int_format(name, fmt):
    if not isinstance(fmt, IntFormat):
        raise TypeError(f"{name} must be a numfmt IntFormat, not {fmt!r}")
    return fmt


def output_format(a_fmt, b_fmt, n, width=None) -> IntFormat:
    """The output format: exact (Kulisch) width, or ``width`` bits wrapping modulo ``2**width``."""
    signed = a_fmt.signed or b_fmt.signed
    if width is None:
        width = kulisch_width(a_fmt, b_fmt, n)
        if width > 32:
            raise ValueError(f"the exact dot product of {n} products of {a_fmt} × {b_fmt} needs {width} "
                             "bits, more than an IntFormat holds (32); pass acc_width ≤ 32 (wrapping)")
    elif isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 1 <= width <= 32:
        raise ValueError(f"acc_width must be an integer in 1..32 or None, not {width!r}")
    return IntFormat(int(width), signed=signed, overflow="wrap")


def int_rows(inputs, fields, fmt, prefix, n):
    """``(T, n)`` int64 values of the fields ``<prefix>0 … <prefix>{n-1}``."""
    return np.stack([fmt.decode_int(np.asarray(inputs[f"{prefix}{k}"], dtype=np.uint64))
                     for k in range(n)], axis=1)


def diagonal_products(rows_a, rows_b, matmul):
    """``out[t] = matmul(rows_a[t:t+1], rows_b[t:t+1].T)``, batched as diagonals of chunk products."""
    T = rows_a.shape[0]
    out = np.empty(T, dtype=np.int64)
    for c in range(0, T, _CHUNK):
        r = matmul(rows_a[c:c + _CHUNK], rows_b[c:c + _CHUNK].T)
        out[c:c + _CHUNK] = np.diagonal(np.asarray(r.values))
    return out


def extend(value, width: int, signed: bool) -> Value:
    """``value`` sign- (or zero-) extended, or truncated, to exactly ``width`` bits (unsigned view)."""
    value = Value.cast(value)
    if len(value) >= width:
        return value[:width]
    top = value[-1] if signed else Const(0, 1)
    return Cat(value, top.replicate(width - len(value)))


def equals(value, k: int) -> Value:
    """``value == k`` with the constant at ``value``'s width (lint-clean Verilog)."""
    value = Value.cast(value)
    w = len(value)
    if k == 0:
        return ~value.any()
    if k >> (w - 1):                 # top bit set: the constant has the full width
        return value == Const(k, w)
    return (value ^ Const(~k & ((1 << w) - 1), w)).all()   # (Yosys narrows 0-topped constants)


def shift_left(m: Module, x, amount, max_amount: int, width: int, name: str) -> Signal:
    """``(x << amount)`` truncated to ``width`` bits, as a mux over ``0 … max_amount``
    (``x`` already ``width`` bits; larger amounts give 0)."""
    x = Value.cast(x)
    out = Signal(width, name=name)
    with m.Switch(amount):
        for s in range(min(max_amount, width - 1) + 1):
            with m.Case(s):
                m.d.comb += out.eq(Cat(Const(0, s), x[:width - s]) if s else x[:width])
        with m.Default():
            m.d.comb += out.eq(0)
    return out


class BitSerialDot(Unit):
    """Bit-serial dot product of two ``n``-element integer vectors.

    Parameters
    ----------
    a_fmt, b_fmt : IntFormat
        Element formats of the two vectors (signed or unsigned, any width).
    n : int
        Vector length.
    serial : {"a", "both"}
        ``"a"``: ``a`` bit-serial, ``b`` bit-parallel (``b_a`` cycles); ``"both"``: both
        bit-serial, AND + popcount per plane pair (``b_a·b_b`` cycles).
    acc_width : int, optional
        Accumulator (and output) width. Default: the exact width,
        :func:`numfmt.arith.accumulators.kulisch_width` ``(a_fmt, b_fmt, n)``; a narrower
        one wraps (two's complement modulo ``2**acc_width``), exactly as the output
        format ``IntFormat(acc_width, overflow="wrap")`` encodes the exact result.

    Ports: input fields ``a0 … a{n-1}`` (codes of ``a_fmt``), ``b0 … b{n-1}`` (codes of
    ``b_fmt``); output field ``y`` (code of :attr:`out_fmt`). :attr:`latency` =
    :attr:`cycles` = ``bitserial_dot(...).cycles``; a new input is accepted every
    ``cycles`` cycles at most.

    Examples
    --------
    >>> import numfmt as nf
    >>> u = BitSerialDot(nf.IntFormat(4), nf.IntFormat(3), 2, serial="both")
    >>> u.cycles, str(u.out_fmt), list(u.in_fields)
    (12, 'int8(overflow=wrap)', ['a0', 'a1', 'b0', 'b1'])
    >>> u.model({"a0": [0xF], "a1": [7], "b0": [3], "b1": [0b110]})["y"].tolist()   # -1*3 + 7*-2
    [239]
    """

    def __init__(self, a_fmt: IntFormat, b_fmt: IntFormat, n: int, serial: str = "a", acc_width=None):
        self.a_fmt = _check_int_format("a_fmt", a_fmt)
        self.b_fmt = _check_int_format("b_fmt", b_fmt)
        self.n = _check_n(n)
        if not isinstance(serial, str) or serial not in _SERIAL:
            raise ValueError(f"serial must be 'a' or 'both', not {serial!r}")
        self.serial = serial
        self.out_fmt = output_format(a_fmt, b_fmt, self.n, acc_width)
        self.acc_width = acc_width
        #: cycles per transaction, as numfmt.units.bitserial_dot counts them
        self.cycles = int(bitserial_dot(np.zeros(self.n), np.zeros(self.n), a_fmt, b_fmt,
                                        mode=_SERIAL[serial]).cycles)
        self.latency = self.cycles
        fields = {f"a{k}": Field.of(a_fmt) for k in range(self.n)}
        fields.update({f"b{k}": Field.of(b_fmt) for k in range(self.n)})
        super().__init__(fields, {"y": Field.of(self.out_fmt)})

    def parameters(self) -> dict:
        return {"a_fmt": str(self.a_fmt), "b_fmt": str(self.b_fmt), "n": self.n,
                "serial": self.serial, "width": self.out_fmt.bits}

    def model(self, inputs: dict) -> dict:
        A = int_rows(inputs, self.in_fields, self.a_fmt, "a", self.n)
        B = int_rows(inputs, self.in_fields, self.b_fmt, "b", self.n)
        values = diagonal_products(A, B, lambda a, b: bitserial_matmul(
            a, b, self.a_fmt, self.b_fmt, mode=_SERIAL[self.serial]))
        return {"y": self.out_fmt.encode(values.astype(np.float64)).astype(np.uint64)}

    def elaborate(self, platform):
        m = Module()
        n, fa, fb = self.n, self.a_fmt, self.b_fmt
        ba, bb = fa.bits, fb.bits
        W = self.out_fmt.bits
        both = self.serial == "both"

        busy = Signal()                   # steps 1 … cycles-1 in progress
        done = Signal()                   # result in acc, o.valid
        acc = Signal(W)
        i_pl = Signal(range(ba + bb))     # current a plane (wide enough for i + j)
        j_pl = Signal(range(ba + bb))     # current b plane (serial="both")
        a_reg = [Signal(ba, name=f"a_reg{k}") for k in range(n)]
        b_reg = [Signal(bb, name=f"b_reg{k}") for k in range(n)]

        accept = Signal()
        m.d.comb += [
            self.i.ready.eq(~busy & (~done | self.o.ready)),
            accept.eq(self.i.valid & self.i.ready),
            self.o.valid.eq(done),
            self.o.payload.y.eq(acc),
        ]
        # operands of this step: the payload in the accepting cycle, the registers after
        src_a = [Mux(busy, a_reg[k], getattr(self.i.payload, f"a{k}")) for k in range(n)]
        src_b = [Mux(busy, b_reg[k], getattr(self.i.payload, f"b{k}")) for k in range(n)]
        a_msb = equals(i_pl, ba - 1) if fa.signed else Const(0, 1)
        b_msb = equals(j_pl, bb - 1) if fb.signed else Const(0, 1)

        if both:
            pw = max(1, n.bit_length())
            # leaves as muxes of pw-bit constants and modular adds: lint-clean widths
            leaves = [Mux(src_a[k][0] & src_b[k][0], Const(1, pw), Const(0, pw)) for k in range(n)]
            pc = leaves[0]
            for leaf in leaves[1:]:
                pc = (pc + leaf)[:pw]
            term = shift_left(m, extend(pc, W, False), (i_pl + j_pl)[:len(i_pl)], ba + bb - 2, W, "term")
            negate = a_msb ^ b_msb
            last_b = equals(j_pl, bb - 1)
            last = equals(i_pl, ba - 1) & last_b
        else:
            pd = Const(0, W)
            for k in range(n):
                gated = Mux(src_a[k][0], extend(src_b[k], W, fb.signed), 0)
                pd = gated if k == 0 else (pd + gated)[:W]
            term = shift_left(m, pd, i_pl, ba - 1, W, "term")
            negate = a_msb
            last = equals(i_pl, ba - 1)

        base = Mux(busy, acc, 0)
        step = Signal()
        m.d.comb += step.eq(busy | accept)
        with m.If(step):
            m.d.sync += acc.eq(Mux(negate, (base - term)[:W], (base + term)[:W]))
            if both:
                m.d.sync += j_pl.eq(Mux(last_b, 0, (j_pl + 1)[:len(j_pl)]))
                for k in range(n):
                    m.d.sync += [b_reg[k].eq(src_b[k].rotate_right(1)),
                                 a_reg[k].eq(Mux(last_b, src_a[k] >> 1, src_a[k]))]
                with m.If(last_b):
                    m.d.sync += i_pl.eq(Mux(last, 0, (i_pl + 1)[:len(i_pl)]))
            else:
                m.d.sync += i_pl.eq(Mux(last, 0, (i_pl + 1)[:len(i_pl)]))
                for k in range(n):
                    m.d.sync += [a_reg[k].eq(src_a[k] >> 1), b_reg[k].eq(src_b[k])]
            m.d.sync += [busy.eq(~last), done.eq(last)]
        with m.Elif(self.o.ready):
            m.d.sync += done.eq(0)
        return m
