"""Evaluation gates: rules a candidate run must pass before its model is promoted.

``parse_gates`` reads a ``gates:`` list, ``evaluate_gates`` judges a run by it (against
the model at an alias through a :class:`Reference`), ``store_gate_report`` keeps the
report with the run, and ``require_gates_passed`` lets the registry refuse a version whose
gates failed. Names load lazily (PEP 562): importing ``rigml.gates`` costs nothing.
"""

# No ``from __future__ import annotations`` and no public import here: every public
# attribute of this package is in ``__all__`` (tests/gates/test_exports.py checks it).
import typing as _typing

from rigml._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from rigml.gates._evaluate import evaluate_gates
    from rigml.gates._reference import Reference, ReferenceValues, RunReference
    from rigml.gates._results import (
        GateReport,
        GateResult,
        latest_gate_report,
        require_gates_passed,
        store_gate_report,
    )
    from rigml.gates._rules import Bound, Gate, Subject, load_gates_file, parse_gate, parse_gates

# public name -> the private module that defines it
_LAZY = {
    "evaluate_gates": "_evaluate",
    "Reference": "_reference",
    "ReferenceValues": "_reference",
    "RunReference": "_reference",
    "GateReport": "_results",
    "GateResult": "_results",
    "latest_gate_report": "_results",
    "require_gates_passed": "_results",
    "store_gate_report": "_results",
    "Bound": "_rules",
    "Gate": "_rules",
    "Subject": "_rules",
    "load_gates_file": "_rules",
    "parse_gate": "_rules",
    "parse_gates": "_rules",
}

__all__ = [
    "Bound",
    "Gate",
    "GateReport",
    "GateResult",
    "Reference",
    "ReferenceValues",
    "RunReference",
    "Subject",
    "evaluate_gates",
    "latest_gate_report",
    "load_gates_file",
    "parse_gate",
    "parse_gates",
    "require_gates_passed",
    "store_gate_report",
]

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
