"""``sipflow serve`` and ``sipflow call``: unusable input is one line on stderr and exit 2."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipflow.cli.main import app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("args, message", [
    (["serve", "--registrar"], "sipflow serve: --registrar is not available yet"),
    (["serve", "--format", "xml"], "sipflow serve: --format 'xml': choose text or json"),
    (["serve", "--listen", "udp:::1:5060"], "sipflow serve: --listen: invalid listen address"),
    (["serve", "--listen", "sctp:127.0.0.1:0"], "unknown transport 'sctp'"),
    (["serve", "--set", "answer_delay"], "sipflow serve: --set 'answer_delay': expected NAME=VALUE"),
    (["serve", "--set", "nosuch=1", "--listen", "udp:127.0.0.1:0"],
     "sipflow serve: --set: no loaded table has a parameter 'nosuch'"),
    (["serve", "--answer-delay", "soon"], "sipflow serve: --answer-delay"),
    (["serve", "--auth", "alice"], "sipflow serve: --auth 'alice': expected USER:PASSWORD"),
    (["serve", "--realm", "x"], "sipflow serve: --realm 'x': needs --auth"),
    (["serve", "--drain", "-1"], "sipflow serve: --drain -1: must be at least 0"),
    (["serve", "--test-loss", "150"], "sipflow serve: --test-loss 150: must be a percentage"),
    (["serve", "--trace", "/no/such/dir/x.pcap"], "sipflow serve: --trace /no/such/dir/x.pcap"),
    (["serve", "--tables", "/no/such/dir"], "sipflow serve: --tables /no/such/dir: not a directory"),
    (["serve", "--backend", "nosuch"], "sipflow serve: --backend: no backend named 'nosuch'"),
    (["serve", "--backend", "loopback"], "sipflow serve: --backend loopback: it runs in virtual"),
    (["call", "sip:bob@127.0.0.1", "--backend", "loopback"], "sipflow call: --backend loopback"),
    (["call", "bob"], "sipflow call: URI 'bob': not a SIP URI"),
    (["call", "tel:+123"], "sipflow call: URI 'tel:+123': only sip: URIs"),
    (["call", "sip:bob@127.0.0.1", "--count", "0"], "sipflow call: --count 0: must be at least 1"),
    (["call", "sip:bob@127.0.0.1", "--rate", "0"], "sipflow call: --rate 0: must be more than 0"),
    (["call", "sip:bob@127.0.0.1", "--concurrency", "0"], "--concurrency 0: must be at least 1"),
    (["call", "sip:bob@127.0.0.1", "--timeout", "0"], "--timeout 0: must be more than 0"),
    (["call", "sip:bob@127.0.0.1", "--format", "xml"], "sipflow call: --format 'xml'"),
    (["call", "sip:bob@127.0.0.1", "--auth", "a:1", "--auth", "b:2"], "give one USER:PASSWORD"),
    (["serve", "--recv-buffer", "0"], "sipflow serve: --recv-buffer '0': must be at least 1 byte"),
    (["serve", "--recv-buffer=-4096"], "sipflow serve: --recv-buffer '-4096': must be at least 1"),
    (["serve", "--recv-buffer", "abc"], "sipflow serve: --recv-buffer 'abc': expected a number"),
    (["serve", "--overload-lag-ms", "-1"], "sipflow serve: --overload-lag-ms -1: must be at least 0"),
    (["serve", "--overload-lag-ms", "inf"], "sipflow serve: --overload-lag-ms inf: expected a finite"),
    (["call", "sip:bob@127.0.0.1", "--recv-buffer", "0"], "sipflow call: --recv-buffer '0'"),
    (["call", "sip:bob@127.0.0.1", "--recv-buffer=-1"], "sipflow call: --recv-buffer '-1'"),
    (["call", "sip:bob@127.0.0.1", "--recv-buffer", "abc"], "sipflow call: --recv-buffer 'abc'"),
    (["call", "sip:bob@127.0.0.1", "--recv-buffer", "2G"], "must be at most 1073741824 bytes"),
    (["call", "sip:bob@127.0.0.1", "--set", "nosuch=1"],
     "sipflow call: --set: no loaded table has a parameter 'nosuch'"),
])
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2, (out, err)
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and out == ""


def test_port_in_use_is_a_usage_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        code, out, err = run("serve", "--listen", f"udp:127.0.0.1:{port}")
    assert code == 2
    assert err.strip() == (f"sipflow serve: --listen: cannot listen on udp:127.0.0.1:{port}: "
                           f"address already in use")


def test_a_broken_table_is_refused_with_its_location(tmp_path: Path) -> None:
    (tmp_path / "uas_call.yaml").write_text("table: uas_call\nrole: UAS\ninitial: Idle\n"
                                            "states: {Idle: {}}\ntransitions: [{from: Idle}]\n")
    code, _, err = run("serve", "--tables", str(tmp_path), "--listen", "udp:127.0.0.1:0")
    assert code == 2
    assert err.startswith("sipflow serve: ") and "uas_call.yaml:5:" in err
    assert len(err.strip().splitlines()) == 1


def test_call_needs_uac_call_in_tables_dir(tmp_path: Path) -> None:
    code, _, err = run("call", "sip:bob@127.0.0.1", "--tables", str(tmp_path))
    assert code == 2
    assert "no table uac_call.yaml in this directory" in err
