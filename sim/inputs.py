"""Input spike files: per-step lists of axon ids, stored flat in ``.npz``.

Keys: ``axon`` (int64, every event in step order), ``delay`` (int64, 0 for external input),
``ptr`` (int64 [T + 1]: step t's events are ``axon[ptr[t]:ptr[t + 1]]``).
"""

import numpy as np


__all__ = ["encode_inputs", "decode_inputs", "save_inputs", "load_inputs", "poisson_inputs"]


def encode_inputs(inputs, steps):
    """``inputs``: a list (one entry per step) of axon-id sequences, or an int array
    ``[T, A]`` of hit counts. Steps beyond ``len(inputs)`` get no input."""
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
        per_step = [np.repeat(np.arange(inputs.shape[1]), inputs[t]) for t in range(steps)]
    else:
        if len(inputs) > steps:
            raise ValueError(f"{len(inputs)} steps of input given for a run of {steps} steps")
        per_step = [np.asarray(inputs[t] if t < len(inputs) else [], dtype=np.int64)
                    for t in range(steps)]
    ptr = np.zeros(steps + 1, np.int64)
    ptr[1:] = np.cumsum([len(x) for x in per_step])
    axon = np.concatenate(per_step).astype(np.int64) if steps else np.zeros(0, np.int64)
    return {"axon": axon, "delay": np.zeros_like(axon), "ptr": ptr}


def decode_inputs(enc):
    ptr = enc["ptr"]
    return [enc["axon"][ptr[t]:ptr[t + 1]].tolist() for t in range(len(ptr) - 1)]


def save_inputs(path, inputs, steps=None):
    steps = len(inputs) if steps is None else steps
    np.savez(path, **encode_inputs(inputs, steps))


def load_inputs(path):
    with np.load(path, allow_pickle=False) as z:
        missing = {"axon", "ptr"} - set(z.files)
        if missing:
            raise ValueError(f"{path}: not an input spike file (missing {', '.join(sorted(missing))})")
        return decode_inputs({k: z[k] for k in z.files})


def poisson_inputs(axons, steps, rate, rng):
    """Independent Poisson input: each axon is hit with probability ``rate`` per step."""
    hits = rng.random((steps, axons)) < rate
    return [np.flatnonzero(hits[t]).tolist() for t in range(steps)]
