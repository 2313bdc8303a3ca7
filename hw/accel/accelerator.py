"""A :class:`numfmt.nn.QuantizedGraph` as a streaming dataflow accelerator (one stage per layer).

:class:`Accelerator` chains the stages of :mod:`numfmt.hw.accel.stages` — a folded
:class:`~numfmt.hw.accel.MatrixVector` per Dense layer, an
:class:`~numfmt.hw.accel.Activation` per ReLU/ReLU6/Flatten, an
:class:`~numfmt.hw.accel.Argmax` at the end — with valid/ready streams, and a
:class:`amaranth.lib.fifo.SyncFIFOBuffered` in front of a matrix–vector stage whose
initiation interval differs from the previous one's. It is a
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
from amaranth.hdl import Module
from amaranth.lib.fifo import SyncFIFOBuffered

from numfmt.nn.layers import Dense, Flatten, ReLU, ReLU6
from numfmt.nn.quantized import QInput, QLinear, QPassThrough, QuantizedGraph

from ..rtl._unit import Unit
from .stages import Activation, Argmax, MatrixVector, constants_digest, vector_fields

__all__ = ["Accelerator", "FIFO_LATENCY"]

#: Cycles a :class:`~amaranth.lib.fifo.SyncFIFOBuffered` adds from write to read
#: handshake when empty (its memory read and output register).
FIFO_LATENCY = 2


class Accelerator(Unit):
    """The streaming accelerator of a sequential :class:`~numfmt.nn.QuantizedGraph`.

    Parameters
    ----------
    graph : numfmt.nn.QuantizedGraph
        A chain of Dense, ReLU, ReLU6 and Flatten nodes (each consuming the previous
        one) with IntFormat activations, IntFormat/FixedFormat weights with one scale
        per output channel and the exact accumulator or a ``FixedAccumulator``.
    folding : dict, optional
        Dense node name → ``(pe, simd)``; a node not named runs fully serial ``(1, 1)``.
    fifo_depth : int
        Depth (≥ 3) of the FIFOs between matrix–vector stages of different rates, in
        vectors. (A ``SyncFIFOBuffered`` of depth 2 keeps a one-row memory with a 0-bit
        address, which Verilator's lint rejects.)

    Attributes
    ----------
    stages : list of Unit
        The stages in order (FIFOs are not stages).
    mvus : list of MatrixVector
    ii : int
        The model's cycles per image in steady state with ``o`` never stalled: the
        slowest stage's, ``max((out/pe)·(in/simd)) + 3``.
    latency_cycles : int
        The model's cycles from an image's input handshake to its output handshake
        through an empty pipeline: the stages' latencies plus :data:`FIFO_LATENCY` per FIFO.
    latency : None
        Not fixed: an image waits behind the previous ones at the slowest stage.
    """

    latency = None

    def __init__(self, graph, folding: dict | None = None, *, fifo_depth: int = 4):
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
        self.input_format = nodes[0].out.format
        self.input_shape = tuple(graph.input_shape)
        size = int(np.prod(self.input_shape))
        self.stages, prev = [], nodes[0]
        for node in nodes[1:]:
            if tuple(node.inputs) != (prev.name,):
                raise ValueError(f"node {node.name!r} takes {list(node.inputs)}; the accelerator needs a chain "
                                 f"(each node consuming the previous one, {prev.name!r})")
            if isinstance(node, QLinear) and node.kind == "dense":
                pe, simd = folding.get(node.name, (1, 1))
                stage = MatrixVector(node, pe=pe, simd=simd)
                if stage.n_in != size:
                    raise ValueError(f"node {node.name!r} takes {stage.n_in} inputs, but its input has {size}")
                size = stage.n_out
            elif isinstance(node, QPassThrough) and isinstance(node.layer, (ReLU, ReLU6, Flatten)):
                stage = Activation(node, size)
            else:
                layer = getattr(node, "layer", None)
                kind = ("Conv2d" if isinstance(node, QLinear) else type(layer).__name__ if layer is not None
                        else f"{type(node).__name__} ({node.op})")
                raise ValueError(f"node {node.name!r}: {kind} is not supported by the accelerator yet "
                                 "(Dense, ReLU, ReLU6, Flatten)")
            self.stages.append(stage)
            prev = node
        if prev.name != graph.output:
            raise ValueError(f"the chain ends at {prev.name!r}, not at the graph's output {graph.output!r}")
        if not any(isinstance(s, MatrixVector) for s in self.stages):
            raise ValueError("graph has no Dense node: nothing to accelerate")
        self.output_format = prev.out.format
        self.stages.append(Argmax(self.output_format, size))
        self.mvus = [s for s in self.stages if isinstance(s, MatrixVector)]
        #: indices of the stages with a FIFO in front: every matrix-vector stage whose rate
        #: differs from the previous matrix-vector stage's
        self.fifo_before = set()
        last = None
        for k, stage in enumerate(self.stages):
            if isinstance(stage, MatrixVector):
                if last is not None and stage.ii != last.ii:
                    self.fifo_before.add(k)
                last = stage
        self.ii = max(s.ii for s in self.stages)
        self.latency_cycles = sum(s.latency for s in self.stages) + FIFO_LATENCY * len(self.fifo_before)
        super().__init__(vector_fields("x", self.stages[0].n_in, self.input_format), self.stages[-1].out_fields)

    def parameters(self) -> dict:
        return {"folding": "_".join(f"{s.pe}x{s.simd}" for s in self.mvus), "fifo": self.fifo_depth,
                "formats": f"{self.input_format}_{self.mvus[0].node.weight_format}",
                "shape": "_".join(str(s.n_out) for s in self.mvus),
                "constants": constants_digest(self.graph.nodes[1:])}

    # -- hardware -------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        src = self.i                                        # the stream feeding the next stage
        for k, stage in enumerate(self.stages):
            m.submodules[f"stage{k}"] = stage
            if k in self.fifo_before:
                width = len(src.payload.as_value())
                fifo = m.submodules[f"fifo{k}"] = SyncFIFOBuffered(width=width, depth=self.fifo_depth)
                m.d.comb += [fifo.w_data.eq(src.payload.as_value()), fifo.w_en.eq(src.valid),
                             src.ready.eq(fifo.w_rdy)]
                m.d.comb += [stage.i.payload.as_value().eq(fifo.r_data), stage.i.valid.eq(fifo.r_rdy),
                             fifo.r_en.eq(stage.i.ready)]
            else:
                m.d.comb += [stage.i.payload.as_value().eq(src.payload.as_value()), stage.i.valid.eq(src.valid),
                             src.ready.eq(stage.i.ready)]
            src = stage.o
        m.d.comb += [self.o.payload.eq(src.payload), self.o.valid.eq(src.valid), src.ready.eq(self.o.ready)]
        return m

    # -- model ----------------------------------------------------------------------------
    def input_codes(self, x) -> dict:
        """The input transactions of images ``x`` (``(n,) + input_shape`` floats): the
        QuantizedGraph's input node (its format and scale), as fields ``x<k>``."""
        codes = self.graph.trace(x)[self.graph.input_name].reshape(len(x), -1)
        return {f"x{k}": codes[:, k].astype(np.uint64) for k in range(codes.shape[1])}

    def model(self, inputs: dict) -> dict:
        """The stages' models in turn: each node's ``run`` of the QuantizedGraph on the codes."""
        values = inputs
        for stage in self.stages:
            out = stage.model(values)
            values = {"x" + name[1:]: v for name, v in out.items() if name.startswith("y")}
        return out
