"""Integer products as the cost model sees them: a table of synthesized multipliers.

A multiplier's LUT count under ABC is not a smooth function of its operand widths (a
registered ``uint3 × uint3`` product takes 8 LUTs on ``synth_xilinx -nodsp``,
``uint3 × uint4`` 14), so the IntMac model does not guess it from ``a·b``: it reads the
count of the product itself, synthesized alone for every pair of integer operands the
model covers (:data:`OPERANDS`), once per target. The probe (:class:`ProductProbe`) is
the product the MAC builds (:func:`numfmt.hw.rtl.mac.int_product`) into a register,
which is where an :class:`~numfmt.hw.rtl.IntMac` registers it.

>>> probe = ProductProbe(nf.parse("int3"), nf.parse("uint5"))
>>> probe.name, probe.key
('product_int3_uint5', 'int3*uint5')
>>> len(pairs())                     # unordered pairs of the 14 operands
105
"""

from __future__ import annotations

import itertools

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal, signed

import numfmt as nf

MAX_BITS = 8
"""The widest operand of the table (IntMac's calibrated domain)."""

OPERANDS = tuple(f"{'' if s else 'u'}int{b}" for b in range(2, MAX_BITS + 1) for s in (True, False))
"""The integer operand formats of the product table (2–8 bits, signed and unsigned):
IntMac's operands and the chunks its pipelined product splits them into."""


def key(a_fmt, b_fmt) -> str:
    """The table key of the product of ``a_fmt`` and ``b_fmt`` (order-free: a product commutes).

    >>> key(nf.parse("uint5"), nf.parse("int3")), key(nf.parse("int3"), nf.parse("uint5"))
    ('int3*uint5', 'int3*uint5')
    """
    names = sorted((str(a_fmt), str(b_fmt)), key=lambda s: (OPERANDS.index(s) if s in OPERANDS else -1, s))
    return "*".join(names)


def pairs() -> list[tuple[str, str]]:
    """Every unordered pair of :data:`OPERANDS` (with repeats: ``int4 × int4``)."""
    return list(itertools.combinations_with_replacement(OPERANDS, 2))


class ProductProbe(Elaboratable):
    """The registered exact product of an ``a_fmt`` and a ``b_fmt`` code: inputs ``a``,
    ``b``, output ``y`` (:func:`numfmt.hw.rtl.mac.int_product`, ``a + b + 1`` bits)."""

    def __init__(self, a_fmt, b_fmt):
        for name, fmt in (("a_fmt", a_fmt), ("b_fmt", b_fmt)):
            if not isinstance(fmt, nf.IntFormat) or str(fmt) not in OPERANDS:
                raise ValueError(f"{name} must be an integer format of 2–{MAX_BITS} bits with the default "
                                 f"overflow (one of {', '.join(OPERANDS)}), not {fmt}")
        self.a_fmt, self.b_fmt = a_fmt, b_fmt
        self.a = Signal(a_fmt.bits, name="a")
        self.b = Signal(b_fmt.bits, name="b")
        self.y = Signal(signed(a_fmt.bits + b_fmt.bits + 1), name="y")
        self.name = f"product_{a_fmt}_{b_fmt}"
        self.key = key(a_fmt, b_fmt)

    def elaborate(self, platform):
        from numfmt.hw.rtl.mac import int_product

        m = Module()
        m.d.sync += self.y.eq(int_product(m, self, self.a_fmt, self.b_fmt))
        return m

    def verilog(self) -> str:
        """The probe's Verilog (top module :attr:`name`, no ``src`` attributes)."""
        from amaranth.back import verilog

        from .synth import strip_src

        return strip_src(verilog.convert(self, name=self.name, ports=[self.a, self.b, self.y], emit_src=False))


def jobs(target: str, options) -> list:
    """A :class:`~numfmt.hw.cost.synth.SynthJob` per :func:`pairs` entry (no place-and-route)."""
    from .synth import SynthJob

    out = []
    for a, b in pairs():
        probe = ProductProbe(nf.parse(a), nf.parse(b))
        out.append(SynthJob.of(probe.verilog(), probe.name, target=target, options=tuple(options), place=False))
    return out


def synthesize_table(target: str, options, processes: int = 2) -> dict[str, int]:
    """``{key: LUTs}`` of every product of :func:`pairs` on ``target`` with ``options``
    (synthesized, or read from the synthesis cache)."""
    from .synth import synthesize_many

    results = synthesize_many(jobs(target, options), processes=processes)
    return {key(nf.parse(a), nf.parse(b)): int(r.luts) for (a, b), r in zip(pairs(), results)}


def table_array(table: dict) -> np.ndarray:
    """``table`` (``{key: LUTs}``, every pair) as an array ``T[a_bits, a_signed, b_bits,
    b_signed]`` (float64; NaN where no operand is), for vectorised lookup."""
    missing = [f"{a}*{b}" for a, b in pairs() if key(nf.parse(a), nf.parse(b)) not in table]
    if missing:
        raise ValueError(f"the product table must hold every pair of {', '.join(OPERANDS)}; it lacks "
                         f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    T = np.full((MAX_BITS + 1, 2, MAX_BITS + 1, 2), np.nan)
    for a, b in pairs():
        fa, fb = nf.parse(a), nf.parse(b)
        v = table[key(fa, fb)]
        T[fa.bits, int(fa.signed), fb.bits, int(fb.signed)] = T[fb.bits, int(fb.signed), fa.bits, int(fa.signed)] = v
    return T
