"""What checks return and what a doctor run reports: statuses, outcomes, results, the report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail", "skip")
_RANK = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; :func:`run_checks` adds the check's id and title."""

    status: Status
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: its status, a one-line summary, the facts behind it and a fix."""

    id: str
    title: str
    status: Status
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorReport:
    """The results of :func:`run_checks`, in registry order."""

    results: list[CheckResult]
    elapsed_s: float
    system: str
    python: str

    @property
    def counts(self) -> dict[str, int]:
        """How many results have each status, every status present (zero or more)."""
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for r in self.results:
            counts[r.status] += 1
        return counts

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return any(r.status == "fail" for r in self.results)

    @property
    def exit_code(self) -> int:
        """1 when any check failed, else 0: ``rig doctor`` can gate a CI job."""
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "counts": self.counts,
            "elapsed_s": round(self.elapsed_s, 3),
            "system": self.system,
            "python": self.python,
            "checks": [r.to_dict() for r in self.results],
        }


def _worst(statuses: Iterable[Status]) -> Status:
    found = list(statuses)
    return max(found, key=lambda s: _RANK[s]) if found else "skip"
