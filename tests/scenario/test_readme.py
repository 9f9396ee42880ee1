"""The README section "Change a call flow" works verbatim: its shell blocks run in a fresh folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Change a call flow"


def shell_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end >= 0 else None]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_the_section_is_in_the_contents() -> None:
    assert "- [Change a call flow](#change-a-call-flow)" in README.read_text(encoding="utf-8")


def test_change_a_call_flow_runs_verbatim(tmp_path: Path) -> None:
    blocks = shell_blocks()
    assert len(blocks) == 5
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["COLUMNS"] = "100"
    outputs = []
    for block in blocks:
        run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{block}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
        outputs.append(run.stdout + run.stderr)
    edit, _, simulate, shipped, render = outputs
    table = (tmp_path / "mine" / "uas_call.yaml").read_text()
    assert "  answer_delay: 12s " in table
    assert "PASS rings_twice" in simulate and simulate.rstrip().endswith("1 passed, 0 failed")
    assert re.search(r"12\.000 .*200 OK \(INVITE\)", simulate), simulate
    assert "[Ringing → Answered]" in simulate and "TimerAnswer" in simulate
    assert "row coverage:" in simulate and "uas_call  mine/uas_call.yaml" in simulate
    assert "never fired: mine/uas_call.yaml:" in simulate
    assert ("FAIL rings_twice: mine/shipped.scenario.yaml:9: expected 200 (INVITE) from bob to "
            "caller") in shipped
    assert ": time: expected not before 12s after the step began, it came after 0s" in shipped
    assert "exit 1: the shipped table answers at once" in shipped
    assert "```mermaid" in (tmp_path / "mine" / "uas_call.md").read_text()
    page = (tmp_path / "mine" / "ladders" / "rings_twice.html").read_text()
    assert "<svg" in page and "INVITE sip:bob@10.0.0.2" in page
    assert "1 passed" in render


def test_every_shipped_scenario_is_listed() -> None:
    from sipflow.scenario import shipped_scenario_names

    text = README.read_text(encoding="utf-8")
    missing = [name for name in shipped_scenario_names() if f"| `{name}` |" not in text]
    assert not missing, f"add these scenarios to the README table 'The shipped scenarios': {missing}"
