"""Run the hardware tests (tests/hw, tests/sim) on the simulator ``$NUMFMT_SIMULATOR`` names;
skip them cleanly when it is not installed (e.g. ``NUMFMT_SIMULATOR=icarus`` without iverilog)."""

import pytest

from numfmt.sim._runner import available, default_simulator


def pytest_collection_modifyitems(config, items):
    simulator = default_simulator()
    if available(simulator):
        return
    skip = pytest.mark.skip(reason=f"{simulator} is not installed (NUMFMT_SIMULATOR={simulator})")
    for item in items:
        if "tests/hw/" in item.nodeid or "tests/sim/" in item.nodeid:
            item.add_marker(skip)
