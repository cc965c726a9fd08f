"""Artifacts: files a run produced, kept in the object store and named per run."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rigml.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab


@dataclass(frozen=True)
class Artifact:
    path: str
    object: str
    size: int
    created_at: float


def _record(lab: Lab, run_id: str, entries: list[tuple[str, str, int]]) -> None:
    from rigml.store.queries import upsert
    from rigml.store.schema import artifacts

    now = time.time()
    rows = [
        {"run_id": run_id, "path": p, "object": d, "size": s, "created_at": now}
        for p, d, s in entries
    ]

    def write(conn: Connection) -> None:
        stmt = upsert(conn)(artifacts).values(rows)
        ex = stmt.excluded
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["run_id", "path"],
                set_={"object": ex.object, "size": ex.size, "created_at": ex.created_at},
            )
        )

    lab.store.transact(write)


def _check_name(name: str) -> str:
    clean = name.replace("\\", "/").strip("/")
    if not clean or any(part in ("", ".", "..") for part in clean.split("/")):
        raise InvalidInput(
            f"artifact name {name!r} is not a relative path",
            hint="use names like 'model.pkl' or 'plots/loss.png'",
        )
    return clean


def log_artifact(
    lab: Lab, run_id: str, path: str | os.PathLike[str], *, name: str | None = None
) -> list[str]:
    """Store a file, or every file under a folder, as artifacts of ``run_id``.

    Raises:
        NotFound: ``path`` does not exist.
    """
    src = Path(path)
    if not src.exists():
        raise NotFound(f"cannot log artifact {src}: no such file or folder", hint="check the path")
    base = _check_name(name or src.name)
    entries: list[tuple[str, str, int]] = []
    if src.is_dir():
        for root, _dirs, files in os.walk(src):
            for fname in sorted(files):
                full = Path(root) / fname
                rel = full.relative_to(src).as_posix()
                digest, size = lab.objects.put_file(full)
                entries.append((f"{base}/{rel}", digest, size))
    else:
        digest, size = lab.objects.put_file(src)
        entries.append((base, digest, size))
    if entries:
        _record(lab, run_id, entries)
    return [e[0] for e in entries]


def log_bytes(lab: Lab, run_id: str, data: bytes, name: str) -> str:
    """Store ``data`` as an artifact named ``name``."""
    digest = lab.objects.put_bytes(data)
    _record(lab, run_id, [(_check_name(name), digest, len(data))])
    return name


def list_artifacts(lab: Lab, run_id: str) -> list[Artifact]:
    from sqlalchemy import select

    from rigml.store.schema import artifacts

    with lab.store.read() as conn:
        rows = conn.execute(
            select(artifacts.c.path, artifacts.c.object, artifacts.c.size, artifacts.c.created_at)
            .where(artifacts.c.run_id == run_id)
            .order_by(artifacts.c.path)
        ).all()
    return [Artifact(*r) for r in rows]


def download_artifact(lab: Lab, run_id: str, name: str, dest: str | os.PathLike[str]) -> Path:
    """Copy one artifact of a run to ``dest`` (verified on the way)."""
    for art in list_artifacts(lab, run_id):
        if art.path == name:
            lab.objects.get_file(art.object, dest)
            return Path(dest)
    raise NotFound(f"run {run_id[:8]} has no artifact {name!r}", hint="see `rig runs show`")
