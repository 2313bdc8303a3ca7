"""Design files: a streaming accelerator described in TOML (``designs/*.toml``).

A design file names the network, how it is quantized, how each Dense layer is folded,
the unit variant, the synthesis target and how the result is verified; ``numfmt build``
(:mod:`numfmt.flow.build`) turns it into Verilog, a manifest, weights and reports. The
schema, key by key, is ``designs/README.md``.

:func:`load` reads and checks a file without running anything heavy: every key is known,
every value has its type and range, the formats parse and :class:`numfmt.nn.QConfig`
accepts the quantization. :func:`prepare` then quantizes the network and constructs the
:class:`numfmt.hw.accel.Accelerator`, so the accelerator's own checks (supported layers
and formats, folding factors dividing the layer sizes) judge the design. Every problem is
a :class:`DesignError` whose message reads ``FILE:LINE: key 'x.y' = value: what is wrong``;
the line is found in the file's text by :func:`key_lines` (TOML parsers do not keep it).

>>> text = '''
... [network]
... model = "mlp"
... [quant]
... weight = "int8"
... act = "int8"
... [fold]
... dense0 = { pe = 8, simd = 8 }
... '''
>>> d = loads(text, "mlp.toml")
>>> str(d.qconfig.weight), d.folding, d.verify.images
('int8', {'dense0': (8, 8)}, 'all')
>>> loads(text.replace("pe = 8", 'pe = "8"'), "mlp.toml")
Traceback (most recent call last):
...
numfmt.flow.design.DesignError: mlp.toml:8: key 'fold.dense0.pe' = "8": must be an integer ≥ 1
>>> key_lines('a = 1\\n[t]\\nb.c = { d = [1, 2], e = "x" }\\n')[("t", "b", "c", "e")]
3
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["DesignError", "Design", "Hls", "Network", "Target", "Verify", "BACKENDS", "HLS_TOOLS", "VARIANTS",
           "TARGETS", "SIMULATORS", "key_lines", "load", "loads", "prepare", "Prepared", "toml_value"]

#: ``backend`` values: the RTL accelerator (numfmt.hw.accel) or an HLS C++ project (numfmt.hw.hls)
BACKENDS = ("rtl", "hls")
#: ``[hls] tool``: the HLS tool hls4ml writes its project for (integer/fixed networks)
HLS_TOOLS = ("vitis", "vivado")

#: matrix–vector datapaths of the accelerator (``[unit] variant``, ``[fold] LAYER.variant``):
#: numfmt.hw.accel.VARIANTS (not imported: :func:`load` stays light)
VARIANTS = ("mvu", "bitserial", "lutgemm")
#: ``[target] synth`` values; "none" skips synthesis
TARGETS = ("xilinx", "ecp5", "ice40", "none")
SIMULATORS = ("verilator", "icarus")

_TOP = {"name": "a name for the design (default: the file's stem)",
        "description": "one line saying what the design is",
        "backend": '"rtl" (default) or "hls"',
        "network": None, "quant": None, "fold": None, "unit": None, "target": None, "verify": None, "hls": None}
_NETWORK = ("model", "data")
#: ``[quant] source`` values
_QUANT_SOURCES = ("numfmt", "model")
#: numfmt.nn.QConfig's fields, as design-file keys
_QUANT = ("weight", "act", "acc", "granularity", "calib", "method", "bias_correction", "equalize", "smooth",
          "seed", "act_scale", "mult_bits", "bias_bits", "percentile")
_ACC = ("width", "frac_bits", "overflow")
_FOLD = ("pe", "simd")
_FOLD_KEYS = _FOLD + ("variant",)
_UNIT = ("variant", "fifo_depth")
_TARGET = ("synth", "options", "clock_mhz")
_VERIFY = ("images", "simulator", "seed")
_HLS = ("part", "clock_ns", "tool")
_HLS_PART = "xcvu9p-flga2104-2-e"


class DesignError(ValueError):
    """A design file the flow cannot use. ``str(e)`` is one line:
    ``FILE:LINE: key 'x.y' = value: what is wrong``.

    Attributes: ``path``, ``line`` (1-based, or ``None``), ``key`` (dotted, or ``None``),
    ``value`` (the TOML value, or ``None``) and ``reason``.
    """

    def __init__(self, path, line, key, value, reason, *, show_value=True):
        self.path, self.line, self.key, self.value, self.reason = str(path), line, key, value, reason
        where = self.path if line is None else f"{self.path}:{line}"
        if key is None:
            text = f"{where}: {reason}"
        elif show_value:
            text = f"{where}: key '{key}' = {toml_value(value)}: {reason}"
        else:
            text = f"{where}: key '{key}' {reason}"
        super().__init__(text)


def toml_value(v) -> str:
    """A value as TOML would write it: ``"int8"``, ``8``, ``true``, ``[1, 2]``, ``{ pe = 8 }``.

    >>> toml_value({"pe": 8, "simd": "x"}), toml_value([True, 1.5])
    ('{ pe = 8, simd = "x" }', '[true, 1.5]')
    """
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v)


# -- where each key is ---------------------------------------------------------------------------
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_BASIC_ESC = re.compile(r'\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)', re.S)


class _Scanner:
    """Walks valid TOML text (tomllib has accepted it) and records the line of every key."""

    def __init__(self, text: str):
        self.s, self.i, self.lines = text, 0, {}

    @property
    def line(self) -> int:
        return self.s.count("\n", 0, self.i) + 1

    def peek(self, k=1) -> str:
        return self.s[self.i:self.i + k]

    def skip_ws(self, newlines=False) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            else:
                return

    def string(self) -> str:
        s = self.s
        for quote in ('"""', "'''"):
            if s.startswith(quote, self.i):
                j = self.i + 3
                j = s.index(quote, j) if quote == "'''" else self._basic_end(j, quote)
                while s.startswith(quote[0], j + 3):      # up to two quotes may end the content
                    j += 1
                text, self.i = s[self.i + 3:j], j + 3
                return text
        if s[self.i] == "'":
            j = s.index("'", self.i + 1)
            text, self.i = s[self.i + 1:j], j + 1
            return text
        j = self._basic_end(self.i + 1, '"')
        raw, self.i = s[self.i + 1:j], j + 1
        return _BASIC_ESC.sub(lambda m: _unescape(m.group(1)), raw)

    def _basic_end(self, j: int, quote: str) -> int:
        s = self.s
        while not s.startswith(quote, j):
            j += 2 if s[j] == "\\" else 1
        return j

    def key(self) -> tuple:
        parts = []
        while True:
            self.skip_ws()
            if self.peek() in ('"', "'"):
                parts.append(self.string())
            else:
                m = _BARE.match(self.s, self.i)
                parts.append(m.group())
                self.i = m.end()
            self.skip_ws()
            if self.peek() != ".":
                return tuple(parts)
            self.i += 1

    def value(self, path: tuple) -> None:
        c = self.peek()
        if c == "{":
            self.i += 1
            self.skip_ws(newlines=True)
            while self.peek() != "}":
                self.keyval(path)
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.i += 1
                    self.skip_ws(newlines=True)
            self.i += 1
        elif c == "[":
            self.i += 1
            k = 0
            self.skip_ws(newlines=True)
            while self.peek() != "]":
                self.lines[path + (k,)] = self.line
                self.value(path + (k,))
                k += 1
                self.skip_ws(newlines=True)
                if self.peek() == ",":
                    self.i += 1
                    self.skip_ws(newlines=True)
            self.i += 1
        elif c in ('"', "'"):
            self.string()
        else:                                   # number, boolean, date: up to a delimiter
            m = re.compile(r"[^,\]}\n#]*").match(self.s, self.i)
            self.i = m.end()

    def keyval(self, prefix: tuple) -> None:
        line = self.line
        path = prefix + self.key()
        for n in range(len(prefix) + 1, len(path) + 1):     # dotted keys define their tables here
            self.lines.setdefault(path[:n], line)
        self.lines[path] = line
        self.skip_ws()
        self.i += 1                             # "="
        self.skip_ws()
        self.value(path)

    def document(self) -> dict:
        table, arrays = (), {}
        while True:
            self.skip_ws(newlines=True)
            if self.i >= len(self.s):
                return self.lines
            line = self.line
            if self.peek(2) == "[[":
                self.i += 2
                name = self.key()
                self.i += 2
                k = arrays[name] = arrays.get(name, -1) + 1
                table = name + (k,)
                self.lines.setdefault(name, line)
                self.lines[table] = line
            elif self.peek() == "[":
                self.i += 1
                table = self.key()
                self.i += 1
                self.lines[table] = line
            else:
                self.keyval(table)


