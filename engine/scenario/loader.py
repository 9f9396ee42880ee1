"""Load scenario files: ``*.scenario.yaml`` (or a shipped name) → ``Scenario``.

Rules:

* ``load_scenario("uas_ringing")`` loads the shipped
  ``sipflow.state_tables/scenarios/uas_ringing.scenario.yaml``; anything with a path
  separator or a ``.yaml`` suffix, and a bare word naming an existing file, is a path.
* Reading is the table loader's (``sipflow.tables.yamlio``): size cap, UTF-8, alias
  bombs, duplicate keys, line numbers kept.
* Then, in this order, the first problem wins and becomes one ``ScenarioError``
  (``file:line:col: message``): the shape (``validate.py``: every step names
  one known kind, the file matches the scenario JSON Schema); every participant a step or
  an assertion names is declared; ``send`` comes from a scripted peer; commands go
  to table participants; tables load (a shipped name or a path relative to the
  scenario file); table parameters exist; asserted states exist in the table;
  matchers compile.
* Tables are loaded once per process while their files stay unchanged (the
  built-in registry only): running many scenarios does not parse the same
  YAML again and again.
* Participants without an ``address`` get ``udp:10.0.0.N:5060`` in declaration
  order (N from 1); two participants may not share an address.

Theory of operation: validate the whole shape first (so the builder below can
trust types), then walk the round-trip data once, keeping each value's position
for the error messages.
"""

from __future__ import annotations

import difflib
import os
from importlib import resources
from pathlib import Path
from typing import Any

from sipflow.runtime.builtins import default_registry
from sipflow.runtime.registry import Registry
from sipflow.sip.types import Address
from sipflow.tables.duration import parse_duration
from sipflow.tables.loader import TableLoadError, load_table
from sipflow.tables.loader import is_name as is_table_name
from sipflow.tables.model import Source, Table
from sipflow.tables.yamlio import YamlInputError, load_yaml, plain, where, where_key, where_node
from sipflow.transport.listen import ListenSpecError, parse_listen

from .matchers import MatcherError, build_matcher
from .model import (
    Assertions,
    Command,
    Disconnect,
    Expect,
    MessageFilter,
    Participant,
    Scenario,
    Send,
    Step,
    Wait,
)
from .validate import ScenarioError, check_shape, kind_of

SUFFIX = ".scenario.yaml"
DEFAULT_WITHIN = 5.0
"""Virtual seconds an ``expect`` waits when it gives no ``within``."""
DEFAULT_SETTLE = 40.0
"""Virtual seconds after the last step: long enough for Timer F/J (32 s) to end transactions."""


# -- tables, loaded once per process while their files do not change -------------------
_TABLES: dict[str, tuple[tuple[tuple[str, int, int], ...], Table]] = {}


def _stamp(files: tuple[str, ...]) -> tuple[tuple[str, int, int], ...] | None:
    try:
        return tuple((f, os.stat(f).st_mtime_ns, os.stat(f).st_size) for f in files)
    except OSError:
        return None


def _load_table(ref: str, registry: Registry, cache: bool) -> Table:
    """``load_table``; with ``cache`` (the built-in registry), a table whose files have not
    changed since it was last loaded is not parsed again (ruamel.yaml is slow)."""
    if not cache:
        return load_table(ref, registry)
    key = os.path.abspath(ref) if not is_table_name(ref) else ref
    hit = _TABLES.get(key)
    if hit is not None and _stamp(hit[1].files) == hit[0]:
        return hit[1]
    table = load_table(ref, registry)
    stamp = _stamp(table.files)
    if stamp is not None:
        _TABLES[key] = (stamp, table)
    return table


# -- finding files ---------------------------------------------------------------------
def shipped_dir() -> Path:
    """The folder of the shipped scenarios."""
    return Path(str(resources.files("sipflow.state_tables"))) / "scenarios"


