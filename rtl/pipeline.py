"""Pipeline helpers shared by the units of a core."""

from amaranth.hdl import Signal


__all__ = ["delay_line", "NO_RW_CHECK"]


#: ``attrs`` of a :class:`~amaranth.lib.memory.Memory` whose users never use what a read
#: returns in a clock that writes the same word: Yosys then maps it to block RAM without the
#: flip-flops and comparators that would make such a read return the old word (its
#: ``no_rw_check`` attribute). Simulation is unchanged (a read still returns the old word).
NO_RW_CHECK = {"no_rw_check": 1}


def delay_line(m, signals, k, names, *, reset_less=False):
    """Delay each of ``signals`` by 1 to ``k`` clocks through a chain of registers.

    Typically a pipeline's valid bit and tag (neuron index, address) travelling alongside
    its data stages. Adds ``k`` registers per signal to ``m.d.sync``.

    Parameters
    ----------
    m : Module
    signals : sequence of Value or View
        The signals to delay (each register has the same shape, layouts included).
    k : int
        Number of stages.
    names : sequence of str
        One per signal: stage ``i`` of ``names[s]`` is named ``f"{names[s]}{i + 1}"``.
    reset_less : bool
        The registers are reset-less (data), instead of reset to 0 (valid bits, tags).

    Returns
    -------
    list of lists of Signal
        One list per signal; its element ``i`` is the signal delayed by ``i + 1`` clocks
        (latency ``i + 1``), so element ``-1`` is the end of the line (latency ``k``).
    """
    if len(signals) != len(names):
        raise ValueError(f"delay_line: {len(signals)} signals but {len(names)} names")
    lines = []
    for sig, name in zip(signals, names):
        line, prev = [], sig
        for i in range(k):
            reg = Signal(sig.shape(), name=f"{name}{i + 1}", reset_less=reset_less)
            m.d.sync += reg.eq(prev)
            line.append(reg)
            prev = reg
        lines.append(line)
    return lines
