"""The built-in vocabulary of state tables: events (CONTRACTS §1), guards and actions.

Every ``Send<METHOD>`` action is a mechanism, not a flow: it hands the request
(or response) to the dialog backend through ``ctx.perform``. What to send and
when is the table's business.

The ``ctx`` an action or guard receives offers (see ``sipflow.runtime.context``):
``ctx.event`` (``name``, ``data`` dict, ``message`` or None), ``ctx.session``,
``ctx.param(name)``, ``ctx.perform(action, params)``, ``ctx.raise_event(name, data)``
and ``ctx.publish(name, data)``.
"""

from __future__ import annotations

from typing import Any

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
}

APP_EVENTS = {
    "Ringing": "the far end is ringing",
    "EarlyMedia": "early media was negotiated",
    "CallEstablished": "the call is answered and confirmed",
    "CallFailed": "the call ended before it was established",
    "CallEnded": "an established call ended",
    "CallHeld": "the call was put on hold",
    "CallResumed": "the call was taken off hold",
    "DtmfReceived": "DTMF digits arrived (INFO)",
    "IncomingCall": "a call arrived",
    "Registered": "a registration succeeded",
    "RegistrationFailed": "a registration failed",
    "MessageReceived": "a MESSAGE arrived",
    "Notified": "a NOTIFY arrived",
}

RESPONSE_DATA = ("code", "reason", "method")


def _event_data(ctx: Any) -> dict[str, Any]:
    return ctx.event.data


def register_events(reg: Registry) -> None:
    for method in SIP_METHODS:
        if method == "INVITE":
            reg.add_event("DialogINVITE", "request", "an INVITE outside any dialog (opens a UAS call)",
                          ("in_dialog",), method="INVITE")
            reg.add_event("DialogReINVITE", "request", "an INVITE inside a confirmed dialog",
                          ("in_dialog",), method="INVITE")
        else:
            reg.add_event(f"Dialog{method}", "request", f"a {method} request was received",
                          ("in_dialog",), method=method)
    for name, text in RESPONSE_EVENTS.items():
        reg.add_event(name, "response", text, RESPONSE_DATA)
    reg.add_event("DialogTimeout", "backend", "a client transaction timed out (Timer B, F ...)",
                  ("timer", "method"))
    reg.add_event("DialogTransportError", "backend", "a request could not be sent (treated as 503)",
                  ("method", "reason"))
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


# -- actions ------------------------------------------------------------------
RESPONSE_PARAMS = (
    ParamSpec("code", "int", "the status code", required=True),
    ParamSpec("reason", "str", "the reason phrase (default: the standard one)"),
    ParamSpec("body", "str", "what to put in the body: sdp-answer, sdp-offer or none"),
    ParamSpec("request", "enum", "which request to answer (default: the one behind the current event)",
              choices=("current", "invite")),
    ParamSpec("headers", "mapping", "extra header fields"),
)

REQUEST_PARAMS = (
    ParamSpec("body", "str", "what to put in the body: sdp-offer, sdp-answer, a DTMF digit spec or none"),
    ParamSpec("headers", "mapping", "extra header fields"),
)


def _delegate(action: str) -> Any:
    def perform(ctx: Any, **params: Any) -> None:
        ctx.perform(action, params)

    perform.__name__ = action
    return perform


def register_actions(reg: Registry) -> None:
    for method in SIP_METHODS:
        name = f"Send{method}"
        reg.action(name, f"send a {method} request", REQUEST_PARAMS, sends=method)(_delegate(name))
    reg.action("SendReINVITE", "send an INVITE inside the confirmed dialog (hold, resume, refresh)",
               REQUEST_PARAMS, sends="INVITE")(_delegate("SendReINVITE"))
    reg.action("SendREFERWithReplaces", "send a REFER whose Refer-To carries Replaces (attended transfer)",
               REQUEST_PARAMS, sends="REFER")(_delegate("SendREFERWithReplaces"))
    reg.action("SendSIPResponse", "answer the request behind the current event (or the pending INVITE)",
               RESPONSE_PARAMS, sends="response")(_delegate("SendSIPResponse"))


def default_registry() -> Registry:
    """A fresh registry holding the built-in events, guards, actions and application events."""
    reg = Registry()
    register_events(reg)
    register_guards(reg)
    register_actions(reg)
    return reg
