"""The default tables keep every call method mapped end to end (issue 12's compat "Done when"):
removing dead rows must never take the last row that receives or sends a call method."""

from __future__ import annotations

import pytest

from sipflow.compat import build_matrix

CALL_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "UPDATE", "PRACK", "INFO", "OPTIONS")


@pytest.fixture(scope="module")
def rows():
    matrix = build_matrix(methods=CALL_METHODS, markers=None)
    return {row.method: row for row in matrix.rows}


@pytest.mark.parametrize("method", CALL_METHODS)
def test_a_shipped_table_row_receives_and_one_sends_each_call_method(rows, method: str) -> None:
    row = rows[method]
    assert row.tables_receiving, f"no shipped table row receives {method}"
    assert row.tables_sending, f"no shipped table row sends {method}"
    # the tables and the backends leave no gap (the interop column is tests/interop's concern)
    assert [g for g in row.gaps if not g.startswith("interop:")] == []


def test_the_uas_receives_cancel_and_prack_and_the_uac_sends_them(rows) -> None:
    assert {ref.table for ref in rows["CANCEL"].tables_receiving} == {"uas_call"}
    assert {ref.table for ref in rows["PRACK"].tables_receiving} == {"uas_call"}
    assert {ref.table for ref in rows["CANCEL"].tables_sending} == {"uac_call"}
    assert {ref.table for ref in rows["PRACK"].tables_sending} == {"uac_call"}
