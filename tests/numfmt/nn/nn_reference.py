"""A slow scalar reference of the quantized datapath, written from docs/nn.md.

Every node is recomputed element by element with Python integers and
:class:`fractions.Fraction` from the integer constants a QuantizedGraph holds
(weight codes, block exponents, bias integers, multipliers, shifts, scales).
Rounding to an activation format comes from the format's definition
(``rounding_reference.ref_round`` for integer/fixed grids,
``arith_reference.round_to_format`` for floats), accumulators from
``arith_reference.ref_sum``; nothing here calls numfmt's kernels except
``Format.decode`` for weight codes.

Block (MX) activations are encoded here from the OCP MX rules
(:func:`mx_encode_row`: shared exponent ``floor(log2 amax) - emax_elem``
clamped to E8M0's −127..127, elements rounded by the element format and
saturating), never with ``BlockFormat.encode``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from fractions import Fraction

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "arith"))
sys.path.insert(0, os.path.join(_HERE, "..", "quant"))
import arith_reference as AR  # noqa: E402
from rounding_reference import ref_round  # noqa: E402

from numfmt.arith import ExactAccumulator, FixedAccumulator  # noqa: E402
from numfmt.formats import FloatFormat, IntFormat  # noqa: E402
from numfmt.modes import Overflow  # noqa: E402
from numfmt.nn.layers import MaxPool2d, ReLU, ReLU6  # noqa: E402

TWO = Fraction(2)


def round_act(fmt, q: Fraction) -> Fraction:
    """``q`` rounded to the activation format ``fmt`` (its rounding; floats saturate; zero is +0)."""
    if isinstance(fmt, FloatFormat):
        sat = dataclasses.replace(fmt, overflow=Overflow.SATURATE)
        return Fraction(AR.round_to_format(sat, q, "rne"))
    if isinstance(fmt, IntFormat):
        F, lo, hi, width = 0, fmt.min, fmt.max, fmt.bits
    else:
        F, lo, hi, width = fmt.frac_bits, fmt.min_int, fmt.max_int, fmt.width
    r = ref_round(q * TWO ** F, fmt.rounding)
    if fmt.overflow is Overflow.SATURATE:
        r = min(max(r, lo), hi)
    elif fmt.overflow is Overflow.WRAP:
        r = (r - lo) % (1 << width) + lo
    else:
        raise NotImplementedError(fmt.overflow)
    return Fraction(r) / TWO ** F


def dyadic(K: int, b: int, c: int) -> Fraction:
    return Fraction(K * b) / TWO ** c


def _floor_log2(a: Fraction) -> int:
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while TWO ** e > a:
        e -= 1
    while TWO ** (e + 1) <= a:
        e += 1
    return e


def mx_encode_row(row, bf):
    """OCP MX encoding of a list of Fractions along its length: ``[(element values, e), ...]`` per block."""
    assert bf.scale.exp == 8 and bf.scale.man == 0 and str(bf.rule) in ("ocp", "ScaleRule.OCP")
    emax = _floor_log2(Fraction(bf.element.max))
    out = []
    for j in range(0, len(row), bf.block):
        blk = row[j:j + bf.block]
        amax = max(abs(v) for v in blk)
        e = -127 if amax == 0 else min(max(_floor_log2(amax) - emax, -127), 127)
        out.append(([round_act(bf.element, v / TWO ** e) for v in blk], e))
    return out


def _block_output(node, o, row, w):
    """Σ_j 2**e_j · (element dot product of block j), accumulated, plus the FP32 bias, rounded to FP32."""
    terms = []
    sigma = Fraction(float(node.channel_scale[o]))           # a power of two for block weights
    assert sigma.numerator == 1 or sigma.denominator == 1
    for j, (elems, e) in enumerate(mx_encode_row(row, node.x.block)):
        k0 = j * node.x.block.block
        terms.append(sum((x * w[o, k0 + i] for i, x in enumerate(elems)), Fraction(0)) * sigma * TWO ** e)
    bias = Fraction(int(node.bias[o])) * TWO ** int(node.acc_exp[o])
    if isinstance(node.acc, ExactAccumulator):
        total = sum(terms, Fraction(0)) + bias
    else:
        c = AR.ref_sum([float(t) for t in terms], node.acc, 0.0)
        total = Fraction(AR.ref_sum([float(c), float(bias)], node.acc, 0.0))
    return round_act(node.out.format, total)


def ref_input(node, x):
    s = node.out.scale
    return np.vectorize(lambda v: round_act(node.out.format, Fraction(float(v) / s)), otypes=[object])(x)


def _weights(node):
    w = node.weight_format.decode(node.weight_codes)
    out = np.empty(w.shape, dtype=object)
    for idx in np.ndindex(w.shape):
        out[idx] = Fraction(float(w[idx])) * TWO ** int(node.weight_exp[idx])
    return out


def _acc_output(node, o, products):
    """The accumulator's value in units of 2**acc_exp[o], products in reduction order.

    An integer, except for a fixed register that saturated and left the ``2**acc_exp`` grid:
    then the register's exact value (a Fraction) goes to the requantizer (docs/nn.md).
    """
    acc = node.acc
    unit = TWO ** int(node.acc_exp[o])
    init = Fraction(int(node.bias[o])) * unit
    if isinstance(acc, ExactAccumulator):
        total = init + sum(products, Fraction(0))
    else:
        total = Fraction(AR.ref_sum([float(p) for p in products], acc, float(init)))
    k = total / unit
    if isinstance(acc, FixedAccumulator) and k.denominator != 1:
        assert (total * 2 ** acc.frac_bits).denominator == 1       # a register value
        return k
    assert k.denominator == 1
    return int(k)


def _requant(node, o, K):
    return round_act(node.out.format, dyadic(K, int(node.multiplier[o]), int(node.shift[o])))


def ref_dense(node, x):
    w = _weights(node)
    n, out = x.shape[0], w.shape[0]
    y = np.empty((n, out), dtype=object)
    for i in range(n):
        for o in range(out):
            if node.x.block is not None:
                y[i, o] = _block_output(node, o, list(x[i]), w.reshape(out, -1))
                continue
            prods = [x[i, k] * w[o, k] for k in range(w.shape[1])]
            y[i, o] = _requant(node, o, _acc_output(node, o, prods))
    return y


def ref_conv(node, x):
    w = _weights(node)
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = node.stride, node.padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.empty((n, oc, oh, ow), dtype=object)
    for b in range(n):
        for o in range(oc):
            for i in range(oh):
                for j in range(ow):
                    patch, prods = [], []
                    for ci in range(c):          # (c, kh, kw) in C order, padding zeros included
                        for di in range(kh):
                            for dj in range(kw):
                                r, s = i * sh + di - ph, j * sw + dj - pw
                                xv = x[b, ci, r, s] if 0 <= r < h and 0 <= s < wd else Fraction(0)
                                patch.append(xv)
                                prods.append(xv * w[o, ci, di, dj])
                    if node.x.block is not None:
                        y[b, o, i, j] = _block_output(node, o, patch, w.reshape(oc, -1))
                    else:
                        y[b, o, i, j] = _requant(node, o, _acc_output(node, o, prods))
    return y


def ref_passthrough(node, x):
    layer = node.layer
    if isinstance(layer, (ReLU, ReLU6)):
        f = np.vectorize(lambda v: v if v > 0 else Fraction(0), otypes=[object])
        y = f(x)
        if isinstance(layer, ReLU6):
            t = Fraction(node.clip)
            y = np.vectorize(lambda v: min(v, t), otypes=[object])(y)
        return y
    if isinstance(layer, MaxPool2d):
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        n, c, h, w = x.shape
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        y = np.empty((n, c, oh, ow), dtype=object)
        for idx in np.ndindex(y.shape):
            b, ch, i, j = idx
            y[idx] = max(x[b, ch, i * sh + di, j * sw + dj] for di in range(kh) for dj in range(kw))
        return y
    return x.reshape(x.shape[0], -1)


def ref_avgpool(node, x):
    (kh, kw), (sh, sw) = node.kernel, node.stride
    if node.out.block is not None:                   # FP32 carrier: exact mean, one rounding
        n, c, h, w = x.shape
        y = np.empty((n, c, (h - kh) // sh + 1, (w - kw) // sw + 1), dtype=object)
        for b, ch, i, j in np.ndindex(y.shape):
            S = sum(x[b, ch, i * sh + di, j * sw + dj] for di in range(kh) for dj in range(kw))
            y[b, ch, i, j] = round_act(node.out.format, S / (kh * kw))
        return y
    q = node.out.quantum
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = np.empty((n, c, oh, ow), dtype=object)
    for idx in np.ndindex(y.shape):
        b, ch, i, j = idx
        S = sum(x[b, ch, i * sh + di, j * sw + dj] / TWO ** q for di in range(kh) for dj in range(kw))
        assert S.denominator == 1
        y[idx] = round_act(node.out.format, dyadic(int(S), node.multiplier, node.shift))
    return y


def ref_add(node, a, b):
    if node.out.block is not None:                   # FP32 carrier, scales 1: exact sum, one rounding
        return np.vectorize(lambda u, v: round_act(node.out.format, u + v), otypes=[object])(a, b)
    ma, mb = node.multipliers
    qa, qb = node.xa.quantum, node.xb.quantum
    y = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        A, B = a[idx] / TWO ** qa, b[idx] / TWO ** qb
        assert A.denominator == 1 and B.denominator == 1
        y[idx] = round_act(node.out.format, dyadic(int(A) * ma + int(B) * mb, 1, node.shift))
    return y


def ref_run(q, x):
    """Every node's output values (object arrays of Fractions) for float inputs ``x``."""
    vals = {}
    for node in q.nodes:
        ins = [vals[i] for i in node.inputs]
        if node.op == "input":
            vals[node.name] = ref_input(node, np.asarray(x, dtype=np.float64))
        elif node.op == "linear":
            vals[node.name] = (ref_conv if node.kind == "conv" else ref_dense)(node, ins[0])
        elif node.op == "passthrough":
            vals[node.name] = ref_passthrough(node, ins[0])
        elif node.op == "avgpool":
            vals[node.name] = ref_avgpool(node, ins[0])
        elif node.op == "add":
            vals[node.name] = ref_add(node, ins[0], ins[1])
        else:
            raise AssertionError(node.op)
    return vals


def as_float(a):
    """Object array of Fractions as float64 (each must be exact)."""
    out = np.array([float(v) for v in a.ravel()], dtype=np.float64).reshape(a.shape)
    assert all(Fraction(f) == v for f, v in zip(out.ravel(), a.ravel()))
    return out


def ref_multiplier(real_scale: Fraction, mult_bits: int):
    """The nearest ``b * 2**-c`` with ``2**(mult_bits-1) <= b < 2**mult_bits`` (ties to even b)."""
    e = math.floor(math.log2(real_scale)) if real_scale > 0 else 0
    while TWO ** e > real_scale:
        e -= 1
    while TWO ** (e + 1) <= real_scale:
        e += 1
    c = mult_bits - 1 - e
    b = round(real_scale * TWO ** c)
    if b == 1 << mult_bits:
        b, c = b >> 1, c - 1
    return b, c

