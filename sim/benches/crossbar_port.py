"""Co-simulation: the crossbar model bound to a crossbar core's analog synapse port (SPEC §3.7).

:class:`CrossbarPort` is the bench side of :class:`~spikefab.rtl.core_interfaces.CrossbarPort`
(the ``xbar__*`` ports of the design). It owns the physics model of the core's crossbar, a
:class:`~spikefab.sim.crossbar.CrossbarSynapses` (the very object the golden model's
:class:`~spikefab.sim.crossbar_synapses.CrossbarCoreSynapses` wraps, built by the same
:func:`crossbar_for`), and every clock, in the settled phase:

- takes the row inputs on ``xbar__rows`` (``ready`` held high; checked by the stream rules)
  and counts each axon's hits; on ``end`` (one per step, steps numbered from 0 after reset)
  it first applies the previous step's update requests (one ``apply_updates(step - 1, ...)``
  call), then reads the crossbar, ``a_in(step, counts)``, and drives the ``N`` codes back on
  ``xbar__codes`` (from the next clock, neuron order, 32-bit two's complement);
- takes the update requests on ``xbar__updates`` (learning cores), each non-zero lane one
  ``(axon, neuron, delta)``, in arrival order.

This is the golden adapter's order exactly (its updates are applied before its next read,
keyed on the step of the last read), and the model's random draws are keyed on (seed, step,
place), never on the order of calls (:mod:`spikefab.sim.crossbar.rng`): within one step the
RTL sends a phase's requests in its own order (hit order, spiking-neuron order), the golden
model in (axon, neuron) order; ``apply_updates`` gives the same result for any order of
distinct synapses, and the LTD request of a synapse always precedes its LTP request.

A job names its crossbar in ``stim["crossbar"]``: ``{"device": preset name, "seed": int,
"overrides": {field: value}}`` (:func:`crossbar_for`).
"""

import numpy as np
import cocotb
from cocotb.triggers import RisingEdge

from spikefab.rtl import layouts
from spikefab.sim.crossbar import preset
from spikefab.sim.crossbar_synapses import CrossbarCoreSynapses

from .streams import StreamRules, StreamSource, bit


__all__ = ["CrossbarPort", "crossbar_for"]


def crossbar_for(image, spec):
    """The golden-model synapse object of ``image`` on the crossbar ``spec`` (a dict:
    ``device`` preset name, default ``"ideal"``; ``seed``, default 0; ``overrides``, fields
    of the preset's DeviceParams / ArrayParams). The bench uses its ``xbar``."""
    spec = dict(spec or {})
    device, seed = spec.get("device", "ideal"), int(spec.get("seed", 0))
    overrides = dict(spec.get("overrides") or {})
    if overrides:
        dev, arr = preset(device, **overrides)
        return CrossbarCoreSynapses.from_image(image, device=dev, array=arr, seed=seed)
    return CrossbarCoreSynapses.from_image(image, device=device, seed=seed)


class CrossbarPort:
    """The crossbar of one core, co-simulated behind the design's ``xbar`` ports.

    Parameters
    ----------
    dut : the design (ports ``xbar__rows__*``, ``xbar__codes__*``, ``xbar__updates__*``)
    clk : its clock
    image : CoreImage of the core (``params.synapses == "crossbar"``)
    spec : dict, see :func:`crossbar_for`

    Add it to a sink's ``monitors`` (its :meth:`sample` runs in the settled phase of every
    clock) after :meth:`start`. :attr:`error` holds the first failure (a stream rule broken,
    X on a port, a model error); the bench checks it after every step.
    """

    def __init__(self, dut, clk, image, spec):
        p = self.params = image.params
        self.synapses = crossbar_for(image, spec)
        self.xbar = self.synapses.xbar
        self.clk = clk
        self.rows_valid = dut.xbar__rows__valid
        self.rows_ready = dut.xbar__rows__ready
        self.rows_payload = dut.xbar__rows__payload
        self.rows_rules = StreamRules("xbar__rows")
        self.codes = StreamSource(dut, "xbar__codes", clk)
        self.learning = p.learning
        if p.learning:
            self.upd_valid = dut.xbar__updates__valid
            self.upd_payload = dut.xbar__updates__payload
            self._upd = layouts.word_decoder(layouts.weight_update_layout(p))
            self._dw = p.weight_bits + 1        # one lane of ``delta``, signed
        self._row = layouts.word_decoder(layouts.row_input_layout(p))
        self._mask = (1 << layouts.ADC_CODE_BITS) - 1
        self.step = 0               # the step of the next read
        self.hits = []
        self.pending = []
        self.requests = 0           # update requests taken, all steps
        self.error = None

    def start(self):
        """Drive the port's inputs to their idle values (call after reset)."""
        self.rows_ready.value = 1
        self.codes.idle()

    def sample(self):
        """One clock of the port, in the settled phase."""
        if self.error is not None:
            return
        try:
            word = self.rows_rules.sample(bit(self.rows_valid), True, self.rows_payload)
            if word is not None:
                row = self._row(word)
                if row["end"]:
                    self._read()
                else:
                    self.hits.append(row["axon"])
            if self.learning and bit(self.upd_valid):
                u = self._upd(self.upd_payload.value.to_unsigned())
                raw, w = u["delta"], self._dw
                for lane in range(self.params.lanes):
                    d = (raw >> (lane * w)) & ((1 << w) - 1)
                    if d >> (w - 1):
                        d -= 1 << w
                    if d:
                        self.pending.append((u["axon"], u["neuron"] + lane, d))
        except Exception as e:          # reported by the bench with the step
            self.error = e

    def _apply(self):
        if self.pending:
            self.xbar.apply_updates(max(self.step - 1, 0), self.pending)
            self.requests += len(self.pending)
            self.pending = []

    def _read(self):
        self._apply()
        counts = np.bincount(np.asarray(self.hits, np.int64),
                             minlength=self.params.axons).astype(np.int64)
        self.hits = []
        codes = self.xbar.a_in(self.step, counts)
        self.step += 1
        cocotb.start_soon(self._send([int(c) & self._mask for c in codes]))

    async def _send(self, words):
        await RisingEdge(self.clk)          # not in the settled phase
        await self.codes.send(words)

    def device_weights(self):
        """The weights the devices hold now, every request taken so far applied."""
        self._apply()
        return self.xbar.weights()
