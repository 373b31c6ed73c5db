"""Input spike files of one core: per-step lists of axon ids, stored flat in ``.npz``.

Entries: ``axon`` (int64, every event in step order), ``ptr`` (int64 [T + 1]: step t's
events are ``axon[ptr[t]:ptr[t + 1]]``; ``ptr[0] = 0``, non-decreasing, ``ptr[T]`` = the
number of events) and ``delay`` (int64, one per event, always 0: an external event is
integrated in the step it is given for; the entry may be absent, any other value is
refused). A file that breaks any of these rules is an :class:`InputError` naming the file,
the entry, the value and what is allowed. (Input files of a network image are written by
:func:`spikefab.sim.network.encode_network_inputs`.)

:func:`inputs_from_pairs` and :func:`poisson_inputs` make the per-step lists;
``spikefab inputs`` writes a file from the command line.
"""

import os

import numpy as np

from ..rtl.files import FormatError, check_entries, int_entry, read_npz


#: The longest run an input file may describe (as ``[sim] steps`` and ``--steps``).
STEPS_MAX = 1_000_000

__all__ = ["STEPS_MAX", "InputError", "encode_inputs", "decode_inputs", "save_inputs", "load_inputs",
           "poisson_inputs", "inputs_from_pairs"]


class InputError(FormatError):
    """An input spike file (or the data for one) is malformed."""


def encode_inputs(inputs, steps):
    """``inputs``: a list (one entry per step) of axon-id sequences, or an int array
    ``[T, A]`` of hit counts. Steps beyond ``len(inputs)`` get no input."""
    steps = int(steps)
    if steps < 0:
        raise InputError(f"steps = {steps} must not be negative")
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
        counts = int_entry("inputs", "counts", inputs, lo=0, error=InputError)
        per_step = [np.repeat(np.arange(counts.shape[1]), counts[t]) for t in range(steps)]
    else:
        if len(inputs) > steps:
            raise InputError(f"{len(inputs)} steps of input given for a run of {steps} steps")
        per_step = []
        for t in range(steps):
            a = np.asarray(inputs[t] if t < len(inputs) else [])
            if a.size == 0:
                a = np.zeros(0, np.int64)
            per_step.append(int_entry("inputs", f"step {t}", a, ndim=1, lo=0,
                                      error=InputError))
    ptr = np.zeros(steps + 1, np.int64)
    ptr[1:] = np.cumsum([len(x) for x in per_step])
    axon = np.concatenate(per_step).astype(np.int64) if steps else np.zeros(0, np.int64)
    return {"axon": axon, "delay": np.zeros_like(axon), "ptr": ptr}


def decode_inputs(enc, *, source="inputs", axons=None):
    """The per-step lists stored by :func:`encode_inputs` in the mapping ``enc`` (for
    example the entries of an ``.npz``); ``axons``, if given, bounds the axon ids. Raises
    :class:`InputError` naming ``source`` and the entry."""
    check_entries(source, set(enc), ["axon", "ptr"], ["delay"], error=InputError,
                  what="input spike file")
    hi = None if axons is None else int(axons) - 1
    axon = int_entry(source, "axon", enc["axon"], ndim=1, lo=0, hi=hi, error=InputError)
    ptr = int_entry(source, "ptr", enc["ptr"], ndim=1, error=InputError)
    if ptr.size - 1 > STEPS_MAX:
        raise InputError(f"{source}: entry 'ptr' describes {ptr.size - 1} steps: allowed at "
                         f"most {STEPS_MAX}")
    if ptr.size == 0:
        raise InputError(f"{source}: entry 'ptr' is empty: expected T + 1 offsets starting "
                         f"at 0")
    if ptr[0] != 0:
        raise InputError(f"{source}: entry 'ptr'[0] = {int(ptr[0])}: expected 0")
    dec = np.flatnonzero(np.diff(ptr) < 0)
    if dec.size:
        t = int(dec[0]) + 1
        raise InputError(f"{source}: entry 'ptr'[{t}] = {int(ptr[t])} is less than "
                         f"ptr[{t - 1}] = {int(ptr[t - 1])}: offsets must not decrease")
    if ptr[-1] != axon.size:
        raise InputError(f"{source}: entry 'ptr'[{ptr.size - 1}] = {int(ptr[-1])}: expected "
                         f"{axon.size}, the number of events in 'axon'")
    if "delay" in enc:
        int_entry(source, "delay", enc["delay"], shape=axon.shape, lo=0, hi=0,
                  error=InputError)
    return [axon[ptr[t]:ptr[t + 1]].tolist() for t in range(ptr.size - 1)]


def save_inputs(path, inputs, steps=None):
    """Write an input spike file (see :func:`encode_inputs`)."""
    steps = len(inputs) if steps is None else steps
    np.savez(path, **encode_inputs(inputs, steps))


def load_inputs(path, *, axons=None):
    """Read an input spike file; a damaged one is an :class:`InputError` naming the file."""
    z = read_npz(path, "input spike file", InputError)
    return decode_inputs(z, source=os.fspath(path), axons=axons)


def poisson_inputs(axons, steps, rate, rng):
    """Independent Poisson input: each axon is hit with probability ``rate`` per step."""
    hits = rng.random((steps, axons)) < rate
    return [np.flatnonzero(hits[t]).tolist() for t in range(steps)]


def inputs_from_pairs(pairs, steps=None, *, source="pairs", axons=None):
    """Per-step lists from an int array ``[K, 2]`` of (step, axon) rows (any order; within
    a step, rows keep their order). ``steps`` defaults to one past the last step given."""
    a = np.asarray(pairs)
    if a.size == 0:
        a = np.zeros((0, 2), np.int64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise InputError(f"{source}: shape {a.shape}: expected rows of (step, axon), "
                         f"shape [K, 2]")
    hi = None if axons is None else int(axons) - 1
    st = int_entry(source, "step column", a[:, 0], lo=0, hi=STEPS_MAX - 1, error=InputError)
    ax = int_entry(source, "axon column", a[:, 1], lo=0, hi=hi, error=InputError)
    T = (int(st.max()) + 1 if st.size else 0) if steps is None else int(steps)
    if st.size and st.max() >= T:
        raise InputError(f"{source}: step {int(st.max())} is out of range for a run of {T} "
                         f"steps: allowed 0..{T - 1}")
    out = [[] for _ in range(T)]
    for s, x in zip(st.tolist(), ax.tolist()):
        out[s].append(x)
    return out
