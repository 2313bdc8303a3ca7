"""The generic cocotb testbench run inside the simulator by :func:`sim.check`.

It knows nothing about formats: a :class:`Driver` streams pre-packed input payloads
into a :class:`hw.rtl.Unit` 's ``i`` port and a :class:`Monitor` records the payloads
leaving ``o``, each with the cycle of its handshake. The pytest side
(:mod:`sim._check`) made the vectors, computes the expected outputs with the numfmt
model, and checks what this module writes back.

Files (in the directory named by ``$NUMFMT_SIM_DIR``):

* ``params.json`` — ``n``, ``in_width``, ``out_width``, ``seed``, ``idle``,
  ``backpressure``, ``stall_limit``, ``drain``;
* ``inputs.bin`` — ``n`` little-endian payload rows of ``ceil(in_width / 8)`` bytes;
* written back: ``outputs.bin`` (rows of ``ceil(out_width / 8)`` bytes),
  ``in_cycles.bin`` / ``out_cycles.bin`` (int64 per transaction) and ``result.json``.

Speed: the simulator process imports no NumPy; each cycle awaits one ``RisingEdge``
(then drives) and one ``ReadOnly`` (then samples the settled handshake signals, which
decide what the next edge transfers), and touches signals through
:class:`_Signal`, which calls the simulator handle directly when cocotb trusts
the simulator's inertial writes (Verilator) and the public ``.value`` API otherwise.
"""

from __future__ import annotations

import json
import os
import random
import time
from array import array
from pathlib import Path

__all__ = ["Driver", "Monitor", "Pauses"]


class Pauses:
    """A seeded stream of booleans, ``True`` with probability ``p`` (the pause generator
    of cocotbext-axi): idle cycles of a driver, back-pressure of a monitor.

    >>> p = Pauses(0.25, seed=1)
    >>> 150 < sum(p.next() for _ in range(1000)) < 350
    True
    >>> Pauses(0.0, seed=1).next()
    False
    """

    def __init__(self, p: float, seed, chunk: int = 4096):
        self.p = float(p)
        self._rng = random.Random(seed)
        self._chunk = chunk
        self._buf: list = []
        self._pos = 0

    def next(self) -> bool:
        if self.p <= 0.0:
            return False
        if self._pos == len(self._buf):
            r, p = self._rng.random, self.p
            self._buf = [r() < p for _ in range(self._chunk)]
            self._pos = 0
        v = self._buf[self._pos]
        self._pos += 1
        return v


class _Signal:
    """Fast reads and writes of one signal: binary strings for payloads, ints for bits."""

    def __init__(self, handle):
        self.handle = handle
        self.width = len(handle)
        raw = getattr(handle, "_handle", None)
        trusted = os.environ.get("COCOTB_TRUST_INERTIAL_WRITES", "") not in ("", "0")
        if raw is not None and trusted and hasattr(raw, "set_signal_val_binstr"):
            self.write_bits = lambda s, _w=raw.set_signal_val_binstr: _w(0, s)  # 0: deposit
            self.write_bit = lambda v, _w=raw.set_signal_val_int: _w(0, v)
            self.read_bits = raw.get_signal_val_binstr
            self.read_bit = raw.get_signal_val_long
        else:
            self.write_bits = self._write_bits
            self.write_bit = self._write_bit
            self.read_bits = self._read_bits
            self.read_bit = self._read_bit

    def _write_bits(self, s: str) -> None:
        self.handle.value = int(s, 2)

    def _write_bit(self, v: int) -> None:
        self.handle.value = v

    def _read_bits(self) -> str:
        return str(self.handle.value)

    def _read_bit(self) -> int:
        s = str(self.handle.value)
        return 1 if s == "1" else 0


class Driver:
    """Drives ``i__payload`` / ``i__valid``, holding each payload until ``i__ready``;
    before presenting a payload it idles (``i__valid`` low) while :class:`Pauses` says so."""

    def __init__(self, dut, payloads: list, pauses: Pauses):
        self.valid, self.ready = _Signal(dut.i__valid), _Signal(dut.i__ready)
        self.payload = _Signal(dut.i__payload)
        self.items = payloads          # binary strings, MSB first
        self.pauses = pauses
        self.next = 0                  # index of the item presented or to present
        self.presenting = False
        self.cycles = array("q", bytes(8 * len(payloads)))   # accept cycle of each item
        self._valid = 0

    @property
    def done(self) -> bool:
        return self.next >= len(self.items)

    def drive(self) -> None:
        """After a clock edge: present the next item (unless pausing), or keep the current one."""
        if not self.presenting and self.next < len(self.items) and not self.pauses.next():
            self.payload.write_bits(self.items[self.next])
            self.presenting = True
        valid = 1 if self.presenting else 0
        if valid != self._valid:
            self.valid.write_bit(valid)
            self._valid = valid

    def sample(self, cycle: int) -> bool:
        """With settled signals: does edge ``cycle`` accept the presented item?"""
        if self.presenting and self.ready.read_bit():
            self.cycles[self.next] = cycle
            self.next += 1
            self.presenting = False
            return True
        return False


