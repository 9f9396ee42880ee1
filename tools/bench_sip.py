"""Benchmark the SIP core: parse, serialize, loopback calls, bytes per dialog.

Usage: ``python tools/bench_sip.py [--out FILE] [--messages N] [--repeat R]
[--calls N] [--concurrency 1,1000] [--gc-threshold 20000] [--dialogs N]
[--cpu K] [--sections parse,serialize,calls,dialog_bytes,lingering_bytes,driver,held_bytes]``

Prints JSON (to ``--out FILE``, or stdout) and a one-line summary (stdout when
the JSON goes to a file, stderr otherwise). One process, pinned to one core.

* ``parse``: ``parse_message`` on a typical INVITE with SDP (12 header fields,
  a ~250-byte SDP body), beside the reference measured in the same run: a
  plain ``bytes.split`` header splitter (split head and body at the empty
  line, split the lines, split each at ``:``). Also reported: parse plus the
  accessors a transaction and dialog layer read (branch, tags, CSeq, Call-ID,
  Contact, Content-Type) — mostly already cached by the eager checks.
* ``serialize``: ``serialize()`` of a parsed, untouched message (its fields
  keep their wire text) and of a message built from scratch
  (``Request(...)`` plus ``serialize()``, the path of every message we send).
* ``calls``: ``--calls`` INVITE/200/ACK/BYE/200 calls between two
  ``SipEndpoint`` objects (UAC and UAS, UDP) exchanging their transmits in
  memory, SDP in the INVITE and its 200 (sipp's basic scenario), at each
  ``--concurrency`` (calls in flight: the UAC keeps that many calls up, hanging
  up the oldest tenth each round). Virtual time advances by ``1/--offered-rate``
  per call started and both endpoints' timers fire when due, so transactions
  live out their Timers D/J/K/L/M as in a real process. Each figure is run
  with the default garbage collector and with ``gc.set_threshold(
  --gc-threshold, 20, 20)`` (the process setting we recommend for ``serve``
  and ``call``), each on a fresh pair. The reference is the same loop with
  the endpoints replaced by a bytes.split of each message (the floor any
  Python SIP stack pays to move the same messages).
* ``lingering_bytes``: bytes a finished call's transactions keep while they
  linger (INVITE server Accepted/Timer L, INVITE client Accepted/Timer M,
  BYE server Completed/Timer J, BYE client Completed/Timer K): traced
  memory with them minus traced memory once their timers have fired, per
  transaction (everything they keep alive counts: keys, heap entries, TU
  data). Beside it, in the same run, the reference: the same calls with the
  layer's slimming turned off (each keeps its full transaction object,
  parsed request and last response). ``--dialogs`` calls.
* ``driver``: the serve-like path: the UAS ``SipEndpoint`` behind an
  ``EndpointDriver`` on a virtual clock (its ``on_step`` answers INVITE and
  BYE with 200), fed in memory by a UAC endpoint, 100 calls held; CPU per
  call (both endpoints and the driver) and how many clock callbacks the
  driver scheduled per message it received (a ``call_at`` plus a cancel
  each on asyncio, ~2 us).
* ``held_bytes``: serve-like memory per held call: the UAS endpoint alone
  (the UAC's INVITEs and ACKs recorded first, then replayed at 1,000 calls/s
  virtual), ``--dialogs`` calls held without BYE; bytes while each INVITE
  transaction still lingers (Timer L) and once it is gone, and their mix for
  ``bench_calls``' 50,000 held calls at 1,000/s (the newest 32,000 linger).
  The SIP core's share only: no runtime, backend or session objects.
* ``dialog_bytes``: bytes retained (tracemalloc) per idle confirmed dialog,
  leg included, one dialog on each side per call, after the transactions
  are gone (virtual time past 64*T1); beside it, the bytes a finished call
  keeps (both sides) while its four transactions linger (Timers J/L/M: up to
  32 s on UDP, so a process at R calls/s holds about 32*R of them).

Process setting we recommend for ``serve``/``call`` (not done by the core):
``gc.freeze()`` after start-up and ``gc.set_threshold(20000, 20, 20)``
(``--gc-threshold``); the core is measured with the default GC as well.

Times are the CPU time of this process (``time.process_time``), wall-clock
beside it; each figure is the best of ``--repeat`` runs.

Adding a section: write ``def bench_<name>(args) -> dict`` and
``def summary_<name>(result) -> str`` and add them to ``SECTIONS``; ``run``
calls every selected section and puts its dict under its name.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from sipflow.clock import VirtualClock, VirtualTimer
from sipflow.sip.endpoint import SipEndpoint
from sipflow.sip.events import DialogEstablished, HandleReleased, RequestReceived
from sipflow.sip.message import Request
from sipflow.sip.parser import parse_message
from sipflow.sip.transaction import TransactionLayer
from sipflow.sip.types import Address
from sipflow.transport.driver import EndpointDriver

TARGET_PARSE_PER_S = 50_000
TARGET_SERIALIZE_PER_S = 80_000
TARGET_CALLS_PER_CPU_S = 3_000
GOAL_DIALOG_BYTES = 2048

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49172 RTP/AVP 0 8 97 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:97 iLBC/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

HEADERS: list[tuple[str, str]] = [
    ("Via", "SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport"),
    ("Max-Forwards", "70"),
    ("From", '"Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl'),
    ("To", "Bob <sip:bob@biloxi.example.com>"),
    ("Call-ID", "3848276298220188511@atlanta.example.com"),
    ("CSeq", "31862 INVITE"),
    ("Contact", "<sip:alice@client.atlanta.example.com;transport=udp>"),
    ("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE, UPDATE, PRACK, INFO"),
    ("Supported", "100rel, timer, replaces"),
    ("User-Agent", "sipflow-bench/0.1"),
    ("Content-Type", "application/sdp"),
]
RURI = "sip:bob@biloxi.example.com"


def typical_invite() -> bytes:
    """The benchmark message: 12 header fields (Content-Length included) and SDP."""
    return Request("INVITE", RURI, HEADERS, SDP).serialize()


class Lap(NamedTuple):
    cpu: float
    wall: float


def timed(fn: Callable[[], None]) -> Lap:
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return Lap(time.process_time() - c0, time.perf_counter() - w0)


def best_of(repeat: int, fn: Callable[[], None]) -> Lap:
    laps = [timed(fn) for _ in range(repeat)]
    return Lap(min(lap.cpu for lap in laps), min(lap.wall for lap in laps))


def reference_split(data: bytes) -> list[list[bytes]]:
    """The reference: a plain bytes.split header splitter."""
    head, _, _body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return [line.split(b":", 1) for line in lines[1:]]


def rate(n: int, lap: Lap) -> dict[str, float]:
    return {
        "per_s": round(n / lap.cpu) if lap.cpu else 0,
        "us_each": round(lap.cpu / n * 1e6, 3),
        "per_s_wall": round(n / lap.wall) if lap.wall else 0,
    }


# -- sections -------------------------------------------------------------------------------
def bench_parse(args: argparse.Namespace) -> dict[str, Any]:
    data = typical_invite()
    n = args.messages

    def parse_loop() -> None:
        for _ in range(n):
            parse_message(data)

    def access_loop() -> None:
        for _ in range(n):
            m = parse_message(data)
            m.top_via.branch  # noqa: B018
            m.from_tag  # noqa: B018
            m.to_tag  # noqa: B018
            m.cseq  # noqa: B018
            m.call_id  # noqa: B018
            m.contact  # noqa: B018
            m.content_type  # noqa: B018

    def reference_loop() -> None:
        for _ in range(n):
            reference_split(data)

    parse_loop()  # warm up (caches of header names)
    parsed = best_of(args.repeat, parse_loop)
    accessed = best_of(args.repeat, access_loop)
    reference = best_of(args.repeat, reference_loop)
    msg = parse_message(data)
    parse_rate = rate(n, parsed)
    return {
        "message_bytes": len(data),
        "header_fields": len(msg.headers),
        "body_bytes": len(msg.body),
        "messages": n,
        "parse": parse_rate,
        "parse_and_access": rate(n, accessed),
        "reference_bytes_split": rate(n, reference),
        "parse_over_reference_time": round(parsed.cpu / reference.cpu, 2),
        "target_per_s": TARGET_PARSE_PER_S,
        "meets_target": parse_rate["per_s"] >= TARGET_PARSE_PER_S,
    }


def summary_parse(r: dict[str, Any]) -> str:
    return (
        f"parse {r['parse']['per_s']:,}/s ({r['parse']['us_each']} us; with accessors "
        f"{r['parse_and_access']['per_s']:,}/s; bytes.split reference "
        f"{r['reference_bytes_split']['per_s']:,}/s, x{r['parse_over_reference_time']} time)"
    )


def bench_serialize(args: argparse.Namespace) -> dict[str, Any]:
    data = typical_invite()
    n = args.messages
    parsed = parse_message(data)

    def untouched_loop() -> None:
        for _ in range(n):
            parsed.serialize()

    def built_loop() -> None:
        for _ in range(n):
            Request("INVITE", RURI, HEADERS, SDP).serialize()

    untouched_loop()
    untouched = best_of(args.repeat, untouched_loop)
    built = best_of(args.repeat, built_loop)
    untouched_rate = rate(n, untouched)
    built_rate = rate(n, built)
    return {
        "messages": n,
        "serialize_parsed_untouched": untouched_rate,
        "build_and_serialize": built_rate,
        "byte_exact": parsed.serialize() == data,
        "target_per_s": TARGET_SERIALIZE_PER_S,
        "meets_target": min(untouched_rate["per_s"], built_rate["per_s"]) >= TARGET_SERIALIZE_PER_S,
    }


def summary_serialize(r: dict[str, Any]) -> str:
    return (
        f"serialize {r['serialize_parsed_untouched']['per_s']:,}/s parsed, "
        f"{r['build_and_serialize']['per_s']:,}/s built from scratch"
    )


UAC = Address("udp", "127.0.0.1", 5061)
UAS = Address("udp", "127.0.0.1", 5062)
UAS_URI = "sip:service@127.0.0.1:5062"


class CallLoop:
    """Two in-memory endpoints completing calls with ``concurrency`` in flight.

    ``run(n)`` places ``n`` calls and returns the calls released (both sides'
    handles gone). Rounds: start calls up to ``concurrency``; deliver every
    transmit (the UAS answers INVITE and BYE with 200 at once; the UAC ACKs by
    itself), a tenth of ``concurrency`` at a time; hang up the oldest tenth of
    the established calls (all of them once every call has started).
    """

    def __init__(self, concurrency: int, offered_rate: float, seed: int = 1) -> None:
        self.uac = SipEndpoint(UAC, rng=random.Random(seed))
        self.uas = SipEndpoint(UAS, rng=random.Random(seed + 1))
        self.concurrency = concurrency
        self.step = 1.0 / offered_rate
        self.now = 0.0
        self.established: deque[str] = deque()
        self.live = 0
        self.released = 0
        self.messages = 0
        self.wire: list[bytes] | None = None  # every message, when a list

    def _timers(self) -> None:
        for ep in (self.uac, self.uas):
            due = ep.next_deadline()
            if due is not None and due <= self.now:
                ep.handle_timers(self.now)

    def _deliver(self) -> None:
        uac, uas, now = self.uac, self.uas, self.now
        while True:
            moved = False
            for t in uac.take_transmits():
                moved = True
                self.messages += 1
                if self.wire is not None:
                    self.wire.append(t.data)
                uas.receive(t.data, UAC, now)
            for e in uas.take_events():
                if type(e) is RequestReceived and e.method in ("INVITE", "BYE"):
                    body = SDP if e.method == "INVITE" else b""
                    uas.respond(e.request_id, 200, body=body, content_type="application/sdp")
            for t in uas.take_transmits():
                moved = True
                self.messages += 1
                if self.wire is not None:
                    self.wire.append(t.data)
                uac.receive(t.data, UAS, now)
            for e in uac.take_events():
                kind = type(e)
                if kind is DialogEstablished:
                    self.established.append(e.handle)
                elif kind is HandleReleased:
                    self.live -= 1
                    self.released += 1
            if not moved:
                return

    def run(self, n: int) -> int:
        started = 0
        uac = self.uac
        batch = max(1, self.concurrency // 10)
        while self.released < n:
            while self.live < self.concurrency and started < n:
                for _ in range(min(batch, self.concurrency - self.live, n - started)):
                    self.now += self.step
                    self._timers()
                    uac.invite(UAS_URI, body=SDP, now=self.now)
                    started += 1
                    self.live += 1
                self._deliver()
            hangups = len(self.established) if started >= n else batch
            for _ in range(min(hangups, len(self.established))):
                uac.request(self.established.popleft(), "BYE", now=self.now)
            self._deliver()
            if started >= n and not self.established and self.live and self.released < n:
                # Nothing left to drive but timers (should not happen without loss).
                raise RuntimeError(f"calls stuck: {self.live} live, counts {uac.counts()}")
        return self.released


def call_wire() -> list[bytes]:
    """The messages of one call (INVITE, 200, ACK, BYE, 200), from a real run."""
    loop = CallLoop(1, 1000.0)
    loop.wire = []
    loop.run(1)
    return loop.wire


def reference_calls(n: int, wire: list[bytes]) -> None:
    """The reference: a bytes.split of each message of each call."""
    for _ in range(n):
        for data in wire:
            reference_split(data)


def _calls_run(n: int, concurrency: int, offered: float, threshold: int | None) -> dict[str, Any]:
    old = gc.get_threshold()
    gc.collect()
    if threshold is not None:
        gc.set_threshold(threshold, 20, 20)
    try:
        loop = CallLoop(concurrency, offered)
        lap = timed(lambda: loop.run(n))
    finally:
        gc.set_threshold(*old)
    counts = [loop.uac.counts(), loop.uas.counts()]
    if loop.released != n or any(c["handles"] or c["dialogs"] for c in counts):
        raise RuntimeError(f"calls did not complete: {loop.released}/{n}, {counts}")
    return {
        "calls_per_cpu_s": round(n / lap.cpu) if lap.cpu else 0,
        "us_per_call": round(lap.cpu / n * 1e6, 1),
        "calls_per_wall_s": round(n / lap.wall) if lap.wall else 0,
        "messages": loop.messages,
        "virtual_seconds": round(loop.now, 2),
        "transactions_alive_at_end": sum(v for c in counts for k, v in c.items()
                                 if k.endswith(("client", "server"))),
    }


def bench_calls(args: argparse.Namespace) -> dict[str, Any]:
    n = args.calls
    CallLoop(1, args.offered_rate).run(200)  # warm up
    out: dict[str, Any] = {
        "calls": n,
        "offered_virtual_rate": args.offered_rate,
        "recommended_gc_threshold": [args.gc_threshold, 20, 20],
        "default_gc_threshold": list(gc.get_threshold()),
    }
    best = 0
    worst = None
    for c in args.concurrency:
        entry: dict[str, Any] = {}
        for label, threshold in (("default_gc", None), ("tuned_gc", args.gc_threshold)):
            runs = [_calls_run(n, c, args.offered_rate, threshold) for _ in range(args.call_repeat)]
            r = max(runs, key=lambda x: x["calls_per_cpu_s"])
            entry[label] = r
            best = max(best, r["calls_per_cpu_s"])
            if label == "default_gc":
                worst = r["calls_per_cpu_s"] if worst is None else min(worst, r["calls_per_cpu_s"])
        out[f"in_flight_{c}"] = entry
    wire = call_wire()
    ref = best_of(args.repeat, lambda: reference_calls(n, wire))
    out["messages_per_call"] = len(wire)
    out["reference_bytes_split_calls_per_cpu_s"] = round(n / ref.cpu) if ref.cpu else 0
    out["target_calls_per_cpu_s"] = TARGET_CALLS_PER_CPU_S
    out["meets_target"] = (worst or 0) >= TARGET_CALLS_PER_CPU_S
    return out


def summary_calls(r: dict[str, Any]) -> str:
    parts = []
    for key, entry in r.items():
        if key.startswith("in_flight_"):
            parts.append(
                f"{key[10:]} in flight {entry['default_gc']['calls_per_cpu_s']:,} "
                f"(gc {r['recommended_gc_threshold'][0]}: {entry['tuned_gc']['calls_per_cpu_s']:,})"
            )
    return (
        f"calls/CPU-s {', '.join(parts)}; bytes.split reference "
        f"{r['reference_bytes_split_calls_per_cpu_s']:,}"
    )


def bench_dialog_bytes(args: argparse.Namespace) -> dict[str, Any]:
    n = args.dialogs
    loop = CallLoop(n, 1000.0)

    def establish(count: int) -> None:
        uac = loop.uac
        for _ in range(count):
            uac.invite(UAS_URI, body=SDP, now=loop.now)
        loop._deliver()
        loop.established.clear()
        loop.now += 40.0  # past 64*T1: transactions, kept ACKs and 2xx wires are gone
        loop._timers()
        loop._deliver()

    establish(20)  # warm caches
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        establish(n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    counts = [loop.uac.counts(), loop.uas.counts()]
    per_dialog = (after - before) / (2 * n)
    calls = CallLoop(1, 1000.0)
    calls.run(50)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        calls.released = 0
        calls.run(n)
        gc.collect()
        lingering = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    return {
        "dialogs_per_side": n,
        "bytes_per_idle_dialog": round(per_dialog),
        "bytes_per_finished_call_lingering_both_sides": round(lingering),
        "live_transactions": sum(v for c in counts for k, v in c.items()
                                 if k.endswith(("client", "server"))),
        "goal_bytes": GOAL_DIALOG_BYTES,
        "meets_target": per_dialog <= GOAL_DIALOG_BYTES,
    }


def summary_dialog_bytes(r: dict[str, Any]) -> str:
    return (
        f"{r['bytes_per_idle_dialog']:,} B per idle confirmed dialog, "
        f"{r['bytes_per_finished_call_lingering_both_sides']:,} B per finished call while "
        "its transactions linger"
    )


def _lingering_run(n: int, slim: bool) -> dict[str, Any]:
    """Bytes the transactions of ``n`` finished calls keep while they linger:
    traced memory with them alive minus traced memory once their Timers
    D/J/K/L/M have fired (40 virtual seconds later), over how many ended.
    ``slim=False`` turns ``TransactionLayer._slim`` off for the run (the
    reference: each keeps its full transaction object, parsed request and
    last response, as before the layer slimmed them)."""
    original = TransactionLayer._slim
    if not slim:
        TransactionLayer._slim = lambda self: self._linger.clear()  # type: ignore[method-assign]
    try:
        loop = CallLoop(1, 1000.0)
        loop.run(50)
        loop.now += 40.0
        loop._timers()
        loop.released = 0
        gc.collect()
        tracemalloc.start()
        try:
            loop.run(n)
            gc.collect()
            alive = sum(v for ep in (loop.uac, loop.uas) for k, v in ep.counts().items()
                        if k.endswith(("client", "server")))
            with_them = tracemalloc.get_traced_memory()[0]
            loop.now += 40.0
            loop._timers()
            gc.collect()
            without = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    finally:
        TransactionLayer._slim = original  # type: ignore[method-assign]
    left = sum(v for ep in (loop.uac, loop.uas) for k, v in ep.counts().items() if v)
    if left:
        raise RuntimeError(f"transactions still alive 40 s after the last call: {left}")
    per_txn = (with_them - without) / alive if alive else 0.0
    return {
        "lingering_transactions": alive,
        "bytes_per_lingering_transaction": round(per_txn),
        "bytes_per_finished_call_both_sides": round((with_them - without) / n),
    }


def bench_lingering_bytes(args: argparse.Namespace) -> dict[str, Any]:
    n = args.dialogs
    slim = _lingering_run(n, True)
    full = _lingering_run(n, False)
    return {
        "calls": n,
        "transactions_per_call": round(slim["lingering_transactions"] / n, 2),
        "slimmed": slim,
        "reference_full_transaction_objects": full,
        "slimmed_over_reference": round(
            slim["bytes_per_lingering_transaction"]
            / max(1, full["bytes_per_lingering_transaction"]), 2),
    }


def summary_lingering_bytes(r: dict[str, Any]) -> str:
    return (
        f"{r['slimmed']['bytes_per_lingering_transaction']:,} B per lingering transaction "
        f"(full objects: {r['reference_full_transaction_objects']['bytes_per_lingering_transaction']:,})"
    )


def _uas_replay(n: int, offered: float) -> list[tuple[float, bytes]]:
    """What a UAC sends to the UAS for ``n`` held calls (INVITE, ACK), with the
    virtual time of each: recorded from a real pair whose UAS has the seed the
    replay uses, so the replayed UAS answers with the same tags."""
    uac = SipEndpoint(UAC, rng=random.Random(1))
    uas = SipEndpoint(UAS, rng=random.Random(2))
    wire: list[tuple[float, bytes]] = []
    now = 0.0
    for _ in range(n):
        now += 1.0 / offered
        uac.invite(UAS_URI, body=SDP, now=now)
        for _ in range(2):
            for t in uac.take_transmits():
                wire.append((now, t.data))
                uas.receive(t.data, UAC, now)
            for e in uas.take_events():
                if type(e) is RequestReceived and e.method == "INVITE":
                    uas.respond(e.request_id, 200, body=SDP, content_type="application/sdp")
            for t in uas.take_transmits():
                uac.receive(t.data, UAS, now)
            uac.take_events()
    return wire


def bench_held_bytes(args: argparse.Namespace) -> dict[str, Any]:
    """Serve-like memory: the UAS endpoint alone, held calls (no BYE)."""
    n = args.dialogs
    offered = 1000.0
    wire = _uas_replay(n, offered)
    uas = SipEndpoint(UAS, rng=random.Random(2))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for now, data in wire:
            uas.handle_timers(now)
            uas.receive(data, UAC, now)
            for e in uas.take_events():
                if type(e) is RequestReceived and e.method == "INVITE":
                    uas.respond(e.request_id, 200, body=SDP, content_type="application/sdp")
            uas.take_transmits()
        gc.collect()
        lingering = tracemalloc.get_traced_memory()[0]
        end = wire[-1][0] + 40.0
        uas.handle_timers(end)  # Timer L of every INVITE transaction is past
        uas.take_transmits()
        gc.collect()
        idle = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    counts = uas.counts()
    if counts.get("dialogs") != n:
        raise RuntimeError(f"held calls not established: {counts}")
    with_l = (lingering - before) / n
    without = (idle - before) / n
    # At R calls/s the newest 32*R held calls still have their INVITE
    # transaction lingering (Timer L): 32,000 of bench_calls' 50,000 at 1,000/s.
    share = min(1.0, 32 * 1000 / 50_000)
    return {
        "held_calls": n,
        "bytes_per_held_call_txn_lingering": round(with_l),
        "bytes_per_held_call_txn_gone": round(without),
        "bytes_per_held_call_50k_at_1000_per_s": round(without + share * (with_l - without)),
    }


def summary_held_bytes(r: dict[str, Any]) -> str:
    return (
        f"UAS held call {r['bytes_per_held_call_txn_gone']:,} B "
        f"({r['bytes_per_held_call_txn_lingering']:,} B while its INVITE transaction lingers; "
        f"50k at 1,000/s: {r['bytes_per_held_call_50k_at_1000_per_s']:,} B)"
    )


class _CountingClock(VirtualClock):
    """A VirtualClock that counts ``call_at`` (the driver's rescheduling)."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def call_at(self, when: float, callback: Callable[[], object]) -> VirtualTimer:
        self.scheduled += 1
        return super().call_at(when, callback)


class _Port:
    """A transport of the driver section: what the UAS sends goes to a list."""

    def __init__(self, local: Address, sink: list[bytes]) -> None:
        self.local = local
        self.sink = sink
        self.on_receive: Callable[[bytes, Address], None] | None = None
        self.on_error: Any = None

    def send(self, data: bytes, dest: Address) -> None:
        self.sink.append(data)

    def close(self) -> None:
        pass


def _driver_run(n: int, held: int, offered: float) -> dict[str, Any]:
    clock = _CountingClock()
    sent: list[bytes] = []
    uas = SipEndpoint(UAS, rng=random.Random(2))
    port = _Port(UAS, sent)

    def on_step(_driver: EndpointDriver) -> None:
        for e in uas.take_events():
            if type(e) is RequestReceived and e.method in ("INVITE", "BYE"):
                body = SDP if e.method == "INVITE" else b""
                uas.respond(e.request_id, 200, body=body, content_type="application/sdp")

    EndpointDriver(uas, clock, [port], on_step=on_step)  # type: ignore[list-item]
    uac = SipEndpoint(UAC, rng=random.Random(1))
    receive = port.on_receive
    assert receive is not None
    live: deque[str] = deque()
    messages = 0

    def exchange() -> None:
        nonlocal messages
        for _ in range(3):  # INVITE -> 200 -> ACK (or BYE -> 200)
            for t in uac.take_transmits():
                messages += 1
                receive(t.data, UAC)
            for data in sent:
                uac.receive(data, UAS, clock.now())
            sent.clear()
            for e in uac.take_events():
                if type(e) is DialogEstablished:
                    live.append(e.handle)

    def loop() -> None:
        for _ in range(n):
            clock.advance(1.0 / offered)
            uac.handle_timers(clock.now())
            uac.invite(UAS_URI, body=SDP, now=clock.now())
            exchange()
            if len(live) > held:
                uac.request(live.popleft(), "BYE", now=clock.now())
                exchange()

    lap = timed(loop)
    return {
        "calls": n,
        "us_per_call_both_sides": round(lap.cpu / n * 1e6, 1),
        "messages_to_uas": messages,
        "clock_call_at_per_message": round(clock.scheduled / max(1, messages), 4),
    }


def bench_driver(args: argparse.Namespace) -> dict[str, Any]:
    _driver_run(200, 10, args.offered_rate)  # warm up
    runs = [_driver_run(args.calls, 100, args.offered_rate) for _ in range(args.call_repeat)]
    return min(runs, key=lambda r: r["us_per_call_both_sides"])


def summary_driver(r: dict[str, Any]) -> str:
    return (
        f"driver: {r['us_per_call_both_sides']} us per call, "
        f"{r['clock_call_at_per_message']} clock reschedules per message"
    )


SECTIONS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]],
                          Callable[[dict[str, Any]], str]]] = {
    "parse": (bench_parse, summary_parse),
    "serialize": (bench_serialize, summary_serialize),
    "calls": (bench_calls, summary_calls),
    "dialog_bytes": (bench_dialog_bytes, summary_dialog_bytes),
    "lingering_bytes": (bench_lingering_bytes, summary_lingering_bytes),
    "driver": (bench_driver, summary_driver),
    "held_bytes": (bench_held_bytes, summary_held_bytes),
}


