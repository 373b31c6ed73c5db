"""Net names that the open FPGA tools read as what they are.

Amaranth 0.5 gives every element of a signal with an array layout its own alias wire, named
``signal[i]``: a core's synapse-memory read data ``syn__r_data`` (``ArrayLayout(signed(w),
lanes)``) comes out of ``rtlil.convert`` / ``verilog.convert`` as the 16-bit wire
``\\syn__r_data`` *and* the 4-bit wires ``\\syn__r_data[0]`` ... ``\\syn__r_data[3]``. Yosys
and nextpnr use the very same spelling for one *bit* of a wire: ``syn__r_data[3]`` is bit 3
of ``syn__r_data``. Where both kinds of name reach the same pass, the tools confuse them:

* Yosys 0.70's ABC9 reintegration (``passes/techmap/abc_ops_reintegrate.cc``) names every
  AIG input and output ``wire[index]`` and then merges the names sharing a prefix into wide
  wires. With bit 12 of ``core.r_data$96`` and element 3 (bits 12..15, a 4-bit alias) both
  inputs of the LUT netlist, the name ``core.r_data$96[3]`` stands for bit 3 of the wide
  wire *and* for the 4-bit element: depending on the order the names are merged in, Yosys
  stops on ``Assert `GetSize(conn.first) == GetSize(conn.second)' failed`` (1-bit and 4-bit
  sides of one connection), or joins two different block-RAM outputs into one net (nextpnr:
  ``Net 'core.r_data$96[12]' is multiply driven``, the synapse RAM's DOA3 and DOA12). Both
  symptoms of issue 9 item 2 are this one cause: the RTLIL of commit 36f6a0a's 16 x 16,
  ``max_delay = 2`` core without a trace port fails ``synth_ecp5`` with the assertion, and
  the same RTLIL with only these alias wires renamed synthesises (docs/synthesis.md).
  kuznia-rdzeni/transactron PR 196 met the multiply-driven nets from ``ArrayLayout`` too.
* The same RTLIL may pass or fail depending on what optimisation leaves of the aliases,
  which is why it came and went with unrelated changes of the core.

:func:`tool_safe_names` renames every such alias ``\\name[i]`` to ``\\name.i`` (``\\a[0][2]``
to ``\\a.0.2``) in RTLIL or Verilog text. Only escaped identifiers carry brackets, and a bit
select is always written apart from its wire (``\\name [3]``), so the rename never touches
one. Every netlist spikefab hands to Yosys or writes for users goes through it: generated
Verilog (``spikefab generate``, tiled arrays), ``spikefab synth`` and board builds.
"""

import re

__all__ = ["tool_safe_names", "bracketed_names", "verilog_text"]

# an escaped identifier (RTLIL \name, Verilog \name ) whose name holds [digits] groups; it
# ends at white space. The part before the first bracket may not itself hold a bracket.
_ALIAS = re.compile(r"(?<![\w$\\])(\\[^\s\[\]]+)((?:\[\d+\])+)([^\s\[\]]*)(?=\s)")
_INDEX = re.compile(r"\[(\d+)\]")


def _renamed(mo):
    return mo.group(1) + _INDEX.sub(r".\1", mo.group(2)) + mo.group(3)


def bracketed_names(text):
    """The escaped identifiers in ``text`` that hold a ``[digits]`` group (what
    :func:`tool_safe_names` renames), in order of appearance, without repeats."""
    return list(dict.fromkeys(mo.group(0) for mo in _ALIAS.finditer(text)))


def tool_safe_names(text):
    """``text`` (RTLIL or Verilog) with every identifier ``\\name[i]...`` renamed
    ``\\name.i...``. Raises :class:`ValueError` if a new name is already taken (the design
    would then have two wires of one name)."""
    new_names = {_renamed(mo) for mo in _ALIAS.finditer(text)}
    taken = new_names & set(re.findall(r"\\[^\s]+", _ALIAS.sub(" ", text)))
    if taken:
        raise ValueError(f"renaming array-element wires would reuse the existing name(s) "
                         f"{sorted(taken)[:3]}: rename those signals in the design")
    return _ALIAS.sub(_renamed, text)


def verilog_text(elaboratable, name):
    """``amaranth.back.verilog.convert(elaboratable, name=name, emit_src=False)`` with its
    alias names renamed (:func:`tool_safe_names`): the Verilog spikefab writes and simulates."""
    from amaranth.back import verilog
    return tool_safe_names(verilog.convert(elaboratable, name=name, emit_src=False))
