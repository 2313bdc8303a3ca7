"""Draw the waveform pictures of the hardware docs pages (docs/img/wave_*.png).

    python docs/make_waveforms.py [--out docs/img] [--only fpmul,intmac,bitserial]

Each picture is a run of the unit's RTL in Amaranth's own simulator: a few transactions
on the input stream with one idle cycle (``i.valid`` low) and one cycle of back-pressure
(``o.ready`` low while ``o.valid`` is high). The testbench records every port once per
cycle (the values the next rising edge samples) and asserts, before anything is drawn,
that the output transactions equal the unit's numfmt ``model()`` of the accepted inputs
and that every transaction that met no back-pressure took ``unit.latency`` cycles. So
the pictures show verified behaviour.

Importable: :func:`record` runs a unit and returns a :class:`Recording`;
:func:`render` draws one; :data:`EXAMPLES` names the three pictures.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numfmt as nf  # noqa: E402
from numfmt.arith import FixedAccumulator  # noqa: E402
from numfmt.formats import IntFormat  # noqa: E402

__all__ = ["EXAMPLES", "Recording", "label", "record", "render", "main"]


# -- recording ------------------------------------------------------------------------------
@dataclasses.dataclass
class Recording:
    """One simulated run of a unit, cycle by cycle.

    ``traces`` maps a row name (``"i.valid"``, ``"i.a"``, ``"o.p"``, …) to its value in
    every cycle (the value the rising edge at the end of the cycle samples). Cycle ``k``
    accepted an input when ``i.valid & i.ready`` and delivered an output when
    ``o.valid & o.ready``. ``latencies[t]`` = first cycle transaction ``t``'s output is
    valid − its accepting cycle; ``stalled[t]``: back-pressure hit it on the way.
    """
    unit: object
    title: str
    traces: dict
    widths: dict          # row name -> bits
    formats: dict         # row name -> Format or None
    inputs: dict          # accepted input transactions, field -> uint64 array
    outputs: dict         # delivered output transactions, field -> uint64 array
    expected: dict        # unit.model(inputs)
    accepted: list        # cycle of each input handshake
    delivered: list       # cycle of each output handshake
    latencies: list
    stalled: list

    @property
    def cycles(self) -> int:
        return len(self.traces["i.valid"])


def record(unit, transactions, *, title=None, idle_after=3, stall_output=1, tail=1,
           max_cycles=500) -> Recording:
    """Run ``unit`` in Amaranth's simulator on ``transactions`` and record every port.

    Parameters
    ----------
    unit : hw.rtl.Unit
    transactions : list of dict
        Input transactions, each mapping every input field to a code.
    title : str, optional
        Picture title (default: the unit's name).
    idle_after : int or None
        After accepting transaction ``idle_after``, hold ``i.valid`` low up to and including
        the next cycle in which ``i.ready`` is high (a visible idle cycle); ``None``: none.
    stall_output : int or None
        Hold ``o.ready`` low in the first cycle output transaction ``stall_output`` is
        valid (one cycle of back-pressure); ``None``: never.
    tail : int
        Cycles recorded after the last output was delivered.
    max_cycles : int
        Give up (``RuntimeError``) when the outputs have not all arrived by then.

    Raises
    ------
    ValueError
        For a combinational unit (``latency == 0``) or transactions missing a field.
    AssertionError
        When an output differs from ``unit.model`` or a transaction free of back-pressure
        did not take ``unit.latency`` cycles.
    """
    from amaranth.sim import Simulator

    if unit.latency == 0:
        raise ValueError(f"unit.latency must be ≥ 1 (the testbench reads o.valid before driving i), "
                         f"not 0 ({unit.name})")
    fields_in, fields_out = list(unit.in_fields), list(unit.out_fields)
    for k, t in enumerate(transactions):
        if set(t) != set(fields_in):
            raise ValueError(f"transactions[{k}] must give the fields {fields_in}, not {sorted(t)}")
    rows = (["i.valid", "i.ready"] + [f"i.{f}" for f in fields_in] +
            ["o.valid", "o.ready"] + [f"o.{f}" for f in fields_out])
    traces = {r: [] for r in rows}
    state = {"accepted": [], "delivered": [], "first_valid": [], "stall_cycles": [],
             "outputs": {f: [] for f in fields_out}}
    n = len(transactions)

    async def testbench(ctx):
        sent = 0                 # transactions accepted so far
        idle_pending = False     # i.valid stays low until (and including) a cycle with i.ready high
        out_seen = 0             # outputs whose first valid cycle has been recorded
        stalled_once = False
        end = max_cycles
        for cycle in range(max_cycles):
            if cycle == end:
                return
            # the output side first: o.valid never depends on o.ready or i.valid
            o_valid = ctx.get(unit.o.valid)
            stall = (stall_output is not None and not stalled_once and o_valid and
                     len(state["delivered"]) == stall_output)
            stalled_once |= stall
            ctx.set(unit.o.ready, 0 if stall else 1)
            if stall:
                state["stall_cycles"].append(cycle)
            if o_valid and out_seen == len(state["delivered"]):
                state["first_valid"].append(cycle)
                out_seen += 1
            # the input side: i.ready does not depend on i.valid in these units
            ready = ctx.get(unit.i.ready)
            present = sent < n and not idle_pending
            if idle_pending and ready:
                idle_pending = False
            if present:
                ctx.set(unit.i.payload, transactions[sent])
            ctx.set(unit.i.valid, 1 if present else 0)
            # sample every row (settled values, as the coming rising edge sees them)
            for r in rows:
                side, name = r.split(".")
                port = unit.i if side == "i" else unit.o
                sig = getattr(port, name) if name in ("valid", "ready") else getattr(port.payload, name)
                traces[r].append(int(ctx.get(sig)))
            if present and ready:
                state["accepted"].append(cycle)
                sent += 1
                idle_pending = idle_after is not None and sent == idle_after + 1
            if o_valid and not stall:
                state["delivered"].append(cycle)
                for f in fields_out:
                    state["outputs"][f].append(traces[f"o.{f}"][-1])
            if len(state["delivered"]) == n and end == max_cycles:
                end = cycle + 1 + tail
            await ctx.tick()
        if end == max_cycles:
            raise RuntimeError(f"{unit.name}: {len(state['delivered'])} of {n} outputs after "
                               f"max_cycles={max_cycles} cycles")

    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()

    for side, fs in (("i", fields_in), ("o", fields_out)):   # a stream holds what it offers
        v, r = traces[f"{side}.valid"], traces[f"{side}.ready"]
        for c in range(len(v) - 1):
            if v[c] and not r[c]:
                assert v[c + 1] and all(traces[f"{side}.{f}"][c + 1] == traces[f"{side}.{f}"][c]
                                        for f in fs), \
                    f"{unit.name}: {side} dropped or changed an offered transaction in cycle {c + 1}"
    inputs = {f: np.array([t[f] for t in transactions], dtype=np.uint64) for f in fields_in}
    outputs = {f: np.array(v, dtype=np.uint64) for f, v in state["outputs"].items()}
    expected = unit.model(inputs)
    for f in fields_out:
        assert np.array_equal(outputs[f], np.asarray(expected[f], dtype=np.uint64)), \
            f"{unit.name}: output {f} = {outputs[f].tolist()}, model {np.asarray(expected[f]).tolist()}"
    accepted, first_valid = state["accepted"], state["first_valid"]
    latencies = [v - a for a, v in zip(accepted, first_valid)]
    stalled = [any(a <= s < v for s in state["stall_cycles"]) for a, v in zip(accepted, first_valid)]
    if unit.latency is not None:
        for t, (lat, st) in enumerate(zip(latencies, stalled)):
            assert st or lat == unit.latency, \
                f"{unit.name}: transaction {t} took {lat} cycles, not unit.latency = {unit.latency}"
    widths = {"i.valid": 1, "i.ready": 1, "o.valid": 1, "o.ready": 1}
    formats = dict.fromkeys(widths)
    for side, fs in (("i", unit.in_fields), ("o", unit.out_fields)):
        for name, fld in fs.items():
            widths[f"{side}.{name}"] = fld.width
            formats[f"{side}.{name}"] = fld.format
    return Recording(unit=unit, title=title or unit.name, traces=traces, widths=widths,
                     formats=formats, inputs=inputs, outputs=outputs, expected=expected,
                     accepted=accepted, delivered=state["delivered"], latencies=latencies,
                     stalled=stalled)


def label(code: int, width: int, fmt=None) -> str:
    """A field's code in hex, with its value when the field has a format.

    >>> label(0x38, 8, nf.parse("e4m3fn"))
    '0x38 (1.0)'
    >>> label(0xF, 4, nf.IntFormat(4))
    '0xf (-1)'
    """
    text = f"0x{code:0{(width + 3) // 4}x}"
    if fmt is None:
        return text
    codes = np.array([code], dtype=np.uint64)
    if isinstance(fmt, IntFormat):
        value = str(int(fmt.decode_int(codes)[0]))
    else:
        value = repr(float(fmt.decode(codes)[0]))
    return f"{text} ({value})"


# -- the three pictures --------------------------------------------------------------------
def _fpmul():
    from numfmt.hw.rtl import FloatMul
    e4m3 = nf.parse("e4m3fn")
    unit = FloatMul(e4m3, stages=2)
    pairs = [(1.0, 1.5), (2.0, -0.75), (1.125, 1.125), (0.5, 448.0), (-3.0, 0.25)]
    tx = [{"a": int(e4m3.encode([a])[0]), "b": int(e4m3.encode([b])[0])} for a, b in pairs]
    return unit, tx, f"FloatMul(e4m3fn, stages=2): p = a·b rounded to e4m3fn — latency {unit.latency} cycles"


def _intmac():
    from numfmt.hw.rtl import IntMac
    i8 = nf.IntFormat(8)
    unit = IntMac(i8, i8, FixedAccumulator(16, overflow="sat"), stages=1)
    rows = [(3, 4, 1), (5, 6, 0), (-128, -128, 0), (-128, -128, 0), (-7, 2, 1)]   # 4th saturates
    tx = [{"a": int(i8.encode([a])[0]), "b": int(i8.encode([b])[0]), "first": f} for a, b, f in rows]
    return unit, tx, (f"IntMac(int8, int8, FixedAccumulator(16, sat), stages=1) — latency "
                      f"{unit.latency} cycles")


def _bitserial():
    from numfmt.hw.rtl import BitSerialDot
    i4 = nf.IntFormat(4)
    unit = BitSerialDot(i4, i4, 2, serial="a")
    vecs = [((3, -2), (5, 7)), ((-8, 7), (-8, -1)), ((1, 1), (6, -3)), ((-1, 4), (2, 2)),
            ((7, 7), (7, 7))]
    tx = []
    for a, b in vecs:
        codes_a, codes_b = i4.encode(list(a)), i4.encode(list(b))
        tx.append({"a0": int(codes_a[0]), "a1": int(codes_a[1]),
                   "b0": int(codes_b[0]), "b1": int(codes_b[1])})
    return unit, tx, (f"BitSerialDot(int4, int4, n=2, serial='a') — latency = cycles = "
                      f"{unit.latency}, one transaction per {unit.latency} cycles")


#: picture name -> function returning (unit, transactions, title)
EXAMPLES = {"fpmul": _fpmul, "intmac": _intmac, "bitserial": _bitserial}


# -- rendering -----------------------------------------------------------------------------
_HANDSHAKE, _STALL = "#cdeccd", "#f6c9c9"


def _segments(values, valid, fire=None):
    """Runs of equal (valid, value), split after every handshake (``fire``):
    ``[(start, stop, valid, value), …]``."""
    segs = []
    for k, (v, ok) in enumerate(zip(values, valid)):
        new_transaction = fire is not None and k > 0 and fire[k - 1]
        if segs and segs[-1][2] == ok and (not ok or (segs[-1][3] == v and not new_transaction)):
            segs[-1][1] = k + 1
        else:
            segs.append([k, k + 1, ok, v])
    return segs


def render(rec: Recording, path) -> None:
    """Draw ``rec`` as a waveform PNG at ``path`` (written atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = rec.cycles
    tr = rec.traces
    in_fire = [v and r for v, r in zip(tr["i.valid"], tr["i.ready"])]
    out_fire = [v and r for v, r in zip(tr["o.valid"], tr["o.ready"])]
    stall = [v and not r for v, r in zip(tr["o.valid"], tr["o.ready"])]
    rows = ["clk"] + [r for r in tr if r.startswith("i.")] + ["latency"] + \
           [r for r in tr if r.startswith("o.")]
    H = len(rows)
    fig, ax = plt.subplots(figsize=(1.0 + 0.78 * T, 0.42 * H + 1.0), dpi=100)
    hi, lo = 0.78, 0.22                        # of a row's height

    def y0(k):                                 # bottom of row k (row 0 at the top)
        return H - 1 - k

    for k, name in enumerate(rows):
        base = y0(k)
        if name == "clk":
            xs, ys = [], []
            for c in range(T):
                xs += [c, c, c + 0.5, c + 0.5]
                ys += [base + lo, base + hi, base + hi, base + lo]
            ax.plot(xs + [T], ys + [base + lo], color="black", lw=1)
            continue
        if name == "latency":
            if rec.accepted:
                a, lat = rec.accepted[0], rec.latencies[0]
                ym = base + 0.5
                ax.annotate("", xy=(a + lat, ym), xytext=(a, ym),
                            arrowprops=dict(arrowstyle="<->", color="tab:blue", lw=1.2))
                ax.text(a + lat / 2, ym + 0.12, f"latency {lat}", ha="center", va="bottom",
                        fontsize=8, color="tab:blue")
            continue
        side = name[0]
        fire = in_fire if side == "i" else out_fire
        for c in range(T):                     # handshake / back-pressure shading
            if fire[c]:
                ax.add_patch(plt.Rectangle((c, base + 0.05), 1, 0.9, color=_HANDSHAKE, lw=0, zorder=0))
            elif side == "o" and stall[c]:
                ax.add_patch(plt.Rectangle((c, base + 0.05), 1, 0.9, color=_STALL, lw=0, zorder=0))
        values = tr[name]
        valid = tr[f"{side}.valid"]
        is_control = name.endswith((".valid", ".ready"))
        if is_control or rec.widths[name] == 1:
            # a step line; a payload bit only where its stream is valid (grey: don't care)
            spans = [(0, T, True)] if is_control else \
                [(a, b, ok) for a, b, ok, _ in _segments([0] * T, valid)]      # runs of valid
            for s, e, ok in spans:
                if not ok:
                    ax.plot([s, e], [base + 0.5, base + 0.5], color="0.6", lw=1)
                    continue
                xs, ys = [], []
                for c in range(s, e):
                    y = base + (hi if values[c] else lo)
                    xs += [c, c + 1]
                    ys += [y, y]
                ax.plot(xs, ys, color="black" if is_control else "tab:purple", lw=1.3)
            continue
        d = 0.08                                # slant of a bus segment's ends
        for s, e, ok, v in _segments(values, valid, fire):
            if not ok:
                ax.plot([s, e], [base + 0.5, base + 0.5], color="0.6", lw=1)
                continue
            xs = [s, s + d, e - d, e, e - d, s + d, s]
            ys = [base + 0.5, base + hi, base + hi, base + 0.5, base + lo, base + lo, base + 0.5]
            ax.fill(xs, ys, facecolor="#fff8dc", edgecolor="black", lw=1, zorder=2)
            text = label(v, rec.widths[name], rec.formats[name])
            if e - s < 2 and " " in text:
                text = text.replace(" ", "\n", 1)
            ax.text((s + e) / 2, base + 0.5, text, ha="center", va="center",
                    fontsize=7 if "\n" in text else 7.5, zorder=4, linespacing=0.95)

    for c in range(T + 1):
        ax.axvline(c, color="0.88", lw=0.6, zorder=-1)
    ax.set_xlim(-0.05, T + 0.05)
    ax.set_ylim(-0.1, H)
    ax.set_yticks([y0(k) + 0.5 for k in range(H)])
    ax.set_yticklabels(["" if r == "latency" else r for r in rows], fontsize=9, family="monospace")
    ax.set_xticks([c + 0.5 for c in range(T)])
    ax.set_xticklabels([str(c) for c in range(T)], fontsize=8)
    ax.set_xlabel("cycle    (green: handshake, valid & ready;  red: back-pressure, o.valid & ~o.ready)",
                  fontsize=8)
    ax.tick_params(axis="both", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(rec.title, fontsize=10)
    fig.tight_layout()

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".wave_", suffix=".png", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=100, metadata={"Software": None})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "img"))
    parser.add_argument("--only", default=",".join(EXAMPLES),
                        help=f"comma-separated subset of {','.join(EXAMPLES)}")
    args = parser.parse_args(argv)
    names = [s for s in args.only.split(",") if s]
    for name in names:
        if name not in EXAMPLES:
            parser.error(f"--only: unknown picture {name!r} (choose from {', '.join(EXAMPLES)})")
    for name in names:
        unit, tx, title = EXAMPLES[name]()
        rec = record(unit, tx, title=title)
        path = os.path.join(args.out, f"wave_{name}.png")
        render(rec, path)
        print(f"{path}: {rec.cycles} cycles, {len(tx)} transactions, latencies {rec.latencies}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
