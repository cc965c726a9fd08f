"""Remove objects that no dataset version, run or other record references.

``plan_gc`` lists what would go and how much it frees; ``collect`` deletes, re-checking
under the lab's data lock that each object is still unreferenced (an add may have reused
one meanwhile). Objects younger than ``grace_s`` are kept: a run may have stored an
artifact whose row it has not written yet (storing content that already exists refreshes its
mtime, so this holds for reused content too). On a remote store the age is the object's
``LastModified``/``mtime`` from ``fs.info``. Temporary files of writes in progress (their
names carry the writer's pid) are never removed while that process lives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.lab import Lab

GRACE_S = 3600.0


@dataclass
class GcPlan:
    objects: list[str]
    bytes: int
    referenced: int  # objects kept because something names them
    young: int  # unreferenced, but younger than the grace period
    temp_files: list[str] = field(default_factory=list)  # stale leftovers of interrupted writes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GcReport:
    deleted: int
    bytes_freed: int
    kept: int  # planned, but referenced again by the time of deletion
    temp_files: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _age(lab: Lab, digest: str, now: float) -> float:
    """Seconds since the object was last written; 0 (young) when unknown on a remote store."""
    if lab.objects.is_local:
        try:
            return now - os.stat(lab.objects.location(digest)).st_mtime
        except FileNotFoundError:
            return float("inf")
    modified = lab.objects.modified(digest)
    return 0.0 if modified is None else now - modified


def plan_gc(lab: Lab, *, grace_s: float = GRACE_S) -> GcPlan:
    """What ``collect`` would remove now; changes nothing."""
    from rigml.store.queries import referenced

    with lab.store.read() as conn:
        used = referenced(conn)
    now = time.time()
    doomed: list[str] = []
    young = size = 0
    n_used = 0
    for digest in lab.objects:
        if digest in used:
            n_used += 1
            continue
        if _age(lab, digest, now) < grace_s:
            young += 1
            continue
        doomed.append(digest)
        size += lab.objects.size(digest)
    temps: list[str] = []
    if lab.objects.is_local and (lab.objects.root / "tmp").is_dir():
        from rigml.data._hashing import temp_owner_alive

        for entry in _temp_files(lab.objects.root / "tmp"):
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if now - st.st_mtime >= max(grace_s, 60.0) and not temp_owner_alive(entry.name):
                temps.append(entry.path)
                size += st.st_size
    return GcPlan(doomed, size, n_used, young, temps)


def _temp_files(tmp: Path) -> Iterator[os.DirEntry[str]]:
    """Files in ``tmp`` and in its one level of sub-folders (small files stage by prefix)."""
    for entry in os.scandir(tmp):
        if entry.is_dir(follow_symlinks=False):
            yield from (e for e in os.scandir(entry.path) if e.is_file(follow_symlinks=False))
        elif entry.is_file(follow_symlinks=False):
            yield entry


def collect(lab: Lab, plan: GcPlan) -> GcReport:
    """Delete what ``plan`` lists and is still unreferenced."""
    from rigml.data._add import data_lock
    from rigml.store.queries import referenced

    freed = deleted = 0
    with data_lock(lab):
        with lab.store.read() as conn:
            used = referenced(conn)
        doomed = [d for d in plan.objects if d not in used]
        for digest in doomed:
            existed = lab.objects.exists(digest)
            freed += lab.objects.delete(digest)
            deleted += int(existed)
        temps = 0
        from rigml.data._hashing import temp_owner_alive

        for path in plan.temp_files:
            if temp_owner_alive(path):
                continue
            try:
                freed += os.path.getsize(path)
                os.unlink(path)
                temps += 1
            except FileNotFoundError:
                continue
        report = GcReport(deleted, freed, len(plan.objects) - len(doomed), temps)
        _audit_gc(lab, report)
    return report


def _audit_gc(lab: Lab, report: GcReport) -> None:
    """One ``data.gc`` audit entry per collection that removed something."""
    from rigml.audit import record_now

    if report.deleted or report.temp_files:
        record_now(lab, action="data.gc", subject="objects", after=report.to_dict())
