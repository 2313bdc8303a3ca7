"""Models of arithmetic units: results bit for bit, with cycle and operation counts.

* :mod:`~numfmt.units.bitserial` — bit-serial integer dot/matmul (BISMO, BitMoD).
* :mod:`~numfmt.units.lutgemm` — LUT-based mixed-precision GEMM (T-MAC, LUT Tensor Core).
* :mod:`~numfmt.units.lmul` — L-Mul, the linear-complexity float multiplier (Luo & Sun 2024).
* :mod:`~numfmt.units.shift` — power-of-two (shift) weights without zero (DenseShift).

Definitions and count formulas: ``docs/units.md``.
"""

from ._common import UnitResult
from .bitserial import bitserial_dot, bitserial_matmul
from .lmul import lmul, lmul_dot, lmul_offset_exp
from .lutgemm import lut_matmul
from .shift import ShiftFormat, shift_dot, shift_matmul

__all__ = [
    "UnitResult", "bitserial_dot", "bitserial_matmul", "lut_matmul", "lmul", "lmul_dot",
    "lmul_offset_exp", "ShiftFormat", "shift_dot", "shift_matmul",
]
