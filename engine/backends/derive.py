"""What the user agent advertises, derived from the loaded tables (never a hand-written list).

Rules:

* ``Allow`` lists the SIP methods some loaded table reacts to — a row ``on``
  a request event (``DialogINFO`` → INFO) or a ``starts_on`` naming one —
  that the backend delivers (``Capabilities.events``). INVITE brings ACK and
  CANCEL with it (RFC 3261: they belong to the INVITE transaction).
* ``Supported`` lists the option tags the tables make use of: ``100rel`` when
  a row sends a reliable provisional or a PRACK, ``timer`` when a row reacts
  to ``DialogSessionRefresh`` (RFC 4028) — and only those the backend knows.
* ``Accept`` lists the body types the tables consume: ``application/sdp``
  when they handle INVITE, UPDATE or PRACK; ``application/dtmf-relay`` and
  ``application/dtmf`` when a row tests ``is_dtmf`` or publishes
  ``DtmfReceived``.

Theory of operation: one pass over the rows of every table; the result is
plain tuples for ``EndpointConfig(allow=..., supported=...)`` and the
``Accept`` header of the 200 to OPTIONS. Take a row out of a table and the
method leaves ``Allow``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sipflow.runtime.builtins import SIP_METHODS
from sipflow.runtime.registry import Registry

from .base import Capabilities

SDP_METHODS = frozenset({"INVITE", "UPDATE", "PRACK"})
OPTION_TAGS = ("100rel", "timer")
"""Option tags the SIP core implements (RFC 3262, RFC 4028)."""


@dataclass(frozen=True, slots=True)
class Advertised:
    """The values of ``Allow``, ``Supported`` and ``Accept``."""

    allow: tuple[str, ...]
    supported: tuple[str, ...]
    accept: tuple[str, ...]


def _table_of(item: Any) -> Any:
    """A ``Table`` from a ``Table`` or a ``CompiledTable``."""
    return getattr(item, "table", item)


def derive(tables: Iterable[Any], registry: Registry, capabilities: Capabilities) -> Advertised:
    """``Allow``, ``Supported`` and ``Accept`` for these tables over this backend."""
    methods: set[str] = set()
    tags: set[str] = set()
    accept: list[str] = []
    dtmf = False
    for item in tables:
        table = _table_of(item)
        events = [row.event for row in table.rows] + list(table.starts_on)
        for name in events:
            spec = registry.events.get(name)
            if spec is not None and spec.kind == "request" and spec.method and name in capabilities.events:
                methods.add(spec.method)
            if name == "DialogSessionRefresh":
                tags.add("timer")
        for row in table.rows:
            for action in row.actions:
                if action.name == "SendPRACK" or (action.name == "SendSIPResponse"
                                                  and action.params.get("reliable") is True):
                    tags.add("100rel")
            if "DtmfReceived" in row.publish or any(g.name == "is_dtmf" for g in row.guards):
                dtmf = True
    if "INVITE" in methods:
        methods |= {"ACK", "CANCEL"}
    if methods & SDP_METHODS:
        accept.append("application/sdp")
    if dtmf and "INFO" in methods:
        accept += ["application/dtmf-relay", "application/dtmf"]
    allow = tuple(m for m in SIP_METHODS if m in methods)
    supported = tuple(t for t in OPTION_TAGS if t in tags)
    return Advertised(allow, supported, tuple(accept))
