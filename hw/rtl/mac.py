"""Multiply-accumulate units: integer, ap_fixed and minifloat (Kulisch) MACs.

Every MAC takes one product per input transaction and answers with the accumulator
*after* that product. Input fields: the operands ``a`` and ``b`` and a 1-bit control
field ``first`` ("start a new sum with this product"); output field ``acc``. The
register is reset to zero, so inputs before the first ``first = 1`` continue the sum
of zero.

* :class:`IntMac` — :class:`~numfmt.IntFormat` operands, a
  :class:`~numfmt.arith.FixedAccumulator` register (``width`` bits, wrap or saturate
  after every addition, exactly as numfmt defines it).
* :class:`FixedMac` — :class:`~numfmt.FixedFormat` (``ap_fixed``) operands, an exact
  register (:func:`~numfmt.arith.exact_fixed_accumulator`), and the ``ap_fixed`` cast
  of the exact sum to an output :class:`~numfmt.FixedFormat` (its rounding and
  overflow modes).
* :class:`FloatKulischMac` — :class:`~numfmt.FloatFormat` operands, products added
  exactly into a Kulisch register of :func:`~numfmt.arith.kulisch_width` bits; a
  sticky ``invalid`` flag for NaN/inf operands.
* :class:`FloatAccMac` — :class:`~numfmt.FloatFormat` operands, a floating register: a
  sequential :class:`~numfmt.arith.FloatAccumulator` (every addition exact, rounded once).

Timing: ``stages`` pipeline registers on the product path, then the accumulator
register (one cycle), then (:class:`FixedMac` only) ``out_stages`` registers after
the output cast: latency ``stages + 1 (+ out_stages)``. The first of the ``stages``
registers holds the product before the accumulator; further ones go to cut points
inside the product's datapath (:class:`IntMac`, :class:`FloatKulischMac`; each class
states its rule), then register the product again. One transaction per cycle;
back-pressure on ``o`` stalls the whole pipe. See ``docs/hw_mac.md``.

The models call :func:`numfmt.arith.matmul` with the unit's accumulator (see
:func:`running_sums`), and the formats' ``encode``/``decode``.

>>> import numfmt as nf
>>> from numfmt.arith import FixedAccumulator
>>> mac = IntMac(nf.IntFormat(8), nf.IntFormat(8), FixedAccumulator(12, overflow="sat"))
>>> mac.latency, mac.out_fields["acc"].width
(2, 12)
>>> import numpy as np
>>> out = mac.model({"a": np.array([100, 100, 100, 5], dtype=np.uint64),
...                  "b": np.array([30, 30, 226, 5], dtype=np.uint64),     # 226 is -30
...                  "first": np.array([1, 0, 0, 1], dtype=np.uint64)})
>>> nf.IntFormat(12).decode(out["acc"]).tolist()      # 3000 saturates to 2047
[2047.0, 2047.0, -953.0, 25.0]
"""

from __future__ import annotations

import dataclasses

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data

from numfmt.arith import (FixedAccumulator, FloatAccumulator, NonFinite, Order, exact_fixed_accumulator,
                          kulisch_width, matmul, multiply)
from numfmt.formats import FixedFormat, FloatFormat, IntFormat
from numfmt.modes import Rounding, Specials

from ._fixed import cast_fixed, wrap_or_saturate
from ._float import bits_for, clz, round_pack, unpack
from .fpmul import product_bits
from ._unit import Cuts, Field, Unit

__all__ = ["IntMac", "FixedMac", "FloatKulischMac", "FloatAccMac", "running_sums", "float_running_codes",
           "MAX_REGISTER_BITS"]

MAX_REGISTER_BITS = 53
"""Widest accumulator register the models support: numfmt.arith returns float64 sums."""

_BLOCK = 32   # products per matmul row in running_sums


