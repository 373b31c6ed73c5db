"""The host side of a running design: the host API (:mod:`.host`), the sans-IO encoding of
commands and replies (:mod:`.protocol`) and the transport interface it runs over
(:mod:`.transport`). Builds on ``spikefab.rtl`` only; ``spikefab.sim`` provides the cocotb
transport (``spikefab.sim.benches.transport``)."""
