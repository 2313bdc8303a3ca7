"""Run the hardware tests (tests/hw but tests/hw/cost, tests/sim) on the simulator ``$NUMFMT_SIMULATOR`` names;
skip them cleanly, naming the missing commands, when it cannot build here (e.g.
``NUMFMT_SIMULATOR=icarus`` without iverilog, or Verilator without make or a C++ compiler)."""

import pytest

from numfmt.sim._runner import default_simulator, missing_message, missing_tools


def pytest_collection_modifyitems(config, items):
    simulator = default_simulator()
    missing = missing_tools(simulator)
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"{missing_message(simulator, missing)} [NUMFMT_SIMULATOR={simulator}]")
    for item in items:
        if ("tests/hw/" in item.nodeid and "tests/hw/cost/" not in item.nodeid) or "tests/sim/" in item.nodeid:
            item.add_marker(skip)
