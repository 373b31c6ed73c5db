"""The fast run's harness: a generated Verilog module around the top of an image, and its
builds under Verilator (a small C++ main) and Icarus (a clock module).

:func:`harness_verilog` writes ``spikefab_fast``, which instantiates the design's top
(:func:`spikefab.rtl.top.top_for`), reads command files and writes output files, with no
per-clock work outside the simulator and no text formatting nor parsing per clock (the
files are memory images read with ``$readmemh`` and written with ``$writememh``,
:data:`CHUNK` entries at a time):

* Commands (``+cmds=<prefix> +ncmds=<count>``): files ``<prefix>.0``, ``<prefix>.1``, ... of
  :data:`CHUNK` hex entries each (the last one the rest), ``count`` entries in all, each
  ``{tag, word}`` with ``tag`` in the two bits above a command word (:data:`TAG_CMD`,
  :data:`TAG_MARK`, :data:`TAG_END`, :data:`TAG_RESET`). ``RESET`` starts a job (reset held 3
  clocks); ``CMD``/``MARK`` are host command words, presented on ``host.cmd`` in order with
  ``valid`` held until ``ready`` (``MARK``: the clock of its transfer is written out);
  ``END`` ends a job once its low 32 bits count the replies other than ``SPIKE`` that came
  since its ``RESET``.
* Output (``+out=<prefix>``): two series of files of up to :data:`CHUNK` records, one hex
  line each (widths: :func:`record_layout`). Trace records ``<prefix>.t.0``, ``.t.1``, ...:
  ``{port, beat}``, every beat of every trace port. Event records ``<prefix>.e.0``, ...:
  ``{type[7:0], beats[31:0], clock[47:0], payload}``, ``beats`` the trace records written
  before it, ``clock`` counted from the clock after reset is released, ``type``
  :data:`REC_REPLY` a reply word (``host.reply.ready`` is always high; the word is the
  payload); :data:`REC_MARK` a ``MARK`` command's transfer; :data:`REC_END` the end of a
  job; :data:`REC_TIMEOUT` the run stopped (no command, reply nor trace beat for
  ``+timeout=<clocks>`` clocks);
  :data:`REC_EOF` the commands ended inside a job. In a clock, trace beats come before the
  reply.
* ``+progress``: a line ``DONE`` on standard output for every ``DONE`` reply, flushed.

Timing: command words are presented back to back (the next one in the clock after a
transfer, as the cocotb source without gaps); replies are taken in the clock they are valid;
the first command comes one clock after reset is released. Clocks counted as the benches
count them, so per-step clock counts equal theirs.
"""

import fcntl
import hashlib
import json
import subprocess
from pathlib import Path

from amaranth.hdl import Shape

from ...rtl import layouts
from ...rtl.host import Kind, host_command_layout, host_reply_layout


__all__ = ["TAG_CMD", "TAG_MARK", "TAG_END", "TAG_RESET", "REC_REPLY", "REC_MARK", "REC_END",
           "REC_TIMEOUT", "REC_EOF", "CHUNK", "HARNESS", "Ports", "ports_for", "record_layout",
           "harness_verilog", "icarus_clock_verilog", "verilator_main_cpp", "bare_loop_cpp",
           "build_fast", "FAST_FLAGS"]

TAG_CMD, TAG_MARK, TAG_END, TAG_RESET = 0, 1, 2, 3
#: Event record types (the record's top byte); a job's events end at the first of
#: ``REC_END``, ``REC_TIMEOUT``, ``REC_EOF``.
REC_REPLY, REC_MARK, REC_END, REC_TIMEOUT, REC_EOF = 1, 2, 3, 4, 5
#: Entries of a command file chunk and records of an output file chunk.
CHUNK = 16384
HARNESS = "spikefab_fast"
ICARUS_TOP = "spikefab_fast_clock"


