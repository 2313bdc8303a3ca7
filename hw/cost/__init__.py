"""What a unit costs on an FPGA: synthesis with the open tools, and their reports.

* :func:`synthesize` / :func:`synthesize_many` — Yosys (``synth_xilinx`` with or without
  DSPs, ``synth_ecp5``, ``synth_ice40``) and nextpnr-ecp5 (achieved Fmax, critical path)
  from the PyPI ``yowasp-*`` wheels, on a :class:`numfmt.hw.rtl.Unit` or Verilog text;
  results (:class:`SynthResult`) cached on disk by Verilog hash, tool versions, target
  and options (:mod:`~numfmt.hw.cost.synth`).
* :func:`parse_yosys_stat`, :func:`parse_nextpnr_report` — the tools' JSON reports as
  typed records; a truncated or garbled report raises :class:`ReportError`
  (:mod:`~numfmt.hw.cost.reports`).
* :func:`parse_vivado_utilization`, :func:`parse_vivado_timing`, :func:`parse_hls_csynth` —
  Vivado utilization and timing-summary reports and Vivado/Vitis HLS ``csynth`` reports
  (XML or text, as hls4ml leaves them), for a user who has the vendor tools
  (:mod:`~numfmt.hw.cost.vendor`).
* :data:`CELL_CLASSES` — which cells count as LUTs, FFs, DSPs, BRAMs and carry cells
  per target (:mod:`~numfmt.hw.cost.cells`).

See ``docs/cost.md``.

>>> import numfmt as nf
>>> from numfmt.arith import FixedAccumulator
>>> from numfmt.hw.rtl import IntMac
>>> from numfmt.hw import cost
>>> mac = IntMac(nf.IntFormat(4), nf.IntFormat(4), FixedAccumulator(12))
>>> r = cost.synthesize(mac, target="ice40")          # a second call reads the cache
>>> r.ffs == (8 + 2) + (12 + 1)   # registers: product, first, valid; accumulator, valid
True
>>> r.luts > 0, r.carry > 0, r.dsps, r.fmax_mhz
(True, True, 0, None)
"""

from .cells import CELL_CLASSES, CLASSES, TARGETS, classify
from .reports import (ClockFmax, CriticalPath, NextpnrReport, PathStep, ReportError, Utilization, YosysStat,
                      parse_nextpnr_report, parse_yosys_stat, read_nextpnr_report, read_yosys_stat)
from .vendor import (CsynthReport, HlsResources, VivadoClock, VivadoTiming, VivadoUtilization, parse_hls_csynth,
                     parse_vivado_timing, parse_vivado_utilization)
from .synth import (CLOCK, DEFAULT_CLOCK_MHZ, ECP5_DEVICE, OPTIONS, PLACE_TARGETS, SynthesisError, SynthJob,
                    SynthResult, cache_root, strip_src, synthesize, synthesize_many, tool_versions, unit_verilog)

__all__ = ["CELL_CLASSES", "CLASSES", "CLOCK", "ClockFmax", "CriticalPath", "CsynthReport", "HlsResources",
           "VivadoClock", "VivadoTiming", "VivadoUtilization", "parse_hls_csynth", "parse_vivado_timing",
           "parse_vivado_utilization", "DEFAULT_CLOCK_MHZ", "ECP5_DEVICE",
           "NextpnrReport", "OPTIONS", "PLACE_TARGETS", "PathStep", "ReportError", "SynthJob", "SynthResult",
           "SynthesisError", "TARGETS", "Utilization", "YosysStat", "cache_root", "classify",
           "parse_nextpnr_report", "parse_yosys_stat", "read_nextpnr_report", "read_yosys_stat", "strip_src",
           "synthesize", "synthesize_many", "tool_versions", "unit_verilog"]

from . import model
from .model import Estimate, estimate, estimate_features

__all__ += ["Estimate", "estimate", "estimate_features", "model"]
