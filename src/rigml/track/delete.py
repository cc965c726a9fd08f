"""Delete runs and the objects only they used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab


@dataclass(frozen=True)
class DeleteReport:
    runs: list[str]
    objects_deleted: int
    objects_kept: int  # still used by another run or owner
    bytes_freed: int


def run_objects(conn: Connection, run_ids: Sequence[str]) -> set[str]:
    """Digests of every object the given runs reference."""
    from sqlalchemy import select

    from rigml.store.schema import OBJECT_REFERENCES, runs

    found: set[str] = set()
    for table, column in OBJECT_REFERENCES:
        if table is not runs and "run_id" not in table.c:
            continue  # owned by something other than a run (a watch session, a dataset...)
        key = table.c.id if table is runs else table.c.run_id
        found.update(
            d
            for d in conn.execute(select(table.c[column]).where(key.in_(list(run_ids)))).scalars()
            if d
        )
    return found


def _audit_deletion(conn: Connection, ids: list[str]) -> None:
    """One ``run.delete`` audit entry per stored run, in the deleting transaction."""
    from sqlalchemy import select

    from rigml.audit import record
    from rigml.store.schema import runs

    q = select(runs.c.id, runs.c.name, runs.c.status).where(runs.c.id.in_(ids))
    for row in conn.execute(q).all():
        before = {"name": row.name, "status": row.status}
        record(conn, action="run.delete", subject=row.id, before=before)


def _refuse_registered(conn: Connection, ids: list[str]) -> None:
    """A run that made a registered model version stays: the version's lineage needs it."""
    from rigml.errors import ModelInUse
    from rigml.registry._models import versions_of_runs

    made = versions_of_runs(conn, ids)
    if made:
        raise ModelInUse(sorted({run for run, _ in made}), [ref for _, ref in made])


def delete_runs(lab: Lab, run_ids: Sequence[str]) -> DeleteReport:
    """Delete runs with their params, tags, metrics and artifact records.

    Objects no other run (or later, dataset or model) references are removed from the
    object store after the database transaction commits, so a failure midway never leaves
    a row pointing at a missing object.

    Raises:
        ModelInUse: a run made a registered model version (nothing is deleted).
    """
    from sqlalchemy import delete

    from rigml.store.schema import artifacts, latest_metrics, metric_segments, params, runs, tags

    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return DeleteReport([], 0, 0, 0)

    def write(conn: Connection) -> set[str]:
        _refuse_registered(conn, ids)
        candidates = run_objects(conn, ids)
        _audit_deletion(conn, ids)
        # explicit deletes: cascades are not guaranteed on every SQLite connection
        for table in (metric_segments, latest_metrics, params, tags, artifacts):
            conn.execute(delete(table).where(table.c.run_id.in_(ids)))
        conn.execute(delete(runs).where(runs.c.id.in_(ids)))
        return candidates

    from rigml.store.locks import objects_lock
    from rigml.store.queries import referenced

    candidates = lab.store.transact(write)
    # under the objects lock: a dataset add that reuses one of these objects either has
    # registered its version already (so the object is referenced) or will find it missing
    with objects_lock(lab.path):
        with lab.store.read() as conn:
            still_used = referenced(conn, candidates) if candidates else set()
        freed = 0
        doomed = candidates - still_used
        for digest in doomed:
            freed += lab.objects.delete(digest)
    return DeleteReport(ids, len(doomed), len(candidates & still_used), freed)
