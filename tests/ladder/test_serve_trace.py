"""End to end: ``sipflow serve --trace FILE`` answers a real call over UDP, and
``sipflow ladder FILE`` draws it (the contract between serve, the driver trace
hook, the pcap writer and the reader)."""

from __future__ import annotations

import asyncio
import random
import re
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from sipflow.cli.main import app
from sipflow.sip import events as ev
from sipflow.sip.endpoint import SipEndpoint
from sipflow.transport.bind import start_endpoint
from sipflow.transport.driver import EndpointDriver
from sipflow.transport.loop import run as run_on_loop

SERVE = [sys.executable, "-c", "from sipflow.cli.main import run; run()", "serve"]


class HangUp:
    """Caller: BYE once the INVITE got its 200; remembers the final answers."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, int]] = []

    def __call__(self, driver: EndpointDriver) -> None:
        for event in driver.endpoint.take_events():
            if isinstance(event, ev.ResponseReceived) and event.code >= 200:
                self.answers.append((event.method, event.code))
                if event.method == "INVITE" and event.code == 200:
                    driver.endpoint.request(event.handle, "BYE", now=driver.clock.now())


def _listening_port(process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 20
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        found = re.search(r"listening on udp:127\.0\.0\.1:(\d+)", line)
        if found:
            return int(found.group(1))
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"sipflow serve did not start: {process.stderr.read() if process.stderr else ''}")


def test_serve_trace_then_ladder(tmp_path):
    trace = tmp_path / "serve.pcap"
    process = subprocess.Popen([*SERVE, "--listen", "udp:127.0.0.1:0", "--trace", str(trace),
                                "--drain", "1", "--set", "rel100=never"],  # our UAC: no PRACK
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = _listening_port(process)
        caller = HangUp()

        async def call() -> None:
            driver = await start_endpoint(["udp:127.0.0.1:0"],
                                          lambda local: SipEndpoint(local, rng=random.Random(1)),
                                          on_step=caller)
            driver.endpoint.invite(f"sip:bob@127.0.0.1:{port}", now=driver.clock.now())
            driver.flush()
            end = asyncio.get_running_loop().time() + 10
            while ("BYE", 200) not in caller.answers:
                assert asyncio.get_running_loop().time() < end, caller.answers
                await asyncio.sleep(0.01)
            await driver.aclose()

        run_on_loop(asyncio.wait_for(call(), 15))
        assert caller.answers == [("INVITE", 200), ("BYE", 200)]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0
    out = CliRunner().invoke(app, ["ladder", str(trace), "--width", "100"])
    assert out.exit_code == 0, out.output
    arrows = [line[line.index("│"):] for line in out.stdout.splitlines() if "─" in line]
    found = [re.search(r"(INVITE|ACK|BYE|\d{3})", a).group(1) for a in arrows]
    assert [f for f in found if f != "100"] == ["INVITE", "180", "200", "ACK", "BYE", "200"]
    requests_right = [a.rstrip().endswith(">│") for a in arrows]
    assert requests_right == [not f.isdigit() for f in found]  # the caller is on the left