def _unescape(esc: str) -> str:
    simple = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}
    if esc[0] in "uU":
        return chr(int(esc[1:], 16))
    return simple.get(esc, "")   # a backslash-newline (line ending) joins the lines


def key_lines(text: str) -> dict:
    """``{key path (tuple): line}`` of every key and table of valid TOML ``text``.

    Tables ``[a.b]``, arrays of tables ``[[a]]`` (the ``k``-th element is ``("a", k)``),
    dotted keys, quoted keys and inline tables are followed; an array's elements get
    their index in the path. Line numbers start at 1.

    >>> lines = key_lines('[fold]\\ndense0 = { pe = 8, simd = [1,\\n  2] }\\n"a.b".c = 1\\n')
    >>> lines[("fold",)], lines[("fold", "dense0", "simd", 1)], lines[("fold", "a.b", "c")]
    (1, 3, 4)
    """
    return _Scanner(text).document()


# -- the design ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Network:
    """``[network]``: ``model`` is ``"mlp"``, ``"cnn"`` or an ONNX file's path (resolved
    against the design file's folder); ``data`` an optional ``.npz`` (``x_calib``,
    ``x_test``, ``y_test``) for an ONNX model."""
    model: str
    data: str | None = None


@dataclasses.dataclass(frozen=True)
class Target:
    """``[target]``: the synthesis target (``"none"``: no synthesis), its flags and clock."""
    synth: str = "none"
    options: tuple = ()
    clock_mhz: float | None = None


