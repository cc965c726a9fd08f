"""Register model packages as numbered versions, and list what the registry holds.

A version is a package folder (files plus ``rigmodel.json``, see ``_package``) whose files
live in the object store, named by their hashes. Registering takes the registry's write
lock, so concurrent registrations of one name get consecutive numbers on SQLite and on
PostgreSQL; the version and its audit entry commit together.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.registry._refs import ModelVersion, check_model_name, model_id, version_from_row

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab
    from rigml.registry._package import PackageInfo

REGISTRY_LOCK = 0x7269_6700  # PostgreSQL advisory lock key of registry writes ("rig\0")


@dataclass(frozen=True)
class ModelFile:
    path: str
    object: str
    size: int


@dataclass(frozen=True)
class ModelSummary:
    """A registered model: its newest version and where its aliases point."""

    name: str
    created_at: float
    created_by: str
    description: str | None
    versions: int
    latest: int | None
    updated_at: float | None
    aliases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "description": self.description,
            "versions": self.versions,
            "latest": self.latest,
            "updated_at": self.updated_at,
            "aliases": dict(self.aliases),
        }


def lock_registry(conn: Connection) -> None:
    """Serialise registry writers. SQLite's BEGIN IMMEDIATE already has; PostgreSQL takes a
    transaction-scoped advisory lock."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy import text

        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": REGISTRY_LOCK})


def fingerprint(files: list[ModelFile]) -> str:
    from rigml.objects import hash_bytes

    listing = json.dumps(sorted((f.path, f.object) for f in files), separators=(",", ":"))
    return hash_bytes(listing.encode())


def register_package(
    lab: Lab,
    name: str,
    folder: str | Path,
    *,
    run_id: str | None = None,
    source: str | None = None,
    description: str | None = None,
    actor: str | None = None,
    version: int | None = None,
) -> ModelVersion:
    """Store the package in ``folder`` as the next version of ``name`` (created if new);
    ``version`` asks for that number instead (above every existing one: an exported
    service's lab keeps the numbers of the lab it came from).

    Raises:
        InvalidInput: the name is malformed.
        InvalidModelPackage: ``folder`` holds no readable package.
        RunNotFound: ``run_id`` names no run.
    """
    from rigml.registry._package import MANIFEST, read_info

    check_model_name(name)
    root = Path(folder)
    info = read_info(root)
    files = []
    for rel in (*info.files, MANIFEST):
        digest, size = lab.objects.put_file(root / rel)
        files.append(ModelFile(rel, digest, size))
    return register_files(
        lab, name, info, files, run_id=run_id, source=source, description=description,
        actor=actor, version=version,
    )  # fmt: skip


def register_files(
    lab: Lab,
    name: str,
    info: PackageInfo,
    files: list[ModelFile],
    *,
    run_id: str | None = None,
    source: str | None = None,
    description: str | None = None,
    actor: str | None = None,
    version: int | None = None,
) -> ModelVersion:
    """Register a package whose files are already objects of the lab (a run's artifacts).

    Raises:
        RunNotFound: ``run_id`` names no run.
    """
    check_model_name(name)
    if run_id is not None:
        from rigml.track.queries import resolve_run_id

        run_id = resolve_run_id(lab, run_id)
    row = {
        "run_id": run_id,
        "source": source,
        "flavor": info.flavor,
        "info": json.dumps(info.to_json(), sort_keys=True),
        "fingerprint": fingerprint(files),
        "size": sum(f.size for f in files),
        "description": description,
    }
    return lab.store.transact(lambda conn: _insert_version(conn, name, row, files, actor, version))