class Ports:
    """Widths and names the harness needs: ``cmd_width``, ``reply_width``, ``trace_width``,
    ``traces`` (port prefixes, one per core in core order), ``mesh`` (free-run inputs),
    ``kind`` (offset, width of the reply ``kind``)."""

    def __init__(self, mesh, params, network):
        self.cmd_width = Shape.cast(host_command_layout(mesh, params)).width
        reply = host_reply_layout(mesh, params)
        self.reply_width = Shape.cast(reply).width
        self.trace_width = Shape.cast(layouts.trace_layout(params)).width
        self.kind = next((off, w) for k, off, w, _ in layouts.leaf_specs(reply) if k == "kind")
        self.mesh = network
        self.traces = ([f"trace_{x}_{y}" for x, y in map(mesh.core_xy, range(mesh.cores))]
                       if network else ["trace"])


def ports_for(image):
    """The :class:`Ports` of the top of ``image``."""
    from ...rtl.host import core_mesh
    from ...rtl.netimage import NetworkImage
    if not image.params.trace_port:
        raise ValueError("the fast run records the trace port: the image's parameters must "
                         "have trace_port = True")
    if isinstance(image, NetworkImage):
        return Ports(image.mesh, image.params, True)
    return Ports(core_mesh(image.params), image.params, False)


def record_layout(ports: Ports):
    """Bit widths of the output records of the harness of ``ports``, both rounded up to whole
    bytes: ``(trace, event, port_bits, payload_bits)``. A trace record is ``{port, beat}``
    (``port_bits`` above the trace port's width); an event record ``{type[7:0],
    beats[31:0], clock[47:0], payload}`` (``payload_bits``: the reply width rounded up)."""
    pb = max(1, (len(ports.traces) - 1).bit_length())
    up = lambda n: (n + 7) // 8 * 8    # noqa: E731
    rpw = up(ports.reply_width)
    return up(pb + ports.trace_width), 8 + 32 + 48 + rpw, pb, rpw