@dataclasses.dataclass(frozen=True)
class Verify:
    """``[verify]``: how many test images (``"all"`` or a count), simulator, seed."""
    images: object = "all"
    simulator: str = "verilator"
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Hls:
    """``[hls]`` (``backend = "hls"``): FPGA part and clock period written into the project,
    the tool hls4ml writes for, and ``generator``: ``"hls4ml"`` (integer/fixed-point
    activations) or ``"numfmt"`` (minifloat/MX activations, :func:`numfmt.hw.hls.generate_project`)."""
    generator: str
    part: str = _HLS_PART
    clock_ns: float = 5.0
    tool: str = "vitis"


@dataclasses.dataclass(frozen=True)
class Design:
    """A checked design file (:func:`load`)."""
    path: Path
    name: str
    description: str
    network: Network
    qconfig: object
    folding: dict
    variant: str
    fifo_depth: int
    target: Target
    verify: Verify
    text: str
    lines: dict = dataclasses.field(repr=False, compare=False)
    backend: str = "rtl"
    hls: Hls | None = None
    #: ``[quant] source``: "numfmt" (quantize with ``qconfig``) or "model" (the QONNX model's own
    #: quantizers, :func:`numfmt.nn.from_qonnx`)
    quant_source: str = "numfmt"
    #: ``[fold] LAYER.variant``: the layers whose variant is not ``variant``
    layer_variants: dict = dataclasses.field(default_factory=dict)

    def variants(self, layers) -> dict:
        """The variant of each Dense layer in ``layers``: its own, or the design's."""
        return {layer: self.layer_variants.get(layer, self.variant) for layer in layers}

    def quantization(self) -> dict:
        """How the network is quantized, for the manifest: the QConfig, or the model's own quantizers."""
        if self.quant_source == "model":
            return {"source": "model", "model": Path(self.network.model).name,
                    "mult_bits": self.qconfig.mult_bits}
        return self.qconfig.to_dict()

    def error(self, key: str | None, reason: str, *, value=dataclasses.MISSING) -> DesignError:
        """A :class:`DesignError` at ``key`` (dotted) of this file, with its value and line."""
        return _error(self.path, self.lines, self._doc, key, reason, value)

    @property
    def _doc(self):
        return tomllib.loads(self.text)


