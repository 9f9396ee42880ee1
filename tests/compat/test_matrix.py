"""The matrix follows its inputs: registry, tables, backends and markers (nothing hard-coded)."""

from __future__ import annotations

import pytest

from sipflow.compat import (
    COLUMNS,
    LIVE,
    backend_capabilities,
    build_matrix,
    cells,
    row_json,
    to_json,
    to_markdown,
)
from sipflow.compat_markers import MarkerScan
from sipflow.runtime.builtins import SIP_METHODS, default_registry
from sipflow.runtime.registry import Registry

from .conftest import backend, marker


def _without(reg: Registry, method: str) -> Registry:
    """A copy of ``reg`` with no event or action of ``method``."""
    out = reg.copy()
    out.events = {n: e for n, e in out.events.items() if e.method != method}
    out.actions = {n: a for n, a in out.actions.items() if a.sends != method}
    return out


def test_live_matrix_has_one_row_per_sip_method_in_order():
    matrix = build_matrix(backends=[], markers=None)
    assert [row.method for row in matrix.rows] == list(SIP_METHODS)
    for row in matrix.rows:
        assert row.parsed.ok, row.parsed.text
        # every registered request event of the method is listed, and only those
        expected = sorted(e.name for e in default_registry().events.values() if e.method == row.method)
        assert sorted(e.name for e in row.events) == expected


def test_complete_inputs_leave_no_gap(complete_publish):
    matrix = build_matrix(**complete_publish)
    (row,) = matrix.rows
    assert row.gaps == []
    assert matrix.gaps == []
    assert [e.backends for e in row.events] == [("fake",)]
    assert [a.name for a in row.actions] == ["SendPUBLISH"]


def test_an_action_that_sends_message_fills_the_message_actions_cell(complete_publish):
    reg = _without(default_registry(), "MESSAGE")
    bare = build_matrix(methods=["MESSAGE"], registry=reg, tables=[], backends=[], markers=None)
    assert bare.rows[0].actions == []
    assert any(g.startswith("action:") for g in bare.rows[0].gaps)
    assert cells(bare.rows[0], False)[4] == "none"

    reg.action("ShoutMessage", "send a MESSAGE, loudly", sends="MESSAGE")(lambda ctx: None)
    filled = build_matrix(methods=["MESSAGE"], registry=reg, tables=[], backends=[], markers=None)
    assert [a.name for a in filled.rows[0].actions] == ["ShoutMessage"]
    assert "ShoutMessage" in cells(filled.rows[0], False)[4]
    assert not any(g.startswith("action:") for g in filled.rows[0].gaps)


def test_an_event_with_the_method_fills_the_events_cell():
    reg = _without(default_registry(), "INFO")
    row = build_matrix(methods=["INFO"], registry=reg, tables=[], backends=[], markers=None).rows[0]
    assert row.events == [] and any(g.startswith("event:") for g in row.gaps)
    reg.add_event("InfoArrived", "request", "an INFO", method="INFO")
    row = build_matrix(methods=["INFO"], registry=reg, tables=[], backends=[], markers=None).rows[0]
    assert [e.name for e in row.events] == ["InfoArrived"]
    assert not any(g.startswith("event:") for g in row.gaps)


def test_a_row_in_a_temp_table_shows_up(publisher_table):
    before = build_matrix(methods=["PUBLISH"], tables=[], backends=[], markers=None).rows[0]
    assert before.tables_receiving == [] and before.tables_sending == []
    assert any(g.startswith("tables:") for g in before.gaps)

    row = build_matrix(methods=["PUBLISH"], tables=publisher_table, backends=[], markers=None).rows[0]
    assert [r.text() for r in row.tables_receiving] == ["publisher:11"]
    assert [r.text() for r in row.tables_sending] == ["publisher:10"]
    assert not any(g.startswith("tables:") for g in row.gaps)
    # a method the table does not mention stays empty
    bye = build_matrix(methods=["BYE"], tables=publisher_table, backends=[], markers=None).rows[0]
    assert bye.tables_receiving == [] and bye.tables_sending == []


