"""tests/conftest.py's policy: the halved checks exist, the default half is about half, and the
-O0 rule follows the default run of pyproject.toml's addopts."""
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _conftest():
    spec = importlib.util.spec_from_file_location("tests_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_halved_check_names_a_parametrized_test():
    conftest = _conftest()
    assert len(conftest.HALVED) >= 5
    for nodeid in conftest.HALVED:
        path, name = nodeid.split("::")
        text = (ROOT / path).read_text(encoding="utf-8")
        at = text.find(f"\ndef {name}(")
        assert at > 0, f"{nodeid}: no such test"
        decorators = text[:at].rsplit("\n\n", 1)[-1]          # the lines right above the def
        assert "@pytest.mark.parametrize" in decorators, f"{nodeid}: not parametrized"


def test_the_default_half_is_about_half():
    conftest = _conftest()
    ids = [f"tests/x.py::test_x[e{e}m{m}-{mode}]" for e in range(1, 9) for m in range(8)
           for mode in ("rne", "rtz", "rna")]
    kept = [i for i in ids if conftest.in_default_half(i)]
    assert 0.4 < len(kept) / len(ids) < 0.6
    assert {i.split("-")[-1] for i in kept} == {"rne]", "rtz]", "rna]"}


def test_the_default_run_is_what_pyproject_runs():
    """DEFAULT_RUN (which builds at -O0) is the ``-m`` expression of pyproject.toml's addopts."""
    try:
        import tomllib
    except ImportError:          # Python 3.10: the tomli backport (a declared dependency there)
        import tomli as tomllib
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    addopts = pyproject["tool"]["pytest"]["ini_options"]["addopts"]
    assert f"-m '{_conftest().DEFAULT_RUN}'" in addopts


def test_every_halved_check_keeps_some_cases_and_leaves_some():
    """Collected over all marks, each HALVED check has cases in the default half and out of
    it (a check whose ids all hash alike would be halved in name only)."""
    conftest = _conftest()
    files = sorted({h.split("::")[0] for h in conftest.HALVED})
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider",
                          "-m", "slow or not slow", *files], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    ids = [line for line in out.splitlines() if "::" in line]
    for check in conftest.HALVED:
        cases = [i for i in ids if i.split("[", 1)[0] == check]
        kept = sum(conftest.in_default_half(i) for i in cases)
        assert 0.2 * len(cases) <= kept <= 0.8 * len(cases), (check, kept, len(cases))
