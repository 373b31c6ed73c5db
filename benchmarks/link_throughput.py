"""Throughput of the host link through the board top-level (SerialTop), in simulation.

The Python host driver (``firmware/``: Host on a LinkTransport) drives SerialTop's UART pins
bit by bit in cocotb (Verilator), exactly as on a board. Two measurements against the UART
line rate (one 8N1 character = 10 bit times = 10 x clocks_per_bit clocks):

(a) bulk weight load: ``write_words`` of every synapse word of a core, cut by the driver into
    HOST frames of ``max_payload // cmd_bytes`` command words, each answered by an empty
    final frame before the next is sent (request/response). Reported: command-word bytes and
    wire bytes as a fraction of what the host-to-board line could carry in the time taken
    (goal: >= 90 % for bulk transfers);
(b) spike streaming: one ``STEP n`` request of a lively core; the reply words (SPIKE and
    DONE records) come back in frames closed at every DONE record. Reported: reply bytes as a
    fraction of the board-to-host line, and spikes per second at 115200 baud.

Usage: python benchmarks/link_throughput.py  (writes benchmarks/results/link_throughput.{json,md})
"""

import json
import sys
from pathlib import Path

import numpy as np

from spikefab.rtl.params import CoreParams
from spikefab.sim.serial_runner import run_serial

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent
SIMULATOR = "verilator"
CLOCKS_PER_BIT = 8
PARAMS = CoreParams(neurons=32, axons=32, lanes=4, trace_port=False)
STEPS = 20
BULK_REPEATS = 2
SEED = 7


def lively(params, rng):
    sys.path.insert(0, str(ROOT.parent / "tests"))
    from rtl_helpers import lively_image
    return lively_image(params, rng)


def commit():
    return _provenance.git()["commit"]


def machine():
    return _provenance.machine()


def main():
    rng = np.random.default_rng(SEED)
    img = lively(PARAMS, rng)
    run = run_serial(img, [], 0, SIMULATOR, clocks_per_bit=CLOCKS_PER_BIT, baked=True,
                     measure={"steps": STEPS, "bulk_repeats": BULK_REPEATS})
    m = run.results["measure"]
    char = 10 * CLOCKS_PER_BIT
    cmd_bytes = run.results["identity"]["cmd_bytes"]
    b, s = m["bulk"], m["stream"]
    line_b = b["clocks"] / char                          # characters the line could carry
    line_s = s["clocks"] / char
    bulk = {**b, "payload_bytes": b["words"] * cmd_bytes,
            "payload_of_line": round(b["words"] * cmd_bytes / line_b, 4),
            "wire_of_line": round(b["written"] / line_b, 4),
            "weights_per_s_115200": round(b["words"] * PARAMS.lanes / line_b * 11520)}
    stream = {**s, "reply_of_line": round(s["read"] / line_s, 4),
              "spikes_per_s_115200": round(s["spikes"] / line_s * 11520),
              "steps_per_s_115200": round(s["steps"] / line_s * 11520, 1)}
    command = ".venv/bin/python benchmarks/link_throughput.py"
    mach = machine()
    result = {"command": command, "commit": commit(), "machine": mach, "simulator": SIMULATOR,
              "clocks_per_bit": CLOCKS_PER_BIT, "params": PARAMS.to_dict(),
              "max_payload": run.results["identity"]["max_payload"], "cmd_bytes": cmd_bytes,
              "reply_bytes": run.results["identity"]["reply_bytes"],
              "bulk": bulk, "stream": stream}
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "link_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Host link throughput (measured)", "",
        f"Command: `{command}` (from the repository root), commit {result['commit']}.", "",
        f"Machine: {mach['nproc']} cores ({mach['cpu']}, {mach['machine']}), Python "
        f"{mach['python']}; {SIMULATOR}, SerialTop at {CLOCKS_PER_BIT} clocks per bit, "
        f"max_payload {result['max_payload']}, command words {cmd_bytes} bytes, reply words "
        f"{result['reply_bytes']} bytes; core {PARAMS.neurons} x {PARAMS.axons}, "
        f"{PARAMS.lanes} lanes.", "",
        "| transfer | measured | of the line rate |",
        "|---|---|---|",
        f"| bulk weight load: {bulk['words']} synapse words in {bulk['requests']} requests, "
        f"{bulk['clocks']:.0f} clocks | {bulk['payload_bytes']} command bytes, "
        f"{bulk['written']} wire bytes | {100 * bulk['payload_of_line']:.1f} % command bytes, "
        f"{100 * bulk['wire_of_line']:.1f} % wire bytes |",
        f"| spike streaming: {STEPS} steps, {stream['spikes']} spikes, {stream['clocks']:.0f} "
        f"clocks | {stream['read']} reply bytes in {stream['reply_frames']} frames | "
        f"{100 * stream['reply_of_line']:.1f} % of the board-to-host line |", "",
        f"At 115200 baud: {bulk['weights_per_s_115200']} weights/s loaded, "
        f"{stream['spikes_per_s_115200']} spikes/s streamed "
        f"({stream['steps_per_s_115200']} steps/s of this core).", "",
    ]
    (out / "link_throughput.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
