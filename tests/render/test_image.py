"""render_image and render: SVG and PNG through Graphviz, and clear errors without it."""

from __future__ import annotations

import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sipflow.tables import render as render_mod
from sipflow.tables.render import (
    FORMATS,
    GraphvizMissing,
    RenderError,
    render,
    render_dot,
    render_image,
    render_markdown,
    render_mermaid,
)

SVG = "{http://www.w3.org/2000/svg}"


def fake_dot(tmp_path: Path, script: str) -> str:
    exe = tmp_path / "dot"
    exe.write_text("#!/bin/sh\n" + script + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def test_svg_is_valid_xml_naming_every_state(dot_exe, call_table):
    svg = ET.fromstring(render_image(call_table, "svg"))
    assert svg.tag == f"{SVG}svg"
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    assert set(call_table.states) <= texts


def test_png_has_the_png_signature(dot_exe, call_table):
    data = render_image(call_table, "png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000


def test_render_dispatches_every_format(dot_exe, call_table):
    results = {fmt: render(call_table, fmt) for fmt in FORMATS}
    assert results["dot"] == render_dot(call_table)
    assert results["mermaid"] == render_mermaid(call_table)
    assert results["md"] == render_markdown(call_table)
    assert isinstance(results["svg"], str)
    assert ET.fromstring(results["svg"]).tag == f"{SVG}svg"
    assert isinstance(results["png"], bytes)


def test_unknown_format_is_a_render_error(call_table):
    with pytest.raises(RenderError, match="unknown format 'jpeg': choose one of dot, svg, png, mermaid, md"):
        render(call_table, "jpeg")
    with pytest.raises(RenderError, match="cannot draw 'dot' with Graphviz"):
        render_image(call_table, "dot")


def test_without_graphviz_images_fail_clearly_and_text_still_works(monkeypatch, call_table):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(GraphvizMissing) as info:
        render_image(call_table, "svg")
    message = str(info.value)
    assert "Graphviz 'dot' is not installed" in message and "--format svg" in message
    assert "\n" not in message
    for fmt in ("dot", "mermaid", "md"):
        assert render(call_table, fmt)


def test_graphviz_failure_is_reported_with_its_first_line(monkeypatch, tmp_path, call_table):
    exe = fake_dot(tmp_path, 'cat >/dev/null; echo "Error: syntax error in line 3" >&2; echo more >&2; exit 1')
    monkeypatch.setattr(render_mod.shutil, "which", lambda name: exe if name == "dot" else None)
    with pytest.raises(RenderError, match=r"failed drawing table 'uac_call': Error: syntax error in line 3$"):
        render_image(call_table, "svg")


def test_graphviz_that_hangs_is_stopped_by_the_timeout(monkeypatch, tmp_path, call_table):
    exe = fake_dot(tmp_path, "exec sleep 5")
    monkeypatch.setattr(render_mod.shutil, "which", lambda name: exe if name == "dot" else None)
    with pytest.raises(RenderError, match=r"took longer than 0.2s drawing table 'uac_call'"):
        render_image(call_table, "png", timeout=0.2)


def test_rows_naming_undeclared_states_are_a_render_error_with_the_row_source(rt, call_table):
    call_table.rows.append(rt.row("Active", "HangUp", to="Nowhere", line=40))
    for fn in (render_dot, render_mermaid, render_markdown):
        with pytest.raises(RenderError, match=r"^/srv/tables/uac_call.yaml:40:3: undeclared state 'Nowhere'"):
            fn(call_table)
    call_table.rows[-1] = rt.row("Limbo", "HangUp", to="Active", line=41)
    with pytest.raises(RenderError, match=r"^/srv/tables/uac_call.yaml:41:3: undeclared state 'Limbo'"):
        render_mermaid(call_table)


def test_an_undeclared_initial_state_is_a_render_error(call_table):
    call_table.initial = "Nowhere"
    for fn in (render_dot, render_mermaid, render_markdown):
        with pytest.raises(RenderError, match=r"^/srv/tables/uac_call.yaml:1:3: undeclared state 'Nowhere'"):
            fn(call_table)
