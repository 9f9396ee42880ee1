"""The live probes: the parser and two in-memory SIP endpoints say what the core does."""

from __future__ import annotations

import time

from sipflow.compat_probe import CONTEXTS, minimal_request, probe_core, probe_parse
from sipflow.runtime.builtins import SIP_METHODS
from sipflow.sip.parser import parse_message


def _by_context(method: str):
    result = probe_core(method, SIP_METHODS)
    return result, {o.context: o for o in result.outcomes}


def test_every_method_parses_with_its_response():
    for method in SIP_METHODS:
        result = probe_parse(method)
        assert result.ok, (method, result.text)
        assert parse_message(minimal_request(method)).method == method


def test_a_request_the_parser_refuses_says_why():
    result = probe_parse("BAD METHOD")   # a space in the method breaks the start line
    assert not result.ok
    assert result.text.startswith("request rejected: ")


def test_bye_is_non_invite_in_a_dialog_and_481_outside():
    result, seen = _by_context("BYE")
    assert result.kind == "non-INVITE txn"
    assert seen["outside"].core_statuses == (481,) and seen["outside"].app is None
    assert seen["confirmed"].app == "answer" and seen["confirmed"].core_statuses == ()
    assert seen["confirmed"].client_txn == "non_invite_client"
    assert "core 481: outside" in result.text()


def test_invite_gets_an_invite_transaction_and_a_core_100():
    result, seen = _by_context("INVITE")
    assert result.kind == "INVITE txn"
    assert seen["outside"].server_txn == "invite_server"
    assert seen["outside"].app == "answer" and seen["outside"].core_statuses == (100,)
    assert seen["confirmed"].app == "answer"          # a re-INVITE reaches the application


def test_cancel_is_answered_by_the_core_and_reported():
    result, seen = _by_context("CANCEL")
    assert seen["early"].core_statuses == (200,) and seen["early"].app == "told"
    assert seen["outside"].core_statuses == (481,)
    assert not seen["confirmed"].sent                 # too late: the caller's core sends nothing
    assert "core 200, app told: early" in result.text()


def test_ack_is_no_transaction():
    result, seen = _by_context("ACK")
    assert result.kind == "no transaction"
    assert seen["answered"].app == "told" and seen["answered"].server_txn is None
    assert seen["answered"].client_txn is None
    assert seen["outside"].text() == "dropped silently"


def test_a_method_outside_the_allowed_ones_is_rejected_everywhere():
    result = probe_core("FOO", SIP_METHODS)
    assert not result.accepted
    assert all(o.core_statuses == (501,) for o in result.outcomes if o.sent)
    allowed = probe_core("FOO", SIP_METHODS + ("FOO",))
    assert allowed.outcomes[0].app == "answer"        # the probe follows the config, not a list


def test_default_allow_is_probed_too():
    register = probe_core("REGISTER", SIP_METHODS)
    options = probe_core("OPTIONS", SIP_METHODS)
    assert register.default_allow is not None and register.default_allow.core_statuses == (405,)
    assert options.default_allow is None              # the same answer as with every method allowed


def test_all_fourteen_probes_are_fast():
    start = time.perf_counter()
    results = [probe_core(m, SIP_METHODS) for m in SIP_METHODS]
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, elapsed
    assert all(len(r.outcomes) == len(CONTEXTS) for r in results)