def harness_verilog(ports: Ports, toplevel):
    """The Verilog text of module ``spikefab_fast`` around ``toplevel`` (see the module
    docstring)."""
    cw, rw, tw = ports.cmd_width, ports.reply_width, ports.trace_width
    ko, kw = ports.kind
    tb, eb, pb, rpw = record_layout(ports)
    wires = "".join(f"  wire t{k}_valid;\n  wire [{tw - 1}:0] t{k}_payload;\n"
                    for k in range(len(ports.traces)))
    conns = "".join(f",\n    .{p}__valid(t{k}_valid), .{p}__payload(t{k}_payload)"
                    for k, p in enumerate(ports.traces))
    if ports.mesh:
        conns += ",\n    .free_run(1'b0), .period(32'd0)"
    pad = f"{tb - pb - tw}'d0, " if tb > pb + tw else ""
    logs = "".join(f"      if (t{k}_valid) beat({pb}'d{k}, t{k}_payload);\n"
                   for k in range(len(ports.traces)))
    return f"""// generated by spikefab.sim.fast.harness: the fast run's harness
`timescale 1ns/1ps
module {HARNESS} (input wire clk);
  localparam CW = {cw};
  localparam RPW = {rpw};
  localparam CHUNK = {CHUNK};
  reg rst = 1'b1;
  reg cmd_valid = 1'b0;
  reg [CW-1:0] cmd_payload = {cw}'d0;
  wire cmd_ready, reply_valid;
  wire [{rw - 1}:0] reply_payload;
{wires}
  {toplevel} dut (.clk(clk), .rst(rst),
    .host__cmd__valid(cmd_valid), .host__cmd__ready(cmd_ready),
    .host__cmd__payload(cmd_payload),
    .host__reply__valid(reply_valid), .host__reply__ready(1'b1),
    .host__reply__payload(reply_payload){conns});

  reg [CW+1:0] entry;
  reg [CW+1:0] cmem [0:CHUNK-1];          // one chunk of the command files
  reg [{tb - 1}:0] tbuf [0:CHUNK-1];          // trace records not yet written
  reg [{eb - 1}:0] ebuf [0:CHUNK-1];         // event records not yet written
  string cmd_name, out_name;
  integer cpos = CHUNK, cfile = 0, tpos = 0, tfile = 0, epos = 0, efile = 0;
  reg [63:0] cycle = 64'd0, idle = 64'd0, timeout = 64'd200000, ncmds = 64'd0, taken = 64'd0;
  reg [31:0] expect_n = 32'd0, got_n = 32'd0, beats = 32'd0;
  reg [1:0] rst_cnt = 2'd0;
  reg mark = 1'b0, ending = 1'b0, in_job = 1'b0, progress = 1'b0, nv = 1'b0;
  reg stopped = 1'b0;
  reg [{kw - 1}:0] kind;

  task tflush;
    begin
      if (tpos > 0) $writememh($sformatf("%s.t.%0d", out_name, tfile), tbuf, 0, tpos - 1);
      tfile = tfile + 1;
      tpos = 0;
    end
  endtask

  task eflush;
    begin
      if (epos > 0) $writememh($sformatf("%s.e.%0d", out_name, efile), ebuf, 0, epos - 1);
      efile = efile + 1;
      epos = 0;
    end
  endtask

  task beat(input [{pb - 1}:0] port, input [{tw - 1}:0] payload);
    begin
      tbuf[tpos] = {{{pad}port, payload}};
      tpos = tpos + 1;
      beats = beats + 32'd1;
      idle = 64'd0;
      if (tpos == CHUNK) tflush;
    end
  endtask

  task put(input [7:0] typ, input [RPW-1:0] payload);
    begin
      ebuf[epos] = {{typ, beats, cycle[47:0], payload}};
      epos = epos + 1;
      if (epos == CHUNK) eflush;
    end
  endtask

  task stop(input [7:0] why);
    begin
      if (!stopped) begin
        if (why != 8'd0) put(why, {{RPW{{1'b0}}}});
        tflush;
        eflush;
        stopped = 1'b1;
        $finish;
      end
    end
  endtask

  initial begin
    if (!$value$plusargs("cmds=%s", cmd_name) || !$value$plusargs("ncmds=%d", ncmds)) begin
      $display("spikefab_fast: no +cmds=<file prefix> +ncmds=<count>"); $finish;
    end
    if (!$value$plusargs("out=%s", out_name)) begin
      $display("spikefab_fast: no +out=<file prefix>"); $finish;
    end
    if ($value$plusargs("timeout=%d", timeout)) begin end
    progress = $test$plusargs("progress");
  end

  always @(posedge clk) begin
    cycle = cycle + 64'd1;
    idle = idle + 64'd1;
    if (rst_cnt != 2'd0) begin
      rst_cnt = rst_cnt - 2'd1;
      if (rst_cnt == 2'd0) begin
        rst <= 1'b0;
        cycle = 64'd0;
        idle = 64'd0;
      end
    end else begin
{logs}      if (reply_valid) begin
        put(8'd{REC_REPLY}, reply_payload);
        idle = 64'd0;
        kind = reply_payload[{ko + kw - 1}:{ko}];
        if (kind != {kw}'d{int(Kind.SPIKE)}) got_n = got_n + 32'd1;
        if (progress && kind == {kw}'d{int(Kind.DONE)}) begin
          $display("DONE"); $fflush();
        end
      end
      nv = cmd_valid;
      if (cmd_valid && cmd_ready) begin
        if (mark) put(8'd{REC_MARK}, {{RPW{{1'b0}}}});
        nv = 1'b0;
        idle = 64'd0;
      end
      if (!nv && !ending) begin
        if (taken == ncmds) begin
          stop(in_job ? 8'd{REC_EOF} : 8'd0);
        end else begin
          if (cpos == CHUNK) begin
            $readmemh($sformatf("%s.%0d", cmd_name, cfile), cmem, 0,
                      ncmds - taken < CHUNK ? ncmds - taken - 1 : CHUNK - 1);
            cfile = cfile + 1;
            cpos = 0;
          end
          entry = cmem[cpos];
          cpos = cpos + 1;
          taken = taken + 64'd1;
          if (entry[CW+1:CW] == 2'd{TAG_RESET}) begin
            rst <= 1'b1;
            rst_cnt = 2'd3;
            in_job = 1'b1;
          end else if (entry[CW+1:CW] == 2'd{TAG_END}) begin
            ending = 1'b1;
            expect_n = entry[31:0];
          end else begin
            cmd_payload <= entry[CW-1:0];
            mark = entry[CW];
            nv = 1'b1;
          end
        end
      end
      cmd_valid <= nv;
      if (ending && got_n >= expect_n) begin
        put(8'd{REC_END}, {{RPW{{1'b0}}}});
        ending = 1'b0;
        in_job = 1'b0;
        got_n = 32'd0;
      end
      if (idle > timeout) stop(8'd{REC_TIMEOUT});
    end
  end
endmodule
"""


