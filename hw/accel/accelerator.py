"""A :class:`numfmt.nn.QuantizedGraph` as a streaming dataflow accelerator (one stage per layer).

:class:`Accelerator` connects the stages of :mod:`numfmt.hw.accel.stages` and
:mod:`numfmt.hw.accel.window` — a folded :class:`~numfmt.hw.accel.MatrixVector` per Dense
layer, a :class:`~numfmt.hw.accel.Convolution` (sliding window + matrix–vector unit) per
Conv2d, an :class:`~numfmt.hw.accel.Activation` per ReLU/ReLU6/Flatten,
:class:`~numfmt.hw.accel.MaxPool`, :class:`~numfmt.hw.accel.AvgPool`,
:class:`~numfmt.hw.accel.Add`, an :class:`~numfmt.hw.accel.Argmax` at the end — with
valid/ready streams, a :class:`amaranth.lib.fifo.SyncFIFOBuffered` in front of a
matrix–vector stage whose initiation interval differs from the previous one's, and for a
residual Add a fork, a FIFO on the skip path and a join. It is a
:class:`numfmt.hw.rtl.Unit`: one input transaction is one image (fields ``x0 … x{n-1}``,
the input codes in C order, :meth:`input_codes`), one output transaction its logits
(``y0 …``, codes of the output format) and ``label`` (the predicted class). Its
:meth:`model` is the QuantizedGraph's datapath, node by node. See ``docs/accel.md``.

>>> from numfmt import nn
>>> x_train, _, x_test, _ = nn.digits_data()
>>> q = nn.quantize(nn.digits_mlp(), nn.QConfig(weight="int8", act="int8"), x_train)
>>> acc = Accelerator(q, folding={"dense0": (8, 8), "dense2": (8, 8), "dense4": (2, 8)})
>>> [(s.node.name, s.cycles) for s in acc.mvus]
[('dense0', 64), ('dense2', 32), ('dense4', 20)]
>>> acc.ii, acc.latency_cycles
(67, 130)
>>> out = acc.model(acc.input_codes(x_test[:5]))
>>> (out["label"] == q.predict(x_test[:5])).all()
np.True_
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib.fifo import SyncFIFOBuffered

from numfmt.nn.layers import Dense, Flatten, MaxPool2d, ReLU, ReLU6
from numfmt.nn.quantized import QAdd, QAvgPool, QInput, QLinear, QPassThrough, QuantizedGraph

from ..rtl._unit import Unit
from .stages import Activation, Argmax, MatrixVector, constants_digest, vector_fields
from .window import Add, AvgPool, Convolution, MaxPool
from .variants import VARIANTS, BitSerialMatrixVector, LutMatrixVector

__all__ = ["Accelerator", "FIFO_LATENCY"]

#: Cycles a :class:`~amaranth.lib.fifo.SyncFIFOBuffered` adds from write to read
#: handshake when empty (its memory read and output register).
FIFO_LATENCY = 2


def dense_stage(node, pe: int, simd: int, variant="mvu"):
    """The matrix–vector stage of a Dense node, chosen by the node's formats and accumulator,
    and by ``variant`` (:data:`~numfmt.hw.accel.variants.VARIANTS`): ``"mvu"`` the
    :class:`MatrixVector`, ``"bitserial"`` / ``"lutgemm"`` the stages of :mod:`.variants`."""
    if variant == "bitserial":
        return BitSerialMatrixVector(node, pe=pe, simd=simd)
    if variant == "lutgemm":
        return LutMatrixVector(node, pe=pe, simd=simd)
    if variant != "mvu":
        raise ValueError(f"node {node.name!r}: variant must be "
                         f"{', '.join(repr(v) for v in VARIANTS)}, not {variant!r}")
    if isinstance(node, QLinear) and node.x.block is not None:     # MX / BFP: block activations
        from .block_mvu import BlockMatrixVector
        return BlockMatrixVector(node, pe=pe, simd=simd)
    from .float_mvu import FloatMatrixVector, is_float_node
    if is_float_node(node):                       # minifloat input, weights or output
        return FloatMatrixVector(node, pe=pe, simd=simd)
    return MatrixVector(node, pe=pe, simd=simd)


def _image_shape(node, shape) -> tuple:
    """``shape`` if it is ``(C, H, W)``, else a ValueError naming the node."""
    if len(shape) != 3:
        kind = "Conv2d" if isinstance(node, QLinear) else type(getattr(node, "layer", node)).__name__
        raise ValueError(f"node {node.name!r}: {kind} needs a (C, H, W) input, not shape {tuple(shape)}")
    return tuple(shape)


def _residual_skips(nodes, output: str) -> dict:
    """Add node name -> ``(fork, branch)`` for the residual Adds of a graph (in topological order).

    The accelerator forks a stream in two only for an identity skip: a node ``fork`` read by
    exactly two nodes, an Add and the first node of a branch — a chain of one-input nodes,
    each read only by the next — whose last node is the Add's other input. ValueError for
    any other shape of graph (naming the node)."""
    by_name = {n.name: n for n in nodes}
    readers = {n.name: [] for n in nodes}
    for n in nodes[1:]:
        for src in n.inputs:
            readers[src].append(n.name)
    skips = {}
    for n in nodes[1:]:
        if not isinstance(n, QAdd):
            continue
        a, b = n.inputs
        if a == b:
            raise ValueError(f"node {n.name!r} adds {a!r} to itself; the accelerator needs a residual Add "
                             "(an identity skip around a branch)")
        for fork, end in ((a, b), (b, a)):
            branch, e = [], end
            while e != fork and not isinstance(by_name[e], QInput) and len(by_name[e].inputs) == 1 \
                    and readers[e] == ([n.name] if not branch else [branch[-1]]):
                branch.append(e)
                e = by_name[e].inputs[0]
            if e == fork and branch and sorted(readers[fork]) == sorted([n.name, branch[-1]]):
                skips[n.name] = (fork, branch[::-1])
                break
        else:
            raise ValueError(f"node {n.name!r}: the accelerator takes an Add only as an identity skip: one "
                             f"input ({a!r} or {b!r}) read by the Add and by the first node of a chain "
                             "(one-input nodes, each read only by the next) that ends at the other input")
    forks = {fork for fork, _ in skips.values()}
    for name, rs in readers.items():
        if name == output:
            if rs:
                raise ValueError(f"the graph's output {output!r} is also read by {rs}; the accelerator's "
                                 "output stage must be its only reader")
        elif not rs:
            raise ValueError(f"node {name!r} is read by no node and is not the graph's output {output!r}")
        elif len(rs) > 1 and name not in forks:
            raise ValueError(f"node {name!r} is read by {rs}; the accelerator forks a stream only for "
                             "a residual Add's identity skip")
    return skips


def _fork(m, name: str, payload, valid, ready, n: int) -> list:
    """``n`` ends ``(payload, valid, ready)`` of one stream (an eager fork): each end offers the
    transaction until it takes it, and the source's ``ready`` rises in the cycle the last end
    takes it. An end's ``valid`` depends on no ``ready``."""
    taken = [Signal(name=f"{name}_taken{j}") for j in range(n)]
    readys = [Signal(name=f"{name}_ready{j}") for j in range(n)]
    all_taken = taken[0] | readys[0]
    for j in range(1, n):
        all_taken = all_taken & (taken[j] | readys[j])
    m.d.comb += ready.eq(all_taken)
    for j in range(n):
        with m.If(valid & ready):
            m.d.sync += taken[j].eq(0)
        with m.Elif(valid & ~taken[j] & readys[j]):
            m.d.sync += taken[j].eq(1)
    return [(payload, valid & ~taken[j], readys[j]) for j in range(n)]


