"""W-UNHANDLED-REQUEST: which requests lint expects where (lint_requests), and the default
``deliverable`` set taken from the registered backends (lint.default_deliverable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipflow.backends.base import Capabilities
from sipflow.compat import BackendInfo, backend_capabilities
from sipflow.runtime.builtins import default_registry
from sipflow.tables.lint import default_deliverable, lint_table
from sipflow.tables.lint_context import LintContext
from sipflow.tables.lint_requests import awaiting_final_answer, awaiting_prack
from sipflow.tables.loader import load_table

REGISTRY = default_registry()
REQUESTS = frozenset(e.name for e in REGISTRY.events_of_kind("request"))

# A small UAS: rings (reliably or not), answers on a timer or on Answer; CANCEL and PRACK
# rows are left out on purpose, so lint must name exactly where they are needed.
UAS = """\
table: t
role: UAS
starts_on: [DialogINVITE]
parameters: {reject_code: 486}
initial: Idle
states:
  Idle: {}
  Early: {}
  Reliable: {}
  Waiting: {timers: {Answer: 1s}}
  Answered: {}
  Active: {}
  Done: {final: true}
transitions:
  - {from: Idle, on: DialogINVITE, if: [has_sdp], do: [{SendSIPResponse: {code: 183, reliable: true}}], to: Reliable}
  - {from: Idle, on: DialogINVITE, if: [{not: has_sdp}], do: [{SendSIPResponse: {code: 180}}], to: Early}
  - {from: Reliable, on: DialogPRACK, do: [{SendSIPResponse: {code: 200}}], to: Waiting}
  - {from: Reliable, on: Answer, to: Waiting}
  - {from: Early, on: Answer, to: Waiting}
  - {from: Waiting, on: TimerAnswer, do: [{SendSIPResponse: {code: 200}}], to: Answered}
  - {from: Early, on: Reject, do: [{SendSIPResponse: {code: {param: reject_code}, request: invite}}], to: Done}
  - {from: Answered, on: DialogACK, to: Active}
  - {from: Active, on: HangUp, do: [SendBYE], to: Done}
