"""The ``import`` and ``export`` commands: NIR graphs in and out (docs/nir.md).

``spikefab import MODEL.nir --dt DT --reset zero|subtract [--syn-input euler|jump] -o net.npz``
imports, quantises (:mod:`spikefab.gen.quantise`), maps onto the array and writes the
network image; it prints the import report (conventions, timing, flags, one quantisation row
per layer) and the mapping report. A file written by ``spikefab export`` is rebuilt exactly
and mapped on the mesh and cores recorded in it (flags override them).

``spikefab export net.npz -o MODEL.nir [--dt DT]`` writes a network image as a NIR graph.

Every error (an unreadable or malformed file, an unsupported node, a shape mismatch, a
non-finite value, a network that does not fit) is one line on stderr, exit status 2, and
nothing is written.
"""

import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["add_parser"]


def _mesh(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--mesh {text!r}: expected WIDTHxHEIGHT, e.g. 2x2") from None
    return w, h


def _write_atomic(path, write):
    """Write through a temporary file in the same folder, renamed at the end: an error
    leaves nothing behind."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                               suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cmd_import(args):
    from spikefab.rtl.params import CoreParams, MeshParams
    from .nir_import import import_nir
    from .quantise import quantise
    res = import_nir(args.model, dt=args.dt, reset=args.reset, syn_input=args.syn_input)
    if res.exact is not None:
        ex = res.exact
        mesh = MeshParams(width=_mesh(args.mesh)[0], height=_mesh(args.mesh)[1]) \
            if args.mesh else ex.mesh
        params = ex.params
        m = ex.map(mesh, params)
    else:
        fnet = res.float_net
        calib = None
        if args.calib:
            z = np.load(args.calib)
            calib = {k: np.asarray(z[k]) for k in fnet.inputs if k in z}
            if set(calib) != set(fnet.inputs):
                raise ValueError(f"--calib {args.calib}: expected arrays named "
                                 f"{', '.join(fnet.inputs)} ([images, steps, size] 0/1)")
        q = quantise(fnet, args.weight_bits, calib=calib, acc_bits=args.acc_bits,
                     search=calib is not None, bias_tuning=calib is not None)
        res.report.quant = q.rows
        if calib is None:
            res.report.flags.append("no --calib: no bias tuning and no scale search (largest "
                                    "|weight| sets each layer's scale); sums checked worst case")
        w, h = _mesh(args.mesh or "2x2")
        mesh = MeshParams(width=w, height=h)
        params = CoreParams(neurons=args.neurons, axons=args.axons, lanes=args.lanes,
                            weight_bits=args.weight_bits, acc_bits=args.acc_bits,
                            max_delay=max(2, fnet.max_depth),
                            subtractive_reset=fnet.reset == "subtract")
        m = q.network.map(mesh, params)
    print(res.report)
    print(m.report)
    _write_atomic(args.output, lambda tmp: m.image.save(tmp))
    print(f"wrote {args.output}")
    return 0


def _cmd_export(args):
    from .netrun import MappedNetwork
    from .nir_export import write_nir
    m = MappedNetwork.load(args.network)
    _write_atomic(args.output, lambda tmp: write_nir(m, tmp, dt=args.dt))
    print(f"wrote {args.output}: {len(m.populations)} populations, inputs "
          f"{', '.join(m.inputs)}, dt = {args.dt:g}")
    return 0


def add_parser(sub):
    """Add the ``import`` and ``export`` subcommands to an argparse subparsers object."""
    from .cli import _number
    dt, bits, acc, count, lanes = (_number(float, 0), _number(int, 2, 8), _number(int, 2, 24),
                                   _number(int, 1, 4096), _number(int, 1, 32))
    i = sub.add_parser("import", help="import a NIR graph: quantise, map, write a network image")
    i.add_argument("model", help="the NIR file (.nir, HDF5)")
    i.add_argument("--dt", type=dt, required=True,
                   help="time step the file was exported with (seconds per step; required)")
    i.add_argument("--reset", choices=("zero", "subtract"),
                   help="reset of the spiking nodes (required unless the file is a spikefab "
                        "export): to zero, or by subtraction of the threshold")
    i.add_argument("--syn-input", choices=("euler", "jump"),
                   help="how a spike enters a CubaLIF's current (required with CubaLIF): "
                        "euler (snnTorch Synaptic) or jump (Norse)")
    i.add_argument("--weight-bits", type=bits, default=8, help="weight width 2..8 (default 8)")
    i.add_argument("--acc-bits", type=acc, default=16, help="synaptic sum width (default 16)")
    i.add_argument("--mesh", help="array WIDTHxHEIGHT (default 2x2, or the file's)")
    i.add_argument("--neurons", type=count, default=64, help="neurons per core (default 64)")
    i.add_argument("--axons", type=count, default=128, help="axons per core (default 128)")
    i.add_argument("--lanes", type=lanes, default=4, help="lanes (default 4)")
    i.add_argument("--calib", help="calibration inputs, .npz with one 0/1 array [images, "
                                   "steps, size] per input node: bias tuning and scale search")
    i.add_argument("-o", "--output", required=True, help="network image to write (.npz)")
    i.set_defaults(func=_cmd_import)
    e = sub.add_parser("export", help="write a network image as a NIR graph")
    e.add_argument("network", help="network image (.npz, from Network.map or spikefab import)")
    e.add_argument("--dt", type=dt, default=1.0, help="time step to write (default 1.0)")
    e.add_argument("-o", "--output", required=True, help="NIR file to write")
    e.set_defaults(func=_cmd_export)
