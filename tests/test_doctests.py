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


def test_the_namespace_holds_the_hardware_packages():
    assert {"numfmt.hw.rtl", "numfmt.sim._runner", "numfmt.flow.cli"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
