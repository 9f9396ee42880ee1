"""The small text helpers behind every format: durations, timers, sources."""

from __future__ import annotations

import pytest

from sipflow.tables.model import ParamRef, Source, StateTimer
from sipflow.tables.render import format_duration, source_text, timer_label


@pytest.mark.parametrize(("seconds", "text"), [
    (180.0, "180s"), (120, "120s"), (0.5, "500ms"), (0.001, "1ms"), (1.5, "1.5s"), (0.0, "0s"),
    (0.0005, "0.0005s"), (32.0, "32s"), (0.3, "300ms"), (0.07, "70ms"),
])
def test_durations_read_like_the_table(seconds, text):
    assert format_duration(seconds) == text


def test_parameter_durations_show_the_name_and_default():
    assert format_duration(ParamRef("no_answer")) == "$no_answer"
    assert format_duration(ParamRef("no_answer"), {"no_answer": "180s"}) == "$no_answer=180s"
    assert format_duration(ParamRef("x"), {"other": 1}) == "$x"


def test_timer_label():
    timer = StateTimer("NoAnswer", 180.0, Source("t.yaml", 3))
    assert timer_label(timer) == "timer NoAnswer 180s"


@pytest.mark.parametrize(("table_file", "row_file", "shown"), [
    ("state_tables/uac_call.yaml", "state_tables/uac_call.yaml", "uac_call.yaml:7"),
    ("state_tables/uac_call.yaml", "state_tables/fragments/in_dialog.yaml", "fragments/in_dialog.yaml:7"),
    ("/opt/t/uac_call.yaml", "/opt/t/fragments/in_dialog.yaml", "fragments/in_dialog.yaml:7"),
    ("/opt/t/uac_call.yaml", "/opt/shared/in_dialog.yaml", "/opt/shared/in_dialog.yaml:7"),
    ("/opt/t/uac_call.yaml", "/opt/tt/in_dialog.yaml", "/opt/tt/in_dialog.yaml:7"),
    ("uac_call.yaml", "fragments/in_dialog.yaml", "fragments/in_dialog.yaml:7"),
    ("/opt/t/uac_call.yaml", "fragments/in_dialog.yaml", "fragments/in_dialog.yaml:7"),
])
def test_sources_are_shown_relative_to_the_table_folder(rt, table_file, row_file, shown):
    table = rt.build_table("t", {"Idle": rt.make_call_table().states["Idle"]}, [],
                           source=Source(table_file, 1))
    assert source_text(Source(row_file, 7, 5), table) == shown
