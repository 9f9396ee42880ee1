"""``sipflow ladder FILE.pcap``: a real loopback call written with PcapWriter is drawn
in order in every format; real sipp captures; bad files give one line and exit 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipflow.cli.main import app
from sipflow.trace.pcap import PcapWriter

CAPTURES = Path(__file__).parent.parent / "trace" / "captures"
CALL = ["INVITE", "180", "200", "ACK", "BYE", "200"]
runner = CliRunner()


def write_call(path: Path, call, **kwargs) -> object:
    """Run a real call on the loopback network and write what went on the wire
    (every message at its send time, lost ones included) to ``path``."""
    result = call(**kwargs)
    with PcapWriter(path, time_offset=1_750_000_000.0) as writer:
        for record in sorted(result.trace, key=lambda r: r.sent):
            writer.write(record.sent, record.src.transport, record.src, record.dst, record.data)
    return result


def names_in(text: str) -> list[str]:
    """Methods and status codes in ``text``, 100 Trying left out (the core may or may not
    send it); on ladder lines only what follows the first lifeline (not the time)."""
    text = "\n".join(line[line.index("│"):] if "│" in line else line
                     for line in text.splitlines())
    found = re.findall(r"(INVITE|ACK|BYE|\b\d{3}\b) ", text)
    return [name for name in found if name != "100"]


@pytest.mark.parametrize("transport, family", [("udp", 4), ("tcp", 4), ("udp", 6), ("tcp", 6)])
def test_loopback_call_as_text(tmp_path, call, transport, family):
    path = tmp_path / "call.pcap"
    result = write_call(path, call, transport=transport, family=family, delay=0.01)
    out = runner.invoke(app, ["ladder", str(path), "--width", "100"])
    assert out.exit_code == 0, out.output
    arrows = [line for line in out.stdout.splitlines() if "─" in line]
    assert names_in("\n".join(arrows)) == CALL
    header = out.stdout.splitlines()[2]
    from sipflow.ladder.model import address_key

    assert header.index(address_key(result.a)) < header.index(address_key(result.b))
    assert "t=0 is 2025-06-15" in out.stdout


def test_loopback_call_as_mermaid_and_html(tmp_path, call):
    path = tmp_path / "call.pcap"
    write_call(path, call, delay=0.01)
    out = runner.invoke(app, ["ladder", str(path), "--format", "mermaid",
                              "--name", "10.0.0.1:5060=alice"])
    assert out.exit_code == 0
    assert out.stdout.startswith("sequenceDiagram\n")
    assert "participant P1 as alice (10.0.0.1#58;5060)" in out.stdout
    arrows = [line for line in out.stdout.splitlines() if "->>" in line]
    assert names_in("\n".join(a.split(": ", 1)[1] + " " for a in arrows)) == CALL
    html = tmp_path / "call.html"
    out = runner.invoke(app, ["ladder", str(path), "-o", str(html)])  # format from suffix
    assert out.exit_code == 0 and out.stdout == ""
    root = ET.fromstring(html.read_text().split("\n", 1)[1])
    summaries = [d.find("summary").text for d in root.findall("body/details")]
    assert names_in("\n".join(s.split(": ", 1)[1] + " " for s in summaries)) == CALL


def test_json_output_from_the_suffix(tmp_path, call):
    path, out_file = tmp_path / "call.pcap", tmp_path / "call.json"
    write_call(path, call, delay=0.01)
    out = runner.invoke(app, ["ladder", str(path), "-o", str(out_file)])
    assert out.exit_code == 0
    data = json.loads(out_file.read_text())
    labels = [e["label"] for e in data["entries"] if e["kind"] == "message"]
    assert names_in("\n".join(label + " " for label in labels)) == CALL
    assert data["entries"][0]["offset"] == 0 and data["start"] >= 1_750_000_000


def test_dropped_messages_appear_in_a_capture_of_the_sender(tmp_path, call):
    path = tmp_path / "lossy.pcap"
    result = write_call(path, call, delay=0.02, loss=0.35, seed=3)
    dropped = sum(1 for r in result.trace if r.outcome == "dropped")
    out = runner.invoke(app, ["ladder", str(path), "--format", "text"])
    arrows = [line for line in out.stdout.splitlines() if "─" in line]
    assert len(arrows) == len(result.trace) and dropped > 0  # pcap has no notion of loss


@pytest.mark.parametrize("name", ["sipp_udp4_eth", "sipp_tcp4_sll", "sipp_udp6_sll2",
                                  "sipp_tcp6_eth"])
def test_real_captures(name):
    out = runner.invoke(app, ["ladder", str(CAPTURES / f"{name}.pcap"), "-f", "text"])
    assert out.exit_code == 0 and out.stderr == ""
    assert names_in(out.stdout) == CALL


def test_problems_and_empty_captures_are_said_on_stderr(tmp_path):
    from sipflow.sip.types import Address

    path = tmp_path / "rtp.pcap"
    with PcapWriter(path) as writer:
        writer.write(0.0, "udp", Address("udp", "10.0.0.1", 4000), Address("udp", "10.0.0.2", 4002),
                     b"\x80\x00" + b"\x00" * 20)
    out = runner.invoke(app, ["ladder", str(path)])
    assert out.exit_code == 0
    assert out.stderr == f"sipflow ladder: {path}: no SIP messages in 1 frames\n"
    data = path.read_bytes()
    broken = data[:24] + data[24:40] + data[40:40 + 20]  # a frame cut inside the IPv4 header
    broken = broken[:24 + 8] + (20).to_bytes(4, "little") * 2 + broken[24 + 16:]
    path.write_bytes(broken)
    out = runner.invoke(app, ["ladder", str(path)])
    assert out.exit_code == 0
    assert "frame 1: IPv4 header cut short" in out.stderr


@pytest.mark.parametrize("content, words", [
    (None, "cannot read: No such file or directory"),
    (b"", "at byte 0: file is 0 bytes, too short for a pcap header"),
    (b"\x0a\x0d\x0d\x0a" + b"\x00" * 30, "at byte 0: this is a pcapng file"),
    (b"hello, this is not a capture at all", "at byte 0: not a pcap file"),
])
def test_unusable_files_one_line_exit_2(tmp_path, content, words):
    path = tmp_path / "bad.pcap"
    if content is not None:
        path.write_bytes(content)
    out = runner.invoke(app, ["ladder", str(path)])
    assert out.exit_code == 2
    assert out.stderr == f"sipflow ladder: {path}: {words}" + out.stderr.split(words, 1)[1]
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_truncated_capture_names_the_offset(tmp_path, call):
    path = tmp_path / "cut.pcap"
    write_call(path, call)
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    out = runner.invoke(app, ["ladder", str(path)])
    assert out.exit_code == 2
    assert re.fullmatch(rf"sipflow ladder: {re.escape(str(path))}: at byte \d+: record of \d+ "
                        r"bytes cut short \(\d+ bytes left\)\n", out.stderr)


@pytest.mark.parametrize("args, words", [
    (["--format", "png"], "unknown format 'png': choose one of text, mermaid, html, json"),
    (["--name", "alice"], "--name 'alice': expected HOST:PORT=NAME"),
    (["--name", "127.0.0.1=alice"], "--name '127.0.0.1=alice': expected HOST:PORT=NAME"),
    (["--name", "127.0.0.1:5060="], "--name '127.0.0.1:5060=': expected HOST:PORT=NAME"),
    (["-o", "/nonexistent-dir/x.html"], "cannot write /nonexistent-dir/x.html"),
])
def test_bad_options(args, words):
    out = runner.invoke(app, ["ladder", str(CAPTURES / "sipp_udp4_eth.pcap"), *args])
    assert out.exit_code == 2
    assert words in out.stderr and out.stderr.count("\n") == 1


def test_the_installed_command_runs():
    result = subprocess.run([sys.executable, "-c", "from sipflow.cli.main import run; run()",
                             "ladder", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "FILE.pcap" in result.stdout


def test_names_accept_listen_specs_and_ipv6():
    out = runner.invoke(app, ["ladder", str(CAPTURES / "sipp_udp4_eth.pcap"), "-f", "mermaid",
                              "--name", "udp:127.0.0.1:45060=uas", "--name", "127.0.0.1:45061=a=b"])
    assert out.exit_code == 0
    assert "participant P1 as a=b (127.0.0.1#58;45061)" in out.stdout
    assert "participant P2 as uas (127.0.0.1#58;45060)" in out.stdout
    out = runner.invoke(app, ["ladder", str(CAPTURES / "sipp_tcp6_eth.pcap"), "-f", "mermaid",
                              "--name", "tcp:[::1]:45090=uas6"])
    assert "participant P2 as uas6 ([#58;#58;1]#58;45090)" in out.stdout


def test_standard_input(tmp_path):
    data = (CAPTURES / "sipp_udp4_eth.pcap").read_bytes()
    out = runner.invoke(app, ["ladder", "-", "-f", "mermaid"], input=data)
    assert out.exit_code == 0 and "title #lt;stdin#gt;" in out.stdout
    assert names_in("\n".join(line.split(": ", 1)[1] + " " for line in out.stdout.splitlines()
                              if "->>" in line)) == CALL
    out = runner.invoke(app, ["ladder", "-"], input=data[:40])
    assert out.exit_code == 2
    assert out.stderr == "sipflow ladder: <stdin>: at byte 24: record of 556 bytes cut short (0 bytes left)\n"
