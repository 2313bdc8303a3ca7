"""Every compiled loop is found in Numba's disk cache by the next process.

Numba keys a cached function on its bytecode and on the pickled contents of its closure
(``numba.core.caching.Cache._index_key``). A closure that holds another compiled function
pickles differently in every process (a dispatcher pickles with a per-process id), so such
a loop was compiled again in every process and every test worker: seconds per loop and
variant. These tests compute that key in two fresh processes for a loop of every factory
in the kernel modules and require the two to be equal.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numfmt

# factory → a call that builds one of its loops (module-level loops have no closure)
FACTORIES = {
    "numfmt._kernels.floating._encode_loop": "_encode_loop(8, 23, 0)",
    "numfmt._kernels.floating._f32_nearest_loop": "_f32_nearest_loop(3, True)",
    "numfmt._kernels.floating._lut_hi16_loop": "_lut_hi16_loop(16)",
    "numfmt._kernels.fixed.encoder": "encoder(11, 52)",
    "numfmt._kernels.fixed._fast_loop": "_fast_loop(0)",
    "numfmt._kernels.block.kernel": "kernel(32, 3, True)",
    "numfmt.arith._kernels._make_float_matmul": "_make_float_matmul(True)",
    "numfmt.arith._kernels._make_float_matmul_exact_adds": "_make_float_matmul_exact_adds(True)",
}

_KEYS = """
import hashlib, importlib, json, sys
from numba.core.serialize import dumps
out = {}
for name, call in json.loads(sys.argv[1]).items():
    module = importlib.import_module(name.rsplit(".", 1)[0])
    loop = eval(call, vars(module))
    cvars = tuple(c.cell_contents for c in loop.py_func.__closure__ or ())
    out[name] = hashlib.sha256(dumps(cvars)).hexdigest()
print(json.dumps(out))
"""


def _keys() -> dict:
    run = subprocess.run([sys.executable, "-c", _KEYS, json.dumps(FACTORIES)], capture_output=True, text=True,
                         check=True, timeout=600)
    return json.loads(run.stdout)


def test_every_loop_has_the_same_cache_key_in_every_process():
    first, second = _keys(), _keys()
    assert set(first) == set(FACTORIES)
    assert {k for k in first if first[k] != second[k]} == set(), "recompiled in every process"


def _nested_jit_factories(path: Path, module: str) -> set[str]:
    """Functions of ``path`` that define a ``numba.njit`` function inside them."""
    found = set()
    for top in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(top, ast.FunctionDef):
            for node in ast.walk(top):
                if node is not top and isinstance(node, ast.FunctionDef) and any(
                        "njit" in ast.unparse(d) for d in node.decorator_list):
                    found.add(f"{module}.{top.name}")
    return found


def test_the_list_covers_every_factory_of_compiled_loops():
    root = Path(numfmt.__file__).parent
    found = set()
    for path in [*sorted((root / "_kernels").glob("*.py")), root / "arith" / "_kernels.py"]:
        module = "numfmt." + ".".join(path.relative_to(root).with_suffix("").parts)
        found |= _nested_jit_factories(path, module)
    assert found == set(FACTORIES)