def shipped_scenario_names() -> list[str]:
    """Names of the shipped scenarios (sorted)."""
    return sorted(p.name[: -len(SUFFIX)] for p in shipped_dir().glob(f"*{SUFFIX}"))


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def resolve_scenario(path_or_name: str | Path) -> tuple[Path, str]:
    """The file behind a shipped scenario name or a path, and how messages show it."""
    text = str(path_or_name)
    if (isinstance(path_or_name, Path) or "/" in text or os.sep in text
            or text.endswith((".yaml", ".yml")) or os.path.exists(text)):
        return Path(text), text
    path = shipped_dir() / f"{text}{SUFFIX}"
    if not path.is_file():
        shipped = ", ".join(shipped_scenario_names()) or "none"
        raise ScenarioError(text, 1, 1, f"no shipped scenario named {text!r} (shipped: {shipped}); "
                            f"give a path to a {SUFFIX} file, or a shipped name")
    return path, _display(path)


# -- building ---------------------------------------------------------------------------
class _Builder:
    """Walks validated round-trip data into a ``Scenario`` (one instance per load)."""

    def __init__(self, data: Any, path: Path, file: str, registry: Registry,
                 cache: bool = False) -> None:
        self.cache = cache
        self.data = data
        self.path = path
        self.file = file
        self.registry = registry
        self.participants: dict[str, Participant] = {}
        self.tables: dict[str, Table] = {}

    def src(self, container: Any, key: Any) -> Source:
        line, col = where(container, key, where_node(container))
        return Source(self.file, line, col)

    def fail(self, container: Any, key: Any, message: str) -> ScenarioError:
        source = self.src(container, key)
        return ScenarioError(self.file, source.line, source.col, message)

    def name(self, container: Any, key: str, what: str) -> str:
        value = str(container[key])
        if value not in self.participants:
            known = ", ".join(self.participants)
            close = difflib.get_close_matches(value, list(self.participants), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"declared: {known}"
            raise self.fail(container, key, f"unknown participant {value!r} in {what} ({hint})")
        return value

    # participants
    def build_participants(self) -> None:
        items = self.data["participants"]
        used: dict[Address, str] = {}
        for n, (name, body) in enumerate(items.items(), start=1):
            name = str(name)
            source = Source(self.file, *where_key(items, name))
            if "address" in body:
                try:
                    address = parse_listen(str(body["address"])).address
                except ListenSpecError as exc:
                    raise self.fail(body, "address", str(exc)) from None
            else:
                address = Address("udp", f"10.0.0.{n}", 5060)
            if address in used:
                raise self.fail(body, "address" if "address" in body else "peer",
                                f"participant {name!r} has the address {address} of "
                                f"{used[address]!r}")
            used[address] = name
            if body.get("peer"):
                self.participants[name] = Participant(name, address, source)
                continue
            table_ref = self.table_ref(str(body["table"]))
            table = self.load(body, table_ref)
            parameters = {str(k): plain(v) for k, v in (body.get("parameters") or {}).items()}
            for key in parameters:
                if key not in table.parameters:
                    known = ", ".join(sorted(table.parameters)) or "none"
                    raise self.fail(body["parameters"], key, f"table {table.name!r} has no "
                                    f"parameter {key!r} (declared: {known})")
            self.tables[name] = table
            self.participants[name] = Participant(name, address, source, table_ref, parameters,
                                                      table)

    def table_ref(self, text: str) -> str:
        """A shipped name stays a name; a path is made relative to the scenario file."""
        if "/" in text or os.sep in text or text.endswith((".yaml", ".yml")):
            candidate = Path(text)
            if not candidate.is_absolute():
                candidate = self.path.parent / candidate
            return str(candidate)
        return text

    def load(self, body: Any, ref: str) -> Table:
        try:
            return _load_table(ref, self.registry, self.cache)
        except TableLoadError as exc:
            raise self.fail(body, "table", f"table {body['table']!r} cannot be used: {exc}") from None

    # steps
    def build_steps(self) -> tuple[Step, ...]:
        steps = self.data["steps"]
        out: list[Step] = []
        for index, step in enumerate(steps):
            ((kind, value),) = step.items()
            source = self.src(steps, index)
            if kind == "send":
                out.append(self.send(value, source))
            elif kind == "expect":
                out.append(self.expect(value, source))
            elif kind == "wait":
                out.append(Wait(self.duration(step, "wait"), source))
            elif kind == "disconnect":
                who = self.name(step, "disconnect", "disconnect")
                if not self.participants[who].is_peer:
                    raise self.fail(step, "disconnect", f"{who!r} runs a table; only a scripted "
                                    f"peer can be disconnected")
                out.append(Disconnect(who, source))
            else:
                out.append(self.command(str(kind), step, source))
        return tuple(out)

    def duration(self, container: Any, key: Any) -> float:
        try:
            return parse_duration(plain(container[key]))
        except ValueError as exc:
            raise self.fail(container, key, str(exc)) from None

    def send(self, body: Any, source: Source) -> Send:
        sender = self.name(body, "from", "send.from")
        target = self.name(body, "to", "send.to")
        if not self.participants[sender].is_peer:
            raise self.fail(body, "from", f"{sender!r} runs a table; only a scripted peer "
                            f"(peer: true) sends what a step says")
        kinds = [k for k in ("status", "raw") if k in body]
        if "method" in body and "status" not in body:
            kinds.append("method")
        if len(kinds) != 1:
            raise ScenarioError(self.file, source.line, source.col,
                                "send needs exactly one of method (a request), status "
                                "(a response) or raw (bytes as written)")
        headers = tuple((str(k), None if v is None else str(plain(v)))
                        for k, v in (body.get("headers") or {}).items())
        if "raw" in body and (headers or "body" in body):
            raise ScenarioError(self.file, source.line, source.col,
                                "send with raw takes no headers or body: write them in raw")
        method = str(body["method"]).upper() if "method" in body else None
        return Send(sender, target, source, method=method, status=body.get("status"),
                    reason=body.get("reason"), headers=headers,
                    body=None if "body" not in body else str(body["body"]),
                    raw=None if "raw" not in body else str(body["raw"]),
                    new_dialog=bool(body.get("new_dialog", False)))

    def filter_parts(self, body: Any, what: str) -> dict[str, Any]:
        sender = self.name(body, "from", f"{what}.from") if "from" in body else None
        target = self.name(body, "to", f"{what}.to") if "to" in body else None
        headers = []
        raw_headers = body.get("headers") or {}
        for key, value in raw_headers.items():
            try:
                headers.append((str(key), build_matcher(plain(value))))
            except MatcherError as exc:
                raise self.fail(raw_headers, key, f"header {key}: {exc}") from None
        matcher = None
        if "body" in body:
            try:
                matcher = build_matcher(plain(body["body"]))
            except MatcherError as exc:
                raise self.fail(body, "body", f"body: {exc}") from None
        return {"sender": sender, "target": target,
                "method": str(body["method"]).upper() if "method" in body else None,
                "status": body.get("status"), "headers": tuple(headers), "body": matcher}

    def expect(self, body: Any, source: Source) -> Expect:
        if "from" not in body and "to" not in body:
            raise ScenarioError(self.file, source.line, source.col,
                                "expect needs from or to (or both): whose message is it?")
        parts = self.filter_parts(body, "expect")
        if parts["sender"] is not None and self.participants[parts["sender"]].is_peer:
            raise self.fail(body, "from", f"{parts['sender']!r} is a scripted peer: it sends only "
                            f"what send steps say, so there is nothing to expect from it")
        within = self.duration(body, "within") if "within" in body else DEFAULT_WITHIN
        not_before = self.duration(body, "not_before") if "not_before" in body else 0.0
        if not_before > within:
            raise self.fail(body, "not_before", f"not_before ({not_before:g}s) is later than within "
                            f"({within:g}s): nothing could match")
        return Expect(source=source, within=within, not_before=not_before, **parts)

    def command(self, name: str, step: Any, source: Source) -> Command:
        value = step[name]
        if isinstance(value, dict):
            who = self.name(value, "participant", name)
            data = {str(k): plain(v) for k, v in value.items() if k != "participant"}
        else:
            who = self.name(step, name, name)
            data = {}
        participant = self.participants[who]
        if participant.is_peer:
            raise self.fail(step, name, f"{who!r} is a scripted peer; commands such as {name} go "
                            f"to a table participant")
        if "to" in data:
            target = str(data["to"])
            if target in self.participants:
                data["to"] = self.participants[target].uri
                data["to_address"] = str(self.participants[target].address)
        return Command(name, who, source, data)

    # assertions
    def build_assertions(self) -> Assertions:
        body = self.data.get("assert") or {}
        states: dict[str, tuple[tuple[str, ...], Source]] = {}
        for who, names in (body.get("states") or {}).items():
            who = str(who)
            self.check_declared(body["states"], who, "assert.states")
            table = self.tables.get(who)
            if table is None:
                raise self.fail_key(body["states"], who, f"{who!r} is a scripted peer: it has no "
                                    f"states")
            for n, state in enumerate(names):
                if str(state) not in table.states:
                    known = ", ".join(table.states)
                    raise self.fail(names, n, f"table {table.name!r} has no state {state!r} "
                                    f"(states: {known})")
            states[who] = (tuple(str(s) for s in names), self.src(body["states"], who))
        published: dict[str, tuple[tuple[str, ...], Source]] = {}
        for who, names in (body.get("published") or {}).items():
            self.check_declared(body["published"], str(who), "assert.published")
            published[str(who)] = (tuple(str(s) for s in names), self.src(body["published"], who))
        never: list[MessageFilter] = []
        items = body.get("never_sent") or []
        for index, item in enumerate(items):
            never.append(MessageFilter(source=self.src(items, index),
                                       **self.filter_parts(item, "never_sent")))
        return Assertions(states, published, tuple(never))

    def check_declared(self, container: Any, who: str, what: str) -> None:
        if who not in self.participants:
            close = difflib.get_close_matches(who, list(self.participants), n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                f"declared: {', '.join(self.participants)}"
            raise self.fail_key(container, who, f"unknown participant {who!r} in {what} ({hint})")

    def fail_key(self, container: Any, key: Any, message: str) -> ScenarioError:
        line, col = where_key(container, key, where_node(container))
        return ScenarioError(self.file, line, col, message)


def load_scenario(path_or_name: str | Path, registry: Registry | None = None) -> Scenario:
    """Load and check one scenario; raise ``ScenarioError`` (one line) for the first problem."""
    path, file = resolve_scenario(path_or_name)
    try:
        doc = load_yaml(path, file)
    except YamlInputError as exc:
        first = exc.diagnostics[0]
        raise ScenarioError(first.file, first.line, first.col, first.message) from None
    data = doc.data
    if not isinstance(data, dict):
        line, col = where_node(data)
        raise ScenarioError(file, line, col, f"a scenario file is a mapping with participants "
                            f"and steps, not {kind_of(data)}")
    check_shape(data, file, registry)
    cache = registry is None
    if registry is None:
        registry = default_registry()
    builder = _Builder(data, path, file, registry, cache)
    builder.build_participants()
    steps = builder.build_steps()
    assertions = builder.build_assertions()
    settle = builder.duration(data, "settle") if "settle" in data else DEFAULT_SETTLE
    name = str(data.get("scenario") or path.name.removesuffix(SUFFIX).removesuffix(".yaml"))
    return Scenario(name=name, file=file, participants=builder.participants, steps=steps,
                    assertions=assertions, source=Source(file, 1, 1),
                    description=str(data.get("description", "")), settle=settle)
