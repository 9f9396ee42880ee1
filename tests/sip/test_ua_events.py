"""The mapping from UA-core events to state-table event names (CONTRACTS §1)."""

from __future__ import annotations

import pytest

from sipflow.sip import events as ev


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (180, "Dialog180Ringing"), (183, "Dialog183SessionProgress"),
        (181, "Dialog1xxProvisional"), (199, "Dialog1xxProvisional"),
        (200, "Dialog200OK"), (202, "Dialog200OK"), (204, "Dialog200OK"),
        (302, "Dialog3xxRedirect"), (401, "DialogAuthChallenge"), (407, "DialogAuthChallenge"),
        (486, "Dialog4xxFailure"), (491, "Dialog4xxFailure"), (503, "Dialog5xxFailure"),
        (603, "Dialog6xxFailure"),
    ],
)
def test_response_names(code, name):
    event = ev.ResponseReceived("c1", code, "x", "INVITE", False, None, None)
    assert ev.table_event(event) == name


def test_request_and_other_names():
    def req(method, in_dialog):
        return ev.RequestReceived("c1", "r1", method, in_dialog, None)

    assert ev.table_event(req("INVITE", False)) == "DialogINVITE"
    assert ev.table_event(req("INVITE", True)) == "DialogReINVITE"
    assert ev.table_event(req("UPDATE", True)) == "DialogUPDATE"
    assert ev.table_event(req("CANCEL", False)) == "DialogCANCEL"
    assert ev.table_event(ev.Timeout("c1", "B", "INVITE")) == "DialogTimeout"
    assert ev.table_event(ev.TransportError("c1", "BYE")) == "DialogTransportError"
    assert ev.table_event(ev.AckTimeout("c1")) == "DialogAckTimeout"
    assert ev.table_event(ev.SessionRefreshDue("c1", 90)) == "DialogSessionRefreshDue"


def test_events_are_small_immutable_values():
    event = ev.Timeout("c1", "F", "BYE")
    with pytest.raises(AttributeError):
        event.timer = "B"  # type: ignore[misc]
    assert event == ev.Timeout("c1", "F", "BYE") and not hasattr(event, "__dict__")
