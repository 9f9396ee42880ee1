"""Scenarios: call flows written as data, run in virtual time (``sipflow simulate``).

* ``load_scenario(path_or_name) -> Scenario`` — read and check a ``*.scenario.yaml``
  (``ScenarioError``: one line, ``file:line:col: message``).
* ``run_scenario(scenario) -> ScenarioResult`` — run it on the loopback backend with
  one ``VirtualClock``; ``passed``, ``failure``, ``report()``, ``render_ladder(fmt)``,
  ``coverage``.
* ``sipflow.scenario.coverage.Coverage`` — row coverage over several runs (text, JSON).

Modules: ``model`` (records), ``matchers``, ``schema`` (JSON Schema), ``loader``,
``peer`` (scripted SIP peer), ``agents`` (table participants), ``observe``
(what a run saw), ``runner``, ``coverage``. Importing this package is cheap: the
names above are loaded on first use (the ``sipflow`` command imports the schema
generator on every start).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ScenarioError": "loader", "load_scenario": "loader", "shipped_scenario_names": "loader",
    "ScenarioResult": "runner", "StepFailed": "runner", "run_scenario": "runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sipflow.scenario' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sipflow.scenario.{module}"), name)
