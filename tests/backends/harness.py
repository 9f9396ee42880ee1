"""Test harness: a caller and a callee, each a Runtime over its own SipEndpoint, on one
loopback network in virtual time."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sipflow.backends.loopback import LoopbackBackend
from sipflow.clock import VirtualClock
from sipflow.runtime.runtime import Runtime
from sipflow.sip.parser import parse_message
from sipflow.transport.loopback import DELIVERED, LoopbackNetwork

SHIPPED = Path(__file__).resolve().parents[2] / "state_tables"
CALLER = "udp:10.0.0.1:5060"
CALLEE = "udp:10.0.0.2:5060"
TARGET = "sip:bob@10.0.0.2:5060"


class Party:
    """One user agent: its backend, runtime and everything its tables published."""

    def __init__(self, net: LoopbackNetwork, listen: str, tables: Iterable[Any], seed: int,
                 params: dict[str, Any] | None = None, **options: Any) -> None:
        self.backend = LoopbackBackend(net.clock, network=net, rng=random.Random(seed),
                                       trying_delay=0.0, **options)
        self.runtime = Runtime(list(tables), None, net.clock, self.backend, params=params)
        self.published: list[tuple[str, str, dict[str, Any]]] = []
        self.runtime.subscribe(lambda s, name, data: self.published.append(
            (s.table.name, name, dict(data))))
        self.backend.open([listen], self.runtime.deliver)

    def names(self) -> list[str]:
        """Published application events, in order (SessionEnded left out)."""
        return [name for _, name, _ in self.published if name != "SessionEnded"]

    def call(self, target: str = TARGET, **params: Any) -> Any:
        session = self.runtime.start_session("uac_call", {"target": target, **params})
        self.runtime.dispatch(session, "MakeCall")
        return session

    def idle(self) -> bool:
        counts = self.backend.counts()
        return not self.runtime.sessions and not any(counts.values())


class Pair:
    """The caller (uac_call) and the callee (uas_call) on one network."""

    def __init__(self, *, caller_tables: Iterable[Any] = ("uac_call",),
                 callee_tables: Iterable[Any] = ("uas_call",), caller_params: dict | None = None,
                 callee_params: dict | None = None, delay: float = 0.01, loss: float = 0.0,
                 caller_options: dict | None = None, callee_options: dict | None = None) -> None:
        self.clock = VirtualClock()
        self.net = LoopbackNetwork(self.clock, delay=delay, loss=loss, seed=7)
        self.callee = Party(self.net, CALLEE, callee_tables, 2, callee_params,
                            **(callee_options or {}))
        self.caller = Party(self.net, CALLER, caller_tables, 1, caller_params,
                            **(caller_options or {}))

    def run(self, seconds: float | None = None) -> None:
        if seconds is None:
            self.clock.run_until_idle()
        else:
            self.clock.advance(seconds)

    def wire(self, outcome: str = DELIVERED) -> list[str]:
        """First lines of the messages on the network (method, or status code), 100 left out."""
        out = []
        for record in self.net.trace:
            if record.outcome != outcome:
                continue
            message = parse_message(record.data)
            line = getattr(message, "method", None) or str(message.status)
            if line != "100":
                out.append(line)
        return out

    def messages(self, first_line: str) -> list[Any]:
        """Parsed messages on the wire whose method or status is ``first_line``."""
        out = []
        for record in self.net.trace:
            if record.outcome == DELIVERED:
                message = parse_message(record.data)
                if (getattr(message, "method", None) or str(message.status)) == first_line:
                    out.append((record, message))
        return out


def edited(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    """A copy of a shipped table (with its fragments) in ``tmp_path``, text replaced."""
    (tmp_path / "fragments").mkdir(exist_ok=True)
    for fragment in (SHIPPED / "fragments").glob("*.yaml"):
        (tmp_path / "fragments" / fragment.name).write_text(fragment.read_text())
    text = (SHIPPED / f"{name}.yaml").read_text()
    for old, new in replacements:
        assert old in text, f"{old!r} is not in {name}.yaml"
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path
