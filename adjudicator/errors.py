"""The exception tree of adjudicator.

    AdjudicatorError                 base of every error this library raises on purpose
    ├── RulesetError                 a ruleset could not be loaded; carries every Diagnostic
    ├── InputError                   an input file cannot be read at all (wrong format, float money in Parquet ...)
    ├── RulesetConflictError         two basic rulesets claim the same line; the run stops before any output
    └── StoreError                   the store cannot be opened, is of an unknown schema version, or a write failed

Messages speak to the person who can fix the problem: the file, line and column of a ruleset; the file and row of
a bad claim; never a stack trace for a user's mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AdjudicatorError",
    "Diagnostic",
    "RulesetError",
    "InputError",
    "RulesetConflictError",
    "StoreError",
]

MAX_LISTED = 50


class AdjudicatorError(Exception):
    """Base of every error adjudicator raises on purpose."""


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in a ruleset, located at file:line:col (1-based)."""

    file: str
    line: int
    col: int
    code: str
    message: str
    hint: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.code} {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class RulesetError(AdjudicatorError):
    """A ruleset failed to load; ``diagnostics`` lists every problem found, in file order."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.col, d.code, d.message))
        lines = [str(d) for d in self.diagnostics[:MAX_LISTED]]
        if len(self.diagnostics) > MAX_LISTED:
            lines.append(f"... and {len(self.diagnostics) - MAX_LISTED} more")
        super().__init__("\n".join(lines) if lines else "ruleset failed to load")


class InputError(AdjudicatorError):
    """An input file cannot be read at all; the message names the file (and the column when it is one)."""


class RulesetConflictError(AdjudicatorError):
    """Two basic rulesets match the same lines: the run stops before writing anything."""


class StoreError(AdjudicatorError):
    """The store could not be opened, upgraded or written."""
