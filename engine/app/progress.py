"""Progress of ``sipflow call``: a rich bar on a terminal, plain lines otherwise.

Rules:

* ``make_progress(stream, interval)`` picks ``RichProgress`` when ``stream``
  is a terminal and ``PlainProgress`` otherwise (pipes, files, tests).
* Both show calls started, established and failed and the current calls per
  second; ``update(stats, now)`` may be called as often as wanted.
* ``PlainProgress`` writes at most one line per ``interval`` seconds
  (``progress: 120/200 started, 118 established, 0 failed, 50.0 calls/s``)
  and nothing when nothing changed; ``close()`` writes nothing (the final
  summary is the caller's).
* Progress goes to the stream given (stderr by the CLI), so stdout holds only
  the report.

Theory of operation: the generator calls ``update`` from a periodic task; the
reporters only format ``CallStats``.
"""

from __future__ import annotations

from typing import Protocol, TextIO

from .stats import CallStats


class ProgressReporter(Protocol):
    """Shows a running ``CallStats``."""

    def update(self, stats: CallStats, now: float) -> None: ...

    def close(self) -> None: ...


def progress_text(stats: CallStats, now: float) -> str:
    """``120/200 started, 118 established, 0 failed, 50.0 calls/s``."""
    return (f"{stats.started}/{stats.count} started, {stats.established} established, "
            f"{stats.failed} failed, {stats.meter.rate(now):.1f} calls/s")


class PlainProgress:
    """One ``progress:`` line per ``interval`` seconds when something changed."""

    def __init__(self, stream: TextIO, interval: float = 1.0) -> None:
        self.stream = stream
        self.interval = interval
        self._last_time: float | None = None
        self._last_key: tuple[int, int, int] | None = None

    def update(self, stats: CallStats, now: float) -> None:
        key = (stats.started, stats.established, stats.failed)
        if self._last_time is not None and now - self._last_time < self.interval:
            return
        if key == self._last_key:
            return
        self._last_time, self._last_key = now, key
        print(f"progress: {progress_text(stats, now)}", file=self.stream, flush=True)

    def close(self) -> None:
        return None


class RichProgress:
    """A rich progress bar with the counters beside it (terminals only)."""

    def __init__(self, stream: TextIO, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("calls"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            console=Console(file=stream), transient=False)
        self._task = self._progress.add_task("calls", total=total, detail="")
        self._progress.start()

    def update(self, stats: CallStats, now: float) -> None:
        self._progress.update(self._task, completed=stats.finished,
                              detail=progress_text(stats, now))

    def close(self) -> None:
        self._progress.stop()


def make_progress(stream: TextIO, total: int, interval: float = 1.0) -> ProgressReporter:
    """``RichProgress`` on a terminal, ``PlainProgress`` otherwise."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return RichProgress(stream, total)
    return PlainProgress(stream, interval)
