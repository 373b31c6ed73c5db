"""Reading ``.npz`` files strictly: one error family, messages that start with the file.

Every file the project reads back (core and network images, traces, input spike files) is
an ``.npz`` archive of named entries. :func:`read_npz` opens one and returns its entries, or
raises :class:`FormatError` naming the file and what is wrong (missing, empty, truncated, a
``.npy`` array, not a zip archive, an entry that cannot be read). The entry checkers below
refuse anything whose meaning would change on conversion: floats, booleans, unsigned values
that do not fit in int64, wrong shapes, values out of range, JSON that does not parse or is
not of the expected type. Every message is one line: ``<file>: entry '<name>' ...``.

Subclasses: :class:`~spikefab.rtl.image.ImageError` (images),
:class:`~spikefab.sim.trace.TraceError` (traces), :class:`~spikefab.sim.inputs.InputError`
(input spike files).
"""

import json
import os
import zipfile
import zlib

import numpy as np


__all__ = ["FormatError", "read_npz", "int_entry", "scalar_int_entry", "json_entry",
           "check_entries"]


class FormatError(ValueError):
    """A file, or the data it holds, is malformed. The message is one line and, for a file,
    starts with its path; it names the entry, the value and what is allowed."""


def read_npz(path, what, error=FormatError):
    """All entries of the ``.npz`` file ``path`` as ``{name: ndarray}``.

    ``what`` names the expected content ("core image", "trace", ...) for the messages;
    ``error`` is the :class:`FormatError` subclass raised.
    """
    src = os.fspath(path)
    try:
        size = os.path.getsize(src)
    except FileNotFoundError:
        raise error(f"{src}: no such file (expected a {what} .npz)") from None
    except OSError as e:
        raise error(f"{src}: cannot read the file: {e.strerror or e}") from None
    if size == 0:
        raise error(f"{src}: the file is empty (expected a {what} .npz)")
    with open(src, "rb") as f:
        try:
            z = np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
                NotImplementedError, UnicodeDecodeError) as e:
            raise error(f"{src}: not a readable .npz archive ({_one_line(e)}); expected a "
                        f"{what}") from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise error(f"{src}: holds a single .npy array, not an .npz archive of named "
                        f"entries (expected a {what})")
        out = {}
        with z:
            for name in z.files:
                try:
                    out[name] = z[name]
                except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
                        KeyError, NotImplementedError, UnicodeDecodeError) as e:
                    raise error(f"{src}: entry {name!r} cannot be read ({_one_line(e)}); "
                                f"the file is truncated or damaged") from None
    return out


def _one_line(e):
    return " ".join(str(e).split()) or type(e).__name__


def check_entries(src, entries, required, optional=(), error=FormatError, what="file"):
    """Refuse a missing required entry or an entry that is neither required nor optional."""
    for name in required:
        if name not in entries:
            raise error(f"{src}: the {what} has no {name!r} entry")
    known = set(required) | set(optional)
    for name in sorted(entries):
        if name not in known:
            raise error(f"{src}: entry {name!r} does not belong in a {what}")


def int_entry(src, name, a, *, shape=None, ndim=None, lo=None, hi=None, error=FormatError):
    """``a`` as a fresh int64 array: integer dtype only (not bool, not float), every value
    representable in int64, the given ``shape`` (or number of dimensions) and range."""
    a = np.asarray(a)
    if a.dtype.kind == "b":
        raise error(f"{src}: entry {name!r} holds booleans: expected integers")
    if a.dtype.kind not in "iu":
        raise error(f"{src}: entry {name!r} holds {a.dtype} values: expected integers")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size:
        big = np.flatnonzero(a.reshape(-1) > np.iinfo(np.int64).max)
        if big.size:
            where = _where(np.unravel_index(big[0], a.shape))
            raise error(f"{src}: entry {name!r}{where} = {int(a.reshape(-1)[big[0]])} does not "
                        f"fit in int64")
    if shape is not None and a.shape != tuple(shape):
        raise error(f"{src}: entry {name!r} has shape {a.shape}, expected {tuple(shape)}")
    if ndim is not None and a.ndim != ndim:
        raise error(f"{src}: entry {name!r} has shape {a.shape}, expected {ndim} "
                    f"dimension{'s' if ndim != 1 else ''}")
    a = a.astype(np.int64)
    if lo is not None or hi is not None:
        bad = np.zeros(a.shape, bool)
        if lo is not None:
            bad |= a < lo
        if hi is not None:
            bad |= a > hi
        idx = np.flatnonzero(bad)
        if idx.size:
            pos = np.unravel_index(idx[0], a.shape)
            allowed = (f"{lo}..{hi}" if lo is not None and hi is not None
                       else f">= {lo}" if lo is not None else f"<= {hi}")
            raise error(f"{src}: entry {name!r}{_where(pos)} = {int(a[pos])} is out of range: "
                        f"allowed {allowed}")
    return a


def _where(pos):
    return f"[{', '.join(str(int(i)) for i in pos)}]" if len(pos) else ""


def scalar_int_entry(src, name, a, *, lo=None, hi=None, error=FormatError):
    """A 0-d integer entry as a Python int (see :func:`int_entry`)."""
    return int(int_entry(src, name, a, shape=(), lo=lo, hi=hi, error=error))


def json_entry(src, name, a, kind=dict, error=FormatError):
    """A 0-d string entry holding JSON of type ``kind`` (dict by default), parsed."""
    a = np.asarray(a)
    if a.shape != () or a.dtype.kind != "U":
        raise error(f"{src}: entry {name!r} must be a JSON string, not a {a.dtype} array of "
                    f"shape {a.shape}")
    try:
        value = json.loads(str(a))
    except json.JSONDecodeError as e:
        raise error(f"{src}: entry {name!r} is not valid JSON ({e})") from None
    if not isinstance(value, kind):
        want = {dict: "an object", list: "a list", str: "a string"}.get(kind, kind.__name__)
        raise error(f"{src}: entry {name!r} holds JSON {json.dumps(value)[:40]}: expected "
                    f"{want}")
    return value
