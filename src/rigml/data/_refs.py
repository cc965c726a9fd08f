"""Dataset names and references: checking them, resolving one to its version, and tags.

``NAME``, ``NAME@3``, ``NAME@v3``, ``NAME@latest`` and ``NAME@TAG`` all name a
:class:`VersionInfo`; ``resolve`` finds it, ``tag`` moves a name onto it. Every other data
operation starts from a reference, so this module imports nothing else of ``rigml.data``.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.errors import Conflict, DatasetNotFound, InvalidDatasetRef, InvalidInput

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row

    from rigml.lab import Lab

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]{0,254}")
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9._\-]{0,254}")


@dataclass(frozen=True)
class VersionInfo:
    """One version of a dataset, without its file list (see :func:`version_files`)."""

    id: int
    name: str
    version: int
    created_at: float
    message: str | None
    source: str | None
    kind: str
    files: int
    bytes: int
    fingerprint: str
    added: int
    removed: int
    changed: int
    host: str | None
    user: str | None
    tags: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ref"] = self.ref
        return d


def _is_name(name: object) -> bool:
    """Letters, digits, ``. _ - /``; ``/`` separates parts, none empty, ``.`` or ``..``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def check_name(name: str) -> str:
    """A dataset name: letters, digits, ``. _ - /``; no ``@``, no empty, ``.`` or ``..`` part.

    Raises:
        InvalidInput: the name is malformed (``a/../b``, ``a//b`` and ``../x`` included).
    """
    if not _is_name(name):
        raise InvalidInput(
            f"dataset names are 1-255 letters, digits, '.', '_', '-' or '/' (between parts "
            f"that are not empty, '.' or '..'), got {name!r}",
            hint="e.g. --name churn or --name images/train",
        )
    return name


def check_manifest_path(path: str) -> str:
    """A path inside a version: relative, ``/``-separated, no empty, ``.`` or ``..`` part.

    Raises:
        InvalidInput: the path could escape the folder it is checked out to.
    """
    parts = path.split("/") if isinstance(path, str) else [""]
    if not path or path.startswith("/") or "\0" in path or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(
            f"unsafe path in a dataset manifest: {path!r}",
            hint="manifest paths are relative, without '.', '..' or empty parts",
        )
    return path


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAME[@VERSION]`` into ``(name, selector)``; the selector defaults to ``latest``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidDatasetRef(str(ref), "it is empty")
    name, sep, sel = ref.partition("@")
    if sep and not sel:
        raise InvalidDatasetRef(ref, "nothing after '@'")
    if "@" in sel:
        raise InvalidDatasetRef(ref, "more than one '@'")
    if not _is_name(name):
        raise InvalidDatasetRef(ref, f"{name!r} is not a dataset name")
    return name, sel or "latest"


def resolve(lab: Lab, ref: str) -> VersionInfo:
    """The version ``ref`` names: ``NAME``, ``NAME@3``, ``NAME@v3``, ``NAME@latest``, ``NAME@TAG``.

    Raises:
        InvalidDatasetRef: the reference is malformed.
        DatasetNotFound: no such dataset, version or tag.
    """
    name, sel = parse_ref(ref)
    with lab.store.read() as conn:
        return _resolve(conn, name, sel)


def _resolve(conn: Connection, name: str, sel: str) -> VersionInfo:
    from sqlalchemy import select

    from rigml.store.schema import dataset_tags, dataset_versions, datasets

    ds_id = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
    if ds_id is None:
        raise DatasetNotFound(name)
    dv = dataset_versions
    number: int | None = None
    if sel == "latest":
        number = _latest_number(conn, ds_id)
    elif re.fullmatch(r"v?\d+", sel):
        number = int(sel.lstrip("v"))
        if number > 2**62:  # more than any database integer holds: no such version
            number = None
    else:
        vid = conn.execute(
            select(dataset_tags.c.version_id).where(
                dataset_tags.c.dataset_id == ds_id, dataset_tags.c.tag == sel
            )
        ).scalar()
        if vid is not None:
            number = conn.execute(select(dv.c.version).where(dv.c.id == vid)).scalar()
    row = None
    if number is not None:
        row = conn.execute(
            select(dv).where(dv.c.dataset_id == ds_id, dv.c.version == number)
        ).first()
    if row is None:
        latest = _latest_number(conn, ds_id)
        known = f"versions 1 to {latest}" if latest else "none yet"
        raise DatasetNotFound(name, sel, known=known)
    return _info(conn, row, name)


