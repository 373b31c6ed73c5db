"""XOR with three LIF neurons on a 2-core array: the network API end to end.

Two input channels A and B drive a hidden population of two neurons, OR (fires when A or B
spikes) and AND (fires only when both do); the output neuron XOR is excited by OR and
inhibited by AND. The network is mapped onto a 2x1 mesh of 2-neuron cores (the hidden
population on core (0, 0), the output on core (1, 0)), the mapping report is printed, and
the golden network model is run on the four input patterns; XOR must fire one step after
the patterns 01 and 10 only.

The neurons are ``cuba`` with ``du = dv = 4095``: u is only this step's input (times 64) and v
forgets almost everything from one step to the next, so a neuron fires at step t when its
weighted input at step t exceeds ``vth``.

Usage: .venv/bin/python examples/network_xor.py [-o xor.npz]
"""

import argparse

from spikefab.gen.network import MappedNetwork, Network
from spikefab.rtl.params import CoreParams, MeshParams


PATTERNS = [(0, 0), (0, 1), (1, 0), (1, 1)]
PERIOD = 3          # steps between patterns


def build():
    net = Network("xor")
    ab = net.input("ab", 2)                                   # channel 0 = A, 1 = B
    fast = {"du": 4095, "dv": 4095}
    hidden = net.population("hidden", 2, params={**fast, "vth": [3, 5]})   # OR, AND
    xor = net.population("xor", 1, params={**fast, "vth": 3})
    # a_in = 4 per active input (u = 256 after << 6): OR fires on one (256 > 3 << 6 = 192),
    # AND only on two (512 > 5 << 6 = 320)
    net.project(ab, hidden, [[4, 4],
                             [4, 4]])
    # XOR = OR - AND: 4 alone fires, 4 - 8 does not
    net.project(hidden, xor, [[4],
                              [-8]])
    net.output(xor)
    net.output(hidden)
    return net


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", help="also save the mapped network image (.npz) here")
    args = ap.parse_args()

    net = build()
    mapped = net.map(MeshParams(width=2, height=1, route_entries=8),
                     CoreParams(neurons=2, axons=4, lanes=1, weight_bits=4))
    print(mapped.report)
    print()
    print("placement:", mapped.placement)
    if args.output:
        mapped.save(args.output)
        mapped = MappedNetwork.load(args.output)
        print(f"saved to {args.output} and loaded back")

    spikes = [[] for _ in range(PERIOD * len(PATTERNS))]
    for k, (a, b) in enumerate(PATTERNS):
        spikes[PERIOD * k] = [ch for ch, on in enumerate((a, b)) if on]
    result = mapped.run_golden({"ab": spikes}, steps=len(spikes) + 1)

    print("external inputs per step (core, axon):", result.inputs)
    print("output records:", result.run.outputs)
    print("decoded outputs:", result.outputs)
    fired = {t for t, _ in result.outputs["xor"]}
    ok = True
    for k, (a, b) in enumerate(PATTERNS):
        t = PERIOD * k
        got = int(t + 1 in fired)
        ok &= got == (a ^ b)
        h = result.spikes["hidden"][t].astype(int).tolist()
        print(f"A={a} B={b} at step {t}:  OR, AND fire {h} at step {t};  "
              f"XOR fires at step {t + 1}: {got}  (expected {a ^ b})")
    print("XOR truth table reproduced" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
