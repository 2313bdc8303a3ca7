"""The distribution: its name, one version, and a package list that installs hw/, sim/ and
flow/ as numfmt.hw, numfmt.sim and numfmt.flow with no generic top-level name."""
import importlib.metadata
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

import numfmt

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
FOLDERS = {"numfmt": "numfmt", "numfmt.hw": "hw", "numfmt.sim": "sim", "numfmt.flow": "flow"}


def _packages_in_tree():
    found = set()
    for package, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *parts)))
    return found


def test_package_dir_maps_the_folders_under_numfmt():
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == FOLDERS


def test_package_list_is_every_package_in_the_tree():
    assert set(PYPROJECT["tool"]["setuptools"]["packages"]) == _packages_in_tree()


def test_installed_distribution_name_version_and_script():
    dist = importlib.metadata.distribution("numfmt-hw")
    assert dist.version == numfmt.__version__
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"numfmt": "numfmt.flow.cli:main"}


def test_subpackages_import_by_their_namespaced_names():
    import numfmt.flow.cli
    import numfmt.hw.rtl
    import numfmt.sim

    assert Path(numfmt.hw.rtl.__file__).parent == ROOT / "hw" / "rtl"
    assert Path(numfmt.sim.__file__).parent == ROOT / "sim"
    assert callable(numfmt.flow.cli.main)


def _requirement_bounds():
    """{name: [specifier, ...]} of every versioned requirement of pyproject that applies here."""
    from packaging.requirements import Requirement

    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for group in project["optional-dependencies"].values():
        reqs += group
    out = {}
    for text in reqs:
        req = Requirement(text)
        if req.specifier and (req.marker is None or req.marker.evaluate()):
            out.setdefault(req.name.lower().replace("_", "-"), []).append(req.specifier)
    return out


def test_constraints_file_lies_in_the_declared_ranges():
    from packaging.requirements import Requirement

    pins = {}
    for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            pins[req.name.lower().replace("_", "-")] = next(iter(req.specifier)).version
    bounds = _requirement_bounds()
    for name, specs in bounds.items():
        assert name in pins, f".ci/constraints.txt has no pin for {name}"
        for spec in specs:
            assert spec.contains(pins[name], prereleases=True), \
                f"{name}=={pins[name]} in .ci/constraints.txt is outside {spec} in pyproject.toml"


@pytest.mark.slow
def test_wheel_installs_only_numfmt_at_top_level(tmp_path):
    """Build the wheel, install it without dependencies into an empty venv, list site-packages."""
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    wheel, = tmp_path.glob("numfmt_hw-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    top = {p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith((".dist-info", "__pycache__"))
           and p.name not in {"pip", "setuptools", "_distutils_hack", "pkg_resources"}}
    assert top == {"numfmt"}
    files = {p.relative_to(site / "numfmt").as_posix() for p in (site / "numfmt").rglob("*.py")}
    assert {"hw/rtl/fpmul.py", "sim/_bench.py", "flow/cli.py"} <= files
    assert (site / "numfmt" / "hw" / "cost" / "calibration" / "xilinx_nodsp.json").is_file()   # package data
    # the dependencies come from this environment (no network in tests), appended after the
    # venv's own site-packages, so numfmt itself is the installed wheel's
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    out = subprocess.run([str(python), "-c", "import numfmt.hw.rtl, numfmt.sim, numfmt.flow.cli, numfmt.hw.cost; "
                          "numfmt.hw.cost.model.calibration('xilinx', ('-nodsp',)); print(numfmt.sim.__file__)"],
                         check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert Path(out) == site / "numfmt" / "sim" / "__init__.py"
