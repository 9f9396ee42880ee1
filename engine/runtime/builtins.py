"""The built-in vocabulary of state tables: events (CONTRACTS §1), guards and actions.

Every ``Send<METHOD>`` action is a mechanism, not a flow: it hands the request
(or response) to the dialog backend through ``ctx.perform``. What to send and
when is the table's business.

The ``ctx`` an action or guard receives offers (see ``sipflow.runtime.context``):
``ctx.event`` (``name``, ``data`` dict, ``message`` or None), ``ctx.session``,
``ctx.param(name)``, ``ctx.perform(action, params)``, ``ctx.raise_event(name, data)``
and ``ctx.publish(name, data)``.

Data the backends put in events (CONTRACTS §1): requests carry ``in_dialog``,
``method``, ``has_sdp``, ``request_id`` (what ``SendSIPResponse`` answers),
``sdp`` (``offer`` or ``answer`` when the body was one), ``sdp_error`` (the
RFC 3264 status when an offer was unacceptable), ``hold`` (the offer puts us
on hold) and, for INFO, ``digits``; responses carry ``code``, ``reason``,
``method``, ``reliable`` and ``has_sdp``.

Mechanisms with a memory (``RetryWithCredentials``, ``FollowRedirect``) keep
it in ``session.data`` so their guards (``can_retry_auth``,
``can_follow_redirect``) allow each once per session.
"""

from __future__ import annotations

import random
from typing import Any

from .params import ParamError
from .registry import ParamSpec, Registry

SIP_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "UPDATE",
               "INFO", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH")
"""The fourteen methods sipflow covers: RFC 3261's six and eight extensions."""

RESPONSE_EVENTS = {
    "Dialog180Ringing": "a 180 Ringing response",
    "Dialog183SessionProgress": "a 183 Session Progress response",
    "Dialog1xxProvisional": "any other provisional response (101-199; 100 Trying never reaches a table)",
    "Dialog200OK": "any 2xx response (200, 202, 204 ...)",
    "Dialog3xxRedirect": "a 3xx redirect response",
    "DialogAuthChallenge": "a 401 or 407 challenge",
    "Dialog4xxFailure": "any other 4xx response",
    "Dialog5xxFailure": "a 5xx response",
    "Dialog6xxFailure": "a 6xx response",
}

COMMANDS = {
    "MakeCall": "the application places a call",
    "Answer": "the application answers the ringing call",
    "Reject": "the application rejects the ringing call",
    "HangUp": "the application ends the call (CANCEL before the answer, BYE after)",
    "Hold": "the application puts the call on hold",
    "Resume": "the application takes the call off hold",
    "SendDTMF": "the application sends DTMF digits",
    "Transfer": "the application transfers the call",
    "Register": "the application registers a contact",
    "Unregister": "the application removes its registration",
    "Subscribe": "the application subscribes to an event package",
    "Unsubscribe": "the application ends a subscription",
    "SendMessage": "the application sends a MESSAGE",
    "Publish": "the application publishes event state",
    "Refresh": "the application refreshes the session (re-INVITE or UPDATE)",
    "Ping": "the application sends OPTIONS",
    "Update": "the application sends an UPDATE (a new offer, or a refresh without one)",
    "Shutdown": "the process is shutting down: end the session (480 while ringing, BYE when confirmed)",
}

BACKEND_EVENTS = {
    "DialogSessionRefresh": ("we are the session-timer refresher and half the interval has passed "
                             "(RFC 4028): refresh now", ("interval",)),
    "DialogSessionExpired": ("no session refresh arrived in time (RFC 4028 section 10); the core "
                             "has sent BYE", ()),
    "DialogTerminated": ("the confirmed dialog ended below the table (a 481/408 to an in-dialog "
                         "request, an expired session ...)", ("reason",)),
    "DialogReleased": ("the SIP core forgot the session's dialog: no dialog, transaction or timer "
                       "is left (a safety net so no session outlives its dialog)", ()),
}

APP_EVENTS = {
    "Ringing": "the far end is ringing",
    "EarlyMedia": "early media was negotiated",
    "CallEstablished": "the call is answered and confirmed",
    "CallFailed": "the call ended before it was established",
    "CallEnded": "an established call ended",
    "CallHeld": "the call was put on hold",
    "CallResumed": "the call was taken off hold",
    "DtmfReceived": "DTMF digits arrived (INFO, application/dtmf-relay or the dtmf Info-Package); data: digits",
    "IncomingCall": "a call arrived",
    "Registered": "a registration succeeded",
    "RegistrationFailed": "a registration failed",
    "MessageReceived": "a MESSAGE arrived",
    "Notified": "a NOTIFY arrived",
}

