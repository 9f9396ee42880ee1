"""Fixtures for interop tests that run ``sipflow serve`` and ``sipflow call`` as real processes.

Rules (CONTRACTS §8): everything binds 127.0.0.1 (or ::1) with port 0 where it
can; ``sipflow serve`` prints its bound ports (``listening on udp:…``) and the
tests read them from its output file; every process is bounded in time and
stopped by its PID (SIGTERM, then SIGKILL), never by name.

* ``sipflow_serve(*args)`` (fixture, a factory): starts ``sipflow serve
  --listen … args`` and returns a ``ServeProcess`` once it listens; ``stop()``
  sends SIGTERM and returns the exit code and the output.
* ``sipflow_call(*args, timeout=…)`` (fixture): runs ``sipflow call args`` to
  completion and returns the ``CompletedProcess``.
* ``sipp(tmp_path)`` (fixture, a factory): a ``SippRun`` in its own folder.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .sipp_harness import SippRun, require_tool

SIPFLOW = [sys.executable, "-c",
           "import sys; sys.argv[0] = 'sipflow'; from sipflow.cli.main import run; run()"]
"""The ``sipflow`` command of this interpreter (no reliance on PATH)."""
LISTENING = re.compile(r'^(?:listening on |\{"event": "listening", "address": ")'
                       r'(udp|tcp):(\[[^\]]+\]|[^:]+):(\d+)', re.M)
"""The bound address, from a text (``listening on …``) or ``--format json`` line."""


@dataclass
class ServeProcess:
    """A running ``sipflow serve``; read its ports, stop it by PID."""

    args: list[str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)
    returncode: int | None = None

    @property
    def out_path(self) -> Path:
        return self.workdir / "serve.out"

    @property
    def err_path(self) -> Path:
        return self.workdir / "serve.err"

    def start(self, ready_timeout: float = 15.0) -> ServeProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.process = subprocess.Popen(
                [*SIPFLOW, "serve", *self.args], cwd=self.workdir, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + ready_timeout
        expected = sum(1 for a in self.args if a == "--listen") or 1
        while time.monotonic() < deadline:
            found = LISTENING.findall(self.output())
            if len(found) >= expected:
                for transport, _host, port in found:
                    self.ports.setdefault(transport, int(port))
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"sipflow serve exited with {self.process.returncode}: "
                                     f"{self.errors()[-2000:]}")
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"sipflow serve printed no 'listening on' in {ready_timeout} s: "
                             f"{self.output()[-1000:]} {self.errors()[-1000:]}")

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def errors(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def wait_output(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the output matches ``pattern`` (a regex, multiline)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output(), re.M)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the output of sipflow serve after {timeout} s: "
                             f"{self.output()[-1500:]}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait (SIGKILL after ``timeout``); returns the exit code."""
        assert self.process is not None
        self.signal(signal.SIGTERM)
        try:
            self.returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"sipflow serve did not stop within {timeout} s after SIGTERM: "
                                 f"{self.output()[-1000:]}") from None
        return self.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def call_lines(self) -> list[str]:
        return [ln for ln in self.output().splitlines() if ln.startswith("call ")]


@pytest.fixture
def sipflow_serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start ``sipflow serve`` (stopped by PID at teardown whatever happens)."""
    require_tool("sipp")
    started: list[ServeProcess] = []

    def start(*args: str, listen: tuple[str, ...] = ("udp:127.0.0.1:0",),
              name: str = "serve") -> ServeProcess:
        argv = [a for spec in listen for a in ("--listen", spec)] + list(args)
        proc = ServeProcess(argv, tmp_path / name)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def sipflow_call(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``sipflow call …`` to completion, bounded by ``timeout`` seconds."""

    def run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([*SIPFLOW, "call", *args], cwd=tmp_path, capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"sipflow call did not finish within {timeout} s: "
                                 f"{exc.stdout!r} {exc.stderr!r}") from None

    return run


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., SippRun]]:
    """Make a ``SippRun`` in its own folder under ``tmp_path`` (stopped at teardown)."""
    require_tool("sipp")
    runs: list[SippRun] = []

    def make(args: list[str], name: str, timeout: float = 60.0) -> SippRun:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        run = SippRun(args, folder, timeout=timeout)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.stop()
