"""The catalogue of lint rules: stable ids, severities and one-line descriptions.

Rules: an id never changes meaning once published; ``E-`` ids are errors (``sipflow
lint`` exits 1), ``W-`` ids warnings (exit 0 unless ``--strict``); ``E-INPUT`` marks
unusable input (exit 2). The README's "Lint rules" section lists exactly this
table, and every rule has one fixture under ``tests/tables/fixtures/<ID>.yaml``.
"""

from __future__ import annotations

RULES: dict[str, str] = {
    "E-INPUT": "the file cannot be used at all: missing, unreadable, a directory, over 256 KiB, "
               "binary or not UTF-8, an alias bomb or nested too deeply (exit 2)",
    "E-YAML": "the file is not valid YAML",
    "E-DUPLICATE-KEY": "a mapping repeats a key (YAML would silently keep one)",
    "E-SCHEMA": "the table does not have the shape of a state table (missing or unexpected key, wrong type, "
                "badly spelled name, bad duration)",
    "E-UNKNOWN-FRAGMENT": "an include names no fragment beside the table nor among the shipped ones",
    "E-UNKNOWN-EVENT": "starts_on or on names an event that is not registered, or a Timer<Name> "
                       "that no state declares",
    "E-UNKNOWN-STATE": "initial, from or to names an undeclared state",
    "E-UNKNOWN-ACTION": "do names an action that is not registered",
    "E-UNKNOWN-GUARD": "if names a guard that is not registered",
    "E-UNKNOWN-APP-EVENT": "publish names an application event that is not registered",
    "E-UNKNOWN-PARAM": "{param: NAME} (or param_is) names a parameter the table does not declare",
    "E-ACTION-PARAM": "an action gets an unknown parameter, lacks a required one, or one of the wrong type",
    "E-GUARD-PARAM": "a guard gets an unknown parameter, lacks a required one, or one of the wrong type",
    "E-GUARD-NEVER-HOLDS": "a guard can never hold for the row's event: {code: 503} on Dialog4xxFailure, "
                           "code or response_to on an event that is not a response",
    "E-PARAM-TYPE": "a timer uses {param: NAME} whose default is not a duration",
    "E-DUPLICATE-ROW": "a row repeats the state, event and guards of an earlier row",
    "E-SHADOWED-ROW": "a row can never fire: in every state it applies to, an earlier row "
                      "(or a named-state row before an Any row) fires whenever it could",
    "W-OVERLAP": "two rows for the same state and event have guards that can both hold and neither "
                 "refines the other: file order silently decides (nondeterministic by intent)",
    "E-START-UNHANDLED": "the initial state has no row for an event the table starts_on",
    "E-NO-EXIT": "a reachable state that is not final has no row leading out of it",
    "E-NO-FINAL-PATH": "no final state can be reached from the initial state (or from some reachable state)",
    "W-UNREACHABLE-STATE": "a state is used in rows but no path from the initial state reaches it",
    "W-UNUSED-STATE": "a state is declared but no row and no initial mention it",
    "W-UNUSED-PARAM": "a parameter is declared but nothing refers to it",
    "W-FINAL-TIMER": "a final state declares a timer (the session ends on entry; it never fires)",
    "W-TIMER-UNHANDLED": "a state's timer has no row in that state: when it fires nothing happens",
    "E-STARTS-ON-CONFLICT": "two tables start on the same event",
    "W-UNHANDLED-REQUEST": "a request a registered backend delivers inside a dialog has no row in a "
                           "reachable state where it can arrive (CANCEL only while an INVITE waits "
                           "for its answer, PRACK only while a reliable provisional waits for it): "
                           "the safe default answer will be sent",
}


def severity(rule: str) -> str:
    """``error`` for ``E-`` rules, ``warning`` for ``W-`` rules."""
    return "warning" if rule.startswith("W-") else "error"