RESPONSE_DATA = ("code", "reason", "method", "reliable", "has_sdp")
REQUEST_DATA = ("in_dialog", "method", "has_sdp", "request_id", "sdp", "sdp_error", "hold", "digits")


def _event_data(ctx: Any) -> dict[str, Any]:
    return ctx.event.data


def register_events(reg: Registry) -> None:
    for method in SIP_METHODS:
        if method == "INVITE":
            reg.add_event("DialogINVITE", "request", "an INVITE outside any dialog (opens a UAS call)",
                          REQUEST_DATA, method="INVITE")
            reg.add_event("DialogReINVITE", "request", "an INVITE inside a confirmed dialog",
                          REQUEST_DATA, method="INVITE")
        else:
            reg.add_event(f"Dialog{method}", "request", f"a {method} request was received",
                          REQUEST_DATA, method=method)
    for name, text in RESPONSE_EVENTS.items():
        reg.add_event(name, "response", text, RESPONSE_DATA)
    reg.add_event("DialogTimeout", "backend",
                  "a request got no answer: Timer B (INVITE) or F; H: our 2xx was never ACKed; "
                  "PRACK: our reliable provisional was never PRACKed (the core sent 504)",
                  ("timer", "method"))
    reg.add_event("DialogTransportError", "backend", "a request could not be sent (treated as 503)",
                  ("method", "reason"))
    for name, (text, data) in BACKEND_EVENTS.items():
        reg.add_event(name, "backend", text, data)
    for name, text in COMMANDS.items():
        reg.add_event(name, "command", text)
    for name, text in APP_EVENTS.items():
        reg.add_app_event(name, text)


# -- guards -------------------------------------------------------------------
def register_guards(reg: Registry) -> None:
    @reg.guard("code", "the response code is one of these", (ParamSpec("value", "codes", "a code or a list of codes", required=True),), scalar="value")
    def code(ctx: Any, value: int | list[int]) -> bool:
        got = _event_data(ctx).get("code")
        return got in value if isinstance(value, list | tuple) else got == value

    @reg.guard("response_to", "the response answers a request of this method", (ParamSpec("value", "method", "a SIP method", required=True),), scalar="value")
    def response_to(ctx: Any, value: str) -> bool:
        return _event_data(ctx).get("method") == value

    @reg.guard("reliable_provisional", "the provisional response was sent reliably (RFC 3262: Require 100rel and RSeq)")
    def reliable_provisional(ctx: Any) -> bool:
        return bool(_event_data(ctx).get("reliable"))

    @reg.guard("in_dialog", "the request arrived inside a dialog")
    def in_dialog(ctx: Any) -> bool:
        return bool(_event_data(ctx).get("in_dialog"))

    @reg.guard("has_sdp", "the message carries an SDP body")
    def has_sdp(ctx: Any) -> bool:
        return bool(_event_data(ctx).get("has_sdp"))

    @reg.guard("param_is", "a table parameter has this value", (
        ParamSpec("name", "str", "the parameter", required=True),
        ParamSpec("value", "str", "the value it must have", required=True)))
    def param_is(ctx: Any, name: str, value: Any) -> bool:
        return str(ctx.param(name)) == str(value)

    @reg.guard("peer_supports", "the request names this option tag in Supported or Require (e.g. 100rel)",
               (ParamSpec("value", "str", "an option tag", required=True),), scalar="value")
    def peer_supports(ctx: Any, value: str) -> bool:
        message = ctx.event.message
        if message is None:
            return False
        tag = value.lower()
        return tag in message.supported or tag in message.require

    @reg.guard("peer_requires", "the request names this option tag in Require (e.g. 100rel)",
               (ParamSpec("value", "str", "an option tag", required=True),), scalar="value")
    def peer_requires(ctx: Any, value: str) -> bool:
        message = ctx.event.message
        return message is not None and value.lower() in message.require

    @reg.guard("is_hold_offer", "the SDP offer received puts us on hold (sendonly or inactive, RFC 3264 8.4)")
    def is_hold_offer(ctx: Any) -> bool:
        data = _event_data(ctx)
        return data.get("sdp") == "offer" and bool(data.get("hold"))

    @reg.guard("offer_unacceptable", "the SDP received cannot be used: an offer with nothing acceptable "
               "(answer it with 488), or a malformed or mismatched answer (end the call)")
    def offer_unacceptable(ctx: Any) -> bool:
        return _event_data(ctx).get("sdp_error") is not None

    @reg.guard("is_dtmf", "the INFO carries DTMF (application/dtmf-relay or the dtmf Info-Package)")
    def is_dtmf(ctx: Any) -> bool:
        return bool(_event_data(ctx).get("digits"))

    @reg.guard("can_retry_auth", "credentials are configured (auth_user) and this session has not answered "
               "a challenge yet (RFC 3261 22.2: never retry refused credentials)")
    def can_retry_auth(ctx: Any) -> bool:
        return not _memory(ctx).get("auth_tried") and bool(_param_or(ctx, "auth_user", ""))

    @reg.guard("can_follow_redirect", "the 3xx names a Contact and this session has not followed a redirect yet")
    def can_follow_redirect(ctx: Any) -> bool:
        message = ctx.event.message
        if _memory(ctx).get("redirected") or message is None:
            return False
        try:
            return bool(message.contact)
        except ValueError:
            return False


