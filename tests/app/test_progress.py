"""``sipflow.app.progress``: plain lines off a terminal, rich bar on one."""

from __future__ import annotations

import io

from sipflow.app.progress import PlainProgress, RichProgress, make_progress
from sipflow.app.stats import CallStats


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_at_most_once_per_interval_and_only_on_change() -> None:
    out = io.StringIO()
    stats = CallStats(count=10)
    progress = make_progress(out, total=10, interval=1.0)
    assert isinstance(progress, PlainProgress)
    stats.call_started(0.0)
    progress.update(stats, 0.0)
    stats.call_started(0.5)
    progress.update(stats, 0.5)          # within the interval: nothing
    progress.update(stats, 1.2)          # changed since the last line: a line
    progress.update(stats, 2.5)          # unchanged: nothing
    stats.call_failed("timeout")
    progress.update(stats, 2.6)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "progress: 1/10 started, 0 established, 0 failed, 1.0 calls/s",
        "progress: 2/10 started, 0 established, 0 failed, 1.0 calls/s",
        "progress: 2/10 started, 0 established, 1 failed, 0.0 calls/s",
    ]


def test_rich_bar_on_a_terminal() -> None:
    out = Tty()
    stats = CallStats(count=2)
    progress = make_progress(out, total=2)
    assert isinstance(progress, RichProgress)
    stats.call_started(0.0)
    stats.call_established(0.01)
    stats.call_passed()
    progress.update(stats, 0.1)
    progress.close()
    text = out.getvalue()
    assert "1/2" in text and "1 established" in text
