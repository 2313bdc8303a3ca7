"""Format converter / quantizer: a code of one numfmt format to a code of another.

``Convert(in_fmt, out_fmt)`` computes ``out_fmt.encode(in_fmt.decode(x), rounding)`` for
any pair of :class:`~numfmt.FloatFormat`, :class:`~numfmt.IntFormat` and
:class:`~numfmt.FixedFormat` (``ap_fixed``): every rounding mode (stochastic with a
``rand`` input field), every overflow mode (float: saturate or inf/NaN; fixed/int: the
``ap_fixed`` modes ``sat``, ``sat_zero``, ``sat_sym``, ``wrap`` with saturation bits and
``wrap_sm``), flush-to-zero, every specials policy.

A float NaN or inf converted to a fixed-point or integer format is what numfmt's
``ap_fixed`` conversion reads from the float64 that ``decode`` returns (as the HLS
headers read a double): ±inf is ``±2**1024`` and a NaN (numpy's quiet NaN, the sign of
its code) is ``±3·2**1023``; see ``numfmt/formats/fixed.py``. The fixed-point rounding and
overflow hardware is :func:`hw.rtl._fixed.round_fixed` (re-exported here).

Two implementations (``impl``): ``"datapath"`` unpacks, aligns and rounds (``round_pack``,
``round_fixed``); ``"table"`` stores the unit's truth table, one constant of
``2**in_fmt.bits`` bits per output bit indexed by ``x``, computed by :meth:`Convert.model`
(the emulator) when the unit is elaborated. ``"auto"`` (the default) takes the table for a
float input of at most :data:`TABLE_BITS` bits with a deterministic rounding. Yosys maps
the table to about its truth table's LUT count; from the datapath it keeps much of the
generic unpack and round logic (``synth_xilinx -nodsp``: e4m3fn → e2m1fn 9 LUTs against
23, e5m2 → e4m3fn 13 against 39; ``synth_ecp5``: 30 against 39, 28 against 34). Integer and
fixed-point inputs keep the datapath (int8 → e4m3fn: 40 table LUTs against 38 on xilinx,
86 against 42 on ECP5).

Subnormal inputs too small for the output to tell apart round alike, by their sign
(:meth:`Convert.subnormal_alike_bits`); the datapath gives them one representative value,
so its leading-zero count covers only the input significand's top bits — none at all when
every subnormal is alike (FP16, BF16 or FP32 into e4m3fn and formats of fewer exponent
bits): about half the LUTs of such a converter.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal

from numfmt import FixedFormat, FloatFormat, IntFormat

from ._fixed import fixed_params, round_fixed
from ._float import float_lead, round_pack, unpack
from ._unit import Field, Unit, pipeline
from .fpmul import GivenRandom, check_rounding, check_stages

__all__ = ["Convert", "round_fixed", "IMPLS", "TABLE_BITS", "TABLE_MAX_BITS"]

_SCALAR = (FloatFormat, IntFormat, FixedFormat)

TABLE_BITS = 8
"""``impl="auto"`` takes the table for float inputs of at most this many bits."""

TABLE_MAX_BITS = 12
"""``impl="table"`` takes inputs of at most this many bits (4096-entry tables)."""

IMPLS = ("auto", "table", "datapath")


class Convert(Unit):
    """``y = out_fmt.encode(in_fmt.decode(x), rounding)``, pipelined.

    Parameters
    ----------
    in_fmt : FloatFormat, IntFormat or FixedFormat
        Format of the input codes ``x`` (fixed point at most 53 bits, so that
        ``decode`` is exact).
    out_fmt : FloatFormat, IntFormat or FixedFormat
        Format of the output codes ``y``.
    rounding : Rounding or str, optional
        Any :class:`numfmt.Rounding` mode; default ``out_fmt``'s own (``rne`` for floats).
        ``"stochastic"`` adds an input field ``rand`` of ``sr_bits`` random bits; the
        value rounds up iff ``rand`` is below the discarded fraction read to ``sr_bits``
        bits, as ``out_fmt.encode(..., "stochastic", sr_bits=sr_bits)`` uses its random
        integers.
    sr_bits : int
        Width of ``rand`` (1..32).
    stages : int
        Pipeline registers; :attr:`latency` equals ``stages``.
    impl : {"auto", "table", "datapath"}
        The hardware (module docstring): ``"auto"`` is ``"table"`` for a float input of at
        most :data:`TABLE_BITS` bits with a deterministic rounding, else ``"datapath"``; the
        table takes inputs of at most :data:`TABLE_MAX_BITS` bits. The resolved choice is
        :attr:`impl`.

    Examples
    --------
    >>> import numfmt as nf
    >>> q = Convert(nf.parse("fp16"), nf.parse("e4m3fn"))
    >>> q.model({"x": nf.parse("fp16").encode([1.0, 1000.0, 0.0])})["y"].tolist()
    [56, 127, 0]
    >>> q.impl, Convert(nf.parse("e4m3fn"), nf.parse("e2m1fn")).impl
    ('datapath', 'table')
    """

    def __init__(self, in_fmt, out_fmt, *, rounding=None, sr_bits: int = 8, stages: int = 1,
                 impl: str = "auto"):
        for name, f in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
            if not isinstance(f, _SCALAR):
                raise TypeError(f"{name} must be a numfmt FloatFormat, IntFormat or FixedFormat, not {f!r}")
        if isinstance(in_fmt, FixedFormat) and in_fmt.width > 53:
            raise ValueError(f"in_fmt must be at most 53 bits wide (decode is exact), not {in_fmt.width}")
        self.in_fmt, self.out_fmt = in_fmt, out_fmt
        rounding = out_fmt.default_rounding if rounding is None else rounding
        self.rounding, self.sr_bits = check_rounding(rounding, sr_bits)
        self.stages = check_stages(stages)
        self.latency = self.stages
        self.impl = self._check_impl(impl)
        inputs = {"x": Field.of(in_fmt)}
        if self.sr_bits:
            inputs["rand"] = Field(self.sr_bits)
        super().__init__(inputs, {"y": Field.of(out_fmt)})

    def _check_impl(self, impl) -> str:
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {', '.join(map(repr, IMPLS))}, not {impl!r}")
        bits = self.in_fmt.bits
        if impl == "auto":
            table = isinstance(self.in_fmt, FloatFormat) and bits <= TABLE_BITS and not self.sr_bits
            return "table" if table else "datapath"
        if impl == "table" and self.sr_bits:
            raise ValueError("impl='table' needs a deterministic rounding, not 'stochastic'")
        if impl == "table" and bits > TABLE_MAX_BITS:
            raise ValueError(f"impl='table' needs an input format of at most {TABLE_MAX_BITS} bits, "
                             f"not {bits} ({self.in_fmt})")
        return impl

    def parameters(self) -> dict:
        p = {"in": str(self.in_fmt), "out": str(self.out_fmt), "rounding": self.rounding.value,
             "stages": self.stages, "impl": self.impl}
        if self.sr_bits:
            p["sr_bits"] = self.sr_bits
        return p

    def model(self, inputs: dict) -> dict:
        x = self.in_fmt.decode(np.asarray(inputs["x"]))
        rng = GivenRandom(inputs["rand"]) if self.sr_bits else None
        y = self.out_fmt.encode(x, self.rounding, rng=rng, sr_bits=self.sr_bits or 32)
        return {"y": y.astype(np.uint64)}

    def elaborate(self, platform):
        m = Module()
        x = self.i.payload.x
        if self.impl == "table":
            pipeline(m, self.i, self.o, self._table(x), self.stages)
            return m
        fin = self.in_fmt
        if isinstance(fin, FloatFormat):
            u = unpack(fin, x)
            sign, sig, exp, nan, inf = u.sign, u.sig, u.exp, u.is_nan, u.is_inf
            j = self.subnormal_alike_bits()
            if j:
                # the subnormal inputs below 2**j last places all become 2**j half last places
                # (as small, as nonzero): the leading-zero count covers sig's top bits only
                small = u.is_subnormal if j == fin.man else u.is_subnormal & ~sig[j:].any()
                sig = Mux(small, 1 << j, sig)
                exp = exp - small
            lead = self.lead()
        else:
            W, F, is_signed, _, _ = fixed_params(fin)
            sign = x[W - 1] if is_signed else Const(0, 1)
            sig = Signal(W, name="cv_mag")
            m.d.comb += sig.eq(Mux(sign, -x, x))
            exp, nan, inf, lead = -F, 0, 0, 0
        rand = self.i.payload.rand if self.sr_bits else None
        if isinstance(self.out_fmt, FloatFormat):
            y = round_pack(m, self.out_fmt, sign, sig, exp, rounding=self.rounding, rand=rand,
                           nan=nan, inf=inf, lead=lead)
        else:
            y = round_fixed(m, self.out_fmt, sign, sig, exp, rounding=self.rounding, rand=rand,
                            nan=nan, inf=inf)
        pipeline(m, self.i, self.o, y, self.stages)
        return m

    def lead(self) -> int:
        """The datapath's promise to ``round_pack`` for a float input: the significand is 0
        or at least ``2**lead`` (:meth:`subnormal_alike_bits` when nonzero, else the
        input's :attr:`~numfmt.hw.rtl._float.Unpacked.lead`), so its leading-zero count
        reads ``in_fmt.man + 1 − lead`` bits; 0 for a fixed-point input.

        >>> import numfmt as nf
        >>> [Convert(nf.parse(a), nf.parse(b)).lead() for a, b in [("fp16", "e5m2"), ("fp16", "e6m1(subnormals=false)"),
        ...                                                        ("e4m3fn(subnormals=false)", "fp16")]]
        [7, 0, 3]
        """
        if not isinstance(self.in_fmt, FloatFormat):
            return 0
        return self.subnormal_alike_bits() or float_lead(self.in_fmt)

    def subnormal_alike_bits(self) -> int:
        """``j`` such that every subnormal input whose significand is below ``2**j`` rounds as
        any other of its sign does (0: none is known to), up to ``in_fmt.man`` (all of them).

        The datapath gives those inputs one representative value, and its leading-zero count
        then covers only the significand's top bits (none when ``j = in_fmt.man``). Nonzero
        when the input is a float with subnormals, the output a float with a zero and the
        rounding deterministic: ``j`` is the largest for which those inputs all lie below
        what the output tells apart from zero, half its smallest subnormal (its smallest
        normal when it flushes subnormals to zero); each then rounds to ±0 or to the
        output's smallest step by its sign alone.

        >>> import numfmt as nf
        >>> Convert(nf.parse("fp32"), nf.parse("e4m3fn")).subnormal_alike_bits()    # all 23
        23
        >>> Convert(nf.parse("fp16"), nf.parse("e5m2")).subnormal_alike_bits()      # below 2**-17
        7
        """
        fin, fout = self.in_fmt, self.out_fmt
        if not (isinstance(fin, FloatFormat) and fin.subnormals and fin.has_zero) or self.sr_bits:
            return 0
        if not (isinstance(fout, FloatFormat) and fout.has_zero):
            return 0
        bound = fout.min_exp - fout.man - 1 if fout.subnormals else fout.min_exp   # log2 of that limit
        # a subnormal input is f · 2**(min_exp − man): f < 2**j keeps it below 2**bound
        return max(0, min(fin.man, bound - fin.min_exp + fin.man))

    def truth_table(self) -> np.ndarray:
        """The output code for every input code ``x = 0 … 2**in_fmt.bits − 1`` (from
        :meth:`model`): what the table implementation stores, and what the cost model counts.
        Deterministic roundings only.

        >>> import numfmt as nf
        >>> Convert(nf.parse("e2m1fn"), nf.parse("e2m3fn")).truth_table().tolist()[:4]
        [0, 4, 8, 12]
        """
        if self.sr_bits:
            raise ValueError("the truth table needs a deterministic rounding, not 'stochastic'")
        return self.model({"x": np.arange(1 << self.in_fmt.bits, dtype=np.uint64)})["y"]

    def _table(self, x):
        """Output bit ``k`` is bit ``x`` of a constant: column ``k`` of the truth table."""
        y = self.truth_table()
        n = self.in_fmt.bits
        columns = []
        for k in range(self.out_fmt.bits):
            bits = (y >> np.uint64(k)) & np.uint64(1)
            columns.append(Const(int("".join(map(str, bits[::-1].tolist())), 2), 1 << n).bit_select(x, 1))
        return Cat(*columns)
