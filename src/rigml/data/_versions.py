"""Dataset versions: snapshot a file or folder as the next version of a name, and read them.

A version is a manifest (``dataset_files`` rows: path, object digest, size, and for tabular
files their schema and statistics) over the lab's content-addressed objects. Content is
stored once, however many versions or runs name it, so re-adding a dataset with one changed
file stores one file.

This module is the read side: the file list of a version, every dataset, the log of one.
Names and references (``resolve``, ``tag``) live in :mod:`rigml.data._refs` and adding a
version in :mod:`rigml.data._add`; their public names are re-exported here, so
``rigml.data._versions`` offers what it always has.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rigml.data._refs import VersionInfo, check_name, resolve
from rigml.errors import DatasetNotFound

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row

    from rigml.lab import Lab

__all__ = [
    "DatasetSummary",
    "FileEntry",
    "Progress",
    "history",
    "list_datasets",
    "local_copy",
    "version_files",
]

#: ``progress(phase, done, total)``; total is 0 when unknown.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    object: str
    tabular: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    versions: int
    latest: int
    latest_at: float
    files: int
    bytes: int
    tags: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def version_files(lab: Lab, version: VersionInfo | str) -> list[FileEntry]:
    """Every file of a version, sorted by path."""
    info = resolve(lab, version) if isinstance(version, str) else version
    with lab.store.read() as conn:
        return _files(conn, info.id)


def _files(conn: Connection, version_id: int) -> list[FileEntry]:
    from sqlalchemy import select

    from rigml.store.schema import dataset_files as df

    rows = conn.execute(
        select(df.c.path, df.c.size, df.c.object, df.c.tabular)
        .where(df.c.version_id == version_id)
        .order_by(df.c.path)
    ).all()
    return [
        FileEntry(r.path, r.size, r.object, json.loads(r.tabular) if r.tabular else None)
        for r in rows
    ]


def list_datasets(lab: Lab) -> list[DatasetSummary]:
    """Every dataset with its latest version, by name."""
    from sqlalchemy import func, select

    from rigml.store.schema import dataset_tags, dataset_versions, datasets

    dv = dataset_versions
    with lab.store.read() as conn:
        latest = (
            select(dv.c.dataset_id, func.max(dv.c.version).label("v"), func.count().label("n"))
            .group_by(dv.c.dataset_id)
            .subquery()
        )
        rows = conn.execute(
            select(datasets.c.id, datasets.c.name, latest.c.n, dv)
            .join(latest, latest.c.dataset_id == datasets.c.id)
            .join(dv, (dv.c.dataset_id == datasets.c.id) & (dv.c.version == latest.c.v))
            .order_by(datasets.c.name)
        ).all()
        tags: dict[int, dict[str, int]] = {}
        for t in conn.execute(
            select(dataset_tags.c.dataset_id, dataset_tags.c.tag, dv.c.version).join(
                dv, dv.c.id == dataset_tags.c.version_id
            )
        ):
            tags.setdefault(t.dataset_id, {})[t.tag] = t.version
    return [
        DatasetSummary(r.name, r.n, r.version, r.created_at, r.files, r.bytes, tags.get(r[0], {}))
        for r in rows
    ]


def history(lab: Lab, name: str) -> list[VersionInfo]:
    """Every version of ``name``, newest first.

    Raises:
        DatasetNotFound: no dataset of that name.
    """
    from sqlalchemy import select

    from rigml.store.schema import dataset_tags, dataset_versions, datasets

    check_name(name)
    with lab.store.read() as conn:
        ds_id = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
        if ds_id is None:
            raise DatasetNotFound(name)
        rows = conn.execute(
            select(dataset_versions)
            .where(dataset_versions.c.dataset_id == ds_id)
            .order_by(dataset_versions.c.version.desc())
        ).all()
        tags: dict[int, list[str]] = {}
        for t in conn.execute(
            select(dataset_tags.c.version_id, dataset_tags.c.tag).where(
                dataset_tags.c.dataset_id == ds_id
            )
        ):
            tags.setdefault(t.version_id, []).append(t.tag)
        out = []
        for r in rows:
            info = _info_from_row(r, name, sorted(tags.get(r.id, [])))
            out.append(info)
    return out


def _info_from_row(r: Row[Any], name: str, tags: list[str]) -> VersionInfo:
    return VersionInfo(
        r.id, name, r.version, r.created_at, r.message, r.source, r.kind, r.files, r.bytes,
        r.fingerprint, r.added, r.removed, r.changed, r.host, r.user, tags,
    )  # fmt: skip


@contextlib.contextmanager
def local_copy(lab: Lab, entry: FileEntry) -> Iterator[str]:
    """A local path holding the bytes of ``entry``: the object itself on a local store,
    a verified temporary download otherwise."""
    if lab.objects.is_local:
        path = lab.objects.location(entry.object)
        if not os.path.isfile(path):
            from rigml.errors import ObjectNotFound

            raise ObjectNotFound(entry.object)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="rig-data-") as tmp:
        dest = os.path.join(tmp, os.path.basename(entry.path))
        lab.objects.get_file(entry.object, dest)
        yield dest
