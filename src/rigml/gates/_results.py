"""Gate reports: what an evaluation found, stored with the run it judged.

A stored report is a ``gate_reports`` row; the registry refuses to promote a version whose
run's newest report failed with :func:`require_gates_passed`, instead of evaluating again.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import GatesFailed

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab

Verdict = Literal["pass", "fail", "no-reference"]
COLUMNS = ("rule", "candidate", "reference", "threshold", "verdict", "reason")


@dataclass(frozen=True)
class GateResult:
    """The verdict of one rule; ``no-reference`` passes (no model holds the alias yet)."""

    rule: str
    verdict: Verdict
    reason: str
    candidate: float | None = None  # the run's value (the worst slice for a slice rule)
    reference: float | None = None  # the reference's value (overall for a slice rule)
    threshold: float | None = None
    name: str | None = None
    reference_id: str | None = None
    slice: str | None = None  # the worst slice, ``segment=value``

    @property
    def passed(self) -> bool:
        return self.verdict != "fail"

    @property
    def figures(self) -> tuple[float | None, float | None, float | None]:
        """candidate, reference, threshold: the numbers the table shows."""
        return self.candidate, self.reference, self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_float(v) for k, v in asdict(self).items()}


@dataclass
class GateReport:
    """Every rule's result for one run; ``passed`` when no rule failed."""

    run_id: str
    run_name: str
    evaluated_at: float
    results: list[GateResult] = field(default_factory=list)
    id: int | None = None  # the stored report, once stored

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def rules(self) -> list[str]:
        return [r.rule for r in self.results]

    @property
    def reference_id(self) -> str | None:
        """The reference the regression rules used (several are joined with commas)."""
        ids = dict.fromkeys(r.reference_id for r in self.results if r.reference_id)
        return ",".join(ids) or None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "run_name": self.run_name,
            "evaluated_at": self.evaluated_at,
            "passed": self.passed,
            "reference_id": self.reference_id,
            "results": [r.to_dict() for r in self.results],
        }

    def rows(self) -> list[tuple[Any, ...]]:
        """One row per rule, in the order of :data:`COLUMNS`."""
        return [
            (f"{r.name}: {r.rule}" if r.name else r.rule, *r.figures, r.verdict, r.reason)
            for r in self.results
        ]

    def table(self) -> str:
        """The report as a plain-text table, for messages and logs."""
        cells = [list(COLUMNS)] + [[_cell(v) for v in row] for row in self.rows()]
        widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join(line.rstrip() for line in lines)


def _json_float(v: Any) -> Any:
    return str(v) if isinstance(v, float) and not math.isfinite(v) else v


_NUMERIC = ("candidate", "reference", "threshold")


def _result_from_json(data: dict[str, Any]) -> GateResult:
    """A stored result; its non-finite numbers were written as "nan", "inf", "-inf"."""
    for key in _NUMERIC:
        if isinstance(data.get(key), str):
            data[key] = float(data[key])
    return GateResult(**data)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def store_gate_report(lab: Lab, report: GateReport) -> int:
    """Keep ``report`` with its run, in one transaction; returns (and sets) its id."""
    return lab.store.transact(lambda conn: insert_gate_report(conn, report))


def insert_gate_report(conn: Connection, report: GateReport) -> int:
    """:func:`store_gate_report` in the caller's write transaction (a promotion's, say)."""
    from sqlalchemy import insert

    from rigml.store.schema import gate_reports

    row = {
        "run_id": report.run_id,
        "evaluated_at": report.evaluated_at,
        "passed": report.passed,
        "rules": json.dumps(report.rules),
        "results": json.dumps([r.to_dict() for r in report.results]),
        "reference_id": report.reference_id,
    }
    key = conn.execute(insert(gate_reports).values(**row)).inserted_primary_key
    assert key is not None, "an insert returns its primary key"
    report.id = int(key[0])
    return report.id


def latest_gate_report(lab: Lab, run_ref: str) -> GateReport | None:
    """The newest stored report of a run (an id, unique prefix or name), or None.

    Raises:
        RunNotFound: no run, or several, answer to ``run_ref``.
    """
    from sqlalchemy import select

    from rigml.store.schema import gate_reports as gr
    from rigml.store.schema import runs
    from rigml.track.queries import resolve_run_id

    run_id = resolve_run_id(lab, run_ref)
    query = (
        select(gr.c.id, gr.c.evaluated_at, gr.c.results, runs.c.name)
        .join(runs, runs.c.id == gr.c.run_id)
        .where(gr.c.run_id == run_id)
        .order_by(gr.c.evaluated_at.desc(), gr.c.id.desc())
        .limit(1)
    )
    with lab.store.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    results = [_result_from_json(r) for r in json.loads(row.results)]
    return GateReport(run_id, row.name, row.evaluated_at, results, id=row.id)


def require_gates_passed(lab: Lab, run_ref: str) -> GateReport:
    """Refuse a run whose newest stored gate report failed, or that has none.

    Returns:
        The passing report.

    Raises:
        GatesFailed: no stored report, or the newest one failed; the message holds its table.
        RunNotFound: no run answers to ``run_ref``.
    """
    report = latest_gate_report(lab, run_ref)
    if report is None:
        raise GatesFailed(run_ref)
    if not report.passed:
        raise GatesFailed(report.run_name, report.table(), report)
    return report