def _latest_number(conn: Connection, ds_id: int) -> int | None:
    from sqlalchemy import func, select

    from rigml.store.schema import dataset_versions as dv

    n = conn.execute(select(func.max(dv.c.version)).where(dv.c.dataset_id == ds_id)).scalar()
    return None if n is None else int(n)


def _info(conn: Connection, row: Row[Any], name: str) -> VersionInfo:
    from sqlalchemy import select

    from rigml.store.schema import dataset_tags

    tags = sorted(
        conn.execute(
            select(dataset_tags.c.tag).where(dataset_tags.c.version_id == row.id)
        ).scalars()
    )
    return VersionInfo(
        id=row.id,
        name=name,
        version=row.version,
        created_at=row.created_at,
        message=row.message,
        source=row.source,
        kind=row.kind,
        files=row.files,
        bytes=row.bytes,
        fingerprint=row.fingerprint,
        added=row.added,
        removed=row.removed,
        changed=row.changed,
        host=row.host,
        user=row.user,
        tags=tags,
    )


def tag(lab: Lab, ref: str, tag_name: str, *, delete: bool = False) -> VersionInfo:
    """Point ``tag_name`` at the version ``ref`` names (moving it if it exists), or delete it.

    Raises:
        InvalidInput: the tag looks like a version number or ``latest``.
        DatasetNotFound: the version, or the tag to delete, does not exist.
    """
    from sqlalchemy import delete as sql_delete

    from rigml.store.queries import upsert
    from rigml.store.schema import dataset_tags

    if not _TAG.fullmatch(tag_name) or tag_name == "latest" or re.fullmatch(r"v\d+", tag_name):
        raise InvalidInput(
            f"tag names start with a letter and are not 'latest' or v<number>, got {tag_name!r}",
            hint="e.g. rig data tag churn@3 golden",
        )
    name, sel = parse_ref(ref)
    if delete:

        def drop(conn: Connection) -> VersionInfo:
            info = _resolve(conn, name, tag_name)
            if "@" in ref and _resolve(conn, name, sel).id != info.id:
                raise Conflict(
                    f"tag {tag_name!r} points at {info.ref}, not at {ref}; nothing was removed",
                    hint=f"rig data tag {info.ref} {tag_name} --delete",
                )
            conn.execute(
                sql_delete(dataset_tags).where(
                    dataset_tags.c.version_id == info.id, dataset_tags.c.tag == tag_name
                )
            )
            _audit_tag(conn, f"{name}@{tag_name}", info.ref, None)
            return info

        return lab.store.transact(drop)

    def write(conn: Connection) -> VersionInfo:
        info = _resolve(conn, name, sel)
        ds_id = _dataset_id(conn, name)
        _audit_tag(conn, f"{name}@{tag_name}", _tagged(conn, name, tag_name), info.ref)
        stmt = upsert(conn)(dataset_tags).values(
            dataset_id=ds_id, tag=tag_name, version_id=info.id, created_at=time.time()
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["dataset_id", "tag"],
                set_={
                    "version_id": stmt.excluded.version_id,
                    "created_at": stmt.excluded.created_at,
                },
            )
        )
        return info

    lab.store.transact(write)
    return resolve(lab, f"{name}@{tag_name}")


def _tagged(conn: Connection, name: str, tag_name: str) -> str | None:
    """The version a tag points at now, or None."""
    try:
        return _resolve(conn, name, tag_name).ref
    except DatasetNotFound:
        return None


def _audit_tag(conn: Connection, subject: str, before: str | None, after: str | None) -> None:
    from rigml.audit import record

    if before != after:  # re-tagging the same version changes nothing
        record(conn, action="dataset.tag", subject=subject, before=before, after=after)


def _dataset_id(conn: Connection, name: str) -> int:
    from sqlalchemy import select

    from rigml.store.schema import datasets

    ds_id = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
    if ds_id is None:
        raise DatasetNotFound(name)
    return int(ds_id)
