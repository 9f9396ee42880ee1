"""``EndpointBackend``: the table engine over sipflow's own SIP core (``SipEndpoint``).

Rules:

* This package maps, and does nothing else: UA-core events become table
  events (CONTRACTS §1) with the data tables test (``incoming``), and table
  actions become calls of the ``SipEndpoint`` API (``actions``). Which
  answer, which body, whether to retry: all of that is in the tables. There
  is no flow-specific ``if`` here.
* This module holds the wiring: options, the endpoint built from the tables
  (``Allow``, ``Supported`` and ``Accept`` from ``sipflow.backends.derive``),
  per-leg offer/answer records (``CallMedia``), flushing and shutdown.
* Threading: none. Endpoint events are handled in the driver's ``on_step``;
  actions performed outside a step (an application command, a state timer)
  are flushed by one clock callback at the current time, so a handle
  ``perform`` returns is known to the runtime before its first event.

Theory of operation: the session key of every event is the core's handle
(``"c1"`` …). A new call session gets its handle from ``perform(None,
"SendINVITE", …)``; a UAS session is opened by the runtime from the
``DialogINVITE`` whose key no session owns (``starts_on``). A retry after
401/407 or 3xx is a new INVITE with a new handle, which ``perform`` returns
and the runtime adopts. Per-handle state (``CallMedia``) lives until the
core reports ``HandleReleased``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sipflow.clock import Clock
from sipflow.runtime.builtins import SIP_METHODS
from sipflow.sip.digest import DigestServer
from sipflow.sip.endpoint import EndpointConfig, SipEndpoint
from sipflow.sip.offer_answer import MediaConfig
from sipflow.sip.session_timer import SessionTimerPolicy
from sipflow.sip.types import Address

from .actions import OWN_ACTIONS, REQUEST_ACTIONS, Actions
from .base import BackendEvent, Capabilities
from .derive import Advertised, derive
from .incoming import Incoming
from .media import CallMedia

CALL_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "PRACK", "UPDATE", "INFO", "MESSAGE")
"""The methods these backends deliver to tables (the others are later issues' tables)."""
RESPONSE_EVENTS = ("Dialog180Ringing", "Dialog183SessionProgress", "Dialog1xxProvisional",
                   "Dialog200OK", "Dialog3xxRedirect", "DialogAuthChallenge", "Dialog4xxFailure",
                   "Dialog5xxFailure", "Dialog6xxFailure")
NOTICE_EVENTS = ("DialogTimeout", "DialogTransportError", "DialogSessionRefresh",
                 "DialogSessionExpired", "DialogTerminated", "DialogReleased")


def _capabilities() -> Capabilities:
    requests = [f"Dialog{m}" for m in CALL_METHODS] + ["DialogReINVITE"]
    actions = [*OWN_ACTIONS, *REQUEST_ACTIONS]
    return Capabilities(frozenset(requests + list(RESPONSE_EVENTS) + list(NOTICE_EVENTS)),
                        frozenset(actions), frozenset(SIP_METHODS))


class EndpointBackend(Incoming, Actions):
    """The shared part of the ``sip`` and ``loopback`` backends (see the module rules).

    Options: ``media`` (a ``MediaConfig``; default: audio on the first listen
    host), ``auth`` (a ``DigestServer``, or a mapping user → password with
    ``realm``), ``session_expires`` (seconds of RFC 4028 session timer to ask
    for; None: none), ``user`` (our Contact user part), ``rng`` (tags and
    branches: ``random.Random(seed)`` for reproducible runs), ``trying_delay``.
    """

    name: ClassVar[str] = "endpoint"
    capabilities: ClassVar[Capabilities] = _capabilities()

    def __init__(self, clock: Clock, *, media: MediaConfig | None = None,
                 auth: DigestServer | Mapping[str, str] | None = None, realm: str = "sipflow",
                 session_expires: int | None = None, user: str = "sipflow", rng: Any = None,
                 trying_delay: float = 0.2, tables: Any = None, registry: Any = None) -> None:
        self.clock = clock
        self.media = media
        self.auth = DigestServer(realm, dict(auth)) if isinstance(auth, Mapping) else auth
        self.session_expires = session_expires
        self.user = user
        self.rng = rng
        self.trying_delay = trying_delay
        self.tables = tables
        self.registry = registry
        self.runtime: Any = None
        self.driver: Any = None
        self.endpoint: SipEndpoint | None = None
        self.advertised = Advertised((), (), ())
        self.draining = False
        self.defaults: dict[int, int] = {}
        """Safe-default answers sent, by status code."""
        self._deliver: Callable[[BackendEvent], bool] | None = None
        self._calls: dict[str, CallMedia] = {}
        self._in_step = False
        self._flush_due = False
        self._fake = itertools.count(1)

    # -- wiring -------------------------------------------------------------------------
    def attach(self, runtime: Any) -> None:
        """Called by ``Runtime(..., backend)``: the runtime whose tables (for ``Allow``,
        ``Accept``, ``Supported``) and sessions (for ``begin_shutdown``) this backend serves."""
        self.runtime = runtime
        if self.tables is None:
            self.tables = list(runtime.tables.values())
        if self.registry is None:
            self.registry = runtime.registry

    def _bind(self, deliver: Callable[[BackendEvent], Any]) -> None:
        """Remember ``deliver`` and derive what we advertise from the attached tables."""
        self._deliver = deliver
        if self.registry is None:
            from sipflow.runtime.builtins import default_registry

            self.registry = default_registry()
        self.advertised = derive(self.tables or [], self.registry, self.capabilities)

    def make_endpoint(self, addresses: list[Address]) -> SipEndpoint:
        """The ``SipEndpoint`` on the bound ``addresses``, configured from the tables."""
        policy = SessionTimerPolicy(session_expires=self.session_expires)
        config = EndpointConfig(allow=self.advertised.allow or ("OPTIONS",),
                                supported=self.advertised.supported, session_timer=policy,
                                user=self.user, trying_delay=self.trying_delay,
                                auto_ack=False)  # the tables ACK every 2xx (SendACK)
        if self.media is None:
            host = addresses[0].host if addresses else "127.0.0.1"
            self.media = MediaConfig(address=host)
        endpoint = SipEndpoint(addresses, config, rng=self.rng)
        self.endpoint = endpoint
        return endpoint

    @property
    def local_addresses(self) -> list[Address]:
        """Where the backend listens (after ``start``)."""
        return list(self.endpoint.local) if self.endpoint is not None else []

    def counts(self) -> dict[str, int]:
        """Live SIP-core objects plus the backend's per-leg records (all 0 when idle)."""
        out = dict(self.endpoint.counts()) if self.endpoint is not None else {}
        out["legs"] = len(self._calls)
        return out

    def _leg(self, handle: str) -> CallMedia:
        leg = self._calls.get(handle)
        if leg is None:
            assert self.media is not None
            leg = self._calls[handle] = CallMedia(self.media)
        return leg

    def _endpoint(self) -> SipEndpoint:
        if self.endpoint is None:
            raise RuntimeError(f"the {self.name} backend is not started")
        return self.endpoint

    # -- flushing ------------------------------------------------------------------------
    def _touch(self) -> None:
        """Make sure what the endpoint queued goes out (now, or right after this step)."""
        if self._in_step or self._flush_due or self.driver is None:
            return
        self._flush_due = True
        self.clock.call_at(self.clock.now(), self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        if self.driver is not None:
            self.driver.flush()

    # -- shutdown ---------------------------------------------------------------------
    def begin_shutdown(self) -> int:
        """Refuse new INVITEs (503) and send ``Shutdown`` to every live session; returns how many."""
        self.draining = True
        runtime = self.runtime
        if runtime is None:
            return 0
        sessions = list(runtime.sessions)
        for session in sessions:
            runtime.dispatch(session, "Shutdown")
        self._touch()
        return len(sessions)

    def idle(self) -> bool:
        """No session, dialog or transaction is left."""
        if self.runtime is not None and self.runtime.sessions:
            return False
        counts = self.endpoint.counts() if self.endpoint is not None else {}
        return not counts.get("handles") and not counts.get("dialogs")
