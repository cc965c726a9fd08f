"""Lineage: which runs read which dataset versions.

``Run.use_dataset("churn@3")`` records the use; ``rig data show`` lists the runs of a version
and ``versions_used_by`` answers the other way round. Pipelines record their inputs through
the same call, so one table answers "what was trained on this data?".
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.data._refs import VersionInfo
    from rigml.lab import Lab


@dataclass(frozen=True)
class RunUsage:
    run_id: str
    run_name: str
    experiment: str
    status: str
    used_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def use_dataset(lab: Lab, run_id: str, ref: str) -> VersionInfo:
    """Record that run ``run_id`` reads the version ``ref`` names; return that version.

    Recording the same use twice is harmless. ``NAME@latest`` and tags are resolved now,
    so the run keeps pointing at the version it actually read.

    Raises:
        DatasetNotFound: no such dataset or version.
        RunNotFound: no such run.
    """
    from sqlalchemy import select

    from rigml.data._refs import resolve
    from rigml.errors import RunNotFound
    from rigml.store.queries import upsert
    from rigml.store.schema import dataset_usage, runs

    info = resolve(lab, ref)

    def write(conn: Connection) -> None:
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).scalar() is None:
            raise RunNotFound(run_id)
        stmt = upsert(conn)(dataset_usage).values(
            run_id=run_id, version_id=info.id, used_at=time.time()
        )
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["run_id", "version_id"]))

    lab.store.transact(write)
    return info


def runs_using(lab: Lab, version: VersionInfo) -> list[RunUsage]:
    """Runs that recorded reading ``version``, oldest use first."""
    from sqlalchemy import select

    from rigml.store.schema import dataset_usage, experiments, runs

    with lab.store.read() as conn:
        rows = conn.execute(
            select(
                runs.c.id,
                runs.c.name,
                experiments.c.name.label("exp"),
                runs.c.status,
                dataset_usage.c.used_at,
            )
            .join(runs, runs.c.id == dataset_usage.c.run_id)
            .join(experiments, experiments.c.id == runs.c.experiment_id)
            .where(dataset_usage.c.version_id == version.id)
            .order_by(dataset_usage.c.used_at)
        ).all()
    return [RunUsage(r.id, r.name, r.exp, r.status, r.used_at) for r in rows]


def versions_used_by(lab: Lab, run_id: str) -> list[str]:
    """``NAME@N`` of every dataset version the run recorded reading."""
    from sqlalchemy import select

    from rigml.store.schema import dataset_usage, dataset_versions, datasets

    with lab.store.read() as conn:
        rows = conn.execute(
            select(datasets.c.name, dataset_versions.c.version)
            .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
            .join(dataset_usage, dataset_usage.c.version_id == dataset_versions.c.id)
            .where(dataset_usage.c.run_id == run_id)
            .order_by(datasets.c.name, dataset_versions.c.version)
        ).all()
    return [f"{r.name}@{r.version}" for r in rows]