def _insert_version(
    conn: Connection,
    name: str,
    row: dict[str, Any],
    files: list[ModelFile],
    actor: str | None,
    wanted: int | None = None,
) -> ModelVersion:
    from sqlalchemy import func, insert, select

    from rigml.audit import record
    from rigml.audit._record import default_actor
    from rigml.store.schema import model_files, model_versions, models

    lock_registry(conn)
    who = actor or default_actor()
    now = time.time()
    mid = conn.execute(select(models.c.id).where(models.c.name == name)).scalar()
    if mid is None:
        values = {"name": name, "created_at": now, "created_by": who}
        mid = conn.execute(insert(models).values(**values)).inserted_primary_key[0]  # type: ignore[index]
        record(conn, action="model.create", subject=name, after={"name": name}, actor=who)
    last = conn.execute(
        select(func.max(model_versions.c.version)).where(model_versions.c.model_id == mid)
    ).scalar()
    number = int(last or 0) + 1
    if wanted is not None:
        if wanted < number:
            from rigml.errors import Conflict

            raise Conflict(
                f"{name} has versions up to {number - 1}; version {wanted} cannot be added",
                hint="leave the number out: the next one is taken",
            )
        number = wanted
    values = {**row, "model_id": mid, "version": number, "created_at": now, "created_by": who}
    vid = conn.execute(insert(model_versions).values(**values)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(
        insert(model_files),
        [{"version_id": vid, "path": f.path, "object": f.object, "size": f.size} for f in files],
    )
    after = {k: values[k] for k in ("version", "run_id", "source", "flavor", "fingerprint")}
    record(conn, action="model.register", subject=f"{name}@{number}", after=after, actor=who)
    created = conn.execute(select(model_versions).where(model_versions.c.id == vid)).one()
    return version_from_row(conn, created, name)


def version_files(lab: Lab, version: ModelVersion) -> list[ModelFile]:
    """The files of ``version``'s package (the manifest included), by path."""
    with lab.store.read() as conn:
        return files_in(conn, version.id)


def files_in(conn: Connection, version_id: int) -> list[ModelFile]:
    from sqlalchemy import select

    from rigml.store.schema import model_files as mf

    query = select(mf.c.path, mf.c.object, mf.c.size).where(mf.c.version_id == version_id)
    return [ModelFile(*r) for r in conn.execute(query.order_by(mf.c.path))]


def list_models(lab: Lab) -> list[ModelSummary]:
    """Every registered model, by name, with its version count and aliases."""
    from sqlalchemy import func, select

    from rigml.store.schema import model_aliases as ma
    from rigml.store.schema import model_versions as mv
    from rigml.store.schema import models

    counts = (
        select(
            mv.c.model_id,
            func.count().label("n"),
            func.max(mv.c.version).label("latest"),
            func.max(mv.c.created_at).label("updated"),
        )
        .group_by(mv.c.model_id)
        .subquery()
    )
    query = (
        select(models, counts.c.n, counts.c.latest, counts.c.updated)
        .outerjoin(counts, counts.c.model_id == models.c.id)
        .order_by(models.c.name)
    )
    aliases_q = select(ma.c.model_id, ma.c.alias, mv.c.version).join(mv, mv.c.id == ma.c.version_id)
    with lab.store.read() as conn:
        rows = conn.execute(query).all()
        held: dict[int, dict[str, int]] = {}
        for mid, alias, number in conn.execute(aliases_q.order_by(ma.c.alias)):
            held.setdefault(mid, {})[alias] = number
    return [
        ModelSummary(
            r.name,
            r.created_at,
            r.created_by,
            r.description,
            r.n or 0,
            r.latest,
            r.updated,
            held.get(r.id, {}),
        )
        for r in rows
    ]


def list_versions(lab: Lab, name: str) -> list[ModelVersion]:
    """The versions of ``name``, newest first.

    Raises:
        ModelNotFound: no model has that name.
    """
    from sqlalchemy import select

    from rigml.store.schema import model_versions as mv

    with lab.store.read() as conn:
        mid = model_id(conn, name)
        rows = conn.execute(
            select(mv).where(mv.c.model_id == mid).order_by(mv.c.version.desc())
        ).all()
        return [version_from_row(conn, r, name) for r in rows]


def versions_of_runs(conn: Connection, run_ids: list[str]) -> list[tuple[str, str]]:
    """``(run_id, NAME@VERSION)`` of every version made by one of ``run_ids``."""
    from sqlalchemy import select

    from rigml.store.schema import model_versions as mv
    from rigml.store.schema import models

    q = (
        select(mv.c.run_id, models.c.name, mv.c.version)
        .join(models, models.c.id == mv.c.model_id)
        .where(mv.c.run_id.in_(run_ids))
        .order_by(models.c.name, mv.c.version)
    )
    return [(r.run_id, f"{r.name}@{r.version}") for r in conn.execute(q)]
