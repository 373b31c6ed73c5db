"""The memristor crossbar model: a behavioural analog synaptic input (SPEC §3.7).

One module per job (docs/crossbar.md):

- :mod:`.params`: device, array and ADC parameters and the named presets;
- :mod:`.device`: device physics (programming noise, drift, read noise, update law);
- :mod:`.mapping`: integer weights to differential conductance levels;
- :mod:`.rng`: counter-based random draws, independent of call order;
- :mod:`.solver`: the exact sparse nodal circuit solver;
- :mod:`.spice`: the ngspice runner that checks it;
- :mod:`.adc`: the read-out ADC;
- :mod:`.model`: :class:`CrossbarSynapses`, the synaptic-input object of a core.
"""

from .adc import Adc
from .mapping import WeightMapping
from .model import CrossbarSynapses
from .params import PRESETS, AdcParams, ArrayParams, DeviceParams, preset
from .solver import NodalSolver, ideal_currents
from .spice import have_ngspice, netlist, run_ngspice


__all__ = ["CrossbarSynapses", "DeviceParams", "ArrayParams", "AdcParams", "PRESETS",
           "preset", "NodalSolver", "ideal_currents", "WeightMapping", "Adc",
           "run_ngspice", "netlist", "have_ngspice"]