def _memory(ctx: Any) -> Any:
    """What this session's mechanisms remember (``session.data``; empty for a bare context)."""
    session = getattr(ctx, "session", None)
    return session.data if session is not None else {}


def _param_or(ctx: Any, name: str, default: Any) -> Any:
    """The table parameter ``name``, or ``default`` when the table does not declare it."""
    try:
        return ctx.param(name)
    except ParamError:
        return default


# -- actions ------------------------------------------------------------------
RESPONSE_BODIES = ("sdp-answer", "sdp-offer", "none")
REQUEST_BODIES = ("sdp-offer", "sdp-answer", "sdp-hold", "sdp-resume", "dtmf-relay", "dtmf", "none")

RESPONSE_PARAMS = (
    ParamSpec("code", "int", "the status code", required=True),
    ParamSpec("reason", "str", "the reason phrase (default: the standard one)"),
    ParamSpec("body", "enum", "sdp-answer: the answer to the peer's pending offer (in a response to an "
              "INVITE without an offer: our offer; after an answer sent unreliably: the same answer "
              "again; otherwise no body); sdp-offer: a new offer; none (default)",
              choices=RESPONSE_BODIES),
    ParamSpec("request", "enum", "which request to answer (default: the one behind the current event)",
              choices=("current", "invite")),
    ParamSpec("reliable", "bool", "send this 101-199 reliably (RFC 3262: Require 100rel, RSeq, retransmitted "
              "until PRACKed); only when the peer supports 100rel"),
    ParamSpec("headers", "mapping", "extra header fields (e.g. {Require: 100rel} with a 421)"),
)

REQUEST_PARAMS = (
    ParamSpec("body", "enum", "sdp-offer: a new offer; sdp-answer: the answer to the peer's pending offer "
              "(none when there is none); sdp-hold / sdp-resume: a re-offer putting the call on or off "
              "hold (RFC 3264 8.4); dtmf-relay / dtmf: DTMF digits in an INFO; none (default)",
              choices=REQUEST_BODIES),
    ParamSpec("headers", "mapping", "extra header fields"),
)

INVITE_PARAMS = REQUEST_PARAMS + (
    ParamSpec("target", "str", "the Request-URI, e.g. {param: target} (required by the backends)"),
    ParamSpec("from_uri", "str", "the From URI (default: our own)"),
    ParamSpec("rel100", "enum", "RFC 3262 in the INVITE (default: supported)",
              choices=("never", "supported", "required")),
    ParamSpec("session_expires", "int", "ask for a session timer of this many seconds, 0 for none (default)"),
)

OPTIONS_PARAMS = REQUEST_PARAMS + (
    ParamSpec("target", "str", "outside a dialog: the Request-URI (e.g. {param: target})"),
)

INFO_PARAMS = REQUEST_PARAMS + (
    ParamSpec("digits", "str", "the DTMF digits (default: the digits of the command's data)"),
)

CREDENTIAL_PARAMS = (
    ParamSpec("user", "str", "the user name (default: the table parameter auth_user)"),
    ParamSpec("password", "str", "the password (default: the table parameter auth_password)"),
)

GLARE_PARAMS = (
    ParamSpec("event", "str", "the event to raise after the back-off (e.g. Hold or Resume)", required=True),
)

GLARE_OWNER = (210, 400)
"""RFC 3261 14.1: the owner of the Call-ID (the UAC of the call) waits 2.1-4 s after a 491,
"in units of 10 ms" (so 210-400 ticks of 10 ms) ..."""
GLARE_OTHER = (0, 200)
"""... the other side 0-2 s (0-200 ticks)."""
GLARE_TICK = 0.01


