"""Matchers: how a scenario says what a header value or a body must look like.

Rules (one matcher per written value):

* a plain string matches exactly (the whole value, after stripping surrounding
  white space); ``exact:TEXT`` does the same for a text that would otherwise
  read as a keyword (``exact:absent``);
* ``regex:PATTERN`` matches when the Python regular expression is found
  anywhere in the value (``re.search``; anchor it with ``^``/``$``);
* ``absent`` matches when the header (or body) is not there at all;
  ``present`` when it is there, whatever its value;
* numbers and booleans are compared as their text (``Max-Forwards: 70``).

A header that occurs several times is matched against its values joined with
``", "``, in order. A bad regular expression is refused when the scenario is
loaded (``MatcherError``), never while it runs.

Theory of operation: ``build_matcher`` turns the written value into a small
frozen ``Matcher`` once; ``match`` is a comparison, a ``re.search`` or a
presence test, and ``str()`` gives the form failures print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

EXACT = "exact"
REGEX = "regex"
ABSENT = "absent"
PRESENT = "present"


class MatcherError(ValueError):
    """A matcher could not be built (a bad regular expression, a value of the wrong type)."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One compiled matcher; ``match(value)`` with None for "not there"."""

    kind: str
    text: str = ""
    pattern: re.Pattern[str] | None = None

    def match(self, value: str | None) -> bool:
        """True when ``value`` (None: the header or body is absent) satisfies the matcher."""
        if self.kind == ABSENT:
            return value is None
        if value is None:
            return False
        if self.kind == PRESENT:
            return True
        if self.kind == REGEX:
            assert self.pattern is not None
            return self.pattern.search(value) is not None
        return value.strip() == self.text.strip()

    def __str__(self) -> str:
        if self.kind in (ABSENT, PRESENT):
            return self.kind
        if self.kind == REGEX:
            return f"regex:{self.text}"
        return repr(self.text)


def build_matcher(value: Any) -> Matcher:
    """The matcher a scenario wrote as ``value`` (see the module rules)."""
    if isinstance(value, bool):
        return Matcher(EXACT, "true" if value else "false")
    if isinstance(value, int | float):
        return Matcher(EXACT, str(value))
    if not isinstance(value, str):
        raise MatcherError(f"a matcher is a string (exact text, 'regex:...', 'absent' or "
                           f"'present'), not {type(value).__name__}")
    if value == ABSENT:
        return Matcher(ABSENT)
    if value == PRESENT:
        return Matcher(PRESENT)
    if value.startswith("regex:"):
        text = value[len("regex:"):]
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise MatcherError(f"bad regular expression {text!r}: {exc}") from None
        return Matcher(REGEX, text, pattern)
    if value.startswith("exact:"):
        return Matcher(EXACT, value[len("exact:"):])
    return Matcher(EXACT, value)
