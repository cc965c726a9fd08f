"""Errors of the doctor: a fact this system cannot give, a check that does not exist.

* FactUnavailable (Exception): a check that needs the fact becomes "skip" with the reason;
  never reaches a caller of :func:`~rigml.machine.doctor.run_checks`.
* UnknownCheck (RigError > InvalidInput, ValueError): ``--check`` or ``--explain`` named no
  check.
"""

from __future__ import annotations

from collections.abc import Sequence

from rigml.errors import InvalidInput


class FactUnavailable(Exception):
    """A fact cannot be read on this system; the checks that need it are skipped with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownCheck(InvalidInput):
    """``--check`` or ``--explain`` named a check that does not exist."""

    def __init__(self, name: str, suggestions: Sequence[str], known: Sequence[str]) -> None:
        if suggestions:
            hint = "did you mean " + " or ".join(suggestions) + "?"
        else:
            hint = "the checks are: " + ", ".join(known)
        super().__init__(f"no doctor check named {name!r}", hint=hint)
        self.name = name
        self.suggestions = list(suggestions)
