"""``sipflow render``: formats, output files, exit codes and one-line errors."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipflow.cli.main import app

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TINY = """\
table: tiny
role: UAC
starts_on: [MakeCall]
initial: Idle
states:
  Idle: {}
  Calling: {timers: {NoAnswer: 180s}}
  Done: {final: true}
transitions:
  - {from: Idle, on: MakeCall, do: [SendINVITE], to: Calling}
  - {from: Calling, on: Dialog200OK, do: [SendACK], to: Done}
  - {from: Calling, on: TimerNoAnswer, do: [SendCANCEL], to: Done}
"""


def run(*args: str):
    return CliRunner().invoke(app, ["render", *args])


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_uac_call_svg_on_stdout_is_valid_svg(dot_exe):
    result = run("uac_call", "--format", "svg")
    assert result.exit_code == 0, result.stderr
    svg = ET.fromstring(result.stdout)
    assert svg.tag == f"{SVG}svg"
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    assert {"Idle", "Terminated"} <= texts


def test_uac_call_svg_written_with_o(dot_exe, tmp_path):
    out = tmp_path / "uac_call.svg"
    result = run("uac_call", "--format", "svg", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert ET.parse(out).getroot().tag == f"{SVG}svg"


def test_png_written_with_o_and_to_a_redirected_stdout(dot_exe, tiny, tmp_path):
    out = tmp_path / "tiny.png"
    assert run(str(tiny), "--format", "png", "-o", str(out)).exit_code == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    result = run(str(tiny), "--format", "png")
    assert result.exit_code == 0
    assert result.stdout_bytes[:8] == PNG_MAGIC


def test_png_is_refused_on_a_terminal(tiny):
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from sipflow.cli.main import run; run()",
             "render", str(tiny), "--format", "png"],
            stdout=follower, stderr=subprocess.PIPE, timeout=60, check=False)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "sipflow render: png is binary: write it with -o FILE or redirect stdout to a file")


def test_text_formats_of_a_table_file(tiny):
    dot = run(str(tiny), "--format", "dot")
    assert dot.exit_code == 0 and dot.stdout.startswith('digraph "tiny" {')
    mermaid = run(str(tiny), "-f", "mermaid")
    assert mermaid.exit_code == 0
    assert "    [*] --> Idle" in mermaid.stdout.splitlines()
    assert "    Calling --> Done : Dialog200OK / SendACK<br>TimerNoAnswer / SendCANCEL" \
        in mermaid.stdout.splitlines()
    md = run(str(tiny), "--format", "MD")
    assert md.exit_code == 0 and md.stdout.startswith("# State table `tiny`")
    assert "| `Calling` | `TimerNoAnswer` |  | `SendCANCEL` | `Done` |  | `tiny.yaml:12` |" in md.stdout


def test_default_format_is_dot(tiny):
    result = run(str(tiny))
    assert result.exit_code == 0 and result.stdout.startswith("digraph ")


def test_without_graphviz_images_exit_2_and_text_still_works(monkeypatch, tiny, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for fmt in ("svg", "png"):
        line = one_line_error(run(str(tiny), "--format", fmt, "-o", str(tmp_path / f"x.{fmt}")))
        assert "Graphviz 'dot' is not installed" in line and f"--format {fmt}" in line
        assert not (tmp_path / f"x.{fmt}").exists()
    for fmt in ("dot", "mermaid", "md"):
        assert run(str(tiny), "--format", fmt).exit_code == 0


def test_missing_table_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "nope.yaml"
    line = one_line_error(run(str(missing), "--format", "mermaid"))
    assert str(missing) in line


def test_unknown_shipped_name_is_one_line():
    line = one_line_error(run("no_such_table_anywhere", "--format", "dot"))
    assert "no_such_table_anywhere" in line


def test_broken_table_names_file_and_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("table: broken\nrole: UAC\nstates: [Idle,\n  initial: {\n")
    line = one_line_error(run(str(broken), "--format", "md"))
    m = re.match(rf"^{re.escape(str(broken))}:(\d+):(\d+): ", line)
    assert m, line
    assert 1 <= int(m.group(1)) <= 5


def test_unknown_format_is_one_line(tiny):
    line = one_line_error(run(str(tiny), "--format", "jpeg"))
    assert line == "sipflow render: unknown format 'jpeg': choose one of dot, svg, png, mermaid, md"


def test_unwritable_output_is_one_line(tiny, tmp_path):
    line = one_line_error(run(str(tiny), "--format", "dot", "-o", str(tmp_path)))
    assert line.startswith(f"sipflow render: cannot write {tmp_path}: ")


def test_console_script_from_another_directory(tmp_path):
    done = subprocess.run([sys.executable, "-c", "from sipflow.cli.main import run; run()",
                           "render", "uac_call", "--format", "mermaid"],
                          cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().startswith("stateDiagram-v2\n")
    assert done.stderr == b""


BOOM = """
import sipflow.cli.render as cli_render
def boom(table, fmt):
    raise RuntimeError("kaboom in " + fmt)
