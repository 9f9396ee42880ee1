"""Scenarios: call flows written as data, run in virtual time (``sipflow simulate``).

* ``load_scenario(path_or_name) -> Scenario`` — read and check a ``*.scenario.yaml``
  (``ScenarioError``: one line, ``file:line:col: message``).
* ``run_scenario(scenario) -> ScenarioResult`` — run it on the loopback backend with
  one ``VirtualClock``; ``passed``, ``failure``, ``report()``, ``render_ladder(fmt)``,
  ``coverage``.
* ``Coverage`` — row coverage over several runs (text and JSON).

Modules: ``model`` (records), ``matchers``, ``schema`` (JSON Schema), ``loader``,
``peer`` (scripted SIP peer), ``agents`` (table participants), ``observe``
(what a run saw), ``runner``, ``coverage``.
"""

from __future__ import annotations

from .loader import ScenarioError, load_scenario, shipped_scenario_names
from .runner import ScenarioResult, StepFailed, run_scenario

__all__ = ["ScenarioError", "ScenarioResult", "StepFailed", "load_scenario", "run_scenario",
           "shipped_scenario_names"]