class Monitor:
    """Drives ``o__ready`` (low while :class:`Pauses` says so: back-pressure) and records
    ``o__payload`` at every ``o__valid & o__ready`` handshake, with its cycle."""

    def __init__(self, dut, pauses: Pauses):
        self.valid, self.ready = _Signal(dut.o__valid), _Signal(dut.o__ready)
        self.payload = _Signal(dut.o__payload)
        self.pauses = pauses
        self.values: list = []         # binary strings as read
        self.cycles = array("q")
        self._ready = 0

    def drive(self) -> None:
        ready = 0 if self.pauses.next() else 1
        if ready != self._ready:
            self.ready.write_bit(ready)
            self._ready = ready

    def sample(self, cycle: int) -> bool:
        """With settled signals: record the payload if edge ``cycle`` takes it."""
        if self._ready and self.valid.read_bit():
            self.values.append(self.payload.read_bits())
            self.cycles.append(cycle)
            return True
        return False


def _read_inputs(folder: Path, params: dict) -> list:
    nbytes = (params["in_width"] + 7) // 8
    raw = (folder / "inputs.bin").read_bytes()
    width = params["in_width"]
    fmt = f"0{width}b"
    return [format(int.from_bytes(raw[k:k + nbytes], "little"), fmt)
            for k in range(0, len(raw), nbytes)]


def _port(dut, name):
    try:
        return getattr(dut, name)
    except AttributeError:
        return None


async def _run(dut, params: dict, payloads: list) -> dict:
    from cocotb.clock import Clock
    from cocotb.triggers import ReadOnly, RisingEdge, Timer

    n = len(payloads)
    seed = params["seed"]
    driver = Driver(dut, payloads, Pauses(params["idle"], seed=2 * seed))
    monitor = Monitor(dut, Pauses(params["backpressure"], seed=2 * seed + 1))
    stall_limit, drain = params["stall_limit"], params["drain"]

    # A combinational unit (pipeline stages=0) has no clk/rst: time steps stand in for edges.
    clk = _port(dut, "clk")
    rst = _port(dut, "rst")
    if clk is not None:
        Clock(clk, 2, unit="ns").start()
        edge = RisingEdge(clk)
    else:
        edge = Timer(2, unit="ns")
    if rst is not None:
        rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    settled = ReadOnly()
    for _ in range(2):
        await edge
    if rst is not None:
        rst.value = 0
    t0 = time.perf_counter()
    cycle = last_progress = 0
    extra = None
    d_drive, d_sample, m_drive, m_sample = driver.drive, driver.sample, monitor.drive, monitor.sample
    outputs = monitor.values
    while True:
        await edge
        d_drive()
        m_drive()
        await settled
        cycle += 1
        if d_sample(cycle):
            last_progress = cycle
        if m_sample(cycle):
            last_progress = cycle
            if len(outputs) > n:
                extra = cycle
                break
        if len(outputs) == n:
            if drain <= 0:
                break
            drain -= 1     # a few more cycles to catch outputs nobody asked for
        elif cycle - last_progress > stall_limit:
            break
    loop_seconds = time.perf_counter() - t0

    got, status, bad = len(outputs), "ok", None
    ints = []
    for k, s in enumerate(outputs[:n]):
        try:
            ints.append(int(s, 2))
        except ValueError:
            if bad is None:
                bad = (k, s)
            ints.append(0)
    if extra is not None:
        status = f"the unit produced more outputs than inputs (output {n} at cycle {extra})"
    elif got < n:
        status = (f"no handshake for {stall_limit} cycles: {driver.next} of {n} inputs accepted, "
                  f"{got} outputs, at cycle {cycle}")
    elif bad is not None:
        status = f"output {bad[0]} has unknown bits: {bad[1]}"
    return {"outputs": ints, "in_cycles": driver.cycles, "out_cycles": monitor.cycles[:n],
            "cycles": cycle, "loop_seconds": loop_seconds, "status": status}


def _write_results(folder: Path, params: dict, result: dict) -> None:
    nbytes = (params["out_width"] + 7) // 8
    (folder / "outputs.bin").write_bytes(b"".join(v.to_bytes(nbytes, "little") for v in result["outputs"]))
    (folder / "in_cycles.bin").write_bytes(result["in_cycles"].tobytes())
    (folder / "out_cycles.bin").write_bytes(result["out_cycles"].tobytes())
    summary = {k: result[k] for k in ("cycles", "loop_seconds", "status")}
    tmp = folder / "result.json.tmp"
    tmp.write_text(json.dumps(summary))
    os.replace(tmp, folder / "result.json")   # last: its presence means the rest is complete


def _cocotb_test():
    import cocotb

    @cocotb.test()
    async def stream(dut):
        """Stream the vectors of ``$NUMFMT_SIM_DIR`` through the unit and record its outputs."""
        folder = Path(os.environ["NUMFMT_SIM_DIR"])
        params = json.loads((folder / "params.json").read_text())
        result = await _run(dut, params, _read_inputs(folder, params))
        _write_results(folder, params, result)
        assert result["status"] == "ok", result["status"]

    return stream


# The cocotb test exists only inside the simulator (where cocotb collects it); importing
# this module elsewhere (documentation, doctests) needs no running simulator.
if os.environ.get("NUMFMT_SIM_DIR") and os.environ.get("COCOTB_TEST_MODULES"):
    stream = _cocotb_test()
