"""Products of block-scaled operands (OCP MX, BFP) computed as hardware computes them.

A block dot-product unit never multiplies decoded values. For each pair of blocks it
forms the dot product of the *element* values (integers or minifloats, no scale), then
applies the two shared scales as one power of two, and accumulates the scaled block
results across blocks::

    C[i, p] = Σ_j  2**(eA[i, j] + eB[j, p]) · ( Σ_{k ∈ block j} a[i, k] · b[k, p] )
                   └──── scale apply ────┘   └──── block_acc, per block ────┘
              └──────────────────── acc, over j = 0, 1, …, nb − 1 ────────────────────┘

This is the OCP MX v1.0 ``Dot``/``DotGeneral`` (§6.2): the inner sum's precision is
implementation-defined (``block_acc``), the sum over blocks is typically FP32
(``acc=FloatAccumulator(fp32)``). With exact accumulators the result equals the product
of the decoded matrices. See ``docs/arithmetic.md`` (*Block formats*).

>>> import numpy as np, numfmt as nf
>>> from numfmt.arith import ExactAccumulator, FloatAccumulator
>>> mx = nf.BLOCKS["mxfp4"]
>>> A = mx.encode(np.array([[1.0, 2.0, 3.0, 4.0]]))               # blocks along k (axis -1)
>>> B = nf.BlockFormat(mx.element, 32, axis=0).encode(np.ones((4, 1)))
>>> block_matmul(A, B).tolist()
[[10.0]]
>>> float(block_dot(A.elements[0], A.scales[0], A.elements[0], A.scales[0], mx))
30.0
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..formats.block import BlockCodes, BlockFormat
from .accumulators import ExactAccumulator, FixedAccumulator, FloatAccumulator, NonFinite
from . import _fast
from .linalg import _ieee, matmul

__all__ = ["block_dot", "block_matmul"]

_ACCUMULATORS = (ExactAccumulator, FixedAccumulator, FloatAccumulator)


def _check_acc(name, acc):
    if not isinstance(acc, _ACCUMULATORS):
        raise TypeError(f"{name} must be an ExactAccumulator, FixedAccumulator or "
                        f"FloatAccumulator, not {acc!r}")
    return acc


def _operand(name, codes, axis):
    """Element values, exponents and NaN masks of a 2-D BlockCodes blocked along ``axis``."""
    if not isinstance(codes, BlockCodes):
        raise TypeError(f"{name} must be a numfmt.BlockCodes (a BlockFormat's encode result), "
                        f"not {type(codes).__name__}")
    elements = np.asarray(codes.elements)
    if elements.ndim != 2:
        raise ValueError(f"{name} must be 2-D, not shape {elements.shape}")
    if codes.format.axis % 2 != axis:
        raise ValueError(f"{name} must be blocked along its axis {axis} (the contraction axis), "
                         f"not axis {codes.format.axis} ({codes.format})")
    return codes.factors()


def _ldexp(x, e):
    return np.ldexp(x, np.clip(e, -4000, 4000).astype(np.int32))


def _times_pow2(partial, exponent, j):
    """``partial * 2**exponent``, exact unless it leaves float64's range (then an error)."""
    scaled = _ldexp(partial, exponent)
    back = _ldexp(scaled, -exponent)
    if not np.array_equal(back, partial, equal_nan=True):
        i, q = np.argwhere((back != partial) & np.isfinite(partial))[0]
        raise ValueError(f"block_matmul: block {j} of output [{i}, {q}] scaled by "
                         f"2**{int(exponent[i, q])} is outside float64's range")
    return scaled


