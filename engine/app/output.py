"""Buffered line output for long-running verbs: cheap per line, flushed on a timer and at exit.

Rules:

* ``LineWriter.line(text)`` appends one line to the stream without flushing
  (a flush per call line would cost a system call per call); ``flush()``
  writes it out. ``start_flushing(clock, every)`` flushes on the process
  clock every ``every`` seconds until ``close()``.
* ``now(text)`` writes and flushes at once: start-up lines such as
  ``listening on udp:127.0.0.1:40123`` that scripts wait for.
* A stream that fails (a closed pipe) never raises: the failure is counted in
  ``errors`` and later lines are dropped.
"""

from __future__ import annotations

from typing import TextIO

from sipflow.clock import Clock, TimerHandle


class LineWriter:
    """Lines to ``stream``, flushed periodically (see the module rules)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.errors = 0
        self._timer: TimerHandle | None = None
        self._clock: Clock | None = None
        self._every = 0.0

    def line(self, text: str) -> None:
        """Append one line (no flush)."""
        if self.errors:
            return
        try:
            self.stream.write(text + "\n")
        except (OSError, ValueError):
            self.errors += 1

    def now(self, text: str) -> None:
        """Write one line and flush."""
        self.line(text)
        self.flush()

    def flush(self) -> None:
        """Write out what is buffered."""
        if self.errors:
            return
        try:
            self.stream.flush()
        except (OSError, ValueError):
            self.errors += 1

    def start_flushing(self, clock: Clock, every: float = 0.5) -> None:
        """Flush every ``every`` seconds on ``clock`` until ``close``."""
        self._clock, self._every = clock, every
        self._timer = clock.call_at(clock.now() + every, self._tick)

    def _tick(self) -> None:
        self.flush()
        if self._clock is not None and self._timer is not None:
            self._timer = self._clock.call_at(self._clock.now() + self._every, self._tick)

    def close(self) -> None:
        """Stop the periodic flush and flush once more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