class Accelerator(Unit):
    """The streaming accelerator of a :class:`~numfmt.nn.QuantizedGraph`.

    Parameters
    ----------
    graph : numfmt.nn.QuantizedGraph
        Dense, Conv2d, ReLU, ReLU6, MaxPool2d, AvgPool2d, Flatten and Add nodes with
        IntFormat activations, IntFormat/FixedFormat weights with one scale per output
        channel and the exact accumulator or a ``FixedAccumulator``: a chain, except that a
        node may be read by an Add and by the first node of a branch (a chain) ending at the
        Add's other input — an identity skip (:attr:`skips`).
    folding : dict, optional
        Dense node name → ``(pe, simd)``; a node not named runs fully serial ``(1, 1)``.
    variants : str or dict, optional
        The matrix–vector datapath (:data:`~numfmt.hw.accel.variants.VARIANTS`) of every
        Dense node (a str), or Dense node name → variant (a node not named: ``"mvu"``):
        ``"mvu"`` (:class:`MatrixVector`), ``"bitserial"``
        (:class:`~numfmt.hw.accel.BitSerialMatrixVector`), ``"lutgemm"``
        (:class:`~numfmt.hw.accel.LutMatrixVector`).
    fifo_depth : int
        Depth (≥ 3) of the FIFOs between matrix–vector stages of different rates, in
        vectors. (A ``SyncFIFOBuffered`` of depth 2 keeps a one-row memory with a 0-bit
        address, which Verilator's lint rejects.)

    Attributes
    ----------
    stages : list of Unit
        The stages in the graph's order, the Argmax last (FIFOs, forks and joins are not stages).
    sources, stage_nodes : list
        Per stage: the names of the nodes it reads, and its node's name (``None``: the Argmax).
    skips : dict
        Add node name → ``(fork, branch)``: the node its skip path leaves and the branch's nodes.
    skip_depth : dict
        Add node name → the depth of the FIFO on its skip path.
    mvus : list of MatrixVector
        Every matrix–vector unit (a Conv2d's inside its :class:`~numfmt.hw.accel.Convolution`).
    ii : int
        The model's cycles per image in steady state with ``o`` never stalled: the
        slowest stage's (for Dense layers ``max((out/pe)·(in/simd)) + 3``).
    latency_cycles : int
        The model's cycles from an image's input handshake to its output handshake
        through an empty pipeline: along the graph, each stage's latency after the later
        of its inputs, a FIFO adding :data:`FIFO_LATENCY` to its path.
    latency : None
        Not fixed: an image waits behind the previous ones at the slowest stage.
    """

    latency = None

    def __init__(self, graph, folding: dict | None = None, *, fifo_depth: int = 4, variants=None):
        if not isinstance(graph, QuantizedGraph):
            raise TypeError(f"graph must be a numfmt.nn.QuantizedGraph, not {type(graph).__name__}")
        folding = {} if folding is None else folding
        if not isinstance(folding, dict):
            raise TypeError(f"folding must be a dict of Dense node name -> (pe, simd), not {folding!r}")
        if isinstance(fifo_depth, bool) or not isinstance(fifo_depth, (int, np.integer)) or fifo_depth < 3:
            raise ValueError(f"fifo_depth must be an integer ≥ 3, not {fifo_depth!r}")
        self.graph, self.fifo_depth = graph, int(fifo_depth)
        nodes = graph.nodes
        if not isinstance(nodes[0], QInput):
            raise ValueError(f"graph must start with its input node, not {nodes[0].name!r}")
        dense = {n.name for n in nodes if isinstance(n, QLinear)}
        for name, fold in folding.items():
            if name not in dense:
                raise ValueError(f"folding names {name!r}, which is not a Dense node of the graph "
                                 f"({', '.join(sorted(dense)) or 'none'})")
            if not isinstance(fold, (tuple, list)) or len(fold) != 2:
                raise ValueError(f"folding[{name!r}] must be a pair (pe, simd), not {fold!r}")
        if variants is None or isinstance(variants, str):
            variants = dict.fromkeys(dense, variants or "mvu")
        if not isinstance(variants, dict):
            raise TypeError(f"variants must be a str or a dict of Dense node name -> variant, not {variants!r}")
        for name in variants:
            if name not in dense:
                raise ValueError(f"variants names {name!r}, which is not a Dense node of the graph "
                                 f"({', '.join(sorted(dense)) or 'none'})")
        self.input_format = nodes[0].out.format
        self.input_shape = tuple(graph.input_shape)
        #: per stage (in graph order, the Argmax last): the node names it reads, and its node's name
        self.sources, self.stage_nodes = [], []
        #: Add node name -> ``(fork, branch)``: the node its identity skip leaves, and the branch's nodes
        self.skips = _residual_skips(nodes, graph.output)
        shapes = {nodes[0].name: self.input_shape}
        self.stages = []
        for node in nodes[1:]:
            shape = shapes[node.inputs[0]]
            size = int(np.prod(shape))
            if isinstance(node, QLinear) and node.kind == "dense":
                pe, simd = folding.get(node.name, (1, 1))
                stage = dense_stage(node, pe, simd, variants.get(node.name, "mvu"))
                if stage.n_in != size:
                    raise ValueError(f"node {node.name!r} takes {stage.n_in} inputs, but its input has {size}")
                out_shape = (stage.n_out,)
            elif isinstance(node, QLinear) and node.kind == "conv":
                pe, simd = folding.get(node.name, (1, 1))
                variant = variants.get(node.name, "mvu")
                stage = Convolution(node, _image_shape(node, shape), pe=pe, simd=simd,
                                    matrix_vector=lambda view, p, s, v=variant: dense_stage(view, p, s, v))
                out_shape = stage.out_shape
            elif isinstance(node, QPassThrough) and isinstance(node.layer, (ReLU, ReLU6, Flatten)):
                stage = Activation(node, size)
                out_shape = (size,) if isinstance(node.layer, Flatten) else shape
            elif isinstance(node, QPassThrough) and isinstance(node.layer, MaxPool2d):
                stage = MaxPool(node, _image_shape(node, shape))
                out_shape = stage.out_shape
            elif isinstance(node, QAvgPool):
                stage = AvgPool(node, _image_shape(node, shape))
                out_shape = stage.out_shape
            elif isinstance(node, QAdd):
                if shapes[node.inputs[1]] != shape:
                    raise ValueError(f"node {node.name!r} adds shapes {shape} and {shapes[node.inputs[1]]}")
                stage = Add(node, size, lanes=shape[0] if len(shape) == 3 else 1)
                out_shape = shape
            else:
                layer = getattr(node, "layer", None)
                kind = type(layer).__name__ if layer is not None else f"{type(node).__name__} ({node.op})"
                raise ValueError(f"node {node.name!r}: {kind} is not supported by the accelerator yet "
                                 "(Dense, Conv2d, ReLU, ReLU6, MaxPool2d, AvgPool2d, Flatten, Add)")
            shapes[node.name] = tuple(out_shape)
            self.stages.append(stage)
            self.sources.append(tuple(node.inputs))
            self.stage_nodes.append(node.name)
        if not any(isinstance(s, (MatrixVector, Convolution)) for s in self.stages):
            raise ValueError("graph has no Dense or Conv2d node: nothing to accelerate")
        out = graph.node(graph.output)
        self.output_format = out.out.format
        self.stages.append(Argmax(self.output_format, int(np.prod(shapes[out.name]))))
        self.sources.append((out.name,))
        self.stage_nodes.append(None)
        #: the matrix-vector units, a Conv2d's inside its Convolution stage
        self.mvus = [s.mvu if isinstance(s, Convolution) else s for s in self.stages
                     if isinstance(s, (MatrixVector, Convolution))]
        #: indices of the stages with a FIFO in front: every matrix-vector stage (Dense or Conv2d)
        #: whose rate differs from the previous matrix-vector stage's
        self.fifo_before = set()
        last = None
        for k, stage in enumerate(self.stages):
            if isinstance(stage, (MatrixVector, Convolution)):
                if last is not None and stage.ii != last.ii:
                    self.fifo_before.add(k)
                last = stage
        #: Add node name -> depth of the FIFO on its skip path: one more than the tensors its
        #: branch can hold (a stage with registers holds one, a FIFO its depth), at least 3
        self.skip_depth = {}
        index = {name: k for k, name in enumerate(self.stage_nodes)}
        for add, (_, branch) in self.skips.items():
            held = sum((self.stages[index[b]].latency > 0) + self.fifo_depth * (index[b] in self.fifo_before)
                       for b in branch)
            self.skip_depth[add] = max(3, held + 1)
        self.ii = max(s.ii for s in self.stages)
        # arrival: the cycle a node's tensor is handed on, counted from the input handshake; a FIFO
        # adds FIFO_LATENCY to its path, and an Add waits for its later input
        arrival = {nodes[0].name: 0}
        for k, stage in enumerate(self.stages):
            start = max(arrival[src] + FIFO_LATENCY * (self._fifo_depth(k, j) is not None)
                        for j, src in enumerate(self.sources[k]))
            arrival[self.stage_nodes[k]] = start + stage.latency
        self.latency_cycles = arrival[None]
        super().__init__(vector_fields("x", int(np.prod(self.input_shape)), self.input_format),
                         self.stages[-1].out_fields)

    def _fifo_depth(self, k: int, j: int):
        """The depth of the FIFO on input ``j`` of stage ``k`` (a rate FIFO in front of a
        matrix-vector stage, or an Add's skip path), ``None`` without one."""
        if k in self.fifo_before:
            return self.fifo_depth
        add = self.stage_nodes[k]
        if add in self.skips and self.sources[k][j] == self.skips[add][0]:
            return self.skip_depth[add]
        return None

    def parameters(self) -> dict:
        return {"folding": "_".join(f"{s.pe}x{s.simd}{getattr(s, 'variant', '')}" for s in self.mvus),
                "fifo": self.fifo_depth,
                "formats": f"{self.input_format}_{self.mvus[0].node.weight_format}",
                "shape": "_".join(str(s.n_out) for s in self.mvus),
                "constants": constants_digest(self.graph.nodes[1:])}

    # -- hardware -------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        # the stream each node's tensor leaves on: (payload, valid, ready) — ready driven here
        out = {self.graph.input_name: (self.i.payload.as_value(), self.i.valid, self.i.ready)}
        ends = {}                                          # (node, reader stage) -> its end of a fork
        for k, stage in enumerate(self.stages):
            m.submodules[f"stage{k}"] = stage
            ins = []
            for j, src in enumerate(self.sources[k]):
                if (src, k) in ends:
                    payload, valid, ready = ends.pop((src, k))
                else:
                    readers = [r for r, srcs in enumerate(self.sources) if src in srcs]
                    if len(readers) == 1:
                        payload, valid, ready = out[src]
                    else:                                  # an identity skip: fork into two ends
                        forked = _fork(m, src, *out[src], len(readers))
                        ends.update({(src, r): e for r, e in zip(readers, forked)})
                        payload, valid, ready = ends.pop((src, k))
                depth = self._fifo_depth(k, j)
                if depth is not None:
                    fifo = m.submodules[f"fifo{k}_{j}"] = SyncFIFOBuffered(width=len(payload), depth=depth)
                    m.d.comb += [fifo.w_data.eq(payload), fifo.w_en.eq(valid), ready.eq(fifo.w_rdy)]
                    payload, valid, ready = fifo.r_data, fifo.r_rdy, fifo.r_en
                ins.append((payload, valid, ready))
            valid = ins[0][1] if len(ins) == 1 else ins[0][1] & ins[1][1]
            m.d.comb += [stage.i.payload.as_value().eq(Cat(*(p for p, _, _ in ins))), stage.i.valid.eq(valid)]
            m.d.comb += [r.eq(stage.i.ready & valid) if len(ins) > 1 else r.eq(stage.i.ready) for _, _, r in ins]
            out[self.stage_nodes[k]] = (stage.o.payload.as_value(), stage.o.valid, stage.o.ready)
        src = self.stages[-1].o
        m.d.comb += [self.o.payload.eq(src.payload), self.o.valid.eq(src.valid), src.ready.eq(self.o.ready)]
        return m

    # -- model ----------------------------------------------------------------------------
    def input_codes(self, x) -> dict:
        """The input transactions of images ``x`` (``(n,) + input_shape`` floats): the
        QuantizedGraph's input node (its format and scale), as fields ``x<k>``."""
        codes = self.graph.trace(x)[self.graph.input_name].reshape(len(x), -1)
        return {f"x{k}": codes[:, k].astype(np.uint64) for k in range(codes.shape[1])}

    def model(self, inputs: dict) -> dict:
        """The stages' models in graph order: each node's ``run`` of the QuantizedGraph on the codes."""
        n_in = int(np.prod(self.input_shape))
        codes = {self.graph.input_name: [inputs[f"x{k}"] for k in range(n_in)]}
        for k, stage in enumerate(self.stages):
            prefixes = ("x",) if len(self.sources[k]) == 1 else ("a", "b")
            args = {f"{p}{e}": v for p, src in zip(prefixes, self.sources[k]) for e, v in enumerate(codes[src])}
            result = stage.model(args)
            codes[self.stage_nodes[k]] = [result[f"y{e}"] for e in range(stage.n_out)]
        return result
