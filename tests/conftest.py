"""Test-suite policy, in one place:

* the hardware tests (tests/hw but tests/hw/cost, tests/sim) run on the simulator
  ``$NUMFMT_SIMULATOR`` names, and skip cleanly, naming the missing commands, when it cannot
  build here (e.g. ``NUMFMT_SIMULATOR=icarus`` without iverilog, or Verilator without make or
  a C++ compiler);
* the default run takes a fixed half of the cases of a few large parametrized reference
  checks (:data:`HALVED`); ``-m slow`` runs the other half, so CI runs every case;
* the default run compiles Verilator models at ``-O0`` (``$NUMFMT_VERILATOR_OPT``, unless
  set): its simulations are short, so the C++ compile is most of each build (three of its
  builds took 18.5 s at ``-O0`` and 25.3 s at ``-O1``); the marked suites, with long runs,
  keep the library's ``-O1``;
* test workers use one BLAS thread each.
"""

import os
import zlib

import pytest

from numfmt.sim._runner import default_simulator, missing_message, missing_tools

#: Parametrized checks against slow references (Fractions, MPFR, per-element Python) whose
#: cases are many and alike: the default run takes the half of their cases whose test id has
#: an even CRC-32 (a fixed choice, not aligned with any one parameter of a check over several),
#: and marks the other half ``slow``.
HALVED = {
    "tests/numfmt/formats/test_floating_reference.py::test_encode_matches_reference",
    "tests/numfmt/formats/test_floating_reference.py::test_decode_every_code",
    "tests/numfmt/formats/test_floating_reference.py::test_encode_matches_mpfr",
    "tests/numfmt/formats/test_floating_reference.py::test_stochastic_matches_definition_exactly",
    "tests/numfmt/formats/test_floating_fast_paths.py::test_f32_nearest_path_equals_kernel",
    "tests/numfmt/formats/test_block.py::test_scale_rules_exact",
    "tests/numfmt/arith/test_accumulate.py::test_matmul_random",
    "tests/hw/rtl/test__float.py::test_round_pack_matches_encode",
    "tests/hw/rtl/test__float.py::test_round_pack_sticky",
    "tests/numfmt/formats/test_floating_reference.py::test_encode_matches_reference_large_sampled",
    "tests/hw/rtl/test__float.py::test_round_pack_stochastic_matches_encode",
    "tests/numfmt/units/test_lmul.py::test_definition_specials_exhaustive",
    "tests/numfmt/units/test_lmul.py::test_definition_exhaustive",
    "tests/numfmt/ptq/test_grid.py::test_floor_ceil_fake_against_fraction_reference",
    "tests/numfmt/nn/test_quantized.py::test_every_layer_matches_reference",
    "tests/numfmt/formats/test_floating_reference.py::test_encode_matches_gfloat",
    "tests/numfmt/formats/test_floating_fast_paths.py::test_table_path_equals_kernel",
    "tests/numfmt/formats/test_block_fused.py::test_vectorised_values_at_every_grid_boundary",
    "tests/numfmt/quant/test_dyadic.py::test_dyadic_approx_is_optimal_brute_force",
}


def in_default_half(nodeid: str) -> bool:
    """True for the half of a :data:`HALVED` check's cases the default run takes."""
    return zlib.crc32(nodeid.encode("utf-8")) % 2 == 0


@pytest.hookimpl(tryfirst=True)      # before -m deselects: the marks added here count
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("[", 1)[0] in HALVED and not in_default_half(item.nodeid):
            item.add_marker(pytest.mark.slow)
    simulator = default_simulator()
    missing = missing_tools(simulator)
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"{missing_message(simulator, missing)} [NUMFMT_SIMULATOR={simulator}]")
    for item in items:
        if ("tests/hw/" in item.nodeid and "tests/hw/cost/" not in item.nodeid) or "tests/sim/" in item.nodeid:
            item.add_marker(skip)


#: the ``-m`` expression of pyproject.toml's addopts: the default run
DEFAULT_RUN = "not slow and not exhaustive and not sweep"

_BLAS_LIMIT = []


def pytest_configure(config):
    """The default run builds at ``-O0`` (module docstring).

    Under pytest-xdist the workers run side by side: one BLAS thread each. OpenBLAS starts
    one thread per core in every process; two workers training the digits CNN side by side
    took 38 s each that way and 8-9 s each on one thread (numfmt.nn._train).
    """
    if config.getoption("markexpr", "") == DEFAULT_RUN:
        os.environ.setdefault("NUMFMT_VERILATOR_OPT", "-O0")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:          # installed with scikit-learn (the nn extra)
            return
        _BLAS_LIMIT.append(threadpool_limits(limits=1, user_api="blas"))