cli_render.render = boom
from sipflow.cli.main import run
run()
"""


def test_unexpected_errors_are_one_line_unless_debug(tiny):
    plain = subprocess.run([sys.executable, "-c", BOOM, "render", str(tiny), "-f", "dot"],
                           capture_output=True, timeout=60, check=False)
    assert plain.returncode == 1
    assert plain.stderr.decode().splitlines() == [
        "sipflow: internal error: RuntimeError: kaboom in dot (rerun with --debug for the traceback)"]
    debug = subprocess.run([sys.executable, "-c", BOOM, "--debug", "render", str(tiny), "-f", "dot"],
                           capture_output=True, timeout=60, check=False)
    assert debug.returncode == 1
    assert debug.stderr.decode().startswith("Traceback (most recent call last):")
    assert debug.stderr.decode().rstrip().endswith("RuntimeError: kaboom in dot")


def test_binary_file_and_directory_are_one_line(tmp_path):
    binary = tmp_path / "blob.yaml"
    binary.write_bytes(b"\x00\x01\x02PNG\xff\xfe" * 10)
    assert str(binary) in one_line_error(run(str(binary), "-f", "mermaid"))
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert str(folder) in one_line_error(run(str(folder), "-f", "mermaid"))


def test_a_reader_that_leaves_early_is_not_an_error(dot_exe):
    proc = subprocess.Popen([sys.executable, "-c", "from sipflow.cli.main import run; run()",
                             "render", "uac_call", "--format", "png"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(8) == PNG_MAGIC
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()


@pytest.mark.parametrize(("suffix", "check"), [
    (".svg", lambda data: ET.fromstring(data).tag == f"{SVG}svg"),
    (".PNG", lambda data: data[:8] == PNG_MAGIC),
    (".md", lambda data: data.startswith(b"# State table `tiny`")),
    (".mmd", lambda data: data.startswith(b"stateDiagram-v2\n")),
    (".gv", lambda data: data.startswith(b'digraph "tiny"')),
    (".txt", lambda data: data.startswith(b'digraph "tiny"')),
])
def test_without_format_the_output_suffix_decides(dot_exe, tiny, tmp_path, suffix, check):
    out = tmp_path / f"drawing{suffix}"
    result = run(str(tiny), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert check(out.read_bytes())


def test_an_explicit_format_wins_over_the_suffix(tiny, tmp_path):
    out = tmp_path / "drawing.svg"
    assert run(str(tiny), "--format", "mermaid", "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("stateDiagram-v2\n")


def test_a_row_to_an_undeclared_state_names_file_and_line(tmp_path):
    table = tmp_path / "typo.yaml"
    table.write_text(TINY.replace("to: Done}\n  - {from: Calling, on: TimerNoAnswer",
                                  "to: Dne}\n  - {from: Calling, on: TimerNoAnswer"))
    line = one_line_error(run(str(table), "--format", "mermaid"))
    assert re.match(rf"^{re.escape(str(table))}:11:\d+: undeclared state 'Dne'", line), line