def icarus_clock_verilog(top=ICARUS_TOP, harness=HARNESS):
    """The Icarus top ``top``: a 10 ns clock around the harness module ``harness``."""
    return f"""`timescale 1ns/1ps
module {top};
  reg clk = 1'b0;
  always #5 clk = ~clk;
  {harness} h (.clk(clk));
endmodule
"""


def verilator_main_cpp(top=HARNESS):
    """The C++ main of the Verilated harness: toggle ``clk`` until ``$finish``."""
    return f"""// generated by spikefab.sim.fast.harness
#include "V{top}.h"
#include "verilated.h"
#include <memory>

int main(int argc, char** argv) {{
    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    auto top = std::make_unique<V{top}>(ctx.get());
    top->clk = 0;
    top->eval();
    while (!ctx->gotFinish()) {{
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    }}
    top->final();
    return 0;
}}
"""


def bare_loop_cpp(ports: Ports, toplevel):
    """A C++ main that drives the Verilated ``toplevel`` itself, without the harness and
    without any output: it reads a command file (the harness's format) into memory, then
    runs ``argv[2]`` clocks, presenting the commands in order (``RESET``: reset for 3
    clocks; ``END``: skipped) with the reply stream always ready, and prints the seconds the
    clock loop took. The limit a harness can approach."""
    cw = ports.cmd_width
    chunks = (cw + 31) // 32
    ports_cpp = ["host__cmd__valid", "host__cmd__ready", "host__cmd__payload",
                 "host__reply__valid", "host__reply__ready"]
    if cw <= 32:
        assign = "top->host__cmd__payload = c.w[0];"
    elif cw <= 64:
        assign = "top->host__cmd__payload = ((uint64_t)c.w[1] << 32) | c.w[0];"
    else:
        assign = (f"for (int i = 0; i < {chunks}; ++i) top->host__cmd__payload[i] = c.w[i];")
    mesh = "top->free_run = 0; top->period = 0;" if ports.mesh else ""
    text = f"""// generated by spikefab.sim.fast.harness: the bare C++ loop
#include "V{toplevel}.h"
#include "verilated.h"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

struct Cmd {{ int tag; uint32_t w[{chunks}]; }};

int main(int argc, char** argv) {{
    if (argc < 3) {{ std::fprintf(stderr, "usage: %s CMDS CLOCKS\\n", argv[0]); return 2; }}
    std::ifstream in(argv[1]);
    std::vector<Cmd> cmds;
    std::string line;
    while (std::getline(in, line)) {{
        if (line.empty()) continue;
        Cmd c{{}};
        int bit = 0;
        for (int i = (int)line.size() - 1; i >= 0; --i, bit += 4) {{
            char ch = line[i];
            uint32_t d = (ch <= '9') ? ch - '0' : (ch | 32) - 'a' + 10;
            if (bit < {cw}) c.w[bit / 32] |= d << (bit % 32);
            else c.tag |= d << (bit - {cw});
        }}
        c.tag &= 3;
        cmds.push_back(c);
    }}
    long long clocks = std::atoll(argv[2]);
    auto ctx = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<V{toplevel}>(ctx.get());
    {mesh}
    top->host__reply__ready = 1;
    top->host__cmd__valid = 0;
    top->rst = 1;
    top->clk = 0;
    top->eval();
    size_t k = 0;
    int rst_left = 0;
    long long replies = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (long long n = 0; n < clocks; ++n) {{
        bool fire = top->host__cmd__valid && top->host__cmd__ready;
        replies += top->host__reply__valid;
        top->clk = 1;
        top->eval();
        if (fire) top->host__cmd__valid = 0;
        if (rst_left) {{ if (--rst_left == 0) top->rst = 0; }}
        else if (!top->host__cmd__valid) {{
            while (k < cmds.size() && cmds[k].tag == {TAG_END}) ++k;
            if (k < cmds.size()) {{
                const Cmd& c = cmds[k++];
                if (c.tag == {TAG_RESET}) {{ top->rst = 1; rst_left = 3; }}
                else {{ {assign} top->host__cmd__valid = 1; }}
            }}
        }}
        top->clk = 0;
        top->eval();
    }}
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%.6f %lld %zu\\n", s, replies, k);
    top->final();
    return 0;
}}
"""
    for name in ports_cpp:         # Verilator's C++ names escape "__"
        text = text.replace(f"top->{name}", f"top->{name.replace('__', '___05F')}")
    return text


