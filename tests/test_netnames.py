# amaranth: UnusedElaboratable=no
"""rtl/netnames.py: array-element alias wires renamed before any tool reads them."""

import pytest
from amaranth.back import rtlil

from spikefab.rtl.netnames import bracketed_names, tool_safe_names
from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.rtl.top import top_for


def test_amaranth_emits_the_alias_names_that_the_tools_misread():
    # the premise of the rename: Amaranth 0.5 names each lane of the synapse read data
    # `syn__r_data[i]`, a 4-bit wire beside the 16-bit `syn__r_data`
    text = rtlil.convert(top_for(CoreImage(CoreParams(neurons=8, axons=8, lanes=4,
                                                      trace_port=False))), name="top")
    names = bracketed_names(text)
    assert "\\syn__r_data[3]" in names
    safe = tool_safe_names(text)
    assert bracketed_names(safe) == []
    assert "wire width 4 signed \\syn__r_data.3\n" in safe
    # nothing else changed: the same lines apart from the renamed names
    assert safe.count("\n") == text.count("\n")
    assert tool_safe_names(safe) == safe


@pytest.mark.parametrize("text,want", [
    ("  wire width 4 \\a[0]\n  connect \\a[0] \\x [3:0]\n",
     "  wire width 4 \\a.0\n  connect \\a.0 \\x [3:0]\n"),          # a bit select stays
    ("wire [3:0] \\b[1][2].c ;\n", "wire [3:0] \\b.1.2.c ;\n"),
    ("wire \\x$96[12] ;\n", "wire \\x$96.12 ;\n"),
    ("attribute \\src \"f.py:3\"\nwire \\plain\n", "attribute \\src \"f.py:3\"\nwire \\plain\n"),
])
def test_rename(text, want):
    assert tool_safe_names(text) == want


def test_a_rename_onto_an_existing_name_is_refused():
    with pytest.raises(ValueError, match=r"would reuse the existing name\(s\) \['\\\\a\.0'\]"):
        tool_safe_names("wire \\a[0] ;\nwire \\a.0 ;\n")
