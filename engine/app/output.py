"""Buffered line output for long-running verbs: cheap per line, flushed on a timer and at exit.

Rules:

* ``LineWriter.line(text)`` keeps one line in memory; ``flush()`` writes
  every kept line to the stream in one ``write`` and flushes the stream.
  Lines are also written (without a flush) once ``MAX_PENDING`` characters
  are kept. ``start_flushing(clock, every)`` flushes on the process clock
  every ``every`` seconds until ``close()``. (A write per line costs a
  system call per call when the stream does not buffer: a terminal, or
  ``PYTHONUNBUFFERED=1``, which container images often set: ``strace -c``
  of serve under sipp counted one ``write`` per call.)
* ``now(text)`` writes and flushes at once: start-up lines such as
  ``listening on udp:127.0.0.1:40123`` that scripts wait for.
* A stream that fails (a closed pipe) never raises: the failure is counted in
  ``errors`` and later lines are dropped.
"""

from __future__ import annotations

from typing import TextIO

from sipflow.clock import Clock, TimerHandle

MAX_PENDING = 65536
"""Characters of lines kept before they are written without waiting for the flush."""


class LineWriter:
    """Lines to ``stream``, flushed periodically (see the module rules)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.errors = 0
        self._pending: list[str] = []
        self._size = 0
        self._timer: TimerHandle | None = None
        self._clock: Clock | None = None
        self._every = 0.0

    def line(self, text: str) -> None:
        """Keep one line until the next flush (see the module rules)."""
        if self.errors:
            return
        self._pending.append(text)
        self._size += len(text)
        if self._size >= MAX_PENDING:
            self._write()

    def _write(self) -> None:
        """Write the kept lines to the stream (no flush)."""
        if not self._pending:
            return
        text = "\n".join(self._pending) + "\n"
        self._pending.clear()
        self._size = 0
        if self.errors:
            return
        try:
            self.stream.write(text)
        except (OSError, ValueError):
            self.errors += 1

    def now(self, text: str) -> None:
        """Write one line and flush."""
        self.line(text)
        self.flush()

    def flush(self) -> None:
        """Write out what is kept and buffered."""
        self._write()
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
