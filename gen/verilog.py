"""Verilog emission: the core's Verilog, its memory images and a JSON manifest.

The output of :func:`generate` is deterministic: the same configuration and image give the
same bytes, so builds can be diffed and cached.
"""

import json
from pathlib import Path

import numpy as np
from amaranth.lib import wiring

from ..rtl import layouts
from ..rtl import host
from ..rtl.top import top_for
from ..rtl.image import CoreImage
from ..rtl.layouts import Reg, Region
from ..rtl.neuron import DATAPATHS
from .. import __version__
from .config import Config, ConfigError, check_generation_limits
from ..rtl.params import ParamError
from .tiled import MEM_DIR_MACRO, MEM_FOLDER, tile_memories, tiled_verilog
from ..rtl.netnames import verilog_text


__all__ = ["generate", "generate_mesh", "manifest", "mesh_manifest"]


def _layout_doc(layout):
    return [{"name": str(k), "offset": off, "width": w, "signed": s}
            for k, off, w, s in layouts.field_specs(layout)]


def _host_layouts(mp, p):
    """The host interface's formats (leaves of nested fields under dotted names) and codes."""
    def leaves(layout):
        return [{"name": k, "offset": off, "width": w, "signed": s}
                for k, off, w, s in layouts.leaf_specs(layout)]
    return {
        "host_command": leaves(host.host_command_layout(mp, p)),
        "host_reply": leaves(host.host_reply_layout(mp, p)),
        "host_codes": {"op": {o.name: int(o) for o in host.Op},
                       "kind": {k.name: int(k) for k in host.Kind},
                       "error": {e.name: int(e) for e in host.Error}},
    }


def _ports(component):
    ports = []
    for path, member, _ in component.signature.flatten(component):
        ports.append({"name": "__".join(str(p) for p in path),
                      "direction": "input" if member.flow == wiring.In else "output",
                      "width": member.shape.width if hasattr(member.shape, "width")
                      else __import__("amaranth").hdl.Shape.cast(member.shape).width})
    return ports


