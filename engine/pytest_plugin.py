"""The sipflow pytest plugin: ``*.scenario.yaml`` files are test items.

Rules:

* Registered through the ``pytest11`` entry point (``sipflow =
  sipflow.pytest_plugin``), so any pytest run in an environment where sipflow
  is installed collects scenario files it is pointed at:
  ``pytest state_tables/scenarios`` or ``pytest my_flow.scenario.yaml``.
  Disable it with ``-p no:sipflow``.
* Each file is one item named after the scenario file. It passes when
  ``sipflow simulate`` would pass it; a failure is reported as ``simulate``
  reports it (``file:line``, expected against got, the ladder so far), without
  a Python traceback. An unusable file fails with its one-line error.
* Importing this module is cheap: the scenario machinery is imported only
  when a scenario runs, so the plugin costs nothing to test runs that have
  no scenario files.

Theory of operation: ``pytest_collect_file`` claims ``*.scenario.yaml``;
``ScenarioItem.runtest`` is ``load_scenario`` + ``run_scenario``, and
``repr_failure`` prints ``ScenarioResult.report()`` instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SUFFIX = ".scenario.yaml"


class ScenarioFailed(Exception):
    """A scenario did not pass; the message is the report to show."""


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    """Collect ``*.scenario.yaml`` files."""
    if file_path.name.endswith(SUFFIX):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file: it holds one item."""

    def collect(self) -> list[pytest.Item]:
        """The scenario itself."""
        return [ScenarioItem.from_parent(self, name=self.path.name.removesuffix(SUFFIX))]


class ScenarioItem(pytest.Item):
    """Runs one scenario file in virtual time."""

    def runtest(self) -> None:
        """Load and run the scenario; raise ``ScenarioFailed`` with the report."""
        from sipflow.scenario import ScenarioError, load_scenario, run_scenario

        try:
            result = run_scenario(load_scenario(self.path))
        except ScenarioError as exc:
            raise ScenarioFailed(f"unusable scenario: {exc}") from None
        if not result.passed:
            raise ScenarioFailed(result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        """The scenario's own report, not a traceback."""
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the item comes from, for pytest's reports."""
        return self.path, 0, f"scenario {self.name}"
