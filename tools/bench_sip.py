"""Benchmark the SIP core: message parse and serialize (more sections plug in).

Usage: ``python tools/bench_sip.py [--out FILE] [--messages N] [--repeat R]
[--cpu K] [--sections parse,serialize]``

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

Times are the CPU time of this process (``time.process_time``), wall-clock
beside it; each figure is the best of ``--repeat`` runs.

Adding a section: write ``def bench_<name>(args) -> dict`` and
``def summary_<name>(result) -> str`` and add them to ``SECTIONS``; ``run``
calls every selected section and puts its dict under its name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sipflow.sip.message import Request
from sipflow.sip.parser import parse_message

TARGET_PARSE_PER_S = 50_000
TARGET_SERIALIZE_PER_S = 80_000

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


SECTIONS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]],
                          Callable[[dict[str, Any]], str]]] = {
    "parse": (bench_parse, summary_parse),
    "serialize": (bench_serialize, summary_serialize),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON here (default: stdout)")
    parser.add_argument("--messages", type=int, default=50_000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (the best is kept)")
    parser.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the last one)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: {','.join(SECTIONS)})")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.repeat < 1:
        parser.error("--messages and --repeat must be at least 1")
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
