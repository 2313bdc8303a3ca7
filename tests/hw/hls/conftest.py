"""Registers ``cpp_ops.py`` (the helper that builds and runs C++ test programs) under the
module name ``numfmt_tests_hls_cpp_ops`` for the tests of this folder (pytest imports test
files with ``--import-mode=importlib``, so siblings are not importable by file name)."""

import importlib.util
import sys
from pathlib import Path

_NAME = "numfmt_tests_hls_cpp_ops"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name("cpp_ops.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
