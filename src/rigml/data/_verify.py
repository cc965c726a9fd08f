"""Re-hash stored objects and report every one that is corrupted or missing, with its owners."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.data._versions import Progress
    from rigml.lab import Lab


@dataclass(frozen=True)
class ObjectProblem:
    object: str
    problem: str  # missing | corrupted
    used_by: list[str]  # "churn@3:train.csv", "run 3f2a09c1: model.pkl", ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerifyReport:
    scope: str
    checked: int
    bytes: int
    problems: list[ObjectProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _check_one(lab: Lab, digest: str) -> tuple[str | None, int]:
    """(problem or None, size) of one object."""
    from rigml.data._hashing import hash_path
    from rigml.errors import DataChanged

    if lab.objects.is_local:
        path = lab.objects.location(digest)
        try:
            size = os.path.getsize(path)
            actual = hash_path(path, size)
        except (FileNotFoundError, DataChanged):
            return "missing", 0
        return (None if actual == digest else "corrupted"), size
    if not lab.objects.exists(digest):
        return "missing", 0
    return (None if lab.objects.verify(digest) else "corrupted"), lab.objects.size(digest)


def verify(
    lab: Lab,
    ref: str | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Re-hash the objects of version ``ref``, or every object the lab references.

    Returns a report; it never raises for a bad object, so one pass finds all of them.
    """
    from rigml.data._hashing import parallel_map
    from rigml.data._refs import resolve
    from rigml.data._versions import version_files
    from rigml.store.queries import referenced

    if ref is not None:
        info = resolve(lab, ref)
        digests = sorted({f.object for f in version_files(lab, info)})
        scope = info.ref
    else:
        with lab.store.read() as conn:
            digests = sorted(referenced(conn))
        scope = "every referenced object"
    done = [0]

    def on_done(n: int) -> None:
        done[0] += n
        if progress:
            progress("verify", done[0], len(digests))

    results = parallel_map(lambda d: _check_one(lab, d), digests, workers=workers, on_done=on_done)
    bad = {d: p for d, (p, _s) in zip(digests, results, strict=True) if p}
    total = sum(s for _p, s in results)
    owners = _owners(lab, set(bad)) if bad else {}
    problems = [ObjectProblem(d, p, owners.get(d, [])) for d, p in sorted(bad.items())]
    return VerifyReport(scope, len(digests), total, problems)


def _owners(lab: Lab, digests: set[str]) -> dict[str, list[str]]:
    """Who names each digest: dataset files, run artifacts and run captures."""
    from sqlalchemy import select

    from rigml.store.schema import (
        artifacts,
        dataset_checks,
        dataset_files,
        dataset_versions,
        datasets,
        runs,
        watch_sessions,
    )

    wanted = sorted(digests)
    out: dict[str, list[str]] = {}
    with lab.store.read() as conn:
        for r in conn.execute(
            select(
                datasets.c.name,
                dataset_versions.c.version,
                dataset_files.c.path,
                dataset_files.c.object,
            )
            .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
            .join(dataset_files, dataset_files.c.version_id == dataset_versions.c.id)
            .where(dataset_files.c.object.in_(wanted))
        ):
            out.setdefault(r.object, []).append(f"{r.name}@{r.version}:{r.path}")
        for a in conn.execute(
            select(artifacts.c.run_id, artifacts.c.path, artifacts.c.object).where(
                artifacts.c.object.in_(wanted)
            )
        ):
            out.setdefault(a.object, []).append(f"run {a.run_id[:8]}: {a.path}")
        for column, what in (("env_object", "environment"), ("machine_object", "machine")):
            col = runs.c[column]
            for run_id, digest in conn.execute(select(runs.c.id, col).where(col.in_(wanted))):
                out.setdefault(digest, []).append(f"run {run_id[:8]}: {what}")
        for watch_id, digest in conn.execute(
            select(watch_sessions.c.id, watch_sessions.c.timeline_object).where(
                watch_sessions.c.timeline_object.in_(wanted)
            )
        ):
            out.setdefault(digest, []).append(f"watch {watch_id[:8]}: timeline")
        for check_id, digest in conn.execute(
            select(dataset_checks.c.id, dataset_checks.c.contract_object).where(
                dataset_checks.c.contract_object.in_(wanted)
            )
        ):
            out.setdefault(digest, []).append(f"contract check {check_id}")
    return out
