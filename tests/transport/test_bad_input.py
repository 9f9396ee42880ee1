"""Bad input against a real SipEndpoint on real sockets: answers go to the true
source (RFC 3581), garbage never stops the server, on both event loops."""

from __future__ import annotations

import asyncio
import random
import socket

from sipflow.sip import events as ev
from sipflow.sip.endpoint import SipEndpoint
from sipflow.transport.bind import start_endpoint
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.options import TransportOptions


def options(transport: str = "UDP", branch: str = "z9hG4bKopt1", via_port: int = 9) -> bytes:
    return (f"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} 127.0.0.1:{via_port};rport;branch={branch}\r\n"
            f"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"
            f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def answer_everything(driver: EndpointDriver) -> None:
    for event in driver.endpoint.take_events():
        if isinstance(event, ev.RequestReceived) and event.request_id:
            driver.endpoint.respond(event.request_id, 200, now=driver.clock.now())


async def start(options: TransportOptions | None = None):
    return await start_endpoint(["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
                                lambda local: SipEndpoint(local, rng=random.Random(5)),
                                on_step=answer_everything, options=options)


def header(data: bytes, name: bytes) -> bytes:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(name.lower() + b":"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError(f"no {name!r} header in {data!r}")


def test_udp_garbage_is_dropped_malformed_gets_400_and_rport_is_honoured(run):
    async def main():
        driver = await start()
        udp = driver.local_addresses[0]
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            raw.bind(("127.0.0.1", 0))
            raw.setblocking(False)
            my_port = raw.getsockname()[1]

            async def exchange(data: bytes, wait: float = 0.5) -> bytes | None:
                raw.sendto(data, ("127.0.0.1", udp.port))  # uvloop has no sock_sendto
                try:
                    return await asyncio.wait_for(loop.sock_recv(raw, 65535), wait)
                except TimeoutError:
                    return None

            assert await exchange(b"\x00\xffgarbage", wait=0.1) is None
            assert await exchange(b"\r\n\r\n", wait=0.1) is None  # a keep-alive
            bad = await exchange(b"INVITE sip:x@127.0.0.1 SIP/2.0\r\n"
                                 b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\n\r\n")
            assert bad is not None and bad.startswith(b"SIP/2.0 400 ")
            assert b"missing From" in header(bad, b"Warning")
            good = await exchange(options())  # Via says port 9; rport brings it to us
            assert good is not None and good.startswith(b"SIP/2.0 200 ")
            via = header(good, b"Via")
            assert f"rport={my_port}".encode() in via and b"received=127.0.0.1" in via
        await driver.aclose()

    run(main())


def test_tcp_response_on_the_request_connection_and_garbage_does_not_stop_serving(run):
    async def main():
        driver = await start()
        tcp = driver.local_addresses[1]
        bad_reader, bad_writer = await asyncio.open_connection("127.0.0.1", tcp.port)
        bad_writer.write(b"\x16\x03\x01\x02\x00garbage without an end of head\r\n\r\n")
        assert await asyncio.wait_for(bad_reader.read(), 1.0) == b""  # closed on us
        half_reader, half_writer = await asyncio.open_connection("127.0.0.1", tcp.port)
        half_writer.write(options("TCP", "z9hG4bKhalf")[:-10])
        half_writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp.port)
        for i in range(3):  # three requests on one connection, three answers back on it
            writer.write(options("TCP", f"z9hG4bKtcp{i}"))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1.0)
            assert head.startswith(b"SIP/2.0 200 ")
            assert f"z9hG4bKtcp{i}".encode() in header(head, b"Via")
            assert header(head, b"Content-Length") == b"0"
        assert len(driver.transports[1].connections) == 1
        writer.close()
        await driver.aclose()

    run(main())


def test_big_message_goes_over_tcp_and_is_refused_over_udp(run, until):
    async def main():
        errors = []
        events: list[ev.UAEvent] = []

        def record(driver: EndpointDriver) -> None:
            events.extend(driver.endpoint.take_events())

        a = await start_endpoint(["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
                                 lambda local: SipEndpoint(local, rng=random.Random(1)),
                                 on_step=record, on_error=lambda d, e: errors.append(str(e)))
        b = await start(TransportOptions(max_buffer=200_000))
        sizes = {"tcp": 60_000, "udp": 70_000}  # the second cannot fit in a datagram
        handles = {}
        for transport, addr in (("tcp", b.local_addresses[1]), ("udp", b.local_addresses[0])):
            handles[transport] = a.endpoint.request(None, "MESSAGE", uri=f"sip:b@127.0.0.1:{addr.port};"
                               f"transport={transport}", body=b"x" * sizes[transport],
                               content_type="text/plain", now=a.clock.now())
            a.flush()
        await until(lambda: any(isinstance(e, ev.ResponseReceived) for e in events))
        answered = [e for e in events if isinstance(e, ev.ResponseReceived)]
        assert [(e.method, e.code) for e in answered] == [("MESSAGE", 200)]
        assert answered[0].handle == handles["tcp"]
        failed = [e for e in events if isinstance(e, ev.TransportError)]
        assert [(e.handle, e.method) for e in failed] == [(handles["udp"], "MESSAGE")]
        assert any("is larger than the UDP limit of 65507 bytes" in e for e in errors)
        await a.aclose()
        await b.aclose()

    run(main())