def _line_of(lines: dict, key: str | None):
    """The line of ``key`` or of the nearest table that holds it (``None``: not in the file)."""
    if key is None:
        return None
    path = tuple(key.split("."))
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _lookup(doc, key):
    cur = doc
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return dataclasses.MISSING
        cur = cur[part]
    return cur


def _error(path, lines, doc, key, reason, value=dataclasses.MISSING) -> DesignError:
    if key is not None and value is dataclasses.MISSING:
        value = _lookup(doc, key)
    if key is not None and value is dataclasses.MISSING:
        return DesignError(path, _line_of(lines, key), key, None, f"is missing: {reason}", show_value=False)
    return DesignError(path, _line_of(lines, key), key, value, reason)


def _syntax_error(path, exc) -> DesignError:
    """tomllib's error as ``FILE:LINE: TOML syntax error: …``."""
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m:
        return DesignError(path, int(m.group(1)), None, None,
                           f"TOML syntax error: {msg[:m.start()].strip()} (column {m.group(2)})")
    m = re.search(r"\(at end of document\)", msg)
    line = None
    if m:
        line, msg = None, msg[:m.start()].strip() + " (at the end of the file)"
    return DesignError(path, line, None, None, f"TOML syntax error: {msg}")


def load(path) -> Design:
    """Read and check the design file ``path``; :class:`DesignError` names what is wrong.

    Nothing heavy runs (no training, quantization or hardware): :func:`prepare` does that.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DesignError(path, None, None, None, f"cannot read the design file: {reason}") from None
    return loads(text, path)


def loads(text: str, path="<design>") -> Design:
    """Check the design in ``text`` (``path`` names it in errors and anchors relative paths)."""
    path = Path(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, exc) from None
    lines = key_lines(text)

    def fail(key, reason, value=dataclasses.MISSING):
        raise _error(path, lines, doc, key, reason, value)

    _known(doc, _TOP, "", fail)
    for table in ("network", "quant", "fold", "unit", "target", "verify", "hls"):
        if table in doc and not isinstance(doc[table], dict):
            fail(table, "must be a table ([" + table + "])")
    for key in ("name", "description"):
        if key in doc and not isinstance(doc[key], str):
            fail(key, "must be a string")
    name = doc.get("name", path.stem)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        fail("name", "must be letters, digits, '_', '-' or '.' (it names the output)", name)

    net = doc.get("network")
    if net is None:
        fail("network.model", 'every design names its network: [network] model = "mlp"')
    _known(net, _NETWORK, "network.", fail)
    network = _network(net, path.parent, fail)

    quant = doc.get("quant", {})
    quant_source = _quant_source(quant, network, fail)
    qconfig = _qconfig({k: v for k, v in quant.items() if k != "source"}, fail)
    backend = doc.get("backend", "rtl")
    if backend not in BACKENDS:
        fail("backend", f"must be {_choices(BACKENDS)}")
    if quant_source == "model" and backend != "rtl":
        fail("quant.source", 'the model\'s own quantization is built by the RTL accelerator only (backend = "rtl")')
    hls = None
    if backend == "hls":              # first: the RTL-only keys are refused before they are judged
        hls = _hls(doc, qconfig, fail)
    elif "hls" in doc:
        fail("hls", 'the [hls] table applies to backend = "hls" (this design builds the RTL accelerator)')
    folding, layer_variants = _folding(doc.get("fold", {}), fail)

    unit = doc.get("unit", {})
    _known(unit, _UNIT, "unit.", fail)
    variant = unit.get("variant", "mvu")
    _check_variant("unit.variant", variant, fail)
    fifo_depth = unit.get("fifo_depth", 4)
    if not _is_int(fifo_depth) or fifo_depth < 3:
        fail("unit.fifo_depth", "must be an integer ≥ 3 (vectors)")

    target = _target(doc.get("target", {}), fail)
    verify = _verify(doc.get("verify", {}), fail)
    return Design(path=path, name=name, description=doc.get("description", ""), network=network,
                  qconfig=qconfig, folding=folding, variant=variant, fifo_depth=fifo_depth, target=target,
                  verify=verify, text=text, lines=lines, backend=backend, hls=hls, quant_source=quant_source,
                  layer_variants=layer_variants)


def _check_variant(key: str, variant, fail) -> None:
    if variant not in VARIANTS:
        hint = (" (minifloat and MX datapaths follow from the [quant] formats, not from a variant)"
                if variant in ("minifloat", "mx") else "")
        fail(key, f"must be {_choices(VARIANTS)}{hint}")


def _quant_source(quant: dict, network, fail) -> str:
    """``[quant] source``: "numfmt" (default) or "model" — a QONNX model's own quantizers, with
    no calibration (then only ``mult_bits`` may be given beside it)."""
    source = quant.get("source", "numfmt")
    if source not in _QUANT_SOURCES:
        fail("quant.source", f"must be {_choices(_QUANT_SOURCES)}")
    if source == "model":
        if not network.model.endswith(".onnx"):
            fail("quant.source", '"model" takes the formats and scales of a QONNX model\'s Quant nodes: '
                                 "network.model must be an .onnx file")
        for key in quant:
            if key not in ("source", "mult_bits"):
                fail(f"quant.{key}", 'the QONNX model carries its own quantization (source = "model"); '
                                     "only mult_bits may be given")
    return source


def _choices(values) -> str:
    values = [json.dumps(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _known(table: dict, allowed, prefix: str, fail) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            fail(prefix + key, f"unknown key (expected {', '.join(allowed)}){hint}")


def _network(net: dict, base: Path, fail) -> Network:
    model = net.get("model")
    if model is None:
        fail("network.model", 'say which network: "mlp", "cnn" or the path of an .onnx file')
    if not isinstance(model, str):
        fail("network.model", 'must be "mlp", "cnn" or the path of an .onnx file')
    if model not in ("mlp", "cnn"):
        resolved = base / model
        if not model.endswith(".onnx"):
            fail("network.model", 'must be "mlp", "cnn" or the path of an .onnx file')
        if not resolved.is_file():
            fail("network.model", f"no such file ({resolved})")
        model = str(resolved)
    data = net.get("data")
    if data is not None:
        if not isinstance(data, str) or not data.endswith(".npz"):
            fail("network.data", "must be the path of an .npz file (x_calib, x_test, y_test)")
        if model in ("mlp", "cnn"):
            fail("network.data", f"only an ONNX model takes data; the embedded {model!r} uses the digits data")
        resolved = base / data
        if not resolved.is_file():
            fail("network.data", f"no such file ({resolved})")
        data = str(resolved)
    return Network(model, data)


def _qconfig(quant: dict, fail):
    from numfmt import nn
    from numfmt.arith import FixedAccumulator

    for key, value in quant.items():
        if isinstance(value, dict) and key != "acc":
            fail(f"quant.{key}", "per-layer quantization is not supported: numfmt.nn.QConfig applies one "
                                 "configuration to every layer")
    _known(quant, _QUANT, "quant.", fail)
    kwargs = dict(quant)
    acc = kwargs.pop("acc", "exact")
    if isinstance(acc, dict):
        for key in acc:
            if key not in _ACC:
                fail(f"quant.acc.{key}", f"unknown key (expected {', '.join(_ACC)})")
        try:
            kwargs["acc"] = FixedAccumulator(acc.get("width"), acc.get("frac_bits", 0),
                                             overflow=acc.get("overflow", "wrap"))
        except (TypeError, ValueError) as exc:
            field = next((k for k in _ACC if str(exc).startswith(k)), "width")
            fail(f"quant.acc.{field}" if field in acc or field == "width" else "quant.acc",
                 _strip_name(str(exc), field))
    elif acc != "exact":
        fail("quant.acc", '"exact" or a fixed-width register { width = 16, frac_bits = 0, overflow = "sat" } '
                          "(the accelerator has no floating-point accumulator yet)")
    for key in ("weight", "act"):
        if key in kwargs and not isinstance(kwargs[key], str):
            fail(f"quant.{key}", 'must be a format name such as "int8" or "int4"')
    try:
        return nn.QConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        key = next((k for k in sorted(_QUANT, key=len, reverse=True) if msg.startswith(k)), None)
        if key is None:                            # a format name numfmt cannot parse
            key = next((k for k in ("weight", "act") if k in quant and str(quant[k]) in msg), None)
        fail(f"quant.{key}" if key in quant else "quant", _strip_name(msg, key))


def _strip_name(msg: str, key) -> str:
    """``"calib must be …"`` → ``"must be …"`` (the key is already named)."""
    if key and (msg.startswith(key + " ") or msg.startswith(key + ":")):
        return msg[len(key):].lstrip(": ")
    return msg


def _folding(fold: dict, fail) -> tuple:
    """``({layer: (pe, simd)}, {layer: variant})`` of the ``[fold]`` entries."""
    out, variants = {}, {}
    for layer, entry in fold.items():
        if not isinstance(entry, dict):
            fail(f"fold.{layer}", "must be a table { pe = P, simd = S }")
        _known(entry, _FOLD_KEYS, f"fold.{layer}.", fail)
        pair = []
        for key in _FOLD:
            v = entry.get(key, 1)
            if not _is_int(v) or v < 1:
                fail(f"fold.{layer}.{key}", "must be an integer ≥ 1")
            pair.append(v)
        out[layer] = tuple(pair)
        if "variant" in entry:
            _check_variant(f"fold.{layer}.variant", entry["variant"], fail)
            variants[layer] = entry["variant"]
    return out, variants


def _target(target: dict, fail) -> Target:
    from numfmt.hw.cost import OPTIONS

    _known(target, _TARGET, "target.", fail)
    synth = target.get("synth", "none")
    if synth not in TARGETS:
        fail("target.synth", f"must be {_choices(TARGETS)}")
    options = target.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        fail("target.options", 'must be a list of synthesis flags, e.g. ["-nodsp"]')
    if options and synth == "none":
        fail("target.options", 'synthesis flags need a target (synth = "xilinx", "ecp5" or "ice40")')
    for opt in options:
        if opt not in OPTIONS.get(synth, ()):
            fail("target.options", f"{opt!r} is not a flag of {synth} synthesis here "
                                    f"({', '.join(sorted(OPTIONS[synth]))})")
    clock = target.get("clock_mhz")
    if clock is not None:
        if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not clock > 0:
            fail("target.clock_mhz", "must be a frequency in MHz > 0")
        if synth != "ecp5":
            fail("target.clock_mhz", 'a clock constraint needs place-and-route: synth = "ecp5"')
    return Target(synth, tuple(options), None if clock is None else float(clock))


def _verify(verify: dict, fail) -> Verify:
    _known(verify, _VERIFY, "verify.", fail)
    images = verify.get("images", "all")
    if images != "all" and (not _is_int(images) or images < 1):
        fail("verify.images", '"all" (the whole test split) or a number of test images ≥ 1')
    simulator = verify.get("simulator", "verilator")
    if simulator not in SIMULATORS:
        fail("verify.simulator", f"must be {_choices(SIMULATORS)}")
    seed = verify.get("seed", 0)
    if not _is_int(seed) or seed < 0:
        fail("verify.seed", "must be an integer ≥ 0")
    return Verify(images, simulator, seed)


def _hls(doc: dict, qconfig, fail) -> Hls:
    """``[hls]``, and the RTL-only keys refused: they would not change an HLS build."""
    from numfmt.formats import FixedFormat, IntFormat

    why = 'applies to the RTL accelerator only; backend = "hls" '
    for layer in doc.get("fold", {}):
        fail(f"fold.{layer}", why + "writes one fully parallel top function (remove [fold])")
    for key in doc.get("unit", {}):
        fail(f"unit.{key}", why + "has no unit variants or FIFOs (remove [unit])")
    target = doc.get("target", {})
    if target.get("synth", "none") != "none":
        fail("target.synth", why + "is synthesized by Vitis HLS (csynth), not Yosys: use synth = \"none\" or "
                                   "leave it out, and set the part in [hls]")
    for key in ("options", "clock_mhz"):
        if key in target:
            fail(f"target.{key}", why + ("sets the clock period in [hls] clock_ns" if key == "clock_mhz"
                                         else "runs no Yosys synthesis"))
    for key in ("simulator", "seed"):
        if key in doc.get("verify", {}):
            fail(f"verify.{key}", why + "verifies by C simulation under g++ (no HDL simulator, no seed)")

    table = doc.get("hls", {})
    _known(table, _HLS, "hls.", fail)
    generator = "hls4ml" if isinstance(qconfig.act, (IntFormat, FixedFormat)) else "numfmt"
    part = table.get("part", _HLS_PART)
    if not isinstance(part, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", part):
        fail("hls.part", 'must be an FPGA part name such as "xcvu9p-flga2104-2-e"')
    clock = table.get("clock_ns", 5.0)
    if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not 0 < clock < 1000:
        fail("hls.clock_ns", "must be a clock period in ns, > 0 and < 1000")
    tool = table.get("tool", "vitis")
    if tool not in HLS_TOOLS:
        fail("hls.tool", f"must be {_choices(HLS_TOOLS)}")
    if tool != "vitis" and generator == "numfmt":
        fail("hls.tool", f"the generated project of a {qconfig.act} network is for Vitis HLS (its build.tcl); "
                         '"vivado" applies to hls4ml projects (integer or fixed-point activations)')
    return Hls(generator, part, float(clock), tool)


# -- quantize and construct: the accelerator's own checks ----------------------------------------
@dataclasses.dataclass
class Prepared:
    """A design made concrete: the float network, its data, the QuantizedGraph and the
    :class:`~numfmt.hw.accel.Accelerator` (``None`` with ``backend = "hls"``)."""
    design: Design
    label: str
    graph: object
    x_calib: object
    x_test: object
    y_test: object
    qgraph: object
    accelerator: object


def _load_npz(design: Design):
    import numpy as np
    try:
        with np.load(design.network.data) as d:
            missing = {"x_calib", "x_test", "y_test"} - set(d.files)
            if missing:
                raise design.error("network.data", f"the file lacks {', '.join(sorted(missing))} "
                                                   "(it needs x_calib, x_test and y_test)")
            return d["x_calib"], d["x_test"], d["y_test"]
    except (OSError, ValueError) as exc:
        if isinstance(exc, DesignError):
            raise
        raise design.error("network.data", f"cannot read it: {exc}") from None


def prepare(design: Design) -> Prepared:
    """Load the network and data, quantize, and construct the accelerator.

    The accelerator's constructor is the judge of what it supports; its errors come back
    as :class:`DesignError` at the key they concern: a layer it cannot build at
    ``network.model``, a format or accumulator at its ``quant`` key, a folding factor at
    ``fold.<layer>.pe`` / ``.simd``, what a variant cannot build at ``fold.<layer>.variant``
    or ``unit.variant``.
    """
    from numfmt import nn
    from numfmt.hw.accel import Accelerator
    from numfmt.nn.quantized import QLinear

    from .sweep import OptionError, _workload

    data = _load_npz(design) if design.network.data is not None else None
    try:
        label, graph, x_calib, x_test, y_test = _workload(design.network.model, data)
    except OptionError as exc:
        raise design.error(f"network.{exc.option}" if exc.option in _NETWORK else "network.model",
                           str(exc)) from None
    images = design.verify.images
    if images != "all" and images > len(x_test):
        raise design.error("verify.images", f"the test split has only {len(x_test)} images")
    if design.backend == "hls":
        q = _prepare_hls(design, graph, x_calib)
        return Prepared(design, label, graph, x_calib, x_test, y_test, q, None)

    if design.quant_source == "model":           # the QONNX model's own formats and scales
        try:
            q = nn.from_qonnx(design.network.model, mult_bits=design.qconfig.mult_bits)
        except ValueError as exc:
            raise design.error("quant.source", str(exc)) from None
    else:
        # the network alone, quantized as the accelerator surely takes it: a failure is the network's
        try:
            probe = nn.quantize(graph, nn.QConfig(weight="int8", act="int8"), x_calib)
            _silence(Accelerator(probe))
        except ValueError as exc:
            raise design.error("network.model", str(exc)) from None
        try:
            q = nn.quantize(graph, design.qconfig, x_calib)
        except ValueError as exc:
            raise design.error(_quant_key(design, str(exc)), str(exc)) from None
    try:
        _silence(Accelerator(q, fifo_depth=design.fifo_depth))
    except ValueError as exc:
        raise design.error(_quant_key(design, str(exc)), str(exc)) from None
    variants = design.variants([n.name for n in q.nodes if isinstance(n, QLinear)])   # Dense and Conv2d
    if design.variant != "mvu":          # the design's variant on every layer, fully serial
        try:
            _silence(Accelerator(q, fifo_depth=design.fifo_depth, variants=design.variant))
        except ValueError as exc:
            raise design.error("unit.variant", str(exc)) from None
    for layer, (pe, simd) in design.folding.items():
        own = {layer: variants[layer]} if layer in variants else None
        try:
            _silence(Accelerator(q, {layer: (pe, simd)}, fifo_depth=design.fifo_depth, variants=own))
        except ValueError as exc:
            msg = str(exc)
            key = next((f"fold.{layer}.{k}" for k in _FOLD if msg.startswith(f"{k}=")), None)
            if key is None:                      # not the folding factors: the layer's variant, else the entry
                key = f"fold.{layer}.variant" if own and layer in design.layer_variants else f"fold.{layer}"
            raise design.error(key, msg) from None
    acc = Accelerator(q, dict(design.folding), fifo_depth=design.fifo_depth, variants=variants)
    return Prepared(design, label, graph, x_calib, x_test, y_test, q, acc)


#: per HLS generator: a configuration it surely takes (to tell a network it cannot express
#: from a quantization it cannot, and which quant key is at fault)
_HLS_PROBE = {"hls4ml": {"weight": "int8", "act": "int8", "acc": None},
              "numfmt": {"weight": "e4m3fn", "act": "e4m3fn", "acc": None}}


def _hls_check(generator: str):
    from numfmt.hw import hls
    return hls.plan if generator == "hls4ml" else hls.check_supported


def _prepare_hls(design: Design, graph, x_calib):
    """Quantize; the HLS generator's own checks judge the graph (``plan`` of the hls4ml
    adapter, or ``check_supported`` of the C++ generator)."""
    from numfmt import nn

    try:
        q = nn.quantize(graph, design.qconfig, x_calib)
    except ValueError as exc:
        raise design.error(_quant_key(design, str(exc)), str(exc)) from None
    check = _hls_check(design.hls.generator)
    probe = _HLS_PROBE[design.hls.generator]

    def passes(config) -> bool:
        try:
            check(nn.quantize(graph, config, x_calib))
        except ValueError:
            return False
        return True

    try:
        check(q)
    except ValueError as exc:
        msg = str(exc)
        if not passes(nn.QConfig(weight=probe["weight"], act=probe["act"])):   # the network itself
            try:
                check(nn.quantize(graph, nn.QConfig(weight=probe["weight"], act=probe["act"]), x_calib))
            except ValueError as net:
                raise design.error("network.model", str(net)) from None
        quant = design._doc.get("quant", {})
        for key in ("act", "weight", "acc"):         # the one key that, set as the probe, makes it pass
            if key in quant and passes(dataclasses.replace(design.qconfig, **{key: probe[key]})):
                raise design.error(f"quant.{key}", msg) from None
        raise design.error(_quant_key(design, msg), msg) from None
    return q


def _silence(unit) -> None:
    """An accelerator constructed only to check the design is never elaborated (Amaranth
    would warn that it and its stages were not used)."""
    for u in [unit, *unit.stages]:
        u._MustUse__silence = True


#: words of the accelerator's messages → the quant key they concern
_QUANT_WORDS = (("weight", "weight"), ("accumulator", "acc"), ("granularity", "granularity"),
                ("format", "act"), ("requantizer", "act"))


def _quant_key(design: Design, msg: str) -> str:
    for word, key in _QUANT_WORDS:
        if word in msg:
            doc = design._doc
            return f"quant.{key}" if key in doc.get("quant", {}) else "quant"
    return "quant"