def _delegate(action: str) -> Any:
    def perform(ctx: Any, **params: Any) -> None:
        ctx.perform(action, params)

    perform.__name__ = action
    return perform


def _send_info(ctx: Any, **params: Any) -> None:
    if "digits" not in params:
        digits = ctx.event.data.get("digits")
        if digits is not None:
            params["digits"] = str(digits)
    ctx.perform("SendINFO", params)


_REQUEST_FIELDS = (("request_id", "request_id"), ("method", "method"), ("sdp", "request_sdp"),
                   ("in_dialog", "request_in_dialog"))
"""(event data key, SendSIPResponse parameter) of what a response needs to know of its request."""


def _send_response(ctx: Any, **params: Any) -> None:
    data = ctx.event.data
    for key, name in _REQUEST_FIELDS:
        value = data.get(key)
        if value is not None and value is not False:  # what the backend needs to know, nothing else
            params[name] = value
    ctx.perform("SendSIPResponse", params)


def _retry_with_credentials(ctx: Any, user: str | None = None, password: str | None = None) -> None:
    ctx.session.data["auth_tried"] = True
    ctx.perform("RetryWithCredentials", {
        "user": user if user is not None else _param_or(ctx, "auth_user", ""),
        "password": password if password is not None else _param_or(ctx, "auth_password", ""),
    })


def _follow_redirect(ctx: Any) -> None:
    ctx.session.data["redirected"] = True
    ctx.perform("FollowRedirect", {})


def glare_delay(rng: random.Random, owner: bool) -> float:
    """The back-off after a 491 (RFC 3261 14.1): a random multiple of 10 ms, 2.1-4 s for the
    owner of the Call-ID, 0-2 s for the other side; drawn from ``rng``."""
    low, high = GLARE_OWNER if owner else GLARE_OTHER
    return round(rng.randint(low, high) * GLARE_TICK, 2)


def _glare_backoff(ctx: Any, event: str) -> None:
    # a UAC table's session sent the INVITE, so it generated the Call-ID: it is the owner
    runtime, session = ctx.runtime, ctx.session
    delay = glare_delay(runtime.rng, session.table.table.role == "UAC")
    session.data["glare_delay"] = delay
    runtime.clock.call_at(runtime.clock.now() + delay, lambda: runtime.post(session, event))


def register_actions(reg: Registry) -> None:
    special = {"INVITE": (_delegate("SendINVITE"), INVITE_PARAMS), "INFO": (_send_info, INFO_PARAMS),
               "OPTIONS": (_delegate("SendOPTIONS"), OPTIONS_PARAMS)}
    for method in SIP_METHODS:
        name = f"Send{method}"
        func, params = special.get(method, (_delegate(name), REQUEST_PARAMS))
        reg.action(name, f"send a {method} request", params, sends=method)(func)
    reg.action("SendReINVITE", "send an INVITE inside the confirmed dialog (hold, resume, refresh)",
               REQUEST_PARAMS, sends="INVITE")(_delegate("SendReINVITE"))
    reg.action("SendREFERWithReplaces", "send a REFER whose Refer-To carries Replaces (attended transfer)",
               REQUEST_PARAMS, sends="REFER")(_delegate("SendREFERWithReplaces"))
    reg.action("SendSIPResponse", "answer the request behind the current event (or the pending INVITE)",
               RESPONSE_PARAMS, sends="response")(_send_response)
    reg.action("RetryWithCredentials", "send the challenged INVITE again with digest credentials "
               "(RFC 3261 22.2; same Call-ID and From tag, CSeq + 1); guard it with can_retry_auth",
               CREDENTIAL_PARAMS, sends="INVITE")(_retry_with_credentials)
    reg.action("FollowRedirect", "send the INVITE again to the first Contact of the 3xx (RFC 3261 8.1.3.4); "
               "guard it with can_follow_redirect", (), sends="INVITE")(_follow_redirect)
    reg.action("GlareBackoff", "raise an event after the back-off of RFC 3261 14.1 (after a 491: 2.1-4 s "
               "in a UAC table, which owns the Call-ID, else 0-2 s)", GLARE_PARAMS)(_glare_backoff)


def default_registry() -> Registry:
    """A fresh registry holding the built-in events, guards, actions and application events."""
    reg = Registry()
    register_events(reg)
    register_guards(reg)
    register_actions(reg)
    return reg
