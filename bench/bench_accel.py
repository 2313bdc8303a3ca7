"""End-to-end simulation throughput of generated accelerators (images per second).

    python bench/bench_accel.py [--images 360] [--icarus-images 24] [--designs int8 ...]

For each digits-MLP accelerator (``numfmt.hw.accel.Accelerator`` of the quantized graph, at
the folding of the matching ``designs/*.toml``), builds the simulator once (cached; its build
time is printed), then streams the test images through ``numfmt.sim.check`` — the checker
compares every logit and label with the accelerator's model, which equals the
QuantizedGraph — and prints:

* ``images/s``: images over the wall time of the whole ``check`` call (cached build:
  Verilog generation, the model, the simulator run with its start-up, the comparison);
* ``loop images/s``: images over the clocked loop inside the simulator alone;
* ``cycles/image`` (the measured initiation interval) and ``kcycles/s`` simulated.

Icarus (``vvp``) runs ``--icarus-images`` images of each design when it is installed.
Tool versions are printed with the results. Numbers depend on the machine and its load:
this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import time

import numpy as np

from numfmt.flow import design as design_file
from numfmt.sim import check

DESIGNS = ("int8", "int8_lutgemm", "e4m3")


def _accelerator(name: str):
    """The accelerator and test images of ``designs/digits_mlp_<name>.toml``."""
    from pathlib import Path

    p = design_file.prepare(design_file.load(Path(__file__).resolve().parents[1] / "designs"
                                             / f"digits_mlp_{name}.toml"))
    return p.accelerator, p.x_test


def _run(acc, x, simulator):
    return check(acc, vectors=acc.input_codes(x), stall_limit=3 * acc.latency_cycles, simulator=simulator,
                 waves=False)


def _iverilog_version() -> str:
    try:
        out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, timeout=30).stdout
        return out.splitlines()[0] if out else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=360, help="test images per design in Verilator (≤ 360)")
    ap.add_argument("--icarus-images", type=int, default=24, help="test images per design in Icarus (0: none)")
    ap.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=DESIGNS)
    args = ap.parse_args(argv)
    for name, value in (("--images", args.images), ("--icarus-images", args.icarus_images)):
        if not 0 <= value <= 360:
            ap.error(f"{name} must be in 0..360, not {value}")
    versions = {p: importlib.metadata.version(p) for p in ("verilator", "cocotb", "amaranth")}
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())
          + (f", {_iverilog_version()}" if shutil.which("iverilog") else ", Icarus not installed"))
    sims = [("verilator", args.images)]
    if shutil.which("iverilog") and args.icarus_images:
        sims.append(("icarus", args.icarus_images))
    print(f"{'design':<14} {'simulator':<10} {'images':>6} {'build s':>8} {'images/s':>9} "
          f"{'loop images/s':>14} {'cycles/image':>13} {'kcycles/s':>10}")
    for name in args.designs:
        acc, x = _accelerator(name)
        for simulator, n in sims:
            if n == 0:
                continue
            t = time.perf_counter()
            _run(acc, x[:1], simulator)                     # builds (or finds) the simulator
            build = time.perf_counter() - t
            t = time.perf_counter()
            r = _run(acc, x[:n], simulator)
            wall = time.perf_counter() - t
            ii = np.diff(r.out_cycles)
            print(f"{name:<14} {simulator:<10} {n:>6} {build:>8.1f} {n / wall:>9.1f} "
                  f"{n / r.loop_seconds:>14.1f} {int(ii.max()) if ii.size else acc.ii:>13} "
                  f"{r.cycles / r.loop_seconds / 1e3:>10.1f}")


if __name__ == "__main__":
    main()
