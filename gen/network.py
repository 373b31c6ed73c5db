"""Networks of populations and projections, and their automatic mapping onto a many-core array:
the public names of four modules, one job each (see docs/network.md):

- :mod:`spikefab.gen.netdesc`: the description, :class:`Network` (populations, external
  inputs, projections with weights and delays, output populations);
- :mod:`spikefab.gen.mapper`: the mapper, :func:`~spikefab.gen.mapper.map_network` (its
  phases as functions, the mapping rules, :class:`MappingError`);
- :mod:`spikefab.gen.netrun`: the mapped network at run time, :class:`MappedNetwork` (input
  encoding, output decoding, golden runs, files);
- :mod:`spikefab.gen.netreport`: what a mapped network uses, :class:`MappingReport`.

::

    net = Network("demo")
    inp = net.input("in", 2)
    hid = net.population("hid", 4, params={"vth": 5, "du": 4095, "dv": 4095})
    net.project(inp, hid, np.full((2, 4), 7), delay=2)
    net.output(hid)
    m = net.map(MeshParams(width=2), CoreParams(neurons=4, axons=8, max_delay=2))
    print(m.report)
    r = m.run_golden({"in": [[0], [], [1]]}, steps=10)
    r.outputs["hid"]        # [(step, index), ...]
"""

from .mapper import FORMAT_VERSION, META_KEY, MappingError
from .netdesc import InputSource, Network, Population, Projection
from .netreport import CoreUsage, MappingReport
from .netrun import GoldenResult, MappedNetwork


__all__ = ["Network", "Population", "InputSource", "Projection", "MappingError",
           "MappedNetwork", "MappingReport", "CoreUsage", "GoldenResult", "META_KEY",
           "FORMAT_VERSION"]
