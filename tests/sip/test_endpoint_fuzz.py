"""Fuzzing the UA core through SipEndpoint.receive: whatever bytes arrive —
mutated real messages aimed at live dialogs and transactions — nothing
raises, and the endpoint keeps serving (a normal call still completes)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipflow.sip import events as ev
from sipflow.sip.endpoint import EndpointConfig, SipEndpoint
from sipflow.sip.types import Address

A = Address("udp", "127.0.0.1", 5061)
B = Address("udp", "127.0.0.1", 5062)
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def pump(ea: SipEndpoint, eb: SipEndpoint, now: float, log: list[bytes]) -> None:
    moved = True
    while moved:
        moved = False
        for src, ep, dst in ((A, ea, eb), (B, eb, ea)):
            for t in ep.take_transmits():
                moved = True
                log.append(t.data)
                dst.receive(t.data, src, now)


def answer_all(ep: SipEndpoint, code: int = 200) -> None:
    for e in ep.take_events():
        if isinstance(e, ev.RequestReceived) and e.request_id is not None:
            ep.respond(e.request_id, code, body=SDP if e.method == "INVITE" else b"")


def scenario() -> tuple[SipEndpoint, SipEndpoint, list[bytes], str]:
    """A confirmed call with 100rel and session timers, plus a pending reliable
    183 on a second call: many states for mutated messages to hit."""
    config = EndpointConfig()
    ea = SipEndpoint(A, config, random.Random(1))
    eb = SipEndpoint(B, config, random.Random(2))
    log: list[bytes] = []
    h = ea.invite("sip:b@127.0.0.1:5062", body=SDP, session_expires=120, now=0.0)
    pump(ea, eb, 0.0, log)
    answer_all(eb)
    pump(ea, eb, 0.0, log)
    ea.take_events()
    ea.request(h, "UPDATE", body=SDP, now=0.0)
    pump(ea, eb, 0.0, log)
    answer_all(eb)
    pump(ea, eb, 0.0, log)
    h2 = ea.invite("sip:b@127.0.0.1:5062", now=0.0)
    pump(ea, eb, 0.0, log)
    for e in eb.take_events():
        if isinstance(e, ev.RequestReceived) and e.method == "INVITE":
            eb.respond(e.request_id, 183, body=SDP, reliable=True)
    pump(ea, eb, 0.0, log)
    ea.take_events()
    ea.request(h2, "PRACK", now=0.0)
    ea.request(h, "BYE", now=0.0)
    pump(ea, eb, 0.0, log)
    return ea, eb, log, h


BASE_ENDPOINTS, _, BASE_LOG, _ = scenario()
CORPUS = list(BASE_LOG)


def mutate(data: bytes, choice: int, junk: bytes, pos: int) -> bytes:
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    i = 1 + pos % max(1, len(lines) - 1) if len(lines) > 1 else 0
    if choice == 0 and len(lines) > 1:  # drop a header line
        del lines[i]
    elif choice == 1:  # replace a header value
        name = lines[i].partition(b":")[0]
        lines[i] = name + b": " + junk
    elif choice == 2:  # duplicate a line
        lines.insert(i, lines[i])
    elif choice == 3:  # flip bytes anywhere
        raw = bytearray(data)
        for k, b in enumerate(junk[:8]):
            raw[(pos + k * 7) % len(raw)] = b
        return bytes(raw)
    elif choice == 4:  # truncate
        return data[: pos % len(data)]
    elif choice == 5:  # change the method or status
        first = lines[0].split(b" ")
        if first[0].startswith(b"SIP/") and len(first) > 1:
            first[1] = str(100 + pos % 600).encode()
        else:
            first[0] = junk[:10] or b"X"
        lines[0] = b" ".join(first)
    else:  # new body with a wrong or right length
        body = junk
    return b"\r\n".join(lines) + sep + body


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(CORPUS) - 1),
            st.integers(0, 6),
            st.binary(max_size=40),
            st.integers(0, 10_000),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_messages_never_raise_and_the_endpoint_keeps_serving(cases):
    ea, eb, _log, h = scenario()
    now = 0.0
    for index, choice, junk, pos, to_b in cases:
        data = mutate(CORPUS[index], choice, junk, pos)
        target, source = (eb, A) if to_b else (ea, B)
        target.receive(data, source, now)
        now += 0.1
        for ep in (ea, eb):
            ep.handle_timers(now)
            ep.take_events()
            for t in ep.take_transmits():
                assert t.data[:4] in (b"SIP/", b"ACK ", b"BYE ", b"CANC", b"INVI", b"PRAC",
                                      b"UPDA", b"OPTI")
    # Still serving: a fresh call completes.
    log: list[bytes] = []
    h3 = ea.invite("sip:b@127.0.0.1:5062", body=SDP, now=now)
    pump(ea, eb, now, log)
    answer_all(eb)
    pump(ea, eb, now, log)
    assert any(isinstance(e, ev.DialogEstablished) and e.handle == h3 for e in ea.take_events())
    assert h
