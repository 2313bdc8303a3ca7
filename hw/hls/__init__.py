"""HLS C++ for what hls4ml lacks: a header-only minifloat/MX library and generated projects.

* ``include/numfmt/*.h`` (:func:`include_dir`): templated minifloat formats (any
  exponent/mantissa/bias, specials policy, subnormals, saturation), conversion from/to
  ``ap_fixed``, exact (Kulisch) and float-register MACs, dyadic requantization and the OCP
  MX block dot product — each operation defined as numfmt defines it and checked against
  numfmt under g++ (``tests/hw/hls``).
* :func:`cpp_type` — the C++ type of a numfmt format.
* :func:`compile_program` — g++ (``-std=c++14 -Wall -Wextra -Werror -O2``), cached by hash.
* :func:`generate_project` — an HLS C++ project (top function, weights, testbench, Vitis
  HLS Tcl script) for a :class:`numfmt.nn.QuantizedGraph`; :func:`check_project` builds and
  runs its testbench with g++.
* :func:`convert` (:mod:`.hls4ml_adapter`) — an hls4ml model of an integer/fixed-point
  :class:`~numfmt.nn.QuantizedGraph` whose every precision comes from the numfmt formats
  (:func:`precision`, :func:`plan`); ``compile()``/``predict()`` equal the graph exactly
  (``docs/hls4ml.md``).
* :func:`read_reports` (:mod:`.reports`) — the csynth reports Vitis HLS left in a project
  (``<top>_prj/solution1/syn/report/<top>_csynth.xml``), parsed; :func:`sources_digest`
  matches a report with the sources it was made from.

See ``docs/hls.md``.

>>> (include_dir() / "numfmt" / "numfmt.h").is_file()
True
"""

from ._gxx import FLAGS, GxxError, ap_types_dir, compile_program, include_dir
from .project import CheckResult, HlsProject, check_project, check_supported, generate_project
from .reports import find_reports, project_top, read_reports, sources_digest, synthesis_sources
from .types import cpp_int_type, cpp_rounding, cpp_type

from .hls4ml_adapter import HlsLayer, convert, input_values, plan, precision

__all__ = ["CheckResult", "FLAGS", "GxxError", "HlsLayer", "HlsProject", "ap_types_dir", "check_project",
           "check_supported", "compile_program", "convert", "cpp_int_type", "cpp_rounding", "cpp_type",
           "find_reports", "generate_project", "include_dir", "input_values", "plan", "precision", "project_top",
           "read_reports", "sources_digest", "synthesis_sources"]