# -- main -----------------------------------------------------------------------------------
def pin(cpu: int | None) -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    chosen = cpu if cpu is not None else allowed[-1]
    os.sched_setaffinity(0, {chosen})
    return chosen


def run(args: argparse.Namespace, sections: list[str]) -> dict[str, Any]:
    cpu = pin(args.cpu)
    result: dict[str, Any] = {
        "benchmark": "sip",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "repeat": args.repeat,
        "clock": "process CPU time (wall-clock beside it)",
    }
    for name in sections:
        result[name] = SECTIONS[name][0](args)
    return result


def summary(result: dict[str, Any], sections: list[str]) -> str:
    ok = all(result[name].get("meets_target", True) for name in sections)
    parts = "; ".join(SECTIONS[name][1](result[name]) for name in sections)
    return f"sip: {parts} [{'OK' if ok else 'BELOW TARGET'}]"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON here (default: stdout)")
    parser.add_argument("--messages", type=int, default=50_000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (the best is kept)")
    parser.add_argument("--calls", type=int, default=10_000, help="calls per loopback run")
    parser.add_argument("--call-repeat", type=int, default=2,
                        help="loopback runs per figure (the best is kept)")
    parser.add_argument("--concurrency", type=_int_list, default=[1, 1000],
                        help="comma-separated calls in flight (default: 1,1000)")
    parser.add_argument("--offered-rate", type=float, default=1500.0,
                        help="virtual calls/s: how fast virtual time runs (default: 1500)")
    parser.add_argument("--gc-threshold", type=int, default=20_000,
                        help="the tuned gc generation-0 threshold (default: 20000)")
    parser.add_argument("--dialogs", type=int, default=2_000, help="dialogs for dialog_bytes")
    parser.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the last one)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: {','.join(SECTIONS)})")
    args = parser.parse_args(argv)
    if min(args.messages, args.repeat, args.calls, args.call_repeat, args.dialogs,
           args.gc_threshold, *args.concurrency) < 1 or args.offered_rate <= 0:
        parser.error("--messages, --repeat, --calls, --call-repeat, --dialogs, "
                     "--gc-threshold, --concurrency and --offered-rate must be positive")
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        parser.error(f"unknown section(s) {', '.join(unknown) or '(none)'}; known: {', '.join(SECTIONS)}")
    try:
        result = run(args, sections)
    except OSError as exc:  # e.g. --cpu names a core we may not use
        print(f"bench_sip: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    line = summary(result, sections)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        print(line)
    else:
        print(text)
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
