"""One reported problem in a table file: ``Diagnostic``, shared by the loader and lint.

Rules: every diagnostic names a file, a 1-based line and column, a stable rule
id (``E-...`` errors, ``W-...`` warnings; the README lists them), a one-line
message and a one-line hint. Its text form is the one line users see:
``file:line:col: RULE-ID severity: message (hint)``. ``unusable`` marks input
that could not be read as a table at all (``sipflow lint`` exits 2 for it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A lint or load problem at ``file:line:col``."""

    file: str
    line: int
    col: int
    rule: str
    severity: str
    message: str
    hint: str = ""
    unusable: bool = False

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.rule} {self.severity}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``{file, line, col, rule, severity, message, hint}``."""
        data = asdict(self)
        del data["unusable"]
        return data

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def error(file: str, line: int, col: int, rule: str, message: str, hint: str = "",
          unusable: bool = False) -> Diagnostic:
    """Shorthand for an error diagnostic."""
    return Diagnostic(file, line, col, rule, "error", message, hint, unusable)


def warning(file: str, line: int, col: int, rule: str, message: str, hint: str = "") -> Diagnostic:
    """Shorthand for a warning diagnostic."""
    return Diagnostic(file, line, col, rule, "warning", message, hint)
