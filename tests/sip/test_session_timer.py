"""RFC 4028 session timers: header parsing and negotiation (unit), then refresh,
expiry and 422 between two endpoints in virtual time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_ua_harness import A, B, Net, one, requests, responses, uri  # noqa: E402

from sipflow.sip import events as ev  # noqa: E402
from sipflow.sip import session_timer as st  # noqa: E402
from sipflow.sip.endpoint import EndpointConfig  # noqa: E402
from sipflow.sip.errors import RemoteProtocolError  # noqa: E402
from sipflow.sip.message import Request  # noqa: E402

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def req(*headers: tuple[str, str]) -> Request:
    return Request("INVITE", "sip:b@127.0.0.1", list(headers))


# -- unit: parsing and negotiation ------------------------------------------------


def test_parse_session_expires_and_min_se():
    assert st.parse_session_expires("1800") == st.SessionExpires(1800, None)
    assert st.parse_session_expires(" 90 ; refresher = UAS") == st.SessionExpires(90, "uas")
    assert str(st.SessionExpires(120, "uac")) == "120;refresher=uac"
    assert st.parse_min_se("120;x=y") == 120
    for bad in ("", "abc", "0", "-5", "99999999999", "90;refresher=both"):
        with pytest.raises(RemoteProtocolError) as info:
            st.parse_session_expires(bad)
        assert info.value.status == 400 and "Session-Expires" in info.value.reason


def test_policy_validation():
    with pytest.raises(ValueError):
        st.SessionTimerPolicy(session_expires=1800, min_se=60)
    with pytest.raises(ValueError):
        st.SessionTimerPolicy(session_expires=100, min_se=120)


def test_check_request_asks_for_422_below_our_minimum():
    policy = st.SessionTimerPolicy(1800, 300)
    assert st.check_request(req(("Session-Expires", "120")), policy) == 300
    assert st.check_request(req(("Session-Expires", "300")), policy) is None
    assert st.check_request(req(), policy) is None
    assert st.check_request(req(("x", "100")), policy) == 300  # compact form


def test_answer_2xx_refresher_choice():
    policy = st.SessionTimerPolicy(None, 90)
    # The UAC chose: kept.
    assert st.answer_2xx(req(("Session-Expires", "600;refresher=uas")), policy, True) == (
        st.SessionExpires(600, "uas"), True)
    # No choice, UAC supports timer: uac.
    assert st.answer_2xx(req(("Session-Expires", "600")), policy, True) == (
        st.SessionExpires(600, "uac"), True)
    # UAC without timer support: we refresh, no Require.
    assert st.answer_2xx(req(("Session-Expires", "600")), policy, False) == (
        st.SessionExpires(600, "uas"), False)
    # Nothing asked, no local wish: no timer.
    assert st.answer_2xx(req(), policy, True) is None
    # Nothing asked, local wish 1800 but the request's Min-SE is larger.
    local = st.SessionTimerPolicy(1800, 90)
    assert st.answer_2xx(req(("Min-SE", "3600")), local, False) == (
        st.SessionExpires(3600, "uas"), False)
    # We may lower the interval, not below Min-SE.
    assert st.answer_2xx(req(("Session-Expires", "7200"), ("Min-SE", "2000")), local, True) == (
        st.SessionExpires(2000, "uac"), True)


def test_timer_from_2xx_and_deadlines():
    from sipflow.sip.message import Response

    ok = Response(200, "OK", [("Session-Expires", "120;refresher=uac")])
    assert st.timer_from_2xx(ok, we_are_uac=True) == st.SessionTimer(120, True)
    assert st.timer_from_2xx(ok, we_are_uac=False) == st.SessionTimer(120, False)
    assert st.timer_from_2xx(Response(200, "OK"), we_are_uac=True) is None
    timer = st.SessionTimer(120, True)
    assert (timer.refresh_after, timer.expire_after) == (60, 88)
    assert st.SessionTimer(90, False).expire_after == 60  # 90 - 90/3
    headers = st.request_headers(st.SessionTimerPolicy(None, 90), timer)
    assert headers == [("Session-Expires", "120;refresher=uac"), ("Min-SE", "90")]
    assert st.request_headers(st.SessionTimerPolicy(None, 90), None) == []


# -- between endpoints ---------------------------------------------------------------


def test_refresh_due_at_half_interval_and_refresh_by_update_restarts_it():
    net = Net(A, B)
    h = net[A].invite(uri(B), body=SDP, session_expires=120)
    inv = one(net.take(B), ev.RequestReceived)
    assert inv.message.headers.get("Session-Expires") == "120"
    assert "timer" in inv.message.supported
    net[B].respond(inv.request_id, 200, body=SDP)
    ok = responses(net.take(A), 200)[0]
    assert ok.message.headers.get("Session-Expires") == "120;refresher=uac"
    assert "timer" in ok.message.require
    net.take(B)
    net.run_for(59.9)
    assert [e for e in net.take(A) if isinstance(e, ev.SessionRefreshDue)] == []
    net.run_for(0.2)
    due = one(net.take(A), ev.SessionRefreshDue)
    assert due == ev.SessionRefreshDue(h, 120) and net.now == pytest.approx(60.1)
    net[A].request(h, "UPDATE")
    upd = one(net.take(B), ev.RequestReceived)
    assert upd.message.headers.get("Session-Expires") == "120;refresher=uac"
    net[B].respond(upd.request_id, 200)
    net.take(A)
    # Refreshed at t=60: the next refresh is due at t=120, and B did not expire at 88.
    net.run_for(59.0)
    assert not [e for e in net.take(B) if isinstance(e, ev.SessionExpired)]
    assert not [e for e in net.take(A) if isinstance(e, ev.SessionRefreshDue)]
    net.run_for(1.5)
    one(net.take(A), ev.SessionRefreshDue)


def test_session_expires_without_refresh_and_the_core_sends_bye():
    no_timer = EndpointConfig(supported=("100rel",))
    wants_timer = EndpointConfig(session_timer=st.SessionTimerPolicy(90, 90))
    net = Net()
    net.add(A, no_timer)
    net.add(B, wants_timer)
    h = net[A].invite(uri(B), body=SDP)
    inv = one(net.take(B), ev.RequestReceived)
    assert inv.message.headers.get("Session-Expires") is None
    net[B].respond(inv.request_id, 200, body=SDP)
    ok = responses(net.take(A), 200)[0]
    # B asks for a session timer it refreshes itself; no Require: timer.
    assert ok.message.headers.get("Session-Expires") == "90;refresher=uas"
    assert "timer" not in ok.message.require
    net.take(B)
    net.run_for(46)
    assert one(net.take(B), ev.SessionRefreshDue).interval == 90
    # B refreshes with UPDATE; A (no timer support) answers a plain 200 and B
    # keeps its timer running from the refresh (t=46).
    net[B].request(inv.handle, "UPDATE")
    upd = one(net.take(A), ev.RequestReceived)
    assert upd.message.headers.get("Session-Expires") == "90;refresher=uac"
    net[A].respond(upd.request_id, 200)
    assert responses(net.take(B), 200)[0].method == "UPDATE"
    net.run_for(45.5)
    assert one(net.take(B), ev.SessionRefreshDue).interval == 90  # t=91
    net.run_for(20)  # B does not refresh again: expiry at 46 + 90 - 30 = 106 s
    b = net.take(B)
    assert one(b, ev.SessionExpired).handle == inv.handle
    bye = one(net.take(A), ev.RequestReceived)
    assert bye.method == "BYE" and bye.handle == h
    net[A].respond(bye.request_id, 200)
    assert one(net.take(B), ev.DialogTerminated).reason == "bye"


def test_session_expires_below_min_se_gets_422_with_min_se():
    strict = EndpointConfig(session_timer=st.SessionTimerPolicy(None, 300))
    net = Net()
    net.add(A)
    net.add(B, strict)
    h = net[A].invite(uri(B), session_expires=120)
    a = net.take(A)
    rejected = responses(a, 422)
    assert len(rejected) == 1 and rejected[0].message.headers.get("Min-SE") == "300"
    assert a[-1] == ev.HandleReleased(h)
    assert requests(net.take(B), "INVITE") == []


def test_malformed_session_expires_gets_400():
    net = Net(A, B)
    net[A].invite(uri(B), headers=[("Session-Expires", "soon")])
    a = net.take(A)
    assert [e.code for e in responses(a)] == [400]
    assert "Session-Expires" in responses(a)[0].message.headers.get("Warning")


def test_refresh_by_reinvite_restarts_both_sides():
    net = Net(A, B)
    h = net[A].invite(uri(B), body=SDP, session_expires=120)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=SDP)
    net.take(A)
    net.take(B)
    net.run_for(60.5)
    one(net.take(A), ev.SessionRefreshDue)
    net[A].request(h, "INVITE", body=SDP)
    reinv = one(net.take(B), ev.RequestReceived)
    assert reinv.in_dialog and reinv.message.headers.get("Session-Expires") == "120;refresher=uac"
    net[B].respond(reinv.request_id, 200, body=SDP)
    ok = responses(net.take(A), 200)[0]
    assert ok.method == "INVITE" and ok.message.headers.get("Session-Expires") == "120;refresher=uac"
    net.take(B)
    net.run_for(59.0)  # t = 119.5: B would have expired at 88 without the refresh
    assert not [e for e in net.take(B) if isinstance(e, ev.SessionExpired)]
    net.run_for(1.5)
    one(net.take(A), ev.SessionRefreshDue)


def test_uac_may_make_the_uas_the_refresher():
    net = Net(A, B)
    h = net[A].invite(uri(B), body=SDP, headers=[("Session-Expires", "100;refresher=uas")])
    inv = one(net.take(B), ev.RequestReceived)
    assert inv.message.headers.get_all("Session-Expires") == ["100;refresher=uas"]
    net[B].respond(inv.request_id, 200, body=SDP)
    ok = responses(net.take(A), 200)[0]
    assert ok.message.headers.get("Session-Expires") == "100;refresher=uas"
    net.take(B)
    net.run_for(50.5)
    assert one(net.take(B), ev.SessionRefreshDue).handle == inv.handle
    assert not [e for e in net.take(A) if isinstance(e, ev.SessionRefreshDue)]
    net[B].request(inv.handle, "UPDATE")
    upd = one(net.take(A), ev.RequestReceived)
    assert upd.message.headers.get("Session-Expires") == "100;refresher=uac"
    net[A].respond(upd.request_id, 200)
    assert responses(net.take(B), 200)[0].message.headers.get("Session-Expires") == (
        "100;refresher=uac")
    # A (not the refresher) expires only if B stops refreshing: 100 - 32 = 68 s later.
    net.run_for(67.0)
    assert not [e for e in net.take(A) if isinstance(e, ev.SessionExpired)]
    net.take(B)
    net.run_for(1.5)
    assert one(net.take(A), ev.SessionExpired).handle == h


def test_session_expires_below_90_is_refused_locally():
    from sipflow.sip.errors import LocalProtocolError

    net = Net(A, B)
    with pytest.raises(LocalProtocolError, match="90"):
        net[A].invite(uri(B), session_expires=60)
    assert net[A].counts()["handles"] == 0


def test_refresh_below_min_se_gets_422():
    strict = EndpointConfig(session_timer=st.SessionTimerPolicy(None, 300))
    net = Net()
    net.add(A)
    net.add(B, strict)
    h = net[A].invite(uri(B), session_expires=600)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=SDP)
    net.take(A)
    net[A].request(h, "UPDATE", headers=[("Session-Expires", "120")])
    rejected = responses(net.take(A), 422)
    assert rejected and rejected[0].method == "UPDATE"
    assert rejected[0].message.headers.get("Min-SE") == "300"


def test_timers_start_at_the_time_the_application_answers():
    net = Net(A, B)
    net[A].invite(uri(B), body=SDP, session_expires=120, now=0.0)
    inv = one(net.take(B), ev.RequestReceived)
    net[B].respond(inv.request_id, 200, body=SDP, now=10.0)  # answered 10 s later
    usage = net[B].dialog(inv.handle).invite
    assert usage.expire_at.when == pytest.approx(10.0 + 88)
