"""Progress lines on stderr for the commands that take more than a few seconds.

A :class:`Progress` is the ``progress`` callback that ``generate``, ``synthesize`` and the
simulators' runs accept: ``progress(stage, done, total)``. A stage with a ``total`` shows a
bar (``done`` of ``total``); a stage with ``total=None`` shows its name and the time elapsed,
refreshed every second until the next stage starts or :meth:`Progress.close` is called (for
work that reports no steps: Yosys, nextpnr, a simulator build). Each stage ends on its own
line with its time.

Progress is shown only when stderr is a terminal (tqdm's rule): piped or captured output
(logs, the tests' exact checks of stderr) stays clean.
"""

import sys
import threading
import time

from tqdm import tqdm


__all__ = ["Progress"]


class Progress:
    """``progress(stage, done, total)`` drawn with tqdm on ``file`` (default stderr).

    ``enabled``: ``None`` (default) shows progress only if ``file`` is a terminal."""

    def __init__(self, file=None, enabled=None):
        self._file = file or sys.stderr
        self._enabled = (self._file.isatty() if enabled is None else bool(enabled))
        self._bar, self._stage = None, None
        self._lock = threading.Lock()
        self._ticker = None

    @property
    def enabled(self):
        return self._enabled

    def __call__(self, stage, done=0, total=None):
        if not self._enabled:
            return
        with self._lock:
            if stage != self._stage:
                self._close_bar()
                self._stage = stage
                fmt = ("{desc}: {elapsed}" if total is None else
                       "{desc}: {n_fmt}/{total_fmt} {bar} [{elapsed}<{remaining}]")
                self._bar = tqdm(total=total, desc=stage, file=self._file, bar_format=fmt,
                                 dynamic_ncols=True, leave=True)
                if total is None:
                    self._start_ticker()
            self._bar.n = done
            self._bar.refresh()
            if total is not None and done >= total:
                self._close_bar()

    def close(self):
        """End the current stage."""
        with self._lock:
            self._close_bar()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _close_bar(self):
        if self._bar is not None:
            self._bar.close()
        self._bar, self._stage = None, None

    def _start_ticker(self):
        if self._ticker is not None and self._ticker.is_alive():
            return

        def tick():
            while True:
                time.sleep(1.0)
                with self._lock:
                    if self._bar is None:
                        return
                    if self._bar.total is None:
                        self._bar.refresh()
        self._ticker = threading.Thread(target=tick, daemon=True)
        self._ticker.start()
