"""Header-value parsers on arbitrary text: RemoteProtocolError or a value that
writes back to something parsing to an equal value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sipflow.sip.errors import RemoteProtocolError
from sipflow.sip.headers import ContentType, CSeq, RAck, Via
from sipflow.sip.multipart import parse_multipart
from sipflow.sip.uri import NameAddr, SipUri

ALPHABET = st.sampled_from(list("sip:@;=<>\"\\,?&[]. \t-_%abcz019") + ["SIP/2.0/", "sips:", "tel:"])
texts = st.one_of(st.text(max_size=60), st.lists(ALPHABET, max_size=25).map("".join))


@settings(max_examples=200, deadline=None)
@given(texts)
def test_value_parsers_never_raise_anything_else(text: str) -> None:
    for parse in (SipUri.parse, NameAddr.parse, Via.parse, CSeq.parse, RAck.parse,
                  ContentType.parse):
        try:
            value = parse(text)
        except RemoteProtocolError as err:
            assert err.status == 400 and err.reason
            continue
        again = parse(str(value))
        if isinstance(value, NameAddr):
            assert again == value and again.display == value.display
        elif isinstance(value, ContentType):
            assert again.media == value.media
        else:
            assert again == value


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_multipart_never_raises_anything_else(body: bytes) -> None:
    try:
        parse_multipart(body, "multipart/mixed;boundary=b")
    except RemoteProtocolError:
        pass