#: Verilator flags of the fast builds (part of the cache key): the cocotb builds' flags, and
#: the generated C++ compiled with -O2 for the per-clock code (``OPT_FAST``) while the
#: once-run code (``OPT_SLOW``, which holds the memories' initial contents) stays at -O0.
FAST_FLAGS = {
    "verilator": ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-TIMESCALEMOD",
                  "-O2", "--x-assign", "0", "--x-initial", "0"],
    "verilator_make": "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2 OPT_SLOW=-O0 OPT_GLOBAL=-O2",
    "icarus": ["-g2012"],
}


def build_fast(sources, simulator, *, top, main_cpp=None, defines=None, root="build/sim"):
    """Compile Verilog ``sources`` (``{file name: text}``, in order) with top module ``top``
    for a simulator, once per content; return the executable's argv prefix (a list).

    The build folder is named by a hash of every source, the C++ main, the defines and the
    flags; parallel workers asking for one build wait for it (a file lock)."""
    from ..runner import simulator_env
    defines = dict(defines or {})
    digest = hashlib.sha256(f"fast\0{simulator}\0{top}".encode())
    for name, text in sources.items():
        digest.update(f"\0{name}\0{text}".encode())
    digest.update(f"\0{main_cpp or ''}".encode())
    digest.update(json.dumps([defines, FAST_FLAGS.get(simulator),
                              FAST_FLAGS["verilator_make"]], sort_keys=True).encode())
    bdir = (Path(root) / f"fast-{simulator}-{digest.hexdigest()[:16]}").resolve()
    exe = bdir / ("Vfast" if simulator == "verilator" else "fast.vvp")
    stamp = bdir / "built.ok"
    if not stamp.exists():
        bdir.mkdir(parents=True, exist_ok=True)
        with open(bdir / "build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not stamp.exists():
                _build(bdir, sources, simulator, top, main_cpp, defines, exe, simulator_env())
                stamp.write_text("ok\n")
    return [str(exe)] if simulator == "verilator" else ["vvp", "-n", str(exe)]


def _build(bdir, sources, simulator, top, main_cpp, defines, exe, env):
    files = []
    for name, text in sources.items():
        (bdir / name).write_text(text)
        files.append(str(bdir / name))
    defs = [f"-D{k}={v}" for k, v in sorted(defines.items())]
    if simulator == "verilator":
        (bdir / "main.cpp").write_text(main_cpp)
        env = dict(env, MAKEFLAGS=FAST_FLAGS["verilator_make"])
        cmd = (["verilator", "--cc", "--exe", "--build", "-j", "1", "--top-module", top,
                "--Mdir", str(bdir / "obj"), "-o", str(exe)] + FAST_FLAGS["verilator"] + defs
               + files + [str(bdir / "main.cpp")])
    elif simulator == "icarus":
        cmd = (["iverilog", "-o", str(exe), "-s", top] + FAST_FLAGS["icarus"] + defs + files)
    else:
        raise ValueError(f"simulator = {simulator!r} is not allowed: expected verilator or "
                         f"icarus")
    res = subprocess.run(cmd, cwd=bdir, env=env, capture_output=True, text=True)
    (bdir / "build.log").write_text(f"{' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    if res.returncode != 0:
        raise RuntimeError(f"{simulator} build of the fast harness failed (log in "
                           f"{bdir / 'build.log'}):\n{res.stderr[-4000:]}")
