"""ListenSpec parsing: the strings of CONTRACTS §6 and clear errors for bad ones."""

import pytest

from sipflow.sip.types import Address
from sipflow.transport.listen import ListenSpec, ListenSpecError, parse_listen


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("udp:127.0.0.1:5060", ("udp", "127.0.0.1", 5060)),
        ("tcp:[::1]:0", ("tcp", "::1", 0)),
        ("udp:[::1]:5062", ("udp", "::1", 5062)),
        ("UDP:0.0.0.0:65535", ("udp", "0.0.0.0", 65535)),
        ("tcp:localhost:5070", ("tcp", "localhost", 5070)),
        ("udp:127.0.0.1", ("udp", "127.0.0.1", 5060)),
        ("udp:[::]", ("udp", "::", 5060)),
        ("tcp:[fe80::1%lo]:5060", ("tcp", "fe80::1%lo", 5060)),
        ("  udp:sip.example.com:5080 ", ("udp", "sip.example.com", 5080)),
    ],
)
def test_parse_valid(text, expected):
    spec = ListenSpec.parse(text)
    assert tuple(spec) == expected
    assert spec.address == Address(*expected)


def test_str_round_trips_and_family():
    for text in ("udp:127.0.0.1:5060", "tcp:[::1]:0", "udp:[::1]:5062"):
        spec = parse_listen(text)
        assert str(spec) == text
        assert parse_listen(str(spec)) == spec
    assert parse_listen("udp:[::1]:1").family == 6
    assert parse_listen("udp:127.0.0.1:1").family == 4


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected TRANSPORT:HOST:PORT"),
        ("127.0.0.1:5060", "unknown transport '127.0.0.1'"),
        ("sctp:127.0.0.1:5060", "unknown transport 'sctp'"),
        ("tls:127.0.0.1:5061", "tls is not supported yet"),
        ("udp:", "expected TRANSPORT:HOST:PORT"),
        ("udp::5060", "the host is empty"),
        ("udp:::1:5060", "put an IPv6 address in brackets"),
        ("udp:[::1:5060", "missing ']'"),
        ("udp:[::g]:5060", "is not an IPv6 address"),
        ("udp:[::1]5060", "expected ':PORT'"),
        ("udp:127.0.0.1:http", "port 'http' is not a number"),
        ("udp:127.0.0.1:-1", "port '-1' is not a number"),
        ("udp:127.0.0.1:70000", "port 70000 is out of range"),
        ("udp:127.0.0.1:", "port '' is not a number"),
        ("udp:300.1.2.3:5060", "'300.1.2.3' is not an IPv4 address"),
        ("udp:bad_host!:5060", "is not a valid host name"),
        ("udp:127.0.0.1:５０６０", "is not a number"),
    ],
)
def test_parse_invalid_names_text_and_fault(text, fragment):
    with pytest.raises(ListenSpecError) as info:
        parse_listen(text)
    message = str(info.value)
    assert fragment in message
    assert repr(text) in message
    assert isinstance(info.value, ValueError)


def test_non_string_is_a_clear_error():
    with pytest.raises(ListenSpecError, match="invalid listen address 5060"):
        parse_listen(5060)  # type: ignore[arg-type]