def block_matmul(A: BlockCodes, B: BlockCodes, acc=None, *, block_acc=None,
                 out_format=None, out_rounding=None) -> np.ndarray:
    """The product of two block-scaled matrices, block by block (see the module docstring).

    Parameters
    ----------
    A : BlockCodes
        (m, n) codes blocked along axis 1 (its format's ``axis`` is 1 or −1).
    B : BlockCodes
        (n, p) codes blocked along axis 0. Both formats must have the same ``block``,
        so that block ``j`` of a row of ``A`` meets block ``j`` of a column of ``B``.
    acc : accumulator, optional
        Sums the scaled block results over the blocks in order ``j = 0, 1, …``
        (default :class:`ExactAccumulator`).
    block_acc : accumulator, optional
        Sums the element products inside one block (default exact).
    out_format, out_rounding : optional
        Round the result to this format, as :func:`numfmt.arith.matmul`.

    Returns
    -------
    numpy.ndarray of float64, shape (m, p). An output whose contraction meets a block
    with a NaN scale is NaN (OCP: the whole block is NaN).

    Notes
    -----
    Inf/NaN element values (element formats with inf/NaN codes) need a ``block_acc``
    with ``nonfinite="ieee"``; the block result is then the IEEE sum. Inf/NaN block
    results (also from a float ``block_acc`` that overflowed, or a NaN scale) are summed
    over the blocks in IEEE arithmetic by a ``FloatAccumulator`` ``acc`` (in its order:
    ``max + max`` may overflow to inf before a ``−inf`` block makes NaN) or an
    ``ExactAccumulator(nonfinite="ieee")``; another ``acc`` gives NaN for a NaN block
    and raises for an infinite one. A NaN so made is the positive NaN.

    Raises
    ------
    ValueError
        Shapes or blockings that do not match (naming both), inf/NaN elements with a
        ``block_acc`` that refuses them (naming the first), an infinite block result
        that ``acc`` cannot hold, or a scaled block result outside float64's range.

    Examples
    --------
    >>> import numpy as np, numfmt as nf
    >>> from numfmt.arith import FloatAccumulator
    >>> e4m3 = nf.BLOCKS["mxfp8_e4m3"]
    >>> row = e4m3.encode(np.array([[2.0 ** 20, 1.0, -2.0 ** 20]]))
    >>> col = nf.BlockFormat(e4m3.element, 32, axis=0).encode(np.ones((3, 1)))
    >>> block_matmul(row, col).tolist()            # the block's scale is 2**12: 1.0 flushes to 0
    [[0.0]]
    """
    acc = _check_acc("acc", ExactAccumulator() if acc is None else acc)
    block_acc = _check_acc("block_acc", ExactAccumulator() if block_acc is None else block_acc)
    va, ea, nan_a = _operand("A", A, 1)
    vb, eb, nan_b = _operand("B", B, 0)
    (m, n), (n_b, p) = va.shape, vb.shape
    if n != n_b:
        raise ValueError(f"block_matmul: A has shape {va.shape} and B has shape {vb.shape}: "
                         f"the inner dimensions {n} and {n_b} differ")
    block = A.format.block
    if B.format.block != block:
        raise ValueError(f"block_matmul: A's block is {block} and B's block is {B.format.block}; "
                         "they must be equal")
    fast = _fast.exact_block_matmul(A, B, va, ea, nan_a, vb, eb, nan_b, acc, block_acc, out_format, out_rounding)
    if fast is not None:        # exact accumulators: one exact matmul of the decoded operands (see _fast)
        return fast
    if not _ieee(block_acc):
        for name, v in (("A", va), ("B", vb)):
            bad = np.argwhere(~np.isfinite(v))
            if bad.size:
                i, k = bad[0]
                raise ValueError(f"block_matmul: the element {name}[{i}, {k}] is {float(v[i, k])!r}; "
                                 f"block_acc={block_acc} refuses inf/NaN (nonfinite='ieee' continues as "
                                 "IEEE 754 hardware does)")
    nb = ea.shape[1]
    scaled = np.empty((m, p, nb))
    for j in range(nb):
        k = slice(j * block, min((j + 1) * block, n))
        partial = matmul(va[:, k], vb[k, :], block_acc)
        scaled[:, :, j] = _times_pow2(partial, ea[:, j, None] + eb[None, j, :], j)
    nan_scale = nan_a[:, None, :] | nan_b.T[None, :, :]
    scaled[nan_scale] = np.nan
    ones = np.ones((nb, 1))
    if isinstance(acc, FloatAccumulator) or _ieee(acc):
        ieee = dataclasses.replace(acc, nonfinite=NonFinite.IEEE)
        return matmul(scaled.reshape(m * p, nb), ones, ieee, out_format=out_format,
                      out_rounding=out_rounding).reshape(m, p)
    for i, q, j in np.argwhere(np.isinf(scaled)):
        raise ValueError(f"block_matmul: block {j} of output [{i}, {q}] is {float(scaled[i, q, j])!r} "
                         f"(block_acc overflowed); {type(acc).__name__} cannot hold it")
    nan = np.isnan(scaled).any(axis=2)
    scaled[nan] = 0.0
    C = matmul(scaled.reshape(m * p, nb), ones, acc, out_format=out_format,
               out_rounding=out_rounding).reshape(m, p)
    C[nan] = np.nan if out_format is None else out_format.quantize(np.nan)
    return C


def block_dot(a_elements, a_scales, b_elements, b_scales, fmt: BlockFormat, acc=None, *,
              block_acc=None, b_format: BlockFormat | None = None, out_format=None,
              out_rounding=None):
    """The dot product of two 1-D block-scaled vectors given as code arrays.

    ``a_elements``/``a_scales`` are codes of ``fmt`` (``b_*`` of ``b_format``, default
    ``fmt``), as a 1-D :meth:`BlockFormat.encode` returns them. Same accumulation as
    :func:`block_matmul`; returns a float64 scalar.

    >>> import numpy as np, numfmt as nf
    >>> mx = nf.BLOCKS["mxint8"]
    >>> x = mx.encode(np.arange(40.0))
    >>> float(block_dot(x.elements, x.scales, x.elements, x.scales, mx))   # Σ k² for k < 40
    20540.0
    """
    b_format = fmt if b_format is None else b_format
    for name, f in (("fmt", fmt), ("b_format", b_format)):
        if not isinstance(f, BlockFormat):
            raise TypeError(f"{name} must be a numfmt.BlockFormat, not {f!r}")
    a_elements, b_elements = np.asarray(a_elements), np.asarray(b_elements)
    a_scales, b_scales = np.asarray(a_scales), np.asarray(b_scales)
    for name, arr in (("a_elements", a_elements), ("a_scales", a_scales),
                      ("b_elements", b_elements), ("b_scales", b_scales)):
        if arr.ndim != 1:
            raise ValueError(f"block_dot: {name} must be 1-D, not shape {arr.shape}")
    A = BlockCodes(a_scales[None, :], a_elements[None, :], dataclasses.replace(fmt, axis=1))
    B = BlockCodes(b_scales[:, None], b_elements[:, None], dataclasses.replace(b_format, axis=0))
    return block_matmul(A, B, acc, block_acc=block_acc, out_format=out_format,
                        out_rounding=out_rounding)[0, 0]
