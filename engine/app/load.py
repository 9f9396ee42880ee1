"""The call generator behind ``sipflow call``: rate, concurrency, duration, timeout, stats.

Rules:

* Calls are sessions of the ``uac_call`` table. Call ``i`` (from 0) is due
  ``i / rate`` seconds after the start (all at once without a rate), and is
  placed when it is due *and* fewer than ``concurrency`` calls are in
  progress; a call held back by the concurrency limit goes as soon as a slot
  frees (so the offered rate catches up, as sipp does).
* Placing a call starts a ``uac_call`` session with the call parameters
  (``target`` = the URI) and dispatches ``MakeCall``; the INVITE is sent in
  that step, so that instant starts the setup time.
* What the table publishes decides the outcome: ``CallEstablished`` records
  the setup time (INVITE sent → 200 received) and, after ``duration`` seconds
  (at once when 0), dispatches ``HangUp``; ``CallFailed`` records why (the
  response's ``code reason``, else the event's name); the call is counted when
  its session ends (``SessionEnded``): passed when it was established and
  nothing failed, failed otherwise.
* ``timeout`` bounds the whole run: when it expires no call is placed any
  more, every call in progress is failed with ``timeout`` and hung up, and
  the calls never placed are failed with ``not started (timeout)``. The run
  is then over; ``done`` is true and ``on_done`` has been called once.
  ``stop(reason)`` does the same at once (``sipflow call`` calls it on SIGINT
  or SIGTERM, with ``interrupted``).
* After the last call the endpoint lingers while it still holds a
  transaction that may have to answer a peer's retransmission (our ACK to a
  486 lost, our 200 to a BYE lost): until none is left, nothing has arrived
  for a peer's retransmission interval (2 s, up to T2 + 1 s), or 32 s
  (``sipflow.app.linger``). A clean run holds none and
  ends at once. A signal during the linger ends it.
* A call whose ``MakeCall`` fires no row (or whose action fails: the runtime
  logs it) is failed at once with ``not started: MakeCall failed``.

Theory of operation: everything runs on the runtime's ``Clock`` through
``call_at`` (never sleeps), so the generator works the same over the real
``AsyncioClock`` and over a ``VirtualClock`` with the loopback backend. One
timer drives the launches (rescheduled at the next due time), one per held
call drives its hang-up, one drives the timeout.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sipflow.clock import Clock, TimerHandle
from sipflow.transport.listen import ListenSpec
from sipflow.transport.options import RECV_BUFFER

from .linger import Linger
from .logging import failure_reason
from .stats import CallStats

CALL_TABLE = "uac_call"
SLACK = 40.0
"""Seconds added to the default timeout: Timer B (64*T1 = 32 s) and some margin."""


@dataclass(frozen=True)
class LoadConfig:
    """Validated options of ``sipflow call`` (see ``sipflow.cli.call``)."""

    uri: str
    count: int = 1
    rate: float | None = None
    concurrency: int = 100
    duration: float = 0.0
    listen: list[ListenSpec] = field(default_factory=list)
    params: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    tables: Path | None = None
    timeout: float | None = None
    json: bool = False
    backend: str = "sip"
    loss: float = 0.0
    """Tests only: share of the UDP datagrams sent that are dropped (``--test-loss``)."""
    verbose: bool = False
    """``-v``: status lines on stderr (receive buffer, linger)."""
    recv_buffer: int = RECV_BUFFER
    """``--recv-buffer``: bytes of receive buffer asked for each UDP socket."""

    def run_timeout(self) -> float:
        """``timeout``, or a default from the count, rate and duration."""
        if self.timeout is not None:
            return self.timeout
        pacing = self.count / self.rate if self.rate else self.count / 1000.0
        return pacing + self.duration + SLACK


class _Call:
    __slots__ = ("index", "started", "established", "failure", "hangup", "counted")

    def __init__(self, index: int, started: float) -> None:
        self.index = index
        self.started = started
        """The stopwatch reading when the INVITE was sent."""
        self.established = False
        self.failure: str | None = None
        self.hangup: TimerHandle | None = None
        self.counted = False


class CallGenerator:
    """Places ``count`` calls on ``runtime`` (see the module rules)."""

    def __init__(self, runtime: Any, clock: Clock, *, count: int, call_params: Mapping[str, Any],
                 rate: float | None = None, concurrency: int = 100, duration: float = 0.0,
                 timeout: float | None = None, table: str = CALL_TABLE,
                 on_done: Callable[[], object] | None = None,
                 stopwatch: Callable[[], float] | None = None) -> None:
        self.runtime = runtime
        self.clock = clock
        self.count = count
        self.call_params = dict(call_params)
        self.rate = rate
        self.concurrency = concurrency
        self.duration = duration
        self.timeout = timeout
        self.table = table
        self.on_done = on_done
        self.stopwatch = stopwatch or clock.now
        """Reads the time for setup times: ``clock.now`` unless given (uvloop's loop time
        ticks in whole milliseconds, so ``sipflow call`` passes ``time.perf_counter``)."""
        self.stats = CallStats(count=count)
        self.placed = 0
        self.done = False
        self._calls: dict[Any, _Call] = {}
        self._t0 = 0.0
        self._pump_timer: TimerHandle | None = None
        self._pumping = False
        self._timeout_timer: TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def in_progress(self) -> int:
        """Calls placed and not yet counted."""
        return len(self._calls)

    def start(self) -> None:
        """Begin placing calls now."""
        self._t0 = self.clock.now()
        self._unsubscribe = self.runtime.subscribe(self._on_published)
        if self.timeout is not None:
            self._timeout_timer = self.clock.call_at(self._t0 + self.timeout, self._expire)
        self._pump()

    # -- launching ---------------------------------------------------------------------
    def _due(self, index: int) -> float:
        return self._t0 if not self.rate else self._t0 + index / self.rate

    def _pump(self) -> None:
        if self._pumping:  # a call ended while we were placing one: the loop below goes on
            return
        self._pump_timer = None
        self._pumping = True
        try:
            while (not self.done and self.placed < self.count
                   and len(self._calls) < self.concurrency):
                now = self.clock.now()
                due = self._due(self.placed)
                if due > now:
                    self._pump_timer = self.clock.call_at(due, self._pump)
                    return
                self._place(now)
        finally:
            self._pumping = False
        self._check_done()

    def _place(self, now: float) -> None:
        index = self.placed
        self.placed += 1
        session = self.runtime.start_session(self.table, params=self.call_params)
        call = _Call(index, self.stopwatch())
        self._calls[session] = call
        self.stats.call_started(now)
        self.runtime.dispatch(session, "MakeCall", self.call_params)
        if not session.ended and session.state == session.table.initial and session in self._calls:
            # No row fired, or its action failed (logged by the runtime): no INVITE went out.
            del self._calls[session]
            call.counted = True
            self.stats.call_failed("not started: MakeCall failed")

    # -- outcomes ----------------------------------------------------------------------
    def _on_published(self, session: Any, name: str, data: Mapping[str, Any]) -> None:
        call = self._calls.get(session)
        if call is None:
            return
        if name == "CallEstablished":
            if not call.established:
                call.established = True
                self.stats.call_established(self.stopwatch() - call.started)
                self._schedule_hangup(session, call)
        elif name == "CallFailed":
            if call.failure is None:
                call.failure = failure_reason(data, None)
        elif name == "SessionEnded":
            self._count(session, call, data)

    def _schedule_hangup(self, session: Any, call: _Call) -> None:
        if self.duration <= 0:
            self.runtime.post(session, "HangUp")
            return
        call.hangup = self.clock.call_at(self.clock.now() + self.duration,
                                         lambda: self.runtime.post(session, "HangUp"))

    def _count(self, session: Any, call: _Call, data: Mapping[str, Any]) -> None:
        del self._calls[session]
        if call.hangup is not None:
            call.hangup.cancel()
        if call.counted:
            return
        call.counted = True
        if call.failure is not None:
            self.stats.call_failed(call.failure)
        elif call.established:
            self.stats.call_passed()
        else:
            state = data.get("state") if data else None
            self.stats.call_failed(f"ended in {state}" if state else "ended")
        if not self.done:
            if self._pump_timer is None:
                self._pump()
            else:
                self._check_done()

    def _check_done(self) -> None:
        if not self.done and self.placed >= self.count and not self._calls:
            self._finish()

    def _expire(self) -> None:
        """The overall timeout."""
        self._timeout_timer = None
        self.stop("timeout")

    def stop(self, reason: str = "interrupted") -> None:
        """End the run now: fail what is running with ``reason`` and hang it up;
        the calls never placed fail with ``not started (reason)``."""
        if self.done:
            return
        for session, call in list(self._calls.items()):
            if not call.counted:
                call.counted = True
                self.stats.call_failed(reason)
            if call.hangup is not None:
                call.hangup.cancel()
            self.runtime.post(session, "HangUp")
        self._calls.clear()
        for _ in range(self.placed, self.count):
            self.stats.call_failed(f"not started ({reason})")
        self._finish()

    def _finish(self) -> None:
        self.done = True
        self.stats.ended = self.clock.now()
        for timer in (self._pump_timer, self._timeout_timer):
            if timer is not None:
                timer.cancel()
        self._pump_timer = self._timeout_timer = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.on_done is not None:
            self.on_done()


def call_params(config: LoadConfig) -> dict[str, Any]:
    """The ``uac_call`` parameters of every call: ``target`` plus ``--set`` and ``--auth``."""
    params: dict[str, Any] = dict(config.params)
    params["target"] = config.uri
    if config.auth is not None:
        params["auth_user"], params["auth_password"] = config.auth
    return params


def write_report(stats: CallStats, as_json: bool, out: TextIO) -> None:
    """The final report: JSON, or the failure lines and the ``N passed, M failed`` line."""
    if as_json:
        import json

        print(json.dumps(stats.as_dict(), indent=2), file=out)
        return
    for line in stats.failure_lines():
        print(line, file=out)
    print(stats.summary_line(), file=out)


async def place_calls(config: LoadConfig, err: TextIO) -> CallStats:
    """Run the generator for ``config`` on the running loop; returns the stats."""
    from sipflow.clock import AsyncioClock

    from .progress import ProgressReporter, make_progress
    from .setup import make_backend, make_runtime, set_receive_buffers, settle_gc, table_paths

    loop = asyncio.get_running_loop()
    clock = AsyncioClock(loop)
    backend = make_backend(config.backend, clock)
    runtime = make_runtime(table_paths(config.tables, [CALL_TABLE]), clock, backend,
                           {k: v for k, v in config.params.items()})
    await _start_backend(backend, config.listen, runtime)
    for where, buffer in set_receive_buffers(backend, config.recv_buffer):
        if config.verbose:
            print(buffer.describe(where), file=err)
    settle_gc()
    if config.loss:
        from .loss import drop_outgoing

        drop_outgoing(backend, config.loss)
    finished = asyncio.Event()
    generator = CallGenerator(
        runtime, clock, count=config.count, call_params=call_params(config), rate=config.rate,
        concurrency=config.concurrency, duration=config.duration,
        timeout=config.run_timeout(), on_done=finished.set, stopwatch=time.perf_counter)
    progress: ProgressReporter | None = make_progress(err, config.count)
    ticker: TimerHandle | None = None

    def tick() -> None:
        nonlocal ticker
        if progress is not None:
            progress.update(generator.stats, clock.now())
        if not generator.done:
            ticker = clock.call_at(clock.now() + 0.25, tick)

    def end_progress() -> None:
        nonlocal ticker, progress
        if ticker is not None:
            ticker.cancel()
            ticker = None
        if progress is not None:
            progress.update(generator.stats, clock.now())
            progress.close()
            progress = None

    lingered = asyncio.Event()
    linger = Linger(backend, clock, on_done=lingered.set)

    def interrupt() -> None:
        if not generator.done:
            generator.stop("interrupted")
        else:
            linger.stop()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, interrupt)
    try:
        generator.start()
        tick()
        await finished.wait()
        end_progress()
        linger.start()
        await lingered.wait()
        if config.verbose:
            print(linger.summary(), file=err)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        end_progress()
        await backend.stop(1.0)
    return generator.stats


async def _start_backend(backend: Any, listen: list[ListenSpec], runtime: Any) -> None:
    from sipflow.transport.bind import BindError

    from .options import UsageError

    try:
        await backend.start(listen, runtime.deliver)
    except BindError as exc:
        raise UsageError(f"--listen: {exc}") from None


def run_calls(config: LoadConfig, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Place the calls, print the report; 0 when every call passed, else 1."""
    from sipflow.transport.loop import run

    from .logging import configure_stderr_logging, debug_requested

    out = out or sys.stdout
    err = err or sys.stderr
    configure_stderr_logging(debug_requested())
    stats = run(place_calls(config, err))
    write_report(stats, config.json, out)
    return 0 if stats.all_passed else 1
