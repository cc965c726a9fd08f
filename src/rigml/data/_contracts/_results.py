"""Check results: the report a check returns, and storing and reading it with the version.

:class:`CheckReport` and :class:`Failure` are what :func:`~rigml.data._contracts.check`
returns; a stored report is a ``dataset_checks`` row of the version it checked. Pipelines
gate on the newest one with :func:`require_passing_check` instead of checking again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rigml.data._contracts._model import Contract, contract_to_yaml
from rigml.errors import ContractFailed

if TYPE_CHECKING:
    from rigml.data._refs import VersionInfo
    from rigml.lab import Lab


@dataclass
class Failure:
    check: str
    column: str | None
    failing_rows: int | None
    examples: list[dict[str, Any]]  # value, file, row (1-based data row of that file)
    detail: str = ""


@dataclass
class CheckReport:
    ref: str
    passed: bool
    checks: int
    failed: int
    rows: int
    failures: list[Failure]
    observed: dict[str, Any]  # dataset-level figures: rows, null rates, means, quantiles...
    contract_object: str
    seconds: float
    id: int | None = None  # the stored result

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredCheck:
    id: int
    created_at: float
    passed: bool
    checks: int
    failed: int
    contract_object: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _store(lab: Lab, info: VersionInfo, report: CheckReport) -> int:
    from sqlalchemy import insert

    from rigml.store.schema import dataset_checks

    body = json.dumps(report.to_dict(), default=str)

    def write(conn: Any) -> int:
        res = conn.execute(
            insert(dataset_checks).values(
                version_id=info.id,
                contract_object=report.contract_object,
                passed=report.passed,
                checks=report.checks,
                failed=report.failed,
                report=body,
                created_at=time.time(),
            )
        )
        return int(res.inserted_primary_key[0])

    return lab.store.transact(write)


def checks_of(lab: Lab, version: VersionInfo) -> list[StoredCheck]:
    """Stored check results of a version, newest first."""
    from sqlalchemy import select

    from rigml.store.schema import dataset_checks as dc

    with lab.store.read() as conn:
        rows = conn.execute(
            select(
                dc.c.id,
                dc.c.created_at,
                dc.c.passed,
                dc.c.checks,
                dc.c.failed,
                dc.c.contract_object,
            )
            .where(dc.c.version_id == version.id)
            .order_by(dc.c.created_at.desc(), dc.c.id.desc())
        ).all()
    return [
        StoredCheck(r.id, r.created_at, bool(r.passed), r.checks, r.failed, r.contract_object)
        for r in rows
    ]


def latest_check(lab: Lab, ref: str, *, contract: Contract | None = None) -> CheckReport | None:
    """The newest stored check of version ``ref`` (against ``contract`` when given)."""
    from sqlalchemy import select

    from rigml.data._refs import resolve
    from rigml.objects import hash_bytes
    from rigml.store.schema import dataset_checks as dc

    info = resolve(lab, ref)
    query = select(dc.c.id, dc.c.report).where(dc.c.version_id == info.id)
    if contract is not None:
        query = query.where(dc.c.contract_object == hash_bytes(contract_to_yaml(contract).encode()))
    with lab.store.read() as conn:
        row = conn.execute(query.order_by(dc.c.created_at.desc(), dc.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    data = json.loads(row.report)
    data["failures"] = [Failure(**f) for f in data["failures"]]
    data["id"] = row.id
    return CheckReport(**data)


def require_passing_check(lab: Lab, ref: str, *, contract: Contract | None = None) -> CheckReport:
    """Gate for pipelines: the newest stored check of ``ref`` must have passed.

    Raises:
        ContractFailed: there is no stored check, or the newest one failed.
    """
    report = latest_check(lab, ref, contract=contract)
    if report is None:
        raise ContractFailed(ref, 0, 0, reason=f"{ref} has no stored contract check")
    if not report.passed:
        raise ContractFailed(report.ref, report.failed, report.checks, report)
    return report