def test_the_shipped_tables_rows_are_found_where_they_are():
    row = build_matrix(methods=["BYE"], backends=[], markers=None).rows[0]
    for ref in row.tables_receiving + row.tables_sending:
        line = open(ref.file, encoding="utf-8").read().splitlines()[ref.line - 1]
        assert "BYE" in line, (ref, line)


def test_backends_mark_what_they_deliver_and_the_rest_is_a_gap():
    sip = backend("sip", {"DialogBYE"}, {"SendBYE"})
    matrix = build_matrix(methods=["BYE", "UPDATE"], backends=[sip], markers=None)
    bye, update = matrix.rows
    assert bye.events[0].backends == ("sip",) and bye.actions[0].backends == ("sip",)
    assert not any(g.startswith("backend:") for g in bye.gaps)
    assert "backend: no registered backend delivers DialogUPDATE" in update.gaps
    assert "DialogUPDATE [no backend]" in cells(update, True)[3]

    nobody = build_matrix(methods=["BYE"], backends=[], markers=None).rows[0]
    assert any("no backend is registered" in g for g in nobody.gaps)
    assert "(no backend registered)" in cells(nobody, False)[3]


def test_backend_capabilities_are_read_from_the_class_without_instantiating_it():
    from sipflow.backends.base import Capabilities

    class Good:
        capabilities = Capabilities(frozenset({"DialogBYE"}), frozenset({"SendBYE"}))

        def __init__(self, clock):  # pragma: no cover - must not be called
            raise AssertionError("compat instantiated the backend")

    class NoCaps:
        pass

    class Entry:
        def __init__(self, target):
            self.target = target

        def load(self):
            if isinstance(self.target, Exception):
                raise self.target
            return self.target

    infos = backend_capabilities({"good": Entry(Good), "bare": Entry(NoCaps),
                                  "broken": Entry(ImportError("no module named x"))})
    by_name = {i.name: i for i in infos}
    assert by_name["good"].capabilities is Good.capabilities and not by_name["good"].problem
    assert by_name["bare"].capabilities is None and "class-level 'capabilities'" in by_name["bare"].problem
    assert "does not load" in by_name["broken"].problem and "no module named x" in by_name["broken"].problem
    matrix = build_matrix(methods=["BYE"], backends=infos, markers=None)
    assert matrix.rows[0].events[0].backends == ("good",)
    assert len(matrix.notes) == 2


def test_interop_markers_count_except_the_harness_role():
    scan = MarkerScan([marker("UPDATE", "uas"), marker("INVITE", "harness")])
    update, invite = build_matrix(methods=["UPDATE", "INVITE"], backends=[], markers=scan).rows
    assert [t.role for t in update.interop_tests] == ["uas"]
    assert not any(g.startswith("interop:") for g in update.gaps)
    assert invite.interop_tests == []
    assert any(g.startswith("interop: no test") for g in invite.gaps)

    unknown = build_matrix(methods=["UPDATE"], backends=[], markers=None).rows[0]
    assert unknown.interop_tests is None
    assert "interop: tests not available (not running from a checkout)" in unknown.gaps
    assert cells(unknown, False)[7] == "tests not available"


def test_live_markers_come_from_the_checkout():
    invite = build_matrix(methods=["INVITE"], backends=[], markers=LIVE).rows[0]
    # tests/interop/test_sipp_harness.py is role "harness": read, but not counted
    assert invite.interop_tests is not None
    assert all(t.role != "harness" for t in invite.interop_tests)


def test_json_rows_have_every_column_and_the_gaps(complete_publish):
    matrix = build_matrix(methods=["PUBLISH", "BYE"], tables=complete_publish["tables"],
                          backends=complete_publish["backends"], markers=complete_publish["markers"])
    import json

    data = json.loads(to_json(matrix))
    assert isinstance(data, list) and [d["method"] for d in data] == ["PUBLISH", "BYE"]
    for item in data:
        assert set(item) == {"method", *COLUMNS, "gaps"}
        assert set(item["transaction"]["contexts"]) == {"outside", "early", "answered", "confirmed"}
    publish, bye = data
    assert publish["gaps"] == []
    assert publish["tables_sending"][0]["line"] == 10
    assert publish["events"] == [{"name": "DialogPUBLISH", "backends": ["fake"]}]
    assert bye["gaps"] and all(isinstance(g, str) for g in bye["gaps"])
    assert row_json(matrix.rows[1]) == bye


