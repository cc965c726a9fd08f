"""Findings recorded in a lab: what ``rig watch`` diagnosed, for later planning.

:func:`record_watch` stores one :class:`~rigml.machine.watch.WatchResult`: a row in
``watch_sessions`` (its timeline's Parquet file goes to the object store, its summary is
JSON text) and one row per finding in ``findings``, in one transaction. :func:`list_findings`
reads them back, newest first, so a planner can see what held this machine back before.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab
    from rigml.machine.watch import WatchResult

__all__ = [
    "RecordedFinding",
    "WatchSession",
    "list_findings",
    "list_watch_sessions",
    "record_watch",
]


@dataclass(frozen=True)
class RecordedFinding:
    """A finding as stored in the lab, with the watch session it came from."""

    id: int
    session_id: str
    rule: str
    constraint: str
    title: str
    severity: str
    evidence: list[str]
    numbers: dict[str, float]
    first_fix: str
    created_at: float
    command: str | None
    host: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WatchSession:
    """One recorded ``rig watch``: when, what, how it ended, and where its timeline is."""

    id: str
    started: float
    ended: float | None
    command: str | None
    pid: int | None
    host: str | None
    exit_code: int | None
    timeline_object: str | None
    summary: dict[str, Any]
    findings: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _json(data: Any) -> str:
    return json.dumps(data, default=str, allow_nan=True, sort_keys=True)


def record_watch(lab: Lab, result: WatchResult) -> str:
    """Store a watch and its findings in ``lab``; returns the new session's id.

    The timeline file (Parquet) is copied into the lab's object store first, so a session
    row never names an object that is not there. Sets ``result.session_id``.

    Raises:
        StoreUnavailable: The store cannot be written (including ``DiskFull``).
    """
    from sqlalchemy import insert

    from rigml.store.schema import findings, watch_sessions

    digest = None
    path = result.files.get("timeline")
    if path and Path(path).suffix == ".parquet" and Path(path).is_file():
        digest, _ = lab.objects.put_file(path)
    session_id = uuid.uuid4().hex
    now = time.time()
    summary = {k: v.to_dict() for k, v in result.summary.items()}
    session_row = {
        "id": session_id,
        "started": result.started,
        "ended": result.ended,
        "command": result.command_text,
        "pid": result.pid,
        "host": result.host,
        "exit_code": result.exit_code,
        "timeline_object": digest,
        "summary": _json(summary),
    }
    rows = [
        {
            "session_id": session_id,
            "rule": f.id,
            "constraint": f.constraint,
            "title": f.title,
            "severity": f.severity,
            "evidence": _json(list(f.evidence)),
            "numbers": _json(dict(f.numbers)),
            "first_fix": f.first_fix,
            "created_at": now,
        }
        for f in result.findings
    ]

    def write(conn: Connection) -> None:
        conn.execute(insert(watch_sessions), [session_row])
        if rows:
            conn.execute(insert(findings), rows)

    lab.store.transact(write)
    result.session_id = session_id
    return session_id


def list_findings(
    lab: Lab,
    *,
    since: float | None = None,
    constraint: str | None = None,
    limit: int | None = None,
) -> list[RecordedFinding]:
    """Findings recorded in ``lab``, newest first.

    Args:
        since: Only those recorded at or after this epoch time.
        constraint: Only this constraint (``vram``, ``ram``, ``storage``...).
        limit: At most this many.
    """
    from sqlalchemy import select

    from rigml.store.schema import findings, watch_sessions

    f, s = findings, watch_sessions
    query = (
        select(
            f.c.id,
            f.c.session_id,
            f.c.rule,
            f.c.constraint,
            f.c.title,
            f.c.severity,
            f.c.evidence,
            f.c.numbers,
            f.c.first_fix,
            f.c.created_at,
            s.c.command,
            s.c.host,
        )
        .join(s, s.c.id == f.c.session_id)
        .order_by(f.c.created_at.desc(), f.c.id.desc())
    )
    if since is not None:
        query = query.where(f.c.created_at >= since)
    if constraint is not None:
        query = query.where(f.c.constraint == constraint)
    if limit is not None:
        query = query.limit(limit)
    with lab.store.read() as conn:
        rows = conn.execute(query).all()
    return [
        RecordedFinding(
            id=r.id,
            session_id=r.session_id,
            rule=r.rule,
            constraint=r.constraint,
            title=r.title,
            severity=r.severity,
            evidence=list(json.loads(r.evidence)),
            numbers=dict(json.loads(r.numbers)),
            first_fix=r.first_fix,
            created_at=r.created_at,
            command=r.command,
            host=r.host,
        )
        for r in rows
    ]


def list_watch_sessions(lab: Lab, *, limit: int | None = None) -> list[WatchSession]:
    """Recorded watch sessions, newest first, each with its number of findings."""
    from sqlalchemy import func, select

    from rigml.store.schema import findings, watch_sessions

    s = watch_sessions
    counts = (
        select(findings.c.session_id, func.count().label("n"))
        .group_by(findings.c.session_id)
        .subquery()
    )
    query = (
        select(s, func.coalesce(counts.c.n, 0).label("n"))
        .outerjoin(counts, counts.c.session_id == s.c.id)
        .order_by(s.c.started.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    with lab.store.read() as conn:
        rows = conn.execute(query).all()
    return [
        WatchSession(
            id=r.id,
            started=r.started,
            ended=r.ended,
            command=r.command,
            pid=r.pid,
            host=r.host,
            exit_code=r.exit_code,
            timeline_object=r.timeline_object,
            summary=json.loads(r.summary) if r.summary else {},
            findings=int(r.n),
        )
        for r in rows
    ]
