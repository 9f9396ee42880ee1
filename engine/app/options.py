"""Command-line values for ``serve`` and ``call``: ``--set``, ``--auth``, ``--listen``, numbers.

Rules:

* Every function here takes the raw option text and returns a plain value, or
  raises ``UsageError`` whose message is one sentence naming the option and
  the offending text (the CLI prints it after ``sipflow VERB:`` and exits 2).
* ``--set NAME=VALUE``: NAME is a table parameter (``lower_snake_case``),
  VALUE is kept as text (the runtime coerces it to the parameter's type and
  says which table declares what). A NAME given twice keeps the last value.
* ``--auth USER:PASSWORD``: the user may not be empty and may not contain
  ``:``; the password is everything after the first ``:`` (it may be empty).
* ``--listen``: ``sipflow.transport.listen`` syntax (``udp:127.0.0.1:5060``,
  ``tcp:[::1]:0``); the same spec twice is refused.
* ``--recv-buffer BYTES``: a whole number of bytes, optionally with a
  binary suffix (``K``/``KiB``, ``M``/``MiB``, ``G``/``GiB``, any case):
  ``4194304``, ``4M`` and ``4MiB`` are the same; from 1 byte to 1 GiB.

Theory of operation: pure functions, no I/O; the tests drive them directly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from sipflow.transport.listen import ListenSpec, ListenSpecError, parse_listen
from sipflow.transport.options import MAX_RECV_BUFFER

_PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_BYTES = re.compile(r"^(\d+)\s*(?:([kmg])(?:i?b)?|b)?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class UsageError(ValueError):
    """Unusable command-line input; ``str()`` is one sentence naming the option."""


def parse_sets(items: Iterable[str] | None) -> dict[str, str]:
    """``["answer_delay=2s", "reject_code=503"]`` → ``{"answer_delay": "2s", ...}``."""
    values: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"--set {item!r}: expected NAME=VALUE, e.g. --set answer_delay=2s")
        if not _PARAM_NAME.match(name):
            raise UsageError(f"--set {item!r}: {name!r} is not a parameter name "
                             f"(lower_snake_case, e.g. answer_delay)")
        values[name] = value.strip()
    return values


def parse_auth(items: Iterable[str] | None) -> dict[str, str]:
    """``["alice:secret"]`` → ``{"alice": "secret"}``; a user given twice is refused."""
    users: dict[str, str] = {}
    for item in items or ():
        user, sep, password = item.partition(":")
        if not sep:
            raise UsageError(f"--auth {item!r}: expected USER:PASSWORD")
        if not user or user != user.strip():
            raise UsageError(f"--auth {item!r}: the user name is empty or has surrounding spaces")
        if user in users:
            raise UsageError(f"--auth {item!r}: user {user!r} is given twice")
        users[user] = password
    return users


def parse_listens(items: Iterable[str] | None, default: str) -> list[ListenSpec]:
    """The ``--listen`` specs (``default`` when none is given); duplicates are refused."""
    specs: list[ListenSpec] = []
    for item in list(items or ()) or [default]:
        try:
            spec = parse_listen(item)
        except ListenSpecError as exc:
            raise UsageError(f"--listen: {exc}") from None
        if spec in specs and spec.port != 0:
            raise UsageError(f"--listen {item!r}: given twice")
        specs.append(spec)
    return specs


def number(value: float | int, option: str, *, minimum: float = 0.0,
           inclusive: bool = True, integer: bool = False) -> float:
    """``value`` checked to be a finite number ≥ ``minimum`` (> when not ``inclusive``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{option} {value!r}: expected a finite number")
    if integer and value != int(value):
        raise UsageError(f"{option} {value!r}: expected a whole number")
    if value < minimum or (not inclusive and value == minimum):
        bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
        raise UsageError(f"{option} {value:g}: must be {bound}")
    return value


def fraction(percent: float, option: str) -> float:
    """A percentage (0-100) as a fraction (0-1); ``UsageError`` outside that range."""
    if number(percent, option) > 100:
        raise UsageError(f"{option} {percent:g}: must be a percentage (0-100)")
    return percent / 100.0


def parse_bytes(text: str | int, option: str, *, maximum: int = MAX_RECV_BUFFER) -> int:
    """``"4M"`` → 4194304 (see the module rules); ``UsageError`` naming ``option`` otherwise."""
    raw = str(text).strip()
    match = _BYTES.match(raw)
    if raw.startswith("-") and _BYTES.match(raw[1:]):
        raise UsageError(f"{option} {raw!r}: must be at least 1 byte")
    if match is None:
        raise UsageError(f"{option} {raw!r}: expected a number of bytes such as 4194304 or 4M")
    value = int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if value < 1:
        raise UsageError(f"{option} {raw!r}: must be at least 1 byte")
    if value > maximum:
        raise UsageError(f"{option} {raw!r}: must be at most {maximum} bytes "
                         f"({maximum >> 20} MiB)")
    return value