def test_markdown_has_one_table_row_per_method_and_lists_the_gaps():
    matrix = build_matrix(methods=["BYE", "PUBLISH"], tables=[], backends=[], markers=None)
    text = to_markdown(matrix)
    lines = text.splitlines()
    assert lines[0].startswith("| Method | Parsed | Transaction handling |")
    assert lines[1].startswith("|---|")
    assert lines[2].startswith("| BYE |") and lines[3].startswith("| PUBLISH |")
    assert all(line.count(" | ") == 7 for line in lines[2:4])
    assert "0 of 2 methods without a gap. Gaps:" in text
    for method, gap in matrix.gaps:
        assert f"- {method}: {gap}" in text


@pytest.mark.parametrize("method", ["FOO"])
def test_an_unknown_method_is_all_gaps(method):
    row = build_matrix(methods=[method], backends=[], markers=None).rows[0]
    kinds = {g.split(":")[0] for g in row.gaps}
    assert {"transaction", "event", "action", "tables", "backend", "interop"} <= kinds
    assert "core 501" in row.transaction.text()


def test_backends_that_run_transactions_for_a_method_are_named():
    from sipflow.backends.base import Capabilities
    from sipflow.compat import BackendInfo

    sip = BackendInfo("sip", Capabilities(frozenset(), frozenset(), frozenset({"BYE"})))
    bye, info = build_matrix(methods=["BYE", "INFO"], backends=[sip], markers=None).rows
    assert bye.transaction_backends == ("sip",) and info.transaction_backends == ()
    assert cells(bye, True)[2].startswith("non-INVITE txn [sip]; ")
    assert not cells(info, True)[2].startswith("non-INVITE txn [")
    assert row_json(bye)["transaction"]["backends"] == ["sip"]
    assert isinstance(sip.capabilities, Capabilities)


def test_a_marker_for_a_method_outside_the_matrix_is_a_note():
    scan = MarkerScan([marker("REINVITE", "uas", "test_typo"), marker("BYE")])
    matrix = build_matrix(methods=["BYE"], backends=[], markers=scan)
    assert matrix.notes == ["tests/interop/test_x.py:3: the interop marker of test_typo names "
                            "REINVITE, which is not a method of this matrix"]
    assert [t.test for t in matrix.rows[0].interop_tests] == ["test_x"]


def test_each_method_row_shows_exactly_the_names_registered_for_it():
    reg = default_registry()
    for method in SIP_METHODS:
        tag = method.title()
        reg.add_event(f"Probe{tag}Arrived", "request", "a probe event", method=method)
        reg.action(f"Probe{tag}Send", "a probe action", sends=method)(lambda ctx: None)
    matrix = build_matrix(registry=reg, tables=[], backends=[], markers=None)
    for row in matrix.rows:
        tag = row.method.title()
        assert [e.name for e in row.events if e.name.startswith("Probe")] == [f"Probe{tag}Arrived"]
        assert [a.name for a in row.actions if a.name.startswith("Probe")] == [f"Probe{tag}Send"]


def test_an_unreadable_backend_is_registered_but_delivers_nothing():
    from sipflow.compat import BackendInfo

    broken = BackendInfo("sip", None, "backend 'sip' does not load: ImportError: x")
    matrix = build_matrix(methods=["BYE"], backends=[broken], markers=None)
    row = matrix.rows[0]
    assert "backend: no registered backend delivers DialogBYE" in row.gaps
    assert matrix.notes == ["backend 'sip' does not load: ImportError: x"]
    assert "DialogBYE [no backend]" in cells(row, True)[3]