def _check_stages(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer ≥ 0, not {value!r}")
    return int(value)


def _check_format(name, value, cls):
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a numfmt.{cls.__name__}, not {value!r}")
    return value


def _check_register(acc: FixedAccumulator):
    if acc.width > MAX_REGISTER_BITS:
        raise ValueError(f"the accumulator register must be at most {MAX_REGISTER_BITS} bits wide "
                         f"(the model's sums are float64), not {acc.width} ({acc})")


def _exact_register(fa, fb, n_max: int) -> FixedAccumulator:
    """:func:`~numfmt.arith.exact_fixed_accumulator` ``(fa, fb, n_max)``, at most 53 bits."""
    width = kulisch_width(fa, fb, n_max)
    if width > MAX_REGISTER_BITS:
        raise ValueError(f"the exact register must be at most {MAX_REGISTER_BITS} bits wide (the "
                         f"model's sums are float64), not {width} (kulisch_width({fa}, {fb}, {n_max}))")
    reg = exact_fixed_accumulator(fa, fb, n_max)
    _check_register(reg)
    return reg


def _register_format(width: int, frac_bits: int = 0):
    """The format whose codes are the register's two's-complement bits (value = sum)."""
    if frac_bits == 0 and width <= 32:
        return IntFormat(width, overflow="wrap")
    return FixedFormat(width, width - frac_bits)


# -- the model ----------------------------------------------------------------------------
def running_sums(products, first, acc: FixedAccumulator) -> np.ndarray:
    """The register of ``acc`` after each product of a MAC's input sequence (float64 values).

    ``first[k]`` starts a new sum with ``products[k]`` (the register before the
    first ``first`` is 0). Each output is ``numfmt.arith`` 's sum of the segment's
    products so far: one :func:`numfmt.arith.matmul` per block of ``32`` products
    of every segment, each output row holding the products up to it (later ones
    zeroed, which leaves a wrapping or saturating register unchanged) and
    starting from the register at the end of the previous block (``init=``).

    Parameters
    ----------
    products : array_like of float64
        Exact products (every one a multiple of the register's quantum).
    first : array_like of bool
    acc : FixedAccumulator

    >>> from numfmt.arith import FixedAccumulator
    >>> running_sums([100, 100, -100, 7], [1, 0, 0, 1], FixedAccumulator(8, overflow="sat")).tolist()
    [100.0, 127.0, 27.0, 7.0]
    """
    p = np.ascontiguousarray(products, dtype=np.float64).reshape(-1)
    f = np.asarray(first).reshape(-1).astype(bool)
    if f.shape != p.shape:
        raise ValueError(f"first must have the shape of products, {p.shape}, not {f.shape}")
    n = p.size
    out = np.zeros(n)
    if n == 0:
        return out
    idx = np.arange(n)
    start = np.maximum.accumulate(np.where(f | (idx == 0), idx, 0))
    pos = idx - start
    block = pos // _BLOCK
    k = np.arange(_BLOCK)
    ones = np.ones((_BLOCK, 1))
    for r in range(int(block.max()) + 1):
        rows = np.flatnonzero(block == r)
        bstart = start[rows] + r * _BLOCK
        init = out[bstart - 1] if r else np.zeros(rows.size)
        cols = bstart[:, None] + k[None, :]
        P = np.where(cols <= rows[:, None], p[np.minimum(cols, n - 1)], 0.0)
        out[rows] = matmul(P, ones, acc, init=init[:, None])[:, 0]
    return out


# -- shared RTL skeleton ------------------------------------------------------------------
class _Mac(Unit):
    """Operands → product (``stages`` registers) → accumulator → output (``out_stages``).

    The first of the ``stages`` registers on the product path sits right before the
    accumulator; each further one goes to a cut point inside the product's datapath
    (:meth:`_cuts`, in that order, placed by :class:`hw.rtl._unit.Cuts`); stages
    beyond the cut points register the product again.
    """

    stages: int
    out_stages: int = 0

    def _cuts(self) -> tuple:
        """The product datapath's cut points, in the order the stages after the first fill them."""
        return ()

    def _product(self, m, payload, cut):
        """``(product, flags)``: a signed Value and a dict of 1-bit Values (sticky flags).
        ``cut(name, values)`` passes ``values`` through the cut point ``name`` of :meth:`_cuts`."""
        raise NotImplementedError

    def _next(self, m, base, prod):
        """The register after adding ``prod`` to ``base`` (a Value of the register's width)."""
        raise NotImplementedError

    def _outputs(self, m, reg, flags):
        """Output field name → Value, from the register and the sticky flags."""
        raise NotImplementedError

    def _register_shape(self):
        """Shape of the accumulator register (reset to 0)."""
        return signed(self.register.width)

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        enable = Signal()
        m.d.comb += [enable.eq(~o.valid | o.ready), i.ready.eq(enable)]

        names = self._cuts()
        cuts = Cuts(m, i, o, names, active=min(max(self.stages - 1, 0), len(names)),
                    carry={"first": i.payload.first}, enable=enable)
        prod, flags = self._product(m, i.payload, cuts.cut)
        first, valid = cuts.carry["first"], cuts.valid
        for s in range(self.stages - cuts.n_active):
            p_r = Signal(prod.shape(), name=f"stage{s}_product")
            f_r = Signal(name=f"stage{s}_first")
            v_r = Signal(name=f"stage{s}_valid")
            fl_r = {k: Signal(name=f"stage{s}_{k}") for k in flags}
            with m.If(enable):
                m.d.sync += [p_r.eq(prod), f_r.eq(first), v_r.eq(valid)]
                m.d.sync += [fl_r[k].eq(flags[k]) for k in flags]
            prod, first, valid, flags = p_r, f_r, v_r, fl_r

        reg = Signal(self._register_shape(), name="accumulator")
        reg_valid = Signal(name="accumulator_valid")
        sticky = {k: Signal(name=f"accumulator_{k}") for k in flags}
        base = Mux(first, 0, reg)
        nxt = self._next(m, base, prod)
        with m.If(enable):
            m.d.sync += reg_valid.eq(valid)
            with m.If(valid):
                m.d.sync += reg.eq(nxt)
                m.d.sync += [sticky[k].eq((~first & sticky[k]) | flags[k]) for k in flags]

        outs = self._outputs(m, reg, sticky)
        payload = Signal(self.out_layout, name="result")
        m.d.comb += [getattr(payload, k).eq(v) for k, v in outs.items()]
        payload, valid = payload.as_value(), reg_valid
        for s in range(self.out_stages):
            p_r = Signal(len(payload), name=f"out_stage{s}_payload")
            v_r = Signal(name=f"out_stage{s}_valid")
            with m.If(enable):
                m.d.sync += [p_r.eq(payload), v_r.eq(valid)]
            payload, valid = p_r, v_r
        m.d.comb += [o.payload.eq(payload), o.valid.eq(valid)]
        return m


def _int_operand(code, fmt_signed: bool):
    return code.as_signed() if fmt_signed else code.as_unsigned()


# -- IntMac ---------------------------------------------------------------------------------
def int_product(m, payload, a_fmt, b_fmt):
    """The exact product of the integer (or fixed-point) codes ``payload.a * payload.b``."""
    a = _int_operand(payload.a, a_fmt.signed)
    b = _int_operand(payload.b, b_fmt.signed)
    prod = Signal(signed(len(payload.a) + len(payload.b) + 1), name="product")
    m.d.comb += prod.eq(a * b)
    return prod


def product_chunks(a_bits: int, b_bits: int, stages: int) -> tuple[str, list[int]]:
    """``(operand, widths)``: which operand (``"a"`` or ``"b"``, the wider; ``b`` on a tie)
    :class:`IntMac` splits for its pipelined product, and the bits of each chunk from the
    lowest (one chunk below 2 stages; ``2**(stages − 1)`` of at least 2 bits, the wider
    ones on top). The cost model reads it too.

    >>> product_chunks(3, 7, 2), product_chunks(8, 8, 3), product_chunks(8, 8, 1)
    (('b', [3, 4]), ('b', [2, 2, 2, 2]), ('b', [8]))
    """
    name = "a" if a_bits > b_bits else "b"
    width = max(a_bits, b_bits)
    levels = max(width // 2, 1).bit_length() - 1          # chunks of at least 2 bits
    n = 1 << min(max(stages - 1, 0), levels)
    return name, [width // n + (j >= n - width % n) for j in range(n)]


class IntMac(_Mac):
    """Integer MAC: ``acc = ovf(acc + a*b)`` in a ``FixedAccumulator`` register.

    Parameters
    ----------
    a_fmt, b_fmt : IntFormat
        Operand formats (signed or unsigned).
    acc : FixedAccumulator
        The register: ``width`` bits (≤ 53), ``frac_bits`` 0, ``overflow`` ``"wrap"``
        (modulo ``2**width``) or ``"sat"`` (clamp), applied after every addition.
    stages : int
        Registers on the product path, before the accumulator (≥ 0); latency
        ``stages + 1``. ``1`` registers the product (as the accumulator's input); from
        ``2`` on, the wider operand is cut into ``2**(stages-1)`` chunks (of ≥ 2 bits;
        fewer when it is too narrow), each multiplied by the other operand, and the
        partial products are summed pairwise in a tree: one register after the partial
        products and one after each level of sums but the last, whose sum is the
        registered product; stages beyond the tree register the product again.

    Fields: in ``a``, ``b``, ``first`` (1 bit); out ``acc`` (``width`` bits, the
    register's two's-complement code; format ``IntFormat(width)``, or
    ``FixedFormat(width, width)`` above 32 bits).

    >>> import numfmt as nf
    >>> from numfmt.arith import FixedAccumulator
    >>> IntMac(nf.IntFormat(4, signed=False), nf.IntFormat(4), FixedAccumulator(10)).parameters()
    {'a': 'uint4', 'b': 'int4', 'width': 10, 'overflow': 'wrap', 'stages': 1}
    """

    def __init__(self, a_fmt: IntFormat, b_fmt: IntFormat, acc: FixedAccumulator, *, stages: int = 1):
        self.a_fmt = _check_format("a_fmt", a_fmt, IntFormat)
        self.b_fmt = _check_format("b_fmt", b_fmt, IntFormat)
        self.acc = self.register = _check_format("acc", acc, FixedAccumulator)
        if acc.frac_bits != 0:
            raise ValueError(f"acc.frac_bits must be 0 for integer operands, not {acc.frac_bits}")
        _check_register(acc)
        self.stages = _check_stages("stages", stages)
        self.latency = self.stages + 1
        self.out_fmt = _register_format(acc.width)
        super().__init__({"a": Field.of(a_fmt), "b": Field.of(b_fmt), "first": Field(1)},
                         {"acc": Field.of(self.out_fmt)})

    def parameters(self) -> dict:
        return {"a": str(self.a_fmt), "b": str(self.b_fmt), "width": self.acc.width,
                "overflow": str(self.acc.overflow), "stages": self.stages}

    def _split(self) -> tuple[str, int]:
        """``(operand, chunks)``: the operand split into ``chunks`` slices at ``stages ≥ 2``."""
        name, widths = product_chunks(self.a_fmt.bits, self.b_fmt.bits, self.stages)
        return name, len(widths)

    def _cuts(self):
        n = self._split()[1]
        return tuple(f"sum{2 * n >> (j + 1)}" if j else "partial" for j in range(n.bit_length() - 1))

    def _product(self, m, payload, cut):
        if self.stages < 2:
            return int_product(m, payload, self.a_fmt, self.b_fmt), {}
        # a tree of partial products: the split operand in chunks of ≥ 2 bits, each chunk's
        # product with the other operand, then pairwise sums; a cut after every level.
        # Every node is x times the bits [lo, hi) of y, held in exactly len(x) + hi - lo bits.
        name, widths = product_chunks(self.a_fmt.bits, self.b_fmt.bits, self.stages)
        y_fmt, x_fmt = (self.a_fmt, self.b_fmt) if name == "a" else (self.b_fmt, self.a_fmt)
        x = _int_operand(payload.b if name == "a" else payload.a, x_fmt.signed)
        y = getattr(payload, name)
        w = y_fmt.bits

        def node(value, lo, hi):
            signed = x_fmt.signed or (y_fmt.signed and hi == w)
            v = Value.cast(value)[:x_fmt.bits + hi - lo]
            return (v.as_signed() if signed else v), lo, hi

        nodes, lo = [], 0
        for bits in widths:
            hi = lo + bits
            chunk = y[lo:hi].as_signed() if (hi == w and y_fmt.signed) else y[lo:hi]
            nodes.append(node(x * chunk, lo, hi))
            lo = hi
        for level, cut_name in enumerate(self._cuts()):
            regs = cut(cut_name, {f"p{j}": v for j, (v, _, _) in enumerate(nodes)})
            nodes = [(regs[f"p{j}"], lo, hi) for j, (_, lo, hi) in enumerate(nodes)]
            if len(nodes) > 1:
                nodes = [node((nodes[j + 1][0] << (nodes[j + 1][1] - nodes[j][1])) + nodes[j][0],
                              nodes[j][1], nodes[j + 1][2]) for j in range(0, len(nodes), 2)]
        return nodes[0][0], {}

    def _next(self, m, base, prod):
        return wrap_or_saturate(m, base, prod, self.acc)

    def _outputs(self, m, reg, flags):
        return {"acc": reg.as_unsigned()}

    def model(self, inputs: dict) -> dict:
        prods = self.a_fmt.decode(inputs["a"]) * self.b_fmt.decode(inputs["b"])   # exact: < 2**53
        sums = running_sums(prods, inputs["first"], self.acc)
        return {"acc": self.out_fmt.encode(sums).astype(np.uint64)}


# -- FixedMac -------------------------------------------------------------------------------
class FixedMac(_Mac):
    """``ap_fixed`` MAC: exact products into an exact register, cast to ``out_fmt``.

    Parameters
    ----------
    a_fmt, b_fmt : FixedFormat
        Operand formats (``ap_fixed`` / ``ap_ufixed``; their modes do not matter).
    out_fmt : FixedFormat
        The output: after every input the exact sum is converted as
        ``out_fmt.encode`` converts (its rounding — AP_TRN, AP_TRN_ZERO, AP_RND,
        AP_RND_ZERO, AP_RND_MIN_INF, AP_RND_INF, AP_RND_CONV — and overflow —
        AP_WRAP (with ``sat_bits``), AP_SAT, AP_SAT_ZERO, AP_SAT_SYM, AP_WRAP_SM).
    n_max : int
        Products per sum that the register holds exactly: the register is
        :func:`numfmt.arith.exact_fixed_accumulator` ``(a_fmt, b_fmt, n_max)``
        (≤ 53 bits); longer sums wrap modulo its width.
    stages, out_stages : int
        Registers before the accumulator and after the output cast (≥ 0);
        latency ``stages + 1 + out_stages``.

    Fields: in ``a``, ``b``, ``first``; out ``acc`` (a code of ``out_fmt``).

    >>> import numfmt as nf
    >>> q = nf.parse("ap_fixed<8,3>")
    >>> mac = FixedMac(q, q, nf.parse("ap_fixed<10,5,AP_RND_CONV,AP_SAT>"), n_max=16)
    >>> mac.register.width, mac.latency
    (20, 2)
    """

    def __init__(self, a_fmt: FixedFormat, b_fmt: FixedFormat, out_fmt: FixedFormat, n_max: int, *,
                 stages: int = 1, out_stages: int = 0):
        self.a_fmt = _check_format("a_fmt", a_fmt, FixedFormat)
        self.b_fmt = _check_format("b_fmt", b_fmt, FixedFormat)
        self.out_fmt = _check_format("out_fmt", out_fmt, FixedFormat)
        if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or n_max < 1:
            raise ValueError(f"n_max must be an integer ≥ 1, not {n_max!r}")
        self.n_max = int(n_max)
        self.register = _exact_register(a_fmt, b_fmt, self.n_max)
        self.stages = _check_stages("stages", stages)
        self.out_stages = _check_stages("out_stages", out_stages)
        self.latency = self.stages + 1 + self.out_stages
        super().__init__({"a": Field.of(a_fmt), "b": Field.of(b_fmt), "first": Field(1)},
                         {"acc": Field.of(out_fmt)})

    def parameters(self) -> dict:
        return {"a": str(self.a_fmt), "b": str(self.b_fmt), "out": str(self.out_fmt),
                "n_max": self.n_max, "stages": self.stages, "out_stages": self.out_stages}

    def _product(self, m, payload, cut):
        return int_product(m, payload, self.a_fmt, self.b_fmt), {}

    def _next(self, m, base, prod):
        return wrap_or_saturate(m, base, prod, self.register)

    def _outputs(self, m, reg, flags):
        return {"acc": cast_fixed(m, reg, self.register.frac_bits, self.out_fmt)}

    def model(self, inputs: dict) -> dict:
        prods = self.a_fmt.decode(inputs["a"]) * self.b_fmt.decode(inputs["b"])   # exact
        sums = running_sums(prods, inputs["first"], self.register)
        return {"acc": self.out_fmt.encode(sums).astype(np.uint64)}


# -- FloatKulischMac ------------------------------------------------------------------------
def _shift_max(fmt: FloatFormat) -> int:
    """The largest alignment shift of :meth:`FloatKulischMac._aligned` (all-ones exponent field)."""
    return (1 << fmt.exp) - 1 - fmt.bias - fmt.min_exp


class FloatKulischMac(_Mac):
    """Minifloat MAC with an exact (Kulisch) fixed-point accumulator.

    Each product of the decoded operands is formed exactly (significand product,
    shifted by the sum of the exponents) and added to a two's-complement register
    of :func:`numfmt.arith.kulisch_width` ``(a_fmt, b_fmt, n_max)`` bits counting
    units of ``2**q``, ``q`` the product of the two formats' lowest bit weights
    (:func:`numfmt.arith.product_range`): the register holds the exact sum of up to
    ``n_max`` products (longer sums wrap modulo its width).

    NaN and inf operands: the product adds nothing, and the 1-bit output
    ``invalid`` is set until the next ``first`` (it covers the products of the
    current sum). ``acc`` then holds the sum of the sum's finite products.

    Parameters
    ----------
    a_fmt, b_fmt : FloatFormat
    n_max : int
        Products per sum held exactly (register ≤ 53 bits).
    stages : int
        Registers on the product path, before the accumulator (≥ 0); latency
        ``stages + 1``. ``1`` registers the signed, aligned product; ``2`` adds a
        register after unpacking, the significand multiply and the shift sum; ``3``
        one after the alignment shift (before the negation); stages beyond ``3``
        register the product again.

    Fields: in ``a``, ``b``, ``first``; out ``acc`` — the register's code, a code of
    ``FixedFormat(width, width - F)`` with ``2**-F`` the unit (so its value is the
    exact sum) — and ``invalid`` (1 bit).

    >>> import numfmt as nf
    >>> e2m1 = nf.FLOATS["fp4_e2m1"]                 # values 0, 0.5, ..., 6: products in units of 1/4
    >>> mac = FloatKulischMac(e2m1, e2m1, n_max=64)  # |sum| ≤ 64 * 36 = 2304 = 9216 units
    >>> mac.register.width, str(mac.out_fmt), mac.latency
    (15, 'ap_fixed<15,13>', 2)
    """

    def __init__(self, a_fmt: FloatFormat, b_fmt: FloatFormat, n_max: int, *, stages: int = 1):
        self.a_fmt = _check_format("a_fmt", a_fmt, FloatFormat)
        self.b_fmt = _check_format("b_fmt", b_fmt, FloatFormat)
        if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or n_max < 1:
            raise ValueError(f"n_max must be an integer ≥ 1, not {n_max!r}")
        self.n_max = int(n_max)
        # kulisch_width(a_fmt, b_fmt, n_max) bits, one more for unsigned × unsigned: the
        # register is two's complement
        fixed = self.register = _exact_register(a_fmt, b_fmt, self.n_max)
        self.stages = _check_stages("stages", stages)
        self.latency = self.stages + 1
        self.out_fmt = FixedFormat(fixed.width, fixed.width - fixed.frac_bits)
        super().__init__({"a": Field.of(a_fmt), "b": Field.of(b_fmt), "first": Field(1)},
                         {"acc": Field.of(self.out_fmt), "invalid": Field(1)})

    def parameters(self) -> dict:
        return {"a": str(self.a_fmt), "b": str(self.b_fmt), "n_max": self.n_max,
                "stages": self.stages}

    @staticmethod
    def _aligned(code, fmt):
        """``(sign, magnitude, shift, special)``: the code's value is
        ``(-1)**sign * magnitude * 2**(shift + q)``, ``q`` the format's lowest bit weight."""
        u = unpack(fmt, code)
        q = fmt.min_exp - fmt.man
        shift = (u.exp - q).as_unsigned()[:max(fmt.exp, 1) + 1]   # 0 .. 2**exp - 1
        return u.sign, u.sig, shift, u.is_nan | u.is_inf

    def _cuts(self):
        return ("significand", "aligned")

    def _product(self, m, payload, cut):
        sa, ma, ha, xa = self._aligned(payload.a, self.a_fmt)
        sb, mb, hb, xb = self._aligned(payload.b, self.b_fmt)
        w = self.register.width
        mag = Signal(w, name="product_magnitude")
        special = Signal(name="special_operand")
        if self.stages < 2:
            m.d.comb += mag.eq((ma * mb) << (ha + hb))
            m.d.comb += special.eq(xa | xb)
        else:   # every register bit below can change (no constant or duplicate bits)
            fa, fb = self.a_fmt, self.b_fmt
            has_special = fa.specials is not Specials.NONE or fb.specials is not Specials.NONE
            sig_bits = product_bits(len(ma), len(mb))
            shift_max = _shift_max(fa) + _shift_max(fb)
            v = cut("significand", {"sign": sa ^ sb, "sig": (ma * mb)[:sig_bits],
                                    "shift": (ha + hb)[:bits_for(shift_max)],
                                    "special": (xa | xb) if has_special else 0})
            v = cut("aligned", {"sign": v["sign"], "mag": (v["sig"] << v["shift"])[:sig_bits + shift_max],
                                "special": v["special"]})
            sa, sb = v["sign"], 0
            m.d.comb += [mag.eq(v["mag"]), special.eq(v["special"])]
        prod = Signal(signed(w + 1), name="product")
        m.d.comb += prod.eq(Mux(special, 0, Mux(sa ^ sb, -mag, mag)))
        return prod, {"invalid": special}

    def _next(self, m, base, prod):
        return wrap_or_saturate(m, base, prod, self.register)

    def _outputs(self, m, reg, flags):
        return {"acc": reg.as_unsigned(), "invalid": flags["invalid"]}

    def model(self, inputs: dict) -> dict:
        a = self.a_fmt.decode(inputs["a"])
        b = self.b_fmt.decode(inputs["b"])
        special = ~(np.isfinite(a) & np.isfinite(b))
        prods = np.where(special, 0.0, np.where(special, 0.0, a) * np.where(special, 0.0, b))
        first = np.asarray(inputs["first"]).astype(bool)
        sums = running_sums(prods, first, self.register)
        # invalid: some special operand since the last ``first`` (inclusive)
        count = np.cumsum(special)
        idx = np.arange(count.size)
        start = np.maximum.accumulate(np.where(first | (idx == 0), idx, 0))
        before = np.where(start > 0, count[np.maximum(start - 1, 0)], 0)
        invalid = (count - before) > 0
        return {"acc": self.out_fmt.encode(sums).astype(np.uint64), "invalid": invalid.astype(np.uint64)}


# -- FloatAccMac ----------------------------------------------------------------------------
_GUARD = 2   # guard bits of the aligned addends (see FloatAccMac._next for why 2 suffice)


def float_running_codes(products, first, acc: FloatAccumulator) -> np.ndarray:
    """Codes of ``acc.fmt`` held by a sequential float register after each product of a MAC.

    Register ``r`` (+0 at the start and at every ``first``): ``r = R(r + p[k])``, each
    addition one :func:`numfmt.arith.matmul` step of ``acc`` with
    ``nonfinite="ieee"`` (one product, ``init=r``; the steps at one position of every
    sum run as one call). Inf and NaN follow numfmt's rule (``docs/arithmetic.md``,
    *Non-finite values*): ``inf + finite = inf``, ``inf + −inf = NaN``, NaN stays NaN,
    a NaN so made is the positive NaN (the code ``acc.fmt.encode(nan)``), and a NaN
    from rounding an overflowing finite sum (``fn`` formats) keeps the sum's sign.

    Parameters
    ----------
    products : array_like of float64
        Exact products (inf/NaN allowed).
    first : array_like of bool
    acc : FloatAccumulator
        With ``order="sequential"``.

    >>> import numfmt as nf
    >>> from numfmt.arith import FloatAccumulator
    >>> e4m3 = nf.FLOATS["e4m3fn"]
    >>> codes = float_running_codes([448, 16, -448, 1], [1, 0, 0, 1], FloatAccumulator(e4m3))
    >>> e4m3.decode(codes).tolist()          # 448 + 16 rounds back to 448
    [448.0, 448.0, 0.0, 1.0]
    """
    fmt, rounding = acc.fmt, acc.rounding
    if acc.order is not Order.SEQUENTIAL:
        raise ValueError(f"acc.order must be 'sequential' for a MAC register, not {str(acc.order)!r}")
    p = np.ascontiguousarray(products, dtype=np.float64).reshape(-1)
    f = np.asarray(first).reshape(-1).astype(bool)
    if f.shape != p.shape:
        raise ValueError(f"first must have the shape of products, {p.shape}, not {f.shape}")
    n = p.size
    codes = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return codes
    ieee = dataclasses.replace(acc, nonfinite=NonFinite.IEEE)
    r = np.zeros(n)
    idx = np.arange(n)
    start = np.maximum.accumulate(np.where(f | (idx == 0), idx, 0))
    pos = idx - start
    order = np.argsort(pos, kind="stable")
    bounds = np.searchsorted(pos[order], np.arange(int(pos.max()) + 2))
    one = np.ones((1, 1))
    for j in range(int(pos.max()) + 1):
        rows = order[bounds[j]:bounds[j + 1]]
        prev = r[rows - 1] if j else np.zeros(rows.size)
        r[rows] = matmul(p[rows, None], one, ieee, init=prev[:, None])[:, 0]
    return fmt.encode(r, rounding).astype(np.uint64)


class FloatAccMac(_Mac):
    """Minifloat MAC with a floating-point register: ``acc = R(acc + a·b)`` after every product.

    The register holds a code of ``acc.fmt``; each input adds the exact product of
    the decoded operands to it and rounds the exact sum once to ``acc.fmt`` with
    ``acc.rounding`` — :class:`numfmt.arith.FloatAccumulator` with
    ``order="sequential"`` (``docs/arithmetic.md``): signed zeros as IEEE 754 §6.3,
    overflow and underflow as ``acc.fmt.encode``, inf/NaN continuing in IEEE
    arithmetic. ``first`` restarts from +0 (``acc = R(+0 + a·b)``).

    Hardware: both operands unpacked, the product's significand ``ma·mb`` formed
    exactly; the product and the register normalised, the one with the smaller top
    exponent shifted right onto the other's grid with ``2`` guard bits and a sticky
    bit, added or subtracted, and rounded by :func:`hw.rtl._float.round_pack` — an
    adder ``max(ma+mb+2, man_r+1) + 5`` bits wide for any exponent ranges.

    Parameters
    ----------
    a_fmt, b_fmt : FloatFormat
        Operand formats (any specials policy, subnormals, bias; ≤ 53 significand bits
        in their product, numfmt's float64 products).
    acc : FloatAccumulator
        The register's format (signed, with a zero), rounding (any deterministic
        mode) and ``order="sequential"``.
    stages : int
        Registers between the multiplier and the accumulator (≥ 0); latency
        ``stages + 1``.

    Fields: in ``a``, ``b``, ``first``; out ``acc`` (a code of ``acc.fmt``).

    >>> import numfmt as nf
    >>> from numfmt.arith import FloatAccumulator
    >>> e4m3, fp16 = nf.FLOATS["e4m3fn"], nf.FLOATS["fp16"]
    >>> mac = FloatAccMac(e4m3, e4m3, FloatAccumulator(fp16))
    >>> mac.latency, mac.adder_width
    (2, 16)
    >>> out = mac.model({"a": e4m3.encode(np.array([448.0, 448.0, 1.0])).astype(np.uint64),
    ...                  "b": e4m3.encode(np.array([448.0, -448.0, 0.5])).astype(np.uint64),
    ...                  "first": np.array([1, 0, 0], dtype=np.uint64)})
    >>> fp16.decode(out["acc"]).tolist()     # 200704 overflows fp16; inf - 200704 = inf
    [inf, inf, inf]
    """

    def __init__(self, a_fmt: FloatFormat, b_fmt: FloatFormat, acc: FloatAccumulator, *, stages: int = 1):
        self.a_fmt = _check_format("a_fmt", a_fmt, FloatFormat)
        self.b_fmt = _check_format("b_fmt", b_fmt, FloatFormat)
        self.acc = _check_format("acc", acc, FloatAccumulator)
        if acc.order is not Order.SEQUENTIAL:
            raise ValueError(f"acc.order must be 'sequential' for a MAC register, not {str(acc.order)!r}")
        prod_bits = (a_fmt.man + 1) + (b_fmt.man + 1)
        if prod_bits > 53:
            raise ValueError(f"the product significand must be at most 53 bits wide (the model's products "
                             f"are float64), not {prod_bits} ({a_fmt} × {b_fmt})")
        self.stages = _check_stages("stages", stages)
        self.latency = self.stages + 1
        self.out_fmt = acc.fmt
        self._w0 = max(prod_bits, acc.fmt.man + 1)
        #: bits of the aligned sum: normalised significand, guard bits, sticky bit, carry
        self.adder_width = self._w0 + _GUARD + 2 + 1
        #: bits of the signed exponents (the product's, the addends' tops, the alignment shift)
        self.exp_bits = self._exp_shape().width
        super().__init__({"a": Field.of(a_fmt), "b": Field.of(b_fmt), "first": Field(1)},
                         {"acc": Field.of(acc.fmt)})

    def parameters(self) -> dict:
        return {"a": str(self.a_fmt), "b": str(self.b_fmt), "acc": str(self.acc.fmt),
                "rounding": str(self.acc.rounding), "stages": self.stages}

    def _register_shape(self):
        return unsigned(self.acc.fmt.bits)

    def _exp_shape(self):
        fmts = (self.a_fmt, self.b_fmt, self.acc.fmt)
        bound = sum(abs(f.min_exp) + abs(f.max_exp) + f.man + 2 for f in fmts) + 2 * self._w0 + 8
        return signed(bits_for(bound) + 1)

    def _product(self, m, payload, cut):
        ua, ub = unpack(self.a_fmt, payload.a), unpack(self.b_fmt, payload.b)
        layout = data.StructLayout({"sig": unsigned(len(ua.sig) + len(ub.sig)), "exp": self._exp_shape(),
                                    "sign": 1, "nan": 1, "inf": 1})
        prod = Signal(layout, name="product")
        m.d.comb += [
            prod.sig.eq(ua.sig * ub.sig),
            prod.exp.eq(ua.exp + ub.exp),
            prod.sign.eq(ua.sign ^ ub.sign),
            prod.nan.eq(ua.is_nan | ub.is_nan | (ua.is_inf & ub.is_zero) | (ua.is_zero & ub.is_inf)),
            prod.inf.eq((ua.is_inf | ub.is_inf) & ~ua.is_nan & ~ub.is_nan & ~ua.is_zero & ~ub.is_zero),
        ]
        return prod, {}

    def _normalised(self, m, sig, exp, name):
        """``(M, t)``: ``sig·2**exp = M·2**(t - w0)`` with ``M``'s leading one at bit ``w0-1``."""
        w0 = self._w0
        lz = clz(m, Cat(sig, Const(0, w0 - len(sig))) if len(sig) < w0 else sig)
        M = Signal(w0, name=f"{name}_norm")
        m.d.comb += M.eq((sig << lz)[:w0])
        t = Signal(self._exp_shape(), name=f"{name}_top")
        m.d.comb += t.eq(exp - lz + w0)
        return M, t

    def _next(self, m, base, prod):
        """``R(base + prod)``. The addend with the smaller top ``t`` is shifted right onto the
        grid of the larger (top ``T``): window of ``w0 + G`` bits, then a sticky bit.

        Exactness: bits fall into the sticky only when the shift exceeds ``G``; then the
        small addend is below ``2**(T-G-1)`` and the large one at least ``2**(T-1)``, so
        ``|sum| ≥ 2**(T-2)`` and every rounding boundary of ``acc.fmt`` (representable
        values and midpoints, multiples of ``2**(T-3-man)``) is a multiple of the window's
        last place ``2**(T-w0-G)`` (as ``w0 ≥ man + 1``, ``G = 2``). The sticky bit below
        it puts the computed sum strictly inside the same grid interval as the exact sum,
        which holds no boundary: both round alike, in every mode.
        """
        fmt, rounding, w0, G = self.acc.fmt, self.acc.rounding, self._w0, _GUARD
        ur = unpack(fmt, base)
        Mp, tp = self._normalised(m, prod.sig, prod.exp, "p")
        Mr, tr = self._normalised(m, ur.sig, ur.exp, "r")
        p_zero, r_zero = ~prod.sig.any(), ~ur.sig.any()
        p_big = Signal(name="product_larger")
        m.d.comb += p_big.eq(~p_zero & (r_zero | (tp >= tr)))
        T = Mux(p_big, tp, tr)
        d = Signal(self._exp_shape(), name="align_shift")
        m.d.comb += d.eq(Mux(p_big, tp - tr, tr - tp))
        cap = w0 + G
        dc = Signal(range(cap + 1), name="align_shift_capped")
        m.d.comb += dc.eq(Mux(d >= cap, cap, d[:len(dc)]))
        small = Mux(p_big, Mr, Mp)
        shifted = Signal(2 * cap, name="aligned_small")
        m.d.comb += shifted.eq(Cat(Const(0, cap), Const(0, G), small) >> dc)
        sticky = shifted[:cap].any()
        A = Cat(Const(0, G + 1), Mux(p_big, Mp, Mr))                  # w0 + G + 1 bits
        B = Cat(sticky, shifted[cap:])
        s_big = Mux(p_big, prod.sign, ur.sign)
        s_small = Mux(p_big, ur.sign, prod.sign)
        total = Signal(signed(self.adder_width), name="aligned_sum")
        m.d.comb += total.eq(Mux(s_big ^ s_small, A - B, A + B))
        mag = Signal(self.adder_width - 1, name="sum_magnitude")
        m.d.comb += mag.eq(Mux(total < 0, -total, total))
        exp = Signal(self._exp_shape(), name="sum_exp")
        m.d.comb += exp.eq(T - (w0 + G + 1))
        if rounding is Rounding.FLOOR:
            zero_sign = prod.sign | ur.sign
        else:
            zero_sign = prod.sign & ur.sign
        nan = Signal(name="sum_nan")
        inf = Signal(name="sum_inf")
        m.d.comb += [
            nan.eq(ur.is_nan | prod.nan | (ur.is_inf & prod.inf & (ur.sign != prod.sign))),
            inf.eq(ur.is_inf | prod.inf),
        ]
        sign = Signal(name="sum_sign")
        with m.If(nan):
            m.d.comb += sign.eq(0)
        with m.Elif(ur.is_inf):
            m.d.comb += sign.eq(ur.sign)
        with m.Elif(prod.inf):
            m.d.comb += sign.eq(prod.sign)
        with m.Elif(~mag.any()):
            m.d.comb += sign.eq(zero_sign)
        with m.Else():
            m.d.comb += sign.eq(s_big ^ (total < 0))
        return round_pack(m, fmt, sign, mag, exp, rounding=rounding, nan=nan, inf=inf & ~nan)

    def _outputs(self, m, reg, flags):
        return {"acc": reg}

    def model(self, inputs: dict) -> dict:
        prods = multiply(self.a_fmt.decode(inputs["a"]), self.b_fmt.decode(inputs["b"]))   # exact, IEEE
        return {"acc": float_running_codes(prods, inputs["first"], self.acc)}
