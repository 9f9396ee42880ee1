"""``sipflow.app.options``: command-line values and their one-line errors."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipflow.app.options import (
    UsageError,
    fraction,
    number,
    parse_auth,
    parse_bytes,
    parse_listens,
    parse_sets,
)
from sipflow.transport.listen import ListenSpec


def test_sets_keep_text_and_last_value_wins() -> None:
    assert parse_sets(["answer_delay=2s", "reject_code=503", "answer_delay=1s"]) == {
        "answer_delay": "1s", "reject_code": "503"}
    assert parse_sets(None) == {}
    assert parse_sets(["empty="]) == {"empty": ""}
    assert parse_sets(["url=a=b"]) == {"url": "a=b"}


@pytest.mark.parametrize("item, fragment", [
    ("answer_delay", "expected NAME=VALUE"),
    ("=2s", "is not a parameter name"),
    ("Answer-Delay=2s", "is not a parameter name"),
])
def test_bad_sets_name_the_option_and_text(item: str, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_sets([item])
    message = str(err.value)
    assert message.startswith("--set ") and repr(item) in message and fragment in message
    assert "\n" not in message


def test_auth_users_and_passwords() -> None:
    assert parse_auth(["alice:secret", "bob:a:b", "carol:"]) == {
        "alice": "secret", "bob": "a:b", "carol": ""}


@pytest.mark.parametrize("items, fragment", [
    (["alice"], "expected USER:PASSWORD"),
    ([":pw"], "user name is empty"),
    (["alice:x", "alice:y"], "given twice"),
])
def test_bad_auth(items: list[str], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        parse_auth(items)


def test_listens_default_and_given() -> None:
    assert parse_listens(None, "udp:127.0.0.1:5060") == [ListenSpec("udp", "127.0.0.1", 5060)]
    assert parse_listens(["tcp:[::1]:0", "udp:127.0.0.1:0"], "udp:127.0.0.1:5060") == [
        ListenSpec("tcp", "::1", 0), ListenSpec("udp", "127.0.0.1", 0)]
    # port 0 twice asks for two different ports: allowed
    assert len(parse_listens(["udp:127.0.0.1:0", "udp:127.0.0.1:0"], "x")) == 2


@pytest.mark.parametrize("item, fragment", [
    ("sctp:127.0.0.1:5060", "unknown transport"),
    ("udp:::1:5060", "brackets"),
    ("udp:127.0.0.1:99999", "out of range"),
])
def test_bad_listen(item: str, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_listens([item], "udp:127.0.0.1:5060")
    assert str(err.value).startswith("--listen: ") and fragment in str(err.value)


def test_listen_twice_refused() -> None:
    with pytest.raises(UsageError, match="given twice"):
        parse_listens(["udp:127.0.0.1:5070", "udp:127.0.0.1:5070"], "x")


def test_numbers() -> None:
    assert number(0, "--drain") == 0
    assert number(2.5, "--rate", minimum=0, inclusive=False) == 2.5
    with pytest.raises(UsageError, match=r"--rate 0: must be more than 0"):
        number(0, "--rate", minimum=0, inclusive=False)
    with pytest.raises(UsageError, match=r"--count 0: must be at least 1"):
        number(0, "--count", minimum=1, integer=True)
    with pytest.raises(UsageError, match="finite"):
        number(math.inf, "--timeout")
    with pytest.raises(UsageError, match="finite"):
        number(math.nan, "--timeout")


@given(st.text(max_size=40))
def test_parsers_raise_only_usage_errors(text: str) -> None:
    for parse in (lambda: parse_sets([text]), lambda: parse_auth([text]),
                  lambda: parse_listens([text], "udp:127.0.0.1:0")):
        try:
            parse()
        except UsageError as exc:
            assert "\n" not in str(exc).strip("\n") or "\n" in text


def test_fraction() -> None:
    assert fraction(5, "--test-loss") == 0.05
    assert fraction(0, "--test-loss") == 0.0
    with pytest.raises(UsageError, match=r"--test-loss 101: must be a percentage"):
        fraction(101, "--test-loss")
    with pytest.raises(UsageError, match=r"--test-loss -1: must be at least 0"):
        fraction(-1, "--test-loss")


@pytest.mark.parametrize("text, value", [
    ("4194304", 4 << 20), ("4M", 4 << 20), ("4MiB", 4 << 20), ("4mb", 4 << 20),
    ("512K", 512 << 10), ("512kib", 512 << 10), ("1G", 1 << 30), ("1", 1), ("100b", 100),
    (" 8M ", 8 << 20), (65536, 65536),
])
def test_bytes(text: str, value: int) -> None:
    assert parse_bytes(text, "--recv-buffer") == value


@pytest.mark.parametrize("text, fragment", [
    ("0", "'0': must be at least 1 byte"), ("0M", "must be at least 1 byte"),
    ("-1", "'-1': must be at least 1 byte"), ("-4M", "must be at least 1 byte"),
    ("abc", "'abc': expected a number of bytes such as 4194304 or 4M"),
    ("1.5M", "expected a number of bytes"), ("4T", "expected a number of bytes"),
    ("", "expected a number of bytes"), ("2G", "must be at most 1073741824 bytes (1024 MiB)"),
])
def test_bad_bytes(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=re.escape("--recv-buffer ") + ".*" + re.escape(fragment)):
        parse_bytes(text, "--recv-buffer")


@given(st.text(max_size=20))
def test_bytes_raise_only_usage_errors(text: str) -> None:
    try:
        assert 1 <= parse_bytes(text, "--recv-buffer") <= 1 << 30
    except UsageError as exc:
        assert str(exc).startswith("--recv-buffer ")
