"""Every module's docstring examples run, by the module's installed name (numfmt.hw, ...)."""
import doctest
import importlib
import pkgutil

import pytest

import numfmt

PACKAGES = ["numfmt", "numfmt.hw", "numfmt.sim", "numfmt.flow"]


def _modules():
    names = set(PACKAGES)
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
            names.add(info.name)
    return sorted(names)


MODULES = _modules()

#: modules whose examples run a synthesis tool: under ``-m slow``, with the other real Yosys runs,
#: so that the default run never waits for YoWASP to compile Yosys on a new machine (80 CPU-s)
RUNS_SYNTHESIS = {"numfmt.hw.cost", "numfmt.hw.cost.synth"}


def test_the_namespace_holds_the_hardware_packages():
    assert {"numfmt.hw.rtl", "numfmt.sim._runner", "numfmt.flow.cli"} <= set(MODULES)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in RUNS_SYNTHESIS else n
                                  for n in MODULES])
def test_doctests(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
