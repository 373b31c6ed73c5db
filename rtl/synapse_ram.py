"""The synapse memory: one word of ``lanes`` weights per address, one shared address port."""

from amaranth.hdl import ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import layouts
from .params import CoreParams, SPRAM_BITS, SPRAM_WORDS
from .pipeline import NO_RW_CHECK


__all__ = ["SynapseRam"]


class SynapseRam(wiring.Component):
    """Synapse memory of a core: ``axons * neurons / lanes`` words of
    :func:`~spikefab.rtl.layouts.syn_word_layout`, word ``axon * (N / lanes) + k``
    holding the weights of neurons ``k * lanes .. k * lanes + lanes - 1``.

    It has one address for reading and writing, like the single-port RAM it may become.
    A clock either writes ``w_data`` to ``addr`` (``w_en`` high) or reads ``addr``; the word
    read appears on ``r_data`` one clock later. In the clock after a write ``r_data`` is
    undefined (the caller must not use it).

    The implementation follows ``params.syn_memory``:

    * ``"block"``: an :class:`amaranth.lib.memory.Memory` initialised from ``init_words``
      (block RAM on iCE40 and ECP5), its read port disabled in write clocks;
    * ``"ice40_spram"``: a tiling of iCE40UP5K ``SB_SPRAM256KA`` instances (16 bits x 16,384
      words each; ``ceil(width / 16)`` across, ``ceil(depth / 16384)`` deep, at most four,
      checked by :class:`~spikefab.rtl.params.CoreParams`). SPRAM has no initial
      contents: after configuration the weights must be written through the core's ``cfg``
      port, so ``init_words`` must be all zero. This variant can be simulated only with the
      ``SB_SPRAM256KA`` model (see :func:`spikefab.sim.runner.sim_models`), not with
      Amaranth's simulator.

    Parameters
    ----------
    params : CoreParams
        The core's parameters (word layout, depth and ``syn_memory``).
    init_words : sequence of int
        Initial contents, one packed word per address (``CoreImage.syn_words()``); missing
        words are zero.

    Raises
    ------
    ValueError
        ``init_words`` is longer than the memory, or holds a non-zero word for an
        ``"ice40_spram"`` memory.

    Members
    -------
    addr : In(range(depth))
        Address of the word read or written in this clock.
    w_data : In(syn_word_layout)
        Word written when ``w_en`` is high.
    w_en : In(1)
        Write ``w_data`` to ``addr`` (``w_addr`` on learning cores) in this clock; a
        single-port memory reads nothing then.
    w_addr : In(range(depth))
        Only on cores with ``learning``: the write address. Block RAM reads ``addr`` while
        it writes ``w_addr``; SPRAM (single port) writes ``w_addr`` and reads nothing in a
        write clock, so its user (the STDP engine) never reads and writes in one clock.
    r_data : Out(syn_word_layout)
        The word at the ``addr`` of the previous clock. Latency: 1 clock. Undefined after a
        write clock.
    """

    def __init__(self, params: CoreParams, init_words=()):
        if not isinstance(params, CoreParams):
            raise TypeError(f"params must be a CoreParams, not {type(params).__name__}")
        self._p = params
        self._layout = layouts.syn_word_layout(params)
        self._depth = params.axons * params.words_per_row
        init = [int(w) for w in init_words]
        error = None
        if len(init) > self._depth:
            error = (f"init_words has {len(init)} words: the synapse memory holds "
                     f"{self._depth}")
        elif params.syn_memory == "ice40_spram" and any(init):
            first = next(i for i, w in enumerate(init) if w)
            error = (f"init_words[{first}] = {init[first]:#x} cannot be stored: an "
                     f"'ice40_spram' synapse memory has no initial contents (write the "
                     f"weights through the configuration port)")
        if error:
            self._MustUse__silence = True   # never built: no "created but never used" warning
            raise ValueError(error)
        self._init = init
        members = {
            "addr": In(range(self._depth)),
            "w_data": In(self._layout),
            "w_en": In(1),
            "r_data": Out(self._layout),
        }
        if params.learning:
            # the STDP engine reads one word while it writes another: a second address
            members["w_addr"] = In(range(self._depth))
        super().__init__(members)

    @property
    def params(self):
        return self._p

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        if self._p.syn_memory == "ice40_spram":
            return self._elaborate_spram()
        m = Module()
        lay = self._layout
        m.submodules.mem = mem = Memory(shape=lay, depth=self._depth,
                                        init=[lay.from_bits(w) for w in self._init],
                                        attrs=NO_RW_CHECK)    # r_data undefined after a write
        rd, wr = mem.read_port(), mem.write_port()
        m.d.comb += [
            rd.addr.eq(self.addr),
            wr.data.eq(self.w_data), wr.en.eq(self.w_en),
            self.r_data.eq(rd.data),
        ]
        if self._p.learning:
            # two ports: read ``addr`` and write ``w_addr`` in the same clock
            m.d.comb += wr.addr.eq(self.w_addr)
        else:
            m.d.comb += [
                wr.addr.eq(self.addr),
                rd.en.eq(~self.w_en),   # single-port behaviour: no read in a write clock
            ]
        return m

    def _elaborate_spram(self):
        m = Module()
        width = self._layout.size
        addr_bits = (SPRAM_WORDS - 1).bit_length()
        cols = -(-width // SPRAM_BITS)
        rows = -(-self._depth // SPRAM_WORDS)
        w_bits = Signal(cols * SPRAM_BITS)
        word_addr = Signal(addr_bits)       # the address inside one SPRAM
        # one address port: with learning, a write clock takes its address from ``w_addr``
        addr = Mux(self.w_en, self.w_addr, self.addr) if self._p.learning else self.addr
        addr = addr[:(self._depth - 1).bit_length()]
        m.d.comb += [w_bits.eq(self.w_data.as_value()), word_addr.eq(addr[:addr_bits])]
        row = addr[addr_bits:]
        row_q = Signal(range(rows))         # the row read in the previous clock
        m.d.sync += row_q.eq(row)
        row_data = []
        for r in range(rows):
            selected = (row == r) if rows > 1 else Const(1, 1)
            data = Signal(cols * SPRAM_BITS, name=f"row{r}_data")
            for c in range(cols):
                m.submodules[f"spram_{r}_{c}"] = Instance(
                    "SB_SPRAM256KA",
                    i_CLOCK=ClockSignal("sync"),
                    i_ADDRESS=word_addr,
                    i_DATAIN=w_bits[c * SPRAM_BITS:(c + 1) * SPRAM_BITS],
                    i_MASKWREN=Const(0b1111, 4),        # every nibble of the word
                    i_WREN=self.w_en,
                    i_CHIPSELECT=selected,
                    i_STANDBY=Const(0, 1),
                    i_SLEEP=Const(0, 1),
                    i_POWEROFF=Const(1, 1),             # active low: 1 keeps it powered
                    o_DATAOUT=data[c * SPRAM_BITS:(c + 1) * SPRAM_BITS],
                )
            row_data.append(data)
        out = row_data[0]
        for r in range(1, rows):
            out = Mux(row_q == r, row_data[r], out)
        m.d.comb += self.r_data.eq(out[:width])
        return m
