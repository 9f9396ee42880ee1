"""The answering user agent behind ``sipflow serve``: runtime + backend + signals + drain.

Rules:

* Start-up: load and lint the tables (``--tables`` or the shipped ones),
  build the backend (``--backend``, default ``sip``), bind every ``--listen``
  spec and print one ``listening on TRANSPORT:HOST:PORT`` line per bound
  address (the real port when the spec said 0). Each UDP socket gets a
  ``--recv-buffer`` receive buffer (default 4 MiB; with ``-v`` one line each
  says what the kernel granted). Then ``setup.settle_gc()``:
  what start-up allocated is never scanned again by the cyclic collector, and
  the young-generation threshold is raised.
* Serving: the tables answer (``uas_call`` and whatever else is loaded). One
  log line per call on stdout (``sipflow.app.logging``); with ``-v`` every
  SIP message too; with ``--trace FILE`` every message goes to a pcap file.
* Overload (``sipflow.app.overload``): while requests wait longer than
  ``--overload-lag-ms`` (default 250 ms) in a UDP receive queue (until
  it is below half of it), new INVITEs get ``503`` with ``Retry-After``
  before any session exists (statelessly, straight from the datagram:
  ``sipflow.app.shed``), so the calls admitted complete; one ``overload:
  …`` line when an episode starts and one ``overload over: …`` line (with
  the INVITEs refused) when it ends; at shutdown one ``overload: N INVITEs
  answered 503 in M episodes`` line when any was. 0 turns it off.
* Stopping: SIGINT or SIGTERM starts the drain. New INVITEs get 503 (the
  backend refuses them while draining) and every live session gets the
  ``Shutdown`` command, so the tables end it (480 while ringing, BYE when
  confirmed). The server waits until no session, dialog or transaction is
  left, or ``--drain`` seconds; a second signal cuts the wait short. It then
  prints what was still open (one ``outcome=open`` line per call and a
  summary), closes the listeners and returns 0.
* ``--format json``: every output line is one JSON object instead —
  ``{"event": "listening", "address"}``, the call lines of
  ``sipflow.app.logging``, ``{"event": "shutting_down", "sessions",
  "drain_s"}``, ``{"event": "stopped", "open_calls", "sessions"}``.
* Problems before serving (a port in use, a bad table, an unknown parameter)
  are ``UsageError``s: the CLI prints one line and exits 2.

Theory of operation: ``Server`` owns the pieces; ``serve(config)`` is the
coroutine the CLI runs on uvloop (``sipflow.transport.loop.run``). The
server sees every backend event first (``deliver``) only to note the call's
identity for its log line, then hands it to the runtime unchanged.
"""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sipflow.clock import AsyncioClock
from sipflow.sip.types import Address
from sipflow.transport.listen import ListenSpec
from sipflow.transport.options import RECV_BUFFER

from .logging import CallLog
from .options import UsageError
from .output import LineWriter
from .overload import THRESHOLD, OverloadGate, open_probes
from .setup import make_backend, make_runtime, set_receive_buffers, settle_gc, table_paths
from .shed import StatelessReject

POLL = 0.05
"""How often the drain checks whether everything has ended (seconds)."""


@dataclass(frozen=True)
class ServeConfig:
    """Validated options of ``sipflow serve`` (see ``sipflow.cli.serve``)."""

    listen: list[ListenSpec]
    tables: Path | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    auth: Mapping[str, str] = field(default_factory=dict)
    realm: str | None = None
    trace: Path | None = None
    verbose: bool = False
    drain: float = 5.0
    backend: str = "sip"
    json: bool = False
    """``--format json``: one JSON object per output line."""
    loss: float = 0.0
    """Tests only: share of the UDP datagrams sent that are dropped (``--test-loss``)."""
    recv_buffer: int = RECV_BUFFER
    """``--recv-buffer``: bytes of receive buffer asked for each UDP socket."""
    overload_lag: float = THRESHOLD
    """``--overload-lag-ms`` in seconds: new INVITEs get 503 while requests wait longer
    than this in the receive queue (``sipflow.app.overload``); 0 turns it off."""


def address_text(address: Address) -> str:
    """``udp:127.0.0.1:5060`` / ``tcp:[::1]:5060`` for a bound address."""
    return str(ListenSpec(address.transport, address.host, address.port))


