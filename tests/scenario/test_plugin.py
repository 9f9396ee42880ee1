"""The pytest plugin: *.scenario.yaml files are collected and run as test items."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=folder, capture_output=True, text=True, timeout=120)


def test_scenarios_run_as_items_with_their_own_report(tmp_path: Path, write, basic) -> None:
    write(basic, "good")
    write(basic.replace("status: 180}", "status: 183}"), "bad")
    write("participants: {}\nsteps: [{wait: 1s}]\n", "unusable")
    (tmp_path / "plain.yaml").write_text("not: collected\n")
    run = pytest_in(tmp_path, "-rA")
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "2 failed, 1 passed" in out
    assert "PASSED good.scenario.yaml::good" in out
    assert f"FAIL basic: {tmp_path / 'bad.scenario.yaml'}:7: expected 183 from bob to caller" in out
    assert "ladder so far:" in out
    assert "unusable scenario: " in out and "participants must not be empty" in out
    assert "Traceback" not in out and "plain.yaml" not in out


def test_plugin_can_be_disabled(tmp_path: Path, write, basic) -> None:
    write(basic, "good")
    run = pytest_in(tmp_path, "-p", "no:sipflow")
    assert "no tests ran" in run.stdout
