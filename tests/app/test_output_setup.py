"""``sipflow.app.output.LineWriter`` and ``sipflow.app.setup``: buffered lines, tables, backends."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from sipflow.app.options import UsageError
from sipflow.app.output import LineWriter
from sipflow.app.setup import make_backend, make_runtime, shipped_tables_dir, table_paths
from sipflow.clock import VirtualClock


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


class Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError("reader gone")


def test_lines_are_flushed_on_the_timer_and_now_at_once() -> None:
    clock = VirtualClock()
    stream = CountingStream()
    out = LineWriter(stream)
    out.now("listening on udp:127.0.0.1:5060")
    assert stream.flushes == 1
    out.start_flushing(clock, every=0.5)
    out.line("call 1")
    out.line("call 2")
    assert stream.flushes == 1
    clock.advance(0.5)
    assert stream.flushes == 2
    clock.advance(1.0)
    assert stream.flushes == 4
    out.close()
    clock.advance(5.0)
    assert stream.flushes == 5  # close flushed once more, then the timer stopped
    assert stream.getvalue() == "listening on udp:127.0.0.1:5060\ncall 1\ncall 2\n"


def test_a_broken_stream_never_raises() -> None:
    out = LineWriter(Broken())
    out.now("x")
    out.line("y")
    out.close()
    assert out.errors == 1


def test_table_paths() -> None:
    shipped = table_paths(None)
    assert shipped_tables_dir() / "uas_call.yaml" in shipped
    assert all(p.suffix == ".yaml" and not p.name.endswith(".scenario.yaml") for p in shipped)
    assert table_paths(None, ["uac_call"]) == [shipped_tables_dir() / "uac_call.yaml"]


def test_table_path_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no \\*.yaml table in this directory"):
        table_paths(tmp_path)
    with pytest.raises(UsageError, match="not a directory"):
        table_paths(tmp_path / "missing")
    with pytest.raises(UsageError, match="no table uac_call.yaml"):
        table_paths(tmp_path, ["uac_call"])


def test_a_table_lint_refuses_is_one_line_with_a_count(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "table: t\nrole: UAS\nstarts_on: [DialogINVITE]\ninitial: Idle\n"
        "states: {Idle: {}, Lost: {}}\n"
        "transitions:\n  - {from: Idle, on: DialogINVITE, do: [NoSuchAction], to: Nowhere}\n")
    with pytest.raises(UsageError) as err:
        make_runtime([tmp_path / "t.yaml"], VirtualClock(), None)
    message = str(err.value)
    assert message.startswith("table refused: ") and re.search(r"t\.yaml:\d+:\d+: E-", message)
    assert "more; run sipflow lint" in message and "\n" not in message


def test_parameters_and_backends() -> None:
    with pytest.raises(UsageError, match="--set: no loaded table has a parameter 'nope'"):
        make_runtime(table_paths(None, ["uas_call"]), VirtualClock(), None, {"nope": "1"})
    runtime = make_runtime(table_paths(None, ["uas_call"]), VirtualClock(), None,
                           {"answer_delay": "2s"})
    assert "uas_call" in runtime.tables
    with pytest.raises(UsageError, match="no backend named 'nope'"):
        make_backend("nope", VirtualClock())
    with pytest.raises(UsageError, match="loopback: it runs in virtual time"):
        make_backend("loopback", VirtualClock())
