"""Benchmark the engine runtime against a naive one-Machine-per-session engine.

Usage: ``python tools/bench_engine.py [--out FILE] [--calls N] [--sessions N]
[--naive-sessions N] [--repeat R] [--cpu K | --no-pin]``

Prints JSON (to ``--out FILE``, or stdout) and a one-line summary (stdout when
the JSON goes to a file, stderr otherwise). Everything runs in one process,
pinned to one core, with the same table and the same do-nothing guards and
actions for both engines:

* the table is the shipped ``uas_call`` (with its ``in_dialog`` fragment),
  every action replaced by a function that does nothing; the guards are the
  built-in ones, which only read the event's data (a guard that always held
  would pick the table's first INVITE row — the 488 for an unusable offer —
  since the shipped rows are written to exclude each other);
* ``engine``: calls through ``Runtime.deliver`` (the backend's entry) — each
  call opens a session on ``DialogINVITE``, then Answer, ACK, INFO, OPTIONS,
  UPDATE, INFO and BYE (8 events, the session ends in ``Terminated``); and
  in-dialog events (rows without ``to``) on established sessions;
* ``breakdown``: where one event's time goes — the machine's
  ``Event.trigger`` alone (session as the model; ``trigger_class`` names the
  class: the compiler's ``FastEvent``) versus ``Runtime.dispatch``;
* ``sessions``: ``start_session`` of N sessions (time, then tracemalloc bytes
  per session in a second pass);
* ``naive``: the same table built as one ``transitions.Machine`` per session
  (the model is the session; callbacks called with ``EventData`` directly: no
  queue, context, timers or publish), its build time, its memory and its
  events per second over the same call flow.

Times are the CPU time of this process (``time.process_time``), so other
load on the machine does not count against the engine; the wall-clock time of
the same runs is reported beside it. Figures are the best of ``--repeat``
runs; the garbage collector stays on.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import transitions
from transitions import Machine

from sipflow.clock import VirtualClock
from sipflow.runtime.builtins import default_registry
from sipflow.runtime.compiler import CompileError
from sipflow.runtime.context import Context, Event
from sipflow.runtime.registry import Registry
from sipflow.runtime.runtime import Runtime
from sipflow.tables.loader import TableLoadError, load_table
from sipflow.tables.model import Table

CALL_FLOW: list[tuple[str, dict[str, Any] | None]] = [
    ("DialogINVITE", {"in_dialog": False}),
    ("Answer", None),
    ("DialogACK", {"in_dialog": True}),
    ("DialogINFO", {"in_dialog": True}),
    ("DialogOPTIONS", {"in_dialog": True}),
    ("DialogUPDATE", {"in_dialog": True, "has_sdp": False}),
    ("DialogINFO", {"in_dialog": True}),
    ("DialogBYE", {"in_dialog": True}),
]
IN_DIALOG = ["DialogINFO", "DialogOPTIONS", "DialogACK", "DialogINFO"]
TARGET_EVENTS = 100_000
TARGET_CREATE_S = 1.0
TARGET_BYTES = 1024


# -- the table and a do-nothing registry ---------------------------------------------------------
def _noop_action(ctx: Any, **params: Any) -> None:
    return None


def noop_registry() -> Registry:
    """The built-in names, with every action doing nothing (guards are the built-in reads)."""
    reg = default_registry()
    return Registry(
        dict(reg.events),
        {n: dataclasses.replace(a, func=_noop_action) for n, a in reg.actions.items()},
        dict(reg.guards),
        dict(reg.app_events),
    )


def make_runtime(table: Table, registry: Registry) -> Runtime:
    # answer_delay: long, so Answer (not the timer) answers; the timer is still started and cancelled.
    return Runtime([table], registry, VirtualClock(), params={"answer_delay": "1h"})


# -- measuring -----------------------------------------------------------------------------------
class Lap:
    """Times a block: ``cpu`` (this process's CPU seconds) and ``wall`` seconds."""

    cpu = wall = 0.0

    def __enter__(self) -> Lap:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def best_of(repeat: int, func: Callable[[], Lap]) -> Lap:
    """The run of ``func`` that used the least CPU, of ``repeat`` runs."""
    return min((func() for _ in range(repeat)), key=lambda lap: lap.cpu)


def engine_call_flow(table: Table, registry: Registry, calls: int) -> Lap:
    rt = make_runtime(table, registry)
    deliver = rt.deliver
    flow = CALL_FLOW
    with Lap() as lap:
        for key in range(calls):
            for name, data in flow:
                deliver(key, name, data)
    assert not rt.sessions and not rt.unhandled, (rt.sessions, rt.unhandled)
    return lap


def engine_in_dialog(table: Table, registry: Registry, events: int, sessions: int = 1000) -> Lap:
    rt = make_runtime(table, registry)
    live = []
    for key in range(sessions):
        for name, data in CALL_FLOW[:3]:
            rt.deliver(key, name, data)
        live.append(rt.session_for(key))
    dispatch = rt.dispatch
    data = {"in_dialog": True}
    rounds = max(1, events // (sessions * len(IN_DIALOG)))
    with Lap() as lap:
        for _ in range(rounds):
            for session in live:
                for name in IN_DIALOG:
                    dispatch(session, name, data)
    assert all(s.state == "Active" for s in live) and not rt.unhandled
    count = rounds * sessions * len(IN_DIALOG)
    lap.cpu, lap.wall = lap.cpu / count, lap.wall / count
    return lap


def breakdown(table: Table, registry: Registry, events: int) -> dict[str, float]:
    """Microseconds per event: transitions' trigger alone, then the whole dispatch."""
    rt = make_runtime(table, registry)
    session = rt.start_session(table.name, handle="k")
    for name, data in CALL_FLOW[:3]:
        rt.dispatch(session, name, data)
    compiled = rt.tables[table.name]
    data = {"in_dialog": True}
    trigger = compiled.triggers[("Active", "DialogINFO")].trigger
    event_cls = type(compiled.triggers[("Active", "DialogINFO")])
    ctx = Context(rt, session, Event("DialogINFO", data))

    def raw() -> Lap:
        with Lap() as lap:
            for _ in range(events):
                trigger(session, ctx)
        return lap

    def full() -> Lap:
        dispatch = rt.dispatch
        with Lap() as lap:
            for _ in range(events):
                dispatch(session, "DialogINFO", data)
        return lap

    def lookup_only() -> Lap:
        lookup = compiled.triggers
        with Lap() as lap:
            for _ in range(events):
                lookup.get(("Active", "DialogINFO"))
        return lap

    calls = calls_per_event(lambda: rt.dispatch(session, "DialogINFO", data))
    raw_us = best_of(3, raw).cpu / events * 1e6
    full_us = best_of(3, full).cpu / events * 1e6
    return {
        "row": "Active + DialogINFO (no to, one action)",
        "trigger_class": f"{event_cls.__module__}.{event_cls.__qualname__}",
        "transitions_trigger_us": round(raw_us, 3),
        "runtime_dispatch_us": round(full_us, 3),
        "runtime_overhead_us": round(full_us - raw_us, 3),
        "lookup_us": round(best_of(3, lookup_only).cpu / events * 1e6, 3),
        "python_calls_per_event": calls,
    }


def calls_per_event(step: Callable[[], object], events: int = 1000) -> dict[str, float]:
    """Function calls made by one ``step()``, by where the called code lives (``sys.setprofile``)."""
    roots = {
        "transitions": os.path.dirname(transitions.__file__),
        "logging": os.path.dirname(logging.__file__),
        "sipflow": os.path.dirname(os.path.dirname(sys.modules[Runtime.__module__].__file__)),
    }
    counts = dict.fromkeys([*roots, "builtin", "other"], 0)

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            counts["builtin"] += 1
        elif event == "call":
            filename = frame.f_code.co_filename
            for name, root in roots.items():
                if filename.startswith(root):
                    counts[name] += 1
                    break
            else:
                counts["other"] += 1

    sys.setprofile(profile)
    try:
        for _ in range(events):
            step()
    finally:
        sys.setprofile(None)
    return {name: round(n / events, 1) for name, n in counts.items()}


def create_sessions(table: Table, registry: Registry, count: int) -> Lap:
    rt = make_runtime(table, registry)
    start_session = rt.start_session
    name = table.name
    with Lap() as lap:
        for key in range(count):
            start_session(name, handle=key)
    assert len(rt.sessions) == count
    return lap


def session_bytes(table: Table, registry: Registry, count: int) -> float:
    rt = make_runtime(table, registry)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key in range(count):
        rt.start_session(table.name, handle=key)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(rt.sessions) == count
    return (after - before) / count


# -- the naive reference: one Machine per session -----------------------------------------------
class NaiveSession:
    """The model of a naive engine: it gets its own Machine and the trigger methods."""

    def __init__(self) -> None:
        self.state = ""


def naive_spec(table: Table) -> dict[str, Any]:
    """``Machine`` keyword arguments for ``table``: same states, rows in the same precedence."""
    final = set(table.final_states)
    non_final = [s for s in table.states if s not in final]

    def cond(event_data: Any) -> bool:
        return True

    def before(event_data: Any) -> None:
        return None

    rows = [r for r in table.rows if not r.is_any] + [r for r in table.rows if r.is_any]
    transitions_ = []
    for row in rows:
        transitions_.append({
            "trigger": row.event,
            "source": non_final if row.is_any else list(row.sources),
            "dest": row.target,
            "conditions": [cond] if row.guards else [],
            "before": [before],
        })
    return {"states": list(table.states), "initial": table.initial, "transitions": transitions_,
            "auto_transitions": False, "send_event": True, "ignore_invalid_triggers": True}


def naive_build(spec: dict[str, Any], count: int) -> tuple[Lap, list[NaiveSession]]:
    models = []
    with Lap() as lap:
        for _ in range(count):
            model = NaiveSession()
            Machine(model=model, **spec)
            models.append(model)
    return lap, models


def naive_bytes(spec: dict[str, Any], count: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _, models = naive_build(spec, count)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(models) == count
    return (after - before) / count


def naive_call_flow(models: list[NaiveSession]) -> Lap:
    """The call flow once on each of the (already built) sessions."""
    with Lap() as lap:
        for model in models:
            trigger = model.trigger
            for name, data in CALL_FLOW:
                trigger(name, data)
    assert all(m.state == "Terminated" for m in models)
    return lap


# -- main ----------------------------------------------------------------------------------------
def pin(cpu: int | None) -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    chosen = cpu if cpu is not None else allowed[-1]
    if chosen not in allowed:
        raise OSError(f"--cpu {chosen}: this process may only run on cores {allowed}")
    os.sched_setaffinity(0, {chosen})
    return chosen


def run(args: argparse.Namespace) -> dict[str, Any]:
    cpu = None if args.no_pin else pin(args.cpu)
    registry = noop_registry()
    table = load_table("uas_call", registry)
    spec = naive_spec(table)
    calls, repeat = args.calls, args.repeat
    n_events = calls * len(CALL_FLOW)

    engine_call_flow(table, registry, min(calls, 2000))  # warm up
    flow = best_of(repeat, lambda: engine_call_flow(table, registry, calls))
    in_dialog = best_of(repeat, lambda: engine_in_dialog(table, registry, n_events, min(calls, 1000)))
    parts = breakdown(table, registry, min(n_events, 100_000))
    create = best_of(repeat, lambda: create_sessions(table, registry, args.sessions))
    per_session = session_bytes(table, registry, args.sessions)

    naive_n = args.naive_sessions
    builds, flows = [], []
    for _ in range(repeat):
        build_lap, models = naive_build(spec, naive_n)
        builds.append(build_lap)
        flows.append(naive_call_flow(models))
        del models
    naive_build_lap = min(builds, key=lambda lap: lap.cpu)
    naive_flow = min(flows, key=lambda lap: lap.cpu)
    naive_per_session = naive_bytes(spec, naive_n)
    naive_n_events = naive_n * len(CALL_FLOW)

    engine_eps = n_events / flow.cpu
    naive_eps = naive_n_events / naive_flow.cpu
    return {
        "benchmark": "engine",
        "python": platform.python_version(),
        "transitions": transitions.__version__,
        "platform": platform.platform(),
        "cpu": cpu,
        "repeat": repeat,
        "clock": "process CPU time (wall-clock beside it)",
        "table": {"name": table.name, "version": table.version, "states": len(table.states),
                  "rows": len(table.rows), "files": list(table.files)},
        "engine": {
            "what": "Runtime.deliver of whole calls (8 events each, session opened by DialogINVITE "
                    "and ended by BYE, state timer started and cancelled); in-dialog: dispatch of "
                    "rows without to on established sessions",
            "calls": calls,
            "events": n_events,
            "call_flow_events_per_s": round(engine_eps),
            "call_flow_us_per_event": round(flow.cpu / n_events * 1e6, 3),
            "call_flow_events_per_s_wall": round(n_events / flow.wall),
            "in_dialog_events_per_s": round(1 / in_dialog.cpu),
            "in_dialog_events_per_s_wall": round(1 / in_dialog.wall),
            "target_events_per_s": TARGET_EVENTS,
            "meets_target": engine_eps >= TARGET_EVENTS,
        },
        "breakdown": parts,
        "sessions": {
            "count": args.sessions,
            "create_s": round(create.cpu, 4),
            "create_s_wall": round(create.wall, 4),
            "create_us_per_session": round(create.cpu / args.sessions * 1e6, 3),
            "bytes_per_session": round(per_session, 1),
            "target_create_s": TARGET_CREATE_S,
            "target_bytes_per_session": TARGET_BYTES,
            "meets_target": create.cpu < TARGET_CREATE_S and per_session <= TARGET_BYTES,
        },
        "naive": {
            "what": "one transitions.Machine per session (model = session); do-nothing callbacks "
                    "called by transitions directly: no queue, context, timers or publish; "
                    "build time not included in its events/s",
            "sessions": naive_n,
            "build_ms_per_session": round(naive_build_lap.cpu / naive_n * 1e3, 4),
            "bytes_per_session": round(naive_per_session, 1),
            "call_flow_events_per_s": round(naive_eps),
            "call_flow_events_per_s_wall": round(naive_n_events / naive_flow.wall),
        },
        "ratios": {
            "events_per_s_engine_over_naive": round(engine_eps / naive_eps, 2),
            "bytes_naive_over_engine": round(naive_per_session / per_session, 1),
            "create_naive_over_engine": round((naive_build_lap.cpu / naive_n)
                                              / (create.cpu / args.sessions), 1),
        },
    }


def summary(result: dict[str, Any]) -> str:
    e, s, n = result["engine"], result["sessions"], result["naive"]
    ok = "OK" if e["meets_target"] and s["meets_target"] else "BELOW TARGET"
    return (f"engine {e['call_flow_events_per_s']:,} events/s (in-dialog {e['in_dialog_events_per_s']:,}/s; "
            f"naive Machine-per-session {n['call_flow_events_per_s']:,}/s); "
            f"{s['count']:,} sessions in {s['create_s']:.3f} s at {s['bytes_per_session']:.0f} B each "
            f"(naive {n['bytes_per_session'] / 1024:.1f} KiB, {n['build_ms_per_session']:.3f} ms each) [{ok}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON here (default: stdout)")
    parser.add_argument("--calls", type=int, default=25_000, help="calls through the engine per run")
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions to create")
    parser.add_argument("--naive-sessions", type=int, default=5_000, help="sessions of the naive engine")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the best is kept)")
    parser.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the last one)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one core")
    args = parser.parse_args(argv)
    for name in ("calls", "sessions", "naive_sessions", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    try:
        result = run(args)
    except (OSError, TableLoadError, CompileError) as exc:  # --cpu not allowed, a broken uas_call
        print(f"bench_engine: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    line = summary(result)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        print(line)
    else:
        print(text)
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
