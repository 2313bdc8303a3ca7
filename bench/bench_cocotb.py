"""Throughput of the cocotb verification flow (``sim.check``) on an 8×8-bit multiplier.

    python bench/bench_cocotb.py [--lanes 1 8 16 32] [--random 1048576] [--repeat 3]

Prints, for each number of lanes (vectors per clock cycle):

* ``exhaustive``: wall time of ``sim.check`` over all 65,536 input pairs with the
  build already cached — Verilog generation, cache lookup, the numfmt model, the
  simulator run (start-up included) and the comparison; best of ``--repeat``;
* ``vectors/s``: ``--random`` random vectors through the same flow, end to end
  (wall time of the whole ``sim.check`` call, cached build);
* ``loop vectors/s``: the same run's vectors over the time of the clocked loop inside
  the simulator (without the simulator's start-up and the file transfers).

The first call per lane count builds the simulator (not timed; its build time is printed).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from amaranth.hdl import Module

import numfmt as nf
from numfmt import sim
from numfmt.hw.rtl import Field, Unit, pipeline

U8 = nf.IntFormat(8, signed=False)
U16 = nf.IntFormat(16, signed=False)


class Mul8(Unit):
    """8×8-bit unsigned multiplier with one pipeline register."""

    def __init__(self):
        super().__init__({"a": Field.of(U8), "b": Field.of(U8)}, {"y": Field.of(U16)})
        self.latency = 1

    def elaborate(self, platform):
        m = Module()
        pipeline(m, self.i, self.o, self.i.payload.a * self.i.payload.b, 1)
        return m

    def model(self, inputs):
        return {"y": U16.encode(U8.decode(inputs["a"]) * U8.decode(inputs["b"])).astype(np.uint64)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 8, 16, 32])
    ap.add_argument("--random", type=int, default=1 << 20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    rand = {"a": rng.integers(0, 256, args.random, dtype=np.uint64),
            "b": rng.integers(0, 256, args.random, dtype=np.uint64)}
    print(f"{'lanes':>5} {'build (s)':>10} {'exhaustive 65,536 (s)':>22} "
          f"{'vectors/s':>11} {'loop vectors/s':>15}")
    for lanes in args.lanes:
        build = sim.check(Mul8, lanes=lanes).build_seconds     # builds (or finds) the simulator
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            report = sim.check(Mul8, lanes=lanes)
            best = min(best, time.perf_counter() - t)
        assert report.n_vectors == 65536
        t = time.perf_counter()
        report = sim.check(Mul8, lanes=lanes, vectors=rand)
        wall = time.perf_counter() - t
        print(f"{lanes:>5} {build:>10.1f} {best:>22.2f} {args.random / wall:>11,.0f} "
              f"{args.random / report.loop_seconds:>15,.0f}")


if __name__ == "__main__":
    main()
