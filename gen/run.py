"""``spikefab run``: drive a design through the host link, on a board (``--port``) or on the
simulated board top-level (``--sim verilator|icarus``), with the same driver code; write a
trace that ``spikefab compare`` reads (docs/host_link.md)."""

import asyncio
import time


__all__ = ["add_parser"]


def add_parser(sub):
    """Add the ``run`` subcommand to an argparse subparsers object."""
    from .cli import SEED, STEPS, _number
    r = sub.add_parser("run", help="run an image on a board over its serial link (--port), or "
                                   "on the board top-level in simulation (--sim)")
    r.add_argument("image", help="the core or network image the board was generated for "
                                 "(.npz)")
    where = r.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", metavar="DEVICE", help="the board's serial port, e.g. "
                                                        "/dev/ttyUSB1 (needs pyserial)")
    where.add_argument("--sim", choices=["verilator", "icarus"],
                       help="simulate the board top-level (SerialTop) instead, driven "
                            "through its UART pins")
    r.add_argument("--baud", type=_number(int, 300, 12_000_000), default=115200,
                   help="line rate of --port, 300..12000000 (default 115200)")
    r.add_argument("--clocks-per-bit", type=_number(int, 4, 1 << 20), default=8,
                   help="--sim only: clocks per UART bit, 4..2**20 (default 8)")
    r.add_argument("--inputs", metavar="IN.npz", help="input spike file (spikefab inputs)")
    r.add_argument("--steps", type=STEPS, help="steps to run, 1..1000000 (default: the input "
                                               "file's steps)")
    r.add_argument("--no-load", action="store_true",
                   help="do not write the image over the link first (the board already "
                        "holds it, e.g. baked into its bitstream and just configured)")
    r.add_argument("--no-state", action="store_true",
                   help="record spikes only (no state read back after each step; faster)")
    r.add_argument("--timeout", type=_number(float, 0.01, 3600), default=5.0,
                   help="--port only: seconds to wait for an answer (default 5)")
    r.add_argument("-o", "--output", required=True, metavar="TRACE",
                   help="trace file to write (.npz is appended if missing)")
    r.set_defaults(func=_cmd_run, _seed_type=SEED)
    return r


async def _board_run(channel, image, inputs, steps, *, load, state):
    from ..firmware.host import Host
    from ..firmware.link_transport import LinkTransport
    from ..firmware.protocol import HostCodec
    from ..sim.link_run import run_trace
    codec = HostCodec.for_image(image)
    transport = LinkTransport(channel, codec)
    await transport.open()
    host = Host(transport, codec)
    if load:
        await host.load(image)
    return await run_trace(host, image, inputs, steps, state=state, source="board (serial link)")


def _cmd_run(args):
    from .cli import CliError, _load_image, _load_inputs, _npz_name, _say
    image = _load_image(args.image)
    inputs = _load_inputs(args.inputs, image) if args.inputs else []
    steps = args.steps if args.steps is not None else len(inputs)
    if steps < 1:
        raise CliError("no steps to run: give --steps (1 or more) or an --inputs file")
    if steps < len(inputs):
        raise CliError(f"--steps {steps} is less than the {len(inputs)} steps of "
                       f"{args.inputs}: inputs are never dropped")
    out = _npz_name(args.output)
    t0 = time.perf_counter()
    if args.sim:
        from ..sim.serial_runner import run_serial
        _say(f"building the board top-level (cached in build/sim) and running it on "
             f"{args.sim} through its UART pins: {steps} steps ...")
        trace = run_serial(image, inputs, steps, args.sim, clocks_per_bit=args.clocks_per_bit,
                           baked=args.no_load, state=not args.no_state).trace
    else:
        from ..firmware.command import LinkProtocolError, LinkRefused
        from ..firmware.serial_transport import SerialChannel
        try:
            channel = SerialChannel(args.port, args.baud, timeout=args.timeout)
        except RuntimeError as e:
            raise CliError(str(e)) from None
        try:
            trace = asyncio.run(_board_run(channel, image, inputs, steps, load=not args.no_load,
                                           state=not args.no_state))
        except (LinkProtocolError, LinkRefused) as e:
            raise CliError(f"{args.port}: {e}") from None
        finally:
            channel.close()
    trace.save(out)
    _say(f"{args.sim or args.port}: {steps} steps, {int(trace.spikes.sum())} spikes, "
         f"{time.perf_counter() - t0:.2f} s; trace written to {out}")
    return 0
