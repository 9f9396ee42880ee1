"""Build the runtime of ``serve`` and ``call``: tables, parameters and the backend, with clean errors.

Rules:

* ``table_paths(folder, names)`` — the tables to load: every ``*.yaml`` table of
  ``folder`` (``serve``), or only those named (``call`` loads ``uac_call``);
  ``folder`` None means the shipped tables. A missing folder or table is a
  ``UsageError`` naming it.
* ``make_runtime(paths, clock, backend, params)`` loads, lints and compiles
  the tables and applies ``--set`` values. Every failure is one
  ``UsageError`` line: the loader's ``file:line:col: message``, the first lint
  error of a refused table (with how many more), or the parameter that no
  table declares.
* ``make_backend(name, clock, **options)`` finds the backend registered under
  ``name`` (entry-point group ``sipflow.backends``) and builds it; an unknown
  name is a ``UsageError`` listing the registered ones, and so is ``loopback``
  (virtual time in one process: no socket for a peer to reach).

* ``set_receive_buffers(backend, size)`` after the backend is started: asks
  every UDP socket of its driver for ``size`` bytes of receive buffer
  (``--recv-buffer``) and returns, per socket, its address and what the
  kernel granted (``-v`` prints one line each); other transports are left alone.

* ``settle_gc()`` after start-up: freeze what start-up allocated and raise
  the young-generation threshold (measured with ``tools/bench_sip.py``: the
  default collector rescans the messages that finished transactions keep for
  their 32 s timers; 20,000 takes loopback calls from ~2,400–2,800 to
  ~3,000–3,500 per CPU second).

Theory of operation: the two applications differ only in which tables they
load and what they do with sessions; everything that can go wrong before the
first packet is turned into a ``UsageError`` here, so the CLI can print one
line and exit 2.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from sipflow.clock import Clock

from .options import UsageError

GC_THRESHOLD = (20000, 20, 20)


def settle_gc() -> None:
    """Collect, freeze start-up objects and raise the GC threshold (a process setting of serve and call)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def shipped_tables_dir() -> Path:
    """The folder of the shipped tables (``sipflow.state_tables``)."""
    return Path(str(resources.files("sipflow.state_tables")))


def table_paths(folder: Path | None, names: Iterable[str] | None = None) -> list[Path]:
    """The table files to load from ``folder`` (default: shipped): all, or those ``names``."""
    base = folder if folder is not None else shipped_tables_dir()
    if not base.is_dir():
        raise UsageError(f"--tables {base}: not a directory")
    if names is None:
        found = sorted(p for p in base.glob("*.yaml")
                       if not p.name.endswith(".scenario.yaml") and p.is_file())
        if not found:
            raise UsageError(f"--tables {base}: no *.yaml table in this directory")
        return found
    paths = []
    for name in names:
        path = base / f"{name}.yaml"
        if not path.is_file():
            raise UsageError(f"--tables {base}: no table {name}.yaml in this directory")
        paths.append(path)
    return paths


def make_runtime(paths: Iterable[Path], clock: Clock, backend: Any,
                 params: Mapping[str, Any] | None = None) -> Any:
    """A ``Runtime`` over the tables at ``paths``; raises ``UsageError`` with one line."""
    from sipflow.runtime.compiler import CompileError, TableRefused
    from sipflow.runtime.params import ParamError
    from sipflow.runtime.runtime import Runtime
    from sipflow.tables.loader import TableLoadError

    try:
        return Runtime(list(paths), None, clock, backend, params=dict(params or {}))
    except TableLoadError as exc:
        raise UsageError(str(exc)) from None
    except TableRefused as exc:
        more = len(exc.lines) - 1
        tail = f" (and {more} more; run sipflow lint)" if more > 0 else ""
        raise UsageError(f"table refused: {exc.lines[0] if exc.lines else exc}{tail}") from None
    except ParamError as exc:
        raise UsageError(f"--set: {exc}") from None
    except CompileError as exc:
        raise UsageError(f"cannot compile the tables: {exc}") from None


VIRTUAL_BACKENDS = frozenset({"loopback"})
"""Backends that run in virtual time inside one process: nothing outside can reach them."""


def make_backend(name: str, clock: Clock, **options: Any) -> Any:
    """The backend registered as ``name``, built with ``clock`` and ``options``."""
    from sipflow.backends.base import BackendNotFound, load_backend

    if name in VIRTUAL_BACKENDS:
        raise UsageError(f"--backend {name}: it runs in virtual time inside one process; "
                         f"serve and call need a backend with real sockets, such as sip")
    try:
        factory = load_backend(name)
    except BackendNotFound as exc:
        raise UsageError(f"--backend: {exc}") from None
    return factory(clock, **options)


def set_receive_buffers(backend: Any, size: int) -> list[tuple[str, Any]]:
    """Ask each UDP socket of ``backend`` for ``size`` bytes: ``(address, ReceiveBuffer)`` each."""
    driver = getattr(backend, "driver", None)
    results = []
    for transport in list(getattr(driver, "transports", ()) or ()):
        setter = getattr(transport, "set_receive_buffer", None)
        if setter is not None and transport.local.transport == "udp":
            host = transport.local.host
            where = f"udp:{f'[{host}]' if ':' in host else host}:{transport.local.port}"
            results.append((where, setter(size)))
    return results
