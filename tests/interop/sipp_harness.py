"""Run sipp, the reference SIP peer, from tests: bounded in calls and time, stopped by PID.

Rules (CONTRACTS §8): sipp talks to 127.0.0.1 or ::1 only, binds port 0 or a port
of its own (never 5060), every run is bounded (``-m`` calls, ``-timeout``), and the
process is stopped by its PID — never ``sipp -bg``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "scenarios"


def require_tool(name: str) -> str:
    """The path of ``name``; skip the test when it is missing, or fail when ``CI=true``."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is not installed (Debian package {'sip-tester' if name == 'sipp' else name})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must have it (.ci/run installs it)")
    pytest.skip(reason)


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    """A port the OS reports free for ``kind`` on ``host`` (for peers that cannot bind port 0 and tell us)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class SippRun:
    """One sipp process; use as a context manager so it is always stopped by PID."""

    args: list[str]
    workdir: Path
    timeout: float = 60.0
    process: subprocess.Popen[bytes] | None = None
    returncode: int | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / "sipp.out"

    def start(self) -> SippRun:
        sipp = require_tool("sipp")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sipp, *self.args], cwd=self.workdir, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait(self, timeout: float | None = None) -> int:
        assert self.process is not None
        try:
            self.returncode = self.process.wait(timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired as err:
            self.stop()
            limit = timeout or self.timeout
            raise AssertionError(f"sipp did not finish within {limit} s: {self.output()[-2000:]}") from err
        return self.returncode

    def stop(self) -> None:
        """Stop sipp by its PID: SIGTERM, then SIGKILL after 3 s."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stats(self) -> dict[str, str]:
        """The last row of sipp's ``-trace_stat`` CSV file, by column name."""
        files = sorted(self.workdir.glob("*_.csv")) or sorted(self.workdir.glob("*.csv"))
        if not files:
            return {}
        lines = [ln for ln in files[-1].read_text().splitlines() if ln.strip()]
        header = lines[0].rstrip(";").split(";")
        row = lines[-1].rstrip(";").split(";")
        return dict(zip(header, row, strict=False))

    def __enter__(self) -> SippRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_port(host: str, port: int, kind: int, timeout: float = 5.0) -> None:
    """Wait until something listens on a TCP port (UDP cannot be probed; it returns at once)."""
    if kind != socket.SOCK_STREAM:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout} s")