class Server:
    """One serving process: the runtime, the backend and the call log."""

    def __init__(self, config: ServeConfig, out: TextIO, err: TextIO) -> None:
        self.config = config
        self.clock = AsyncioClock()
        self.out = LineWriter(out)
        self.err = err
        options: dict[str, Any] = {}
        if config.auth:
            options["auth"] = dict(config.auth)
            if config.realm:
                options["realm"] = config.realm
        self.backend = make_backend(config.backend, self.clock, **options)
        self.runtime = make_runtime(table_paths(config.tables), self.clock, self.backend,
                                    config.params)
        self.log = CallLog(self.clock, self.out.line, verbose=config.verbose,
                           json_lines=config.json)
        self.log.attach(self.runtime)
        self.pcap: Any = None
        self.addresses: list[Address] = []
        self.buffers: list[tuple[str, Any]] = []
        """``(address, ReceiveBuffer)`` of each UDP socket, after ``start``."""
        self.overload: OverloadGate | None = None
        """The overload gate, after ``start`` (None when ``--overload-lag-ms 0``)."""
        self.shed: StatelessReject | None = None
        """Its cheap stateless-503 path (None with ``--trace`` or ``-v``)."""

    # -- start -------------------------------------------------------------------------
    async def start(self) -> list[Address]:
        """Bind the listeners; returns the bound addresses (printed by ``serve``)."""
        from sipflow.transport.bind import BindError

        self._open_trace()
        try:
            await self.backend.start(list(self.config.listen), self.deliver)
        except BindError as exc:
            raise UsageError(f"--listen: {exc}") from None
        self.addresses = list(getattr(self.backend, "local_addresses", []) or [])
        self.buffers = set_receive_buffers(self.backend, self.config.recv_buffer)
        self._attach_trace()
        if self.config.overload_lag > 0:
            self.overload = OverloadGate(open_probes(self.backend), self.clock,
                                         threshold=self.config.overload_lag,
                                         on_change=self._overload_changed)
            self.backend.overload = self.overload
            driver = getattr(self.backend, "driver", None)
            if driver is not None and self.pcap is None and not self.config.verbose:
                self.shed = StatelessReject(self.overload, list(driver.transports), self.clock)
                self.shed.install()
        if self.config.loss:
            from .loss import drop_outgoing

            drop_outgoing(self.backend, self.config.loss)
        return self.addresses

    def _open_trace(self) -> None:
        """Create the ``--trace`` pcap file (before binding: a bad path is a usage error)."""
        if self.config.trace is None:
            return
        from sipflow.trace.pcap import PcapWriter

        try:
            self.pcap = PcapWriter(self.config.trace, time_offset=time.time() - self.clock.now())
        except OSError as exc:
            raise UsageError(f"--trace {self.config.trace}: {exc.strerror or exc}") from None

    def _attach_trace(self) -> None:
        driver = getattr(self.backend, "driver", None)
        if driver is None or not hasattr(driver, "set_trace"):
            if self.config.trace or self.config.verbose:
                print(f"sipflow serve: the {self.config.backend} backend has no message trace; "
                      f"--trace and -v print nothing", file=self.err)
            return
        hooks = []
        if self.pcap is not None:
            hooks.append(self.pcap.write)
        if self.config.verbose:
            local = set(self.addresses)

            def show(when: float, transport: str, src: Address, dst: Address, data: bytes) -> None:
                sent = src in local
                peer = address_text(dst if sent else src)
                self.log.trace("out" if sent else "in", peer,
                               data.decode("utf-8", errors="replace"))

            hooks.append(show)
        if hooks:
            def trace(*args: Any) -> None:
                for hook in hooks:
                    hook(*args)

            driver.set_trace(hooks[0] if len(hooks) == 1 else trace)

    # -- serve -------------------------------------------------------------------------
    def deliver(self, event: Any) -> bool:
        """The backend's sink: note the call for its log line, then the runtime decides."""
        key = event.session_key
        self.log.note(key, event.name, event.message)
        handled = self.runtime.deliver(event)
        if self.runtime.session_for(key) is None:
            self.log.forget(key)  # no session (safe default) or one that already ended
        return handled

    def _overload_changed(self, busy: bool, gate: OverloadGate) -> None:
        self.say(gate.describe(), **gate.record())

    def say(self, text: str, **record: Any) -> None:
        """A status line, flushed at once: ``text``, or ``record`` as JSON with ``--format json``."""
        self.out.now(json.dumps(record) if self.config.json else text)

    # -- stop --------------------------------------------------------------------------
    def begin_shutdown(self) -> int:
        """Refuse new calls and send ``Shutdown`` to every session; returns how many."""
        self.log.mark_all("Shutdown")
        begin = getattr(self.backend, "begin_shutdown", None)
        if begin is not None:
            return int(begin())
        sessions = list(self.runtime.sessions)
        for session in sessions:
            self.runtime.dispatch(session, "Shutdown")
        return len(sessions)

    def idle(self) -> bool:
        """Nothing is left: no session (and, when the backend tells, no dialog or transaction)."""
        idle = getattr(self.backend, "idle", None)
        if idle is not None:
            return bool(idle())
        return not self.runtime.sessions

    async def drain(self, seconds: float, cut: asyncio.Event) -> bool:
        """Wait until idle, ``seconds`` pass, or ``cut`` is set; True when idle."""
        deadline = self.clock.now() + seconds
        await asyncio.sleep(0)  # let what the Shutdown rows sent (480, BYE) go out first
        while not self.idle():
            left = deadline - self.clock.now()
            if left <= 0 or cut.is_set():
                return False
            try:
                await asyncio.wait_for(cut.wait(), timeout=min(POLL, left))
            except TimeoutError:
                pass
        await asyncio.sleep(0)
        return True

    def still_open(self) -> Counter[str]:
        """``table State`` → sessions still running."""
        return Counter(f"{s.table.name} {s.state}" for s in self.runtime.sessions)

    async def close(self) -> None:
        """Close the listeners and the trace file; flush the log."""
        if self.overload is not None:
            self.overload.stop()
        if self.shed is not None:
            self.shed.uninstall()
        try:
            await self.backend.stop(0.0)
        finally:
            if self.pcap is not None:
                self.pcap.close()
            self.out.close()