"""


def ctx_for(tmp_path: Path, text: str, deliverable: frozenset[str] = REQUESTS) -> LintContext:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return LintContext(load_table(path), REGISTRY, deliverable)


def missing_by_state(tmp_path: Path, text: str, deliverable: set[str]) -> dict[str, str]:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    found = {}
    for diag in lint_table(load_table(path), REGISTRY, deliverable=deliverable):
        assert diag.rule == "W-UNHANDLED-REQUEST", str(diag)
        state = diag.message.split("'")[1]
        found[state] = diag.message.split(" has no row for ")[1].split(":")[0]
    return found


def test_cancel_is_expected_only_while_the_invite_waits_for_its_answer(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path, UAS)
    # Early/Reliable: 1xx sent; Waiting: no final answer yet; Answered: the 200 went out
    assert awaiting_final_answer(ctx) == {"Early", "Reliable", "Waiting"}


def test_prack_is_expected_only_while_a_reliable_provisional_waits_for_it(tmp_path: Path) -> None:
    ctx = ctx_for(tmp_path, UAS)
    # Reliable --Answer--> Waiting keeps the 183 unPRACKed; the PRACK row does not carry it on,
    # but both lead to Waiting, so Waiting may still see the PRACK
    assert awaiting_prack(ctx) == {"Reliable", "Waiting"}


def test_prack_row_and_final_answer_end_the_wait(tmp_path: Path) -> None:
    text = UAS.replace("  - {from: Reliable, on: Answer, to: Waiting}\n", "")
    ctx = ctx_for(tmp_path, text)
    assert awaiting_prack(ctx) == {"Reliable"}
    assert "Answered" not in awaiting_final_answer(ctx)


def test_warnings_name_cancel_and_prack_where_they_can_arrive(tmp_path: Path) -> None:
    found = missing_by_state(tmp_path, UAS, {"DialogCANCEL", "DialogPRACK", "DialogBYE"})
    assert found == {
        "Early": "DialogBYE, DialogCANCEL",
        "Reliable": "DialogBYE, DialogCANCEL",
        "Waiting": "DialogBYE, DialogCANCEL, DialogPRACK",
        "Answered": "DialogBYE",
        "Active": "DialogBYE",
    }


def test_cancel_and_prack_not_delivered_are_not_expected(tmp_path: Path) -> None:
    assert missing_by_state(tmp_path, UAS, {"DialogBYE"}) == {
        s: "DialogBYE" for s in ("Early", "Reliable", "Waiting", "Answered", "Active")}


def test_a_row_answering_the_current_request_does_not_answer_the_invite(tmp_path: Path) -> None:
    """A 200 to an UPDATE in Early answers the UPDATE: the INVITE still waits (CANCEL expected)."""
    text = UAS + "  - {from: Early, on: DialogUPDATE, do: [{SendSIPResponse: {code: 200}}], to: Waiting}\n"
    text = text.replace("  - {from: Early, on: Answer, to: Waiting}\n", "")
    assert "Waiting" in awaiting_final_answer(ctx_for(tmp_path, text))


def test_reinvite_answered_later_expects_cancel(tmp_path: Path) -> None:
    """A re-INVITE row that does not answer at once leaves the re-INVITE open to a CANCEL."""
    text = UAS.replace("  Active: {}\n", "  Active: {}\n  Asked: {}\n") + (
        "  - {from: Active, on: DialogReINVITE, to: Asked}\n"
        "  - {from: Asked, on: Answer, do: [{SendSIPResponse: {code: 200}}], to: Active}\n")
    ctx = ctx_for(tmp_path, text)
    assert "Asked" in awaiting_final_answer(ctx)
    assert "Active" not in awaiting_final_answer(ctx)


def test_shipped_uas_call_expects_cancel_and_prack_only_while_ringing() -> None:
    ctx = LintContext(load_table("uas_call"), REGISTRY, REQUESTS)
    assert awaiting_final_answer(ctx) == {"Ringing", "RingingReliable", "AnswerOnPrack"}
    assert awaiting_prack(ctx) == {"RingingReliable", "AnswerOnPrack"}


def test_shipped_uac_call_never_gets_cancel_or_prack() -> None:
    ctx = LintContext(load_table("uac_call"), REGISTRY, REQUESTS)
    assert awaiting_final_answer(ctx) == set()
    assert awaiting_prack(ctx) == set()


# -- the default deliverable set -----------------------------------------------------------------
def caps(*events: str) -> Capabilities:
    return Capabilities(frozenset(events), frozenset())


def test_default_deliverable_is_the_union_of_the_backends_requests() -> None:
    backends = [BackendInfo("a", caps("DialogBYE", "Dialog200OK", "DialogTimeout")),
                BackendInfo("b", caps("DialogINFO", "DialogBYE")),
                BackendInfo("broken", None, "does not load")]
    # responses and notices are not requests: only request events are expected in states
    assert default_deliverable(REGISTRY, backends) == {"DialogBYE", "DialogINFO"}


@pytest.mark.parametrize("backends", [[], [BackendInfo("broken", None, "does not load")]])
def test_default_deliverable_falls_back_to_every_request_event(backends: list[BackendInfo]) -> None:
    assert default_deliverable(REGISTRY, backends) == REQUESTS


def test_default_deliverable_reads_the_registered_backends() -> None:
    delivered = set()
    for info in backend_capabilities():
        if info.capabilities is not None:
            delivered |= info.capabilities.events
    found = default_deliverable(REGISTRY)
    assert found <= REQUESTS
    assert {"DialogINVITE", "DialogBYE", "DialogACK"} <= found
    assert found == REQUESTS & delivered


def test_requests_no_backend_delivers_are_not_asked_for(tmp_path: Path) -> None:
    """The shipped tables have no SUBSCRIBE/NOTIFY/REFER rows; lint asks for them only when a
    registered backend delivers them."""
    found = default_deliverable(REGISTRY)
    table = load_table("uac_call")
    warned = " ".join(d.message for d in lint_table(table, REGISTRY))
    for event in ("DialogSUBSCRIBE", "DialogNOTIFY", "DialogREFER"):
        assert (event in warned) == (event in found)
    warned_all = " ".join(d.message for d in lint_table(table, REGISTRY, deliverable=REQUESTS))
    assert "DialogSUBSCRIBE" in warned_all and "DialogREFER" in warned_all
