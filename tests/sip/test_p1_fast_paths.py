"""The fast-path regexes accept a subset of what the general code accepts and
build the same values: checked by comparing both on generated values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.headers import Via
from sipflow.sip.uri import NameAddr, SipUri

SCHEMES = ["sip", "SIP", "sips", "tel", "http"]
USERS = ["", "a@", "a.b@", "a;b@", "a?b@", "a,b@", "a=b@", "a%20@", "a b@", "a:pw@", "@", "a/b@"]
HOSTS = ["h", "h.example", "h-1.x.", "1.2.3.4", "[::1]", "-h", "h..x", "", "h_1", "a--b.c"]
PORTS = ["", ":5060", ":65535", ":65536", ":99999", ":0", ":abc", ":", ":05060"]
PARAMS = ["", ";tag=x", ";tag=x;lr", ";TAG=Y", ";", ";tag=", ";tag = x", ';a="q"', ";x=<", ";lr;tag=a.b-c",
          ";tag=x ", "; tag=x", ";tag= x", ";tag=a;tag=b", ";tagx=1", ";tag"]
DISPLAYS = ["", "Bob ", '"B o" ', "B@ ", '"q\\"x" ', "Bob", "  "]


def _shape(value: Any) -> Any:
    if isinstance(value, NameAddr):
        return (value.display, value.angle, value.params, _shape(value.uri))
    if isinstance(value, SipUri):
        return (value.scheme, value.user, value.password, value.host, value.port, value.params,
                value.headers, value.opaque)
    if isinstance(value, Via):
        return (value.protocol, value.transport, value.host, value.port, value.params)
    return value


def _both(parse: Any, patch: tuple[Any, str], text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def run() -> Any:
        try:
            return ("ok", _shape(parse(text)))
        except RemoteProtocolError:
            return ("error",)

    fast = run()
    with monkeypatch.context() as m:
        target, replacement = patch
        if isinstance(target, str):
            m.setattr(target, replacement)
        else:
            m.setattr(target, replacement, staticmethod(lambda *a, **k: None))
        general = run()
    assert fast == general, text


@settings(max_examples=400, deadline=None)
@given(scheme=st.sampled_from(SCHEMES), user=st.sampled_from(USERS), host=st.sampled_from(HOSTS),
       port=st.sampled_from(PORTS), uparams=st.sampled_from(PARAMS), params=st.sampled_from(PARAMS),
       display=st.sampled_from(DISPLAYS), angle=st.booleans())
def test_name_addr_fast_path_equals_the_general_code(
    scheme: str, user: str, host: str, port: str, uparams: str, params: str, display: str, angle: bool
) -> None:
    uri = f"{scheme}:{user}{host}{port}"
    text = f"{display}<{uri}{uparams}>{params}" if angle else f"{uri}{params}"
    with pytest.MonkeyPatch.context() as mp:
        _both(lambda t: NameAddr.parse(t, "X"), (NameAddr, "match_fast"), text, mp)
    m = NameAddr.match_fast(text.strip())
    if m is not None:  # the tag read from the match equals the built value's
        assert NameAddr._match_tag(m) == NameAddr.parse(text, "X").params.get("tag")


class _NoMatch:
    def fullmatch(self, text: str) -> None:
        return None


@settings(max_examples=300, deadline=None)
@given(scheme=st.sampled_from(SCHEMES), user=st.sampled_from(USERS), host=st.sampled_from(HOSTS),
       port=st.sampled_from(PORTS), params=st.sampled_from(PARAMS))
def test_uri_fast_path_equals_the_general_code(
    scheme: str, user: str, host: str, port: str, params: str
) -> None:
    text = f"{scheme}:{user}{host}{port}{params}"
    with pytest.MonkeyPatch.context() as mp:
        _both(lambda t: SipUri.parse(t, "X"), ("sipflow.sip.uri._FAST_URI_RE", _NoMatch()), text, mp)


@settings(max_examples=300, deadline=None)
@given(transport=st.sampled_from(["UDP", "tcp", "T-LS", "U DP"]), host=st.sampled_from(HOSTS),
       port=st.sampled_from(PORTS), params=st.sampled_from([*PARAMS, ";branch=z9hG4bK1;rport"]))
def test_via_fast_path_equals_the_general_code(transport: str, host: str, port: str, params: str) -> None:
    text = f"SIP/2.0/{transport} {host}{port}{params}"
    with pytest.MonkeyPatch.context() as mp:
        _both(Via.parse, (Via, "match_fast"), text, mp)


@pytest.mark.parametrize("params", [*PARAMS, ";tag=x\t", ";tag=\tx", ";lr;tag=x", ";tag=x;lr"])
@pytest.mark.parametrize("form", ["B <sip:b@h>{}", "sip:b@h{}"])
def test_the_tag_read_from_a_match_equals_the_built_value(params: str, form: str) -> None:
    text = form.format(params).strip()
    m = NameAddr.match_fast(text)
    if m is not None:
        assert NameAddr._match_tag(m) == NameAddr._from_match(m).params.get("tag")
