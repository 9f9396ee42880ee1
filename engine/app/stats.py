"""Call counters and setup-time percentiles for ``sipflow call``.

Rules:

* A call is *started* when its INVITE is sent, *established* when the 200
  arrives (its setup time is the time between the two), and finally either
  *passed* (established, then ended by either side with nothing failing) or
  *failed* with a reason (``486 Busy Here``, ``timeout``, ``not started`` …).
  Each call is counted once in passed or failed; ``passed + failed`` equals
  the number of finished calls.
* Percentiles use the nearest-rank method (no interpolation): p50 of
  ``[1, 2, 3, 4]`` is 2, p99 of 200 samples is the 198th smallest. With no
  sample they are ``None`` and print as ``-``.
* Setup times are kept in a ``SetupTimes`` histogram, not a list, so a long
  ``--duration`` run holds bounded memory (a list cost 32 B per call: 230 MB
  for an hour at 2,000 calls/s). A time is counted in whole microseconds:
  exactly below 2.048 ms, and above that rounded down to a bucket 1/1024 of
  a power of two wide (so at most 0.1 % low). At most 1,024 buckets
  per power of two: about 20,000 for times up to 1,000 s.
* ``RateMeter`` gives the current calls per second over a sliding window
  (default 1 s) from the times of recent events.
* ``summary_line()`` is exactly ``N passed, M failed`` followed by the setup
  times; ``as_dict()`` is the JSON report (counts, percentiles in
  milliseconds, failures by reason).

Theory of operation: plain counters and a dict of bucket → count for the
setup times; nothing here reads a clock — callers pass ``now``.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (50, 95, 99)


EXACT_US = 2048
"""Setup times below this many microseconds are kept exactly (to the microsecond)."""


class SetupTimes:
    """A histogram of setup times (seconds) with nearest-rank percentiles (module rules)."""

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()
        self._n = 0

    def add(self, seconds: float) -> None:
        """Count one setup time (a negative one counts as 0)."""
        us = max(round(seconds * 1e6), 0)
        if us >= EXACT_US:
            shift = us.bit_length() - EXACT_US.bit_length() + 1
            us = (us >> shift) << shift  # the bucket's lower end
        self._counts[us] += 1
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def buckets(self) -> int:
        """How many distinct buckets are held (the memory bound of the module rules)."""
        return len(self._counts)

    def percentile(self, q: float) -> float | None:
        """The nearest-rank ``q``-th percentile in seconds (None without samples)."""
        if not 0 < q <= 100:
            raise ValueError(f"percentile {q!r}: must be in (0, 100]")
        if not self._n:
            return None
        rank = max(math.ceil(q / 100 * self._n), 1)
        seen = 0
        for us in sorted(self._counts):
            seen += self._counts[us]
            if seen >= rank:
                return us / 1e6
        raise AssertionError("unreachable: the counts add up to the sample count")


class RateMeter:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 1.0) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self._times: deque[float] = deque()

    def add(self, now: float) -> None:
        """Record one event at ``now``."""
        self._times.append(now)

    def rate(self, now: float) -> float:
        """Events per second in ``(now - window, now]``."""
        times = self._times
        limit = now - self.window
        while times and times[0] <= limit:
            times.popleft()
        return len(times) / self.window


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def _fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000.0:.2f} ms"


@dataclass
class CallStats:
    """What ``sipflow call`` counts (see the module rules)."""

    count: int
    """Calls requested (``--count``)."""
    started: int = 0
    established: int = 0
    passed: int = 0
    failed: int = 0
    setup_times: SetupTimes = field(default_factory=SetupTimes)
    """Seconds from INVITE sent to 200 received, one per established call."""
    failures: Counter[str] = field(default_factory=Counter)
    """Reason → number of calls that failed for it."""
    began: float | None = None
    ended: float | None = None
    meter: RateMeter = field(default_factory=RateMeter)
    """Calls started per second, recently."""

    def call_started(self, now: float) -> None:
        """An INVITE went out."""
        if self.began is None:
            self.began = now
        self.started += 1
        self.meter.add(now)

    def call_established(self, setup_time: float) -> None:
        """A 200 arrived ``setup_time`` seconds after the INVITE."""
        self.established += 1
        self.setup_times.add(setup_time)

    def call_passed(self) -> None:
        """An established call ended normally."""
        self.passed += 1

    def call_failed(self, reason: str) -> None:
        """A call failed for ``reason`` (``486 Busy Here``, ``timeout`` …)."""
        self.failed += 1
        self.failures[reason or "unknown"] += 1

    @property
    def finished(self) -> int:
        """Calls that passed or failed."""
        return self.passed + self.failed

    @property
    def all_passed(self) -> bool:
        """True when every requested call passed."""
        return self.passed == self.count and self.failed == 0

    def percentiles(self) -> dict[int, float | None]:
        """p50/p95/p99 of the setup times, in seconds (None without samples)."""
        return {q: self.setup_times.percentile(q) for q in PERCENTILES}

    def elapsed(self) -> float:
        """Seconds from the first INVITE to the end (0 before both are known)."""
        if self.began is None or self.ended is None:
            return 0.0
        return max(self.ended - self.began, 0.0)

    def summary_line(self) -> str:
        """``200 passed, 0 failed; setup p50 1.2 ms, p95 3.4 ms, p99 5.6 ms``."""
        marks = ", ".join(f"p{q} {_fmt_ms(v)}" for q, v in self.percentiles().items())
        return f"{self.passed} passed, {self.failed} failed; setup {marks}"

    def failure_lines(self) -> list[str]:
        """One line per failure reason, most frequent first: ``3 failed: 486 Busy Here``."""
        return [f"{n} failed: {reason}" for reason, n in self.failures.most_common()]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report: counts, elapsed time, rate, setup percentiles (ms), failures."""
        elapsed = self.elapsed()
        return {
            "count": self.count,
            "started": self.started,
            "established": self.established,
            "passed": self.passed,
            "failed": self.failed,
            "elapsed_s": round(elapsed, 3),
            "calls_per_s": round(self.finished / elapsed, 2) if elapsed > 0 else None,
            "setup_ms": {f"p{q}": _ms(v) for q, v in self.percentiles().items()},
            "failures": dict(self.failures.most_common()),
        }