async def serve(config: ServeConfig, out: TextIO | None = None, err: TextIO | None = None,
                stop: asyncio.Event | None = None) -> int:
    """Run ``sipflow serve`` until SIGINT/SIGTERM (or ``stop`` is set); returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    server = Server(config, out, err)
    addresses = await server.start()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, _on_signal, stop, server)
    try:
        for address in addresses:
            server.say(f"listening on {address_text(address)}", event="listening",
                       address=address_text(address))
        if config.verbose:
            for where, buffer in server.buffers:
                server.say(buffer.describe(where), event="recv_buffer", address=where,
                           requested=buffer.requested, effective=buffer.effective,
                           forced=buffer.forced, capped=buffer.capped)
        server.out.start_flushing(server.clock)
        if server.overload is not None:
            server.overload.start()
        settle_gc()
        await stop.wait()
        stop.clear()  # a second signal now cuts the drain short
        live = len(server.runtime.sessions)
        server.say(f"shutting down: {live} session{'s' if live != 1 else ''} open, "
                   f"draining for up to {config.drain:g} s", event="shutting_down",
                   sessions=live, drain_s=config.drain)
        server.begin_shutdown()
        clean = await server.drain(config.drain, stop)
        gate = server.overload
        if gate is not None and gate.refused:
            server.say(f"overload: {gate.refused} INVITE{'s' if gate.refused != 1 else ''} "
                       f"answered 503 in {gate.episodes} episode"
                       f"{'s' if gate.episodes != 1 else ''}", event="overload_total",
                       refused=gate.refused, episodes=gate.episodes)
        if clean:
            server.say("stopped: every call ended", event="stopped", open_calls=0, sessions={})
        else:
            remaining = server.still_open()
            calls = server.log.flush_open()
            detail = ", ".join(f"{n} {what}" for what, n in sorted(remaining.items())) or "none"
            server.say(f"stopped: {calls} call{'s' if calls != 1 else ''} still open "
                       f"(sessions: {detail})", event="stopped", open_calls=calls,
                       sessions=dict(sorted(remaining.items())))
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        gc.unfreeze()
        await server.close()
    return 0


def _on_signal(stop: asyncio.Event, server: Server) -> None:
    stop.set()


def run_serve(config: ServeConfig) -> int:
    """``serve(config)`` on uvloop (when available); the exit code."""
    from sipflow.transport.loop import run

    from .logging import configure_stderr_logging, debug_requested

    configure_stderr_logging(debug_requested())
    return run(serve(config))