def _hex(words, width):
    digits = max(1, (width + 3) // 4)
    return "".join(f"{w:0{digits}x}\n" for w in words)


def _written(paths):
    """The manifest's ``files``: every file this run wrote, relative to the output folder
    (``spikefab generate --force`` removes exactly these before writing again)."""
    return sorted(p.name for p in paths.values())


def manifest(config: Config, image: CoreImage, component):
    """The resolved parameters, formats and address map of a generated core (a JSON dict)."""
    p = image.params
    return {
        "generator": f"spikefab {__version__}",
        "top": config.build.name,
        "digest": config.digest(),
        "config": config.to_dict(),
        "derived": {
            "words_per_row": p.words_per_row,
            "acc_mem_bits": p.acc_mem_bits,
            "neuron_bits": p.neuron_bits,
            "axon_bits": p.axon_bits,
            "datapath_latency": DATAPATHS[p.model].LATENCY,
            "cycles_per_input_event": p.words_per_row,
            "cycles_per_update": p.neurons,
        },
        "ports": _ports(component),
        "layouts": {
            "axon_event": _layout_doc(layouts.axon_event_layout(p)),
            "spike_event": _layout_doc(layouts.spike_event_layout(p)),
            "trace": _layout_doc(layouts.trace_layout(p)),
            "cfg_command": _layout_doc(layouts.cfg_command_layout(p)),
            "syn_word": _layout_doc(layouts.syn_word_layout(p)),
            "param_word": _layout_doc(layouts.param_layout(p)),
            "state_word": _layout_doc(layouts.state_layout(p)),
            **_host_layouts(host.core_mesh(p), p),
        },
        "address_map": {
            "index_bits": layouts.cfg_index_bits(p),
            "data_bits": layouts.cfg_data_bits(p),
            "regions": {r.name: int(r) for r in Region},
            "registers": {r.name: int(r) for r in Reg},
        },
        "memories": {
            "syn": {"file": "syn.hex", "depth": p.axons * p.words_per_row,
                    "width": layouts.syn_word_layout(p).size},
            "param": {"file": "param.hex", "depth": p.param_rows,
                      "width": layouts.param_layout(p).size},
            "state": {"file": "state.hex", "depth": p.neurons,
                      "width": layouts.state_layout(p).size},
            **({"pidx": {"file": "pidx.hex", "depth": p.neurons, "width": p.profile_bits}}
               if p.param_mode == "profile" else {}),
        },
    }


def mesh_manifest(config: Config, image, component):
    """The resolved parameters, formats and address map of a generated array (a JSON dict)."""
    mp, p = image.mesh, image.params
    man = manifest(config, image.cores[0], component)
    man.pop("memories")
    man["ports"] = _ports(component)
    man["derived"].update({
        "cores": mp.cores, "x_bits": mp.x_bits, "y_bits": mp.y_bits,
        "entry_bits": mp.entry_bits, "count_bits": mp.count_bits,
    })
    man["layouts"].update({
        "packet": _layout_doc(layouts.spike_packet_layout(mp, p)),
        "ext_in": _layout_doc(layouts.ext_in_layout(mp, p)),
        "ext_out": _layout_doc(layouts.ext_out_layout(mp, p)),
        "route_ptr": _layout_doc(layouts.route_ptr_layout(mp)),
        "route_entry": _layout_doc(layouts.route_entry_layout(mp, p)),
        "mesh_cfg": _layout_doc(layouts.mesh_cfg_layout(mp, p)),
        **_host_layouts(mp, p),
    })
    man["address_map"].update({
        "index_bits": layouts.mesh_cfg_index_bits(mp, p),
        "data_bits": layouts.mesh_cfg_data_bits(mp, p),
        "region_depths": {r.name: d for r, d in layouts.mesh_region_depths(mp, p).items()},
    })
    man["edge_port"] = ("west side of router (0, 0): EVENT commands enter, exit packets "
                        "leave as SPIKE replies")
    return man


def generate_mesh(config: Config, out_dir, image=None, progress=None):
    """An array (``config.mesh``): write ``<name>.v`` (the tiled Verilog of
    :mod:`~spikefab.gen.tiled`: one tile module, one router module, the top module
    ``<name>``), ``mem/tile_<x>_<y>.<memory>.hex`` (each tile's memory contents, from the
    network image, or from default cores and empty routing tables), ``image.npz`` (the
    network image) and ``manifest.json``. Returns the paths.

    ``progress``, if given, is called as ``progress(stage, done, total)``."""
    from ..rtl.netimage import NetworkImage
    mp = config.mesh
    if image is None:
        image = NetworkImage(mesh=mp, cores=[CoreImage(config.core) for _ in range(mp.cores)])
    elif not isinstance(image, NetworkImage):
        raise ConfigError(f"the configuration has a [mesh] table: the image must be a network "
                          f"image, not a {type(image).__name__}")
    elif image.mesh != mp or image.params != config.core:
        diffs = [f"mesh.{k} = {v!r} in the image, {getattr(mp, k)!r} in the configuration"
                 for k, v in image.mesh.to_dict().items() if getattr(mp, k) != v]
        diffs += [f"core.{k} = {v!r} in the image, {getattr(config.core, k)!r} in the "
                  f"configuration" for k, v in image.params.to_dict().items()
                  if getattr(config.core, k) != v]
        raise ConfigError("the network image does not fit the configuration: " + "; ".join(diffs))
    if config.core.syn_memory == "ice40_spram" and any(c.weights.any() for c in image.cores):
        raise ConfigError("core.syn_memory = 'ice40_spram' cannot hold initial weights: "
                          "generate with all-zero weights and write them through the cfg port")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = config.build.name
    text, widths, mesh = tiled_verilog(image, name, progress=progress)
    paths = {"verilog": out / f"{name}.v"}
    paths["verilog"].write_text(text)
    (out / MEM_FOLDER).mkdir(exist_ok=True)
    files = []
    for c in range(mp.cores):
        x, y = mp.core_xy(c)
        for suffix, words in tile_memories(image.cores[c], image.routes[c]).values():
            if suffix not in widths:        # a memory this configuration does not have
                continue
            f = out / MEM_FOLDER / f"tile_{x}_{y}.{suffix}.hex"
            f.write_text(_hex(words(), widths[suffix]))
            files.append(f)
        if progress:
            progress("memory files", c + 1, mp.cores)
    paths["image"] = out / "image.npz"
    image.save(paths["image"])
    paths["manifest"] = out / "manifest.json"
    man = mesh_manifest(config, image, mesh)
    man["memories"] = {
        "folder": MEM_FOLDER, "file": "tile_<x>_<y>.<memory>.hex",
        "widths": dict(sorted(widths.items())),
        "parameter": f"{MEM_DIR_MACRO} (top module): folder holding {MEM_FOLDER}/, with a "
                     f"trailing /; default \"\" (the tool's working folder)",
    }
    man["files"] = _written(paths) + sorted(f"{MEM_FOLDER}/{f.name}" for f in files)
    paths["manifest"].write_text(json.dumps(man, indent=2,
                                            sort_keys=True) + "\n")
    paths["memory"] = out / MEM_FOLDER
    return paths


def generate(config: Config, out_dir, image: CoreImage = None, progress=None):
    """Write ``<name>.v``, the memory images (``*.hex``, one word per line, ``$readmemh``
    format), ``image.npz`` and ``manifest.json`` into ``out_dir``. Returns the paths.

    With a ``[mesh]`` table the array is generated instead (see :func:`generate_mesh`; the
    image is then a network image).

    A core with ``syn_memory = "ice40_spram"`` cannot have its weights baked in (SPRAM has no
    initial contents): the image's weights must be all zero, and the weights are written
    through the ``cfg`` port after configuration. Anything else raises :class:`ConfigError`.
    """
    try:
        check_generation_limits(config.core)
    except ParamError as e:
        raise ConfigError(str(e)) from None
    if config.mesh is not None:
        return generate_mesh(config, out_dir, image, progress=progress)
    if image is None:
        image = CoreImage(config.core)
    elif not isinstance(image, CoreImage):
        raise ConfigError(f"the configuration has no [mesh] table: the image must be a core "
                          f"image, not a {type(image).__name__}")
    elif image.params != config.core:
        diffs = [f"{k} = {v!r} in the image, {getattr(config.core, k)!r} in the configuration"
                 for k, v in image.params.to_dict().items() if getattr(config.core, k) != v]
        raise ConfigError("the image does not fit the configuration: " + "; ".join(diffs))
    if image.params.syn_memory == "ice40_spram" and image.weights.any():
        nonzero = np.argwhere(image.weights)
        axon, neuron = (int(x) for x in nonzero[0])
        raise ConfigError(
            f"core.syn_memory = 'ice40_spram' cannot hold initial weights, but the image has "
            f"{len(nonzero)} non-zero weights (the first: weights[{axon}, {neuron}] = "
            f"{int(image.weights[axon, neuron])}): SPRAM has no initial contents. Generate "
            f"with an all-zero weight image and write the weights through the cfg port "
            f"(region SYN), or use core.syn_memory = 'block'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    core = top_for(image)
    text = verilog_text(core, config.build.name)
    paths = {"verilog": out / f"{config.build.name}.v"}
    paths["verilog"].write_text(text)
    man = manifest(config, image, core)
    words = {"syn": image.syn_words(), "param": image.param_words(),
             "state": image.state_words()}
    if image.params.param_mode == "profile":
        words["pidx"] = image.pidx_words()
    for name, ws in words.items():
        paths[name] = out / man["memories"][name]["file"]
        paths[name].write_text(_hex(ws, man["memories"][name]["width"]))
    paths["image"] = out / "image.npz"
    image.save(paths["image"])
    paths["manifest"] = out / "manifest.json"
    man["files"] = _written(paths)
    paths["manifest"].write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
    return paths
