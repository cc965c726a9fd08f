"""Dataset versions: snapshot a file or folder as the next version of a name, and read them.

A version is a manifest (``dataset_files`` rows: path, object digest, size, and for tabular
files their schema and statistics) over the lab's content-addressed objects. Content is
stored once, however many versions or runs name it, so re-adding a dataset with one changed
file stores one file.

``add_version`` works in two phases. The first hashes and stages content without holding any
lock (a stat cache skips files unchanged since they were last hashed). The second, under
the lab's data lock, moves staged objects into place, checks every object the manifest
names still exists (``rig data gc`` takes the same lock), and inserts the version in one
transaction. An interrupted or failed add therefore registers nothing; at worst it leaves
objects no version names, which ``rig data gc`` removes. Two adds of one name at the same
time get consecutive numbers: the number is unique per dataset and a clash is retried.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import (
    BadDataFile,
    Conflict,
    DataChanged,
    DatasetNotFound,
    EmptyDataset,
    InvalidDatasetRef,
    InvalidInput,
    MissingExtra,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row

    from rigml.data._stat_cache import Stat
    from rigml.lab import Lab

#: ``progress(phase, done, total)``; total is 0 when unknown.
Progress = Callable[[str, int, int], None]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/]{0,254}")
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9._\-]{0,254}")
_BATCH = 2000


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    object: str
    tabular: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


@dataclass(frozen=True)
class AddResult:
    version: VersionInfo
    created: bool  # False: the content equals the latest version, which is returned
    files: int
    hashed: int  # files read and hashed (not answered by the stat cache)
    cached: int  # files whose digest came from the stat cache
    stored: int  # objects new to the lab
    stored_bytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["version"] = self.version.to_dict()
        return d


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


# -- names and references ----------------------------------------------------------------


def check_name(name: str) -> str:
    """A dataset name: letters, digits, ``. _ - /``; no ``@``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"dataset names are 1-255 letters, digits, '.', '_', '-' or '/', got {name!r}",
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
    if not _NAME.fullmatch(name):
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


# -- reading ---------------------------------------------------------------------------------


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


def log(lab: Lab, name: str) -> list[VersionInfo]:
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


def tag(lab: Lab, ref: str, tag_name: str, *, delete: bool = False) -> VersionInfo:
    """Point ``tag_name`` at the version ``ref`` names (moving it if it exists), or delete it.

    Raises:
        InvalidInput: the tag looks like a version number or ``latest``.
        DatasetNotFound: the version, or the tag to delete, does not exist.
    """
    from sqlalchemy import delete as sql_delete

    from rigml.store.schema import dataset_tags
    from rigml.track._writer import _upsert

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
            return info

        return lab.store.transact(drop)

    def write(conn: Connection) -> VersionInfo:
        info = _resolve(conn, name, sel)
        ds_id = _dataset_id(conn, name)
        stmt = _upsert(conn)(dataset_tags).values(
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


def _dataset_id(conn: Connection, name: str) -> int:
    from sqlalchemy import select

    from rigml.store.schema import datasets

    ds_id = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
    if ds_id is None:
        raise DatasetNotFound(name)
    return int(ds_id)


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


# -- adding ----------------------------------------------------------------------------------


@dataclass
class _Found:
    rel: str  # POSIX path inside the version
    abs: str
    stat: Stat
    digest: str | None = None
    tabular: dict[str, Any] | None = None


def _scan(root: Path, skip: Path | None) -> tuple[str, list[_Found]]:
    """Every regular file under ``root`` (symbolic links to files and folders are followed).

    Raises:
        BadDataFile: a broken link, a link looping back to a folder above it, a FIFO, socket
            or device (never left out silently), or a folder that cannot be read.
        EmptyDataset: no file at all.
    """
    import stat as st_mod

    from rigml.data._stat_cache import Stat

    try:
        st = os.stat(root)
    except FileNotFoundError as exc:
        raise BadDataFile(str(root), "does not exist", hint="check the path") from exc
    except PermissionError as exc:
        raise BadDataFile(str(root), "cannot be read: permission denied") from exc
    if not st_mod.S_ISDIR(st.st_mode):
        if not st_mod.S_ISREG(st.st_mode):
            raise _special(str(root))
        return "file", [_Found(root.name, str(root), Stat.of(st))]
    found: list[_Found] = []
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (str(root), "", frozenset({(st.st_dev, st.st_ino)}))
    ]
    while stack:
        folder, prefix, above = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError as exc:
            raise DataChanged(folder, "vanished") from exc
        except PermissionError as exc:
            raise BadDataFile(folder, "cannot be read: permission denied") from exc
        for e in entries:
            rel = f"{prefix}{e.name}"
            try:
                if e.is_dir(follow_symlinks=False):
                    if skip is None or Path(e.path) != skip:
                        dst = e.stat(follow_symlinks=False)
                        stack.append((e.path, rel + "/", above | {(dst.st_dev, dst.st_ino)}))
                    continue
                est = e.stat()  # follows a symbolic link
            except FileNotFoundError as exc:
                if e.is_symlink():
                    raise BadDataFile(e.path, "is a broken symbolic link") from exc
                raise DataChanged(e.path, "vanished") from exc
            except PermissionError as exc:
                raise BadDataFile(e.path, "cannot be read: permission denied") from exc
            if st_mod.S_ISREG(est.st_mode):
                found.append(_Found(rel, e.path, Stat.of(est)))
            elif st_mod.S_ISDIR(est.st_mode):  # a symbolic link to a folder
                key = (est.st_dev, est.st_ino)
                if key in above:
                    raise BadDataFile(
                        e.path,
                        "is a symbolic link to a folder that contains it (a loop)",
                        hint="remove the link, or add the folder it points to",
                    )
                if skip is None or Path(os.path.realpath(e.path)) != skip:
                    stack.append((e.path, rel + "/", above | {key}))
            else:
                raise _special(e.path)
    if not found:
        raise EmptyDataset(str(root))
    found.sort(key=lambda f: f.rel)
    return "folder", found


def _special(path: str) -> BadDataFile:
    return BadDataFile(
        path,
        "is not a regular file (a FIFO, socket or device) and cannot be versioned",
        hint="move it out of the folder, or add the files beside it one by one",
    )


def fingerprint(entries: list[tuple[str, str, int]]) -> str:
    """The digest of a manifest: equal file lists have equal fingerprints."""
    from blake3 import blake3

    h = blake3()
    for path, digest, size in sorted(entries):
        h.update(f"{path}\t{digest}\t{size}\n".encode())
    return h.hexdigest()


def add_version(
    lab: Lab,
    path: str | os.PathLike[str],
    *,
    name: str,
    message: str | None = None,
    inspect: bool = True,
    allow_mixed_schemas: bool = False,
    workers: int | None = None,
    progress: Progress = _no_progress,
) -> AddResult:
    """Snapshot a file or folder as the next version of ``name``.

    Content already in the lab is not stored again; a content identical to the latest
    version registers nothing and returns that version (``created=False``).

    Args:
        lab: the lab.
        path: a file or a folder (symbolic links to files are followed).
        name: the dataset.
        message: why this version exists, as a commit message says.
        inspect: read tabular files (CSV, TSV, Parquet, JSON Lines) for schema and statistics.
        allow_mixed_schemas: accept files of one folder and format with different columns.
        workers: threads for hashing and inspecting (default: twice the cores, 2 to 16).
        progress: called as ``progress(phase, done, total)``.

    Raises:
        BadDataFile: a file cannot be read, or a tabular file is malformed (names the line).
        MixedSchemas: tabular files that form one table disagree on columns.
        EmptyDataset: the folder holds no files.
        DataChanged: a file changed or vanished while it was added.
        MissingExtra: tabular files need pyarrow (``rigml[data]``) unless ``inspect=False``.
    """
    from rigml.data import _hashing
    from rigml.data._stat_cache import StatCache

    t0 = time.perf_counter()
    check_name(name)
    root = Path(path).expanduser().absolute()
    skip = lab.path if lab.path.is_relative_to(root) else None
    kind, found = _scan(root, skip)
    total = len(found)
    progress("scan", total, total)

    with StatCache(lab.path / "cache" / "stat.db") as cache:
        known = cache.under(str(root))
        hashed_at = time.time_ns()
        for f in found:
            hit = known.get(f.abs)
            if hit is not None and hit[0] == f.stat:
                f.digest = hit[1]
        # a cached digest whose object is gone (gc, corruption) is hashed and stored again
        gone = set(_hashing.missing_objects(lab.objects, {f.digest for f in found if f.digest}))
        for f in found:
            if f.digest in gone:
                f.digest = None
        cached_n = sum(1 for f in found if f.digest)
        todo = [f for f in found if f.digest is None]
        stager = _hashing.Stager(lab.objects)
        try:
            _hash_and_stage(lab, todo, stager, workers, progress)
            cache.update(((f.abs, f.stat, f.digest) for f in todo if f.digest), now_ns=hashed_at)
            if inspect:
                _inspect(lab, found, workers, progress, allow_mixed_schemas)
            progress("register", 0, 1)
            version, created, stored = _register(
                lab, name, root, kind, found, message, stager, total
            )
            progress("register", 1, 1)
        finally:
            stager.discard()
    stored_bytes = sum(f.stat.size for f in found if f.digest in stored)
    return AddResult(
        version=version,
        created=created,
        files=total,
        hashed=len(todo),
        cached=cached_n,
        stored=len(stored),
        stored_bytes=stored_bytes,
        seconds=time.perf_counter() - t0,
    )


def _hash_and_stage(
    lab: Lab, todo: list[_Found], stager: Any, workers: int | None, progress: Progress
) -> None:
    from rigml.data import _hashing

    if not todo:
        return
    total_bytes = sum(f.stat.size for f in todo)
    done = [0]

    def on_done(_n: int) -> None:
        progress("hash", done[0], total_bytes)

    def one(f: _Found) -> None:
        if f.stat.size < _hashing.SMALL:  # one read: hash and stage from memory
            data = _hashing.read_small(f.abs, f.stat.size, f.stat.mtime_ns)
            digest = _hashing.hash_bytes(data)
            if not stager.exists(digest):
                stager.stage_bytes(digest, data)
            f.digest = digest
            done[0] += f.stat.size
            return
        f.digest = stager.stage_file(f.abs, f.stat.size, f.stat.mtime_ns)
        done[0] += f.stat.size

    _hashing.parallel_map(one, todo, workers=workers, on_done=on_done)
    progress("hash", total_bytes, total_bytes)


def _inspect(
    lab: Lab,
    found: list[_Found],
    workers: int | None,
    progress: Progress,
    allow_mixed: bool,
) -> None:
    from rigml.data import _hashing, tabular

    table_files = [f for f in found if tabular.format_of(f.rel)]
    if not table_files:
        return
    try:
        tabular.require_pyarrow()
    except MissingExtra as exc:
        exc.hint = f"{exc.hint}, or add with --no-inspect to store tabular files as bytes"
        raise
    reuse = _known_tabular(lab, {f.digest for f in table_files if f.digest})
    todo = []
    for f in table_files:
        meta = reuse.get(f.digest or "")
        fmt = tabular.format_of(f.rel)
        if meta is not None and meta.get("format") == fmt:
            f.tabular = meta
        else:
            todo.append(f)
    n = len(todo)
    done = [0]

    def on_done(k: int) -> None:
        done[0] += k
        progress("inspect", done[0], n)

    def one(f: _Found) -> None:
        fmt = tabular.format_of(f.rel)
        assert fmt is not None
        f.tabular = tabular.inspect_file(f.abs, fmt, label=f.rel)

    _hashing.parallel_map(one, todo, workers=min(workers or 4, 4), on_done=on_done)
    if not allow_mixed:
        tabular.check_same_columns([(f.rel, f.tabular) for f in table_files if f.tabular])


def _known_tabular(lab: Lab, digests: set[str]) -> dict[str, dict[str, Any]]:
    """Statistics already computed for these objects by an earlier version."""
    from sqlalchemy import select

    from rigml.store.schema import dataset_files as df

    out: dict[str, dict[str, Any]] = {}
    wanted = sorted(digests)
    with lab.store.read() as conn:
        for i in range(0, len(wanted), 900):
            for digest, meta in conn.execute(
                select(df.c.object, df.c.tabular).where(
                    df.c.object.in_(wanted[i : i + 900]), df.c.tabular.is_not(None)
                )
            ):
                out.setdefault(digest, json.loads(meta))
    return out


@contextlib.contextmanager
def data_lock(lab: Lab) -> Iterator[None]:
    """The lab's objects lock (:func:`rigml.store.locks.objects_lock`): adds commit under it,
    ``gc`` and run deletion delete under it.

    Raises:
        LabBusy: another process held it too long.
    """
    from rigml.store.locks import objects_lock

    with objects_lock(lab.path):
        yield


def _register(
    lab: Lab,
    name: str,
    root: Path,
    kind: str,
    found: list[_Found],
    message: str | None,
    stager: Any,
    total: int,
) -> tuple[VersionInfo, bool, set[str]]:
    from sqlalchemy.exc import IntegrityError

    from rigml.data import _hashing

    for f in found:
        check_manifest_path(f.rel)
    manifest = [(f.rel, f.digest or "", f.stat.size) for f in found]
    fp = fingerprint(manifest)
    staged = {f.digest for f in found if f.digest and stager.has(f.digest)}
    with data_lock(lab):
        stager.commit()
        # objects found before the lock may have been collected since; staged ones are fresh
        reused = {f.digest for f in found if f.digest and f.digest not in staged}
        missing = _hashing.missing_objects(lab.objects, reused)
        if missing:  # removed by a gc or a deletion since it was found; hash it again
            lost = {f.abs for f in found if f.digest in set(missing)}
            raise DataChanged(sorted(lost)[0], "lost its stored copy (a gc ran meanwhile)")
        try:
            user = getpass.getuser()
        except Exception:
            user = None
        base = {
            "created_at": time.time(),
            "message": message,
            "source": str(root),
            "kind": kind,
            "files": total,
            "bytes": sum(f.stat.size for f in found),
            "fingerprint": fp,
            "host": socket.gethostname(),
            "user": user,
        }
        for attempt in range(20):
            try:
                number, _vid, created = lab.store.transact(
                    lambda conn: _insert_version(conn, name, base, found)
                )
                break
            except IntegrityError:  # another add took the number first; take the next
                if attempt == 19:
                    raise
                time.sleep(0.01 * (attempt + 1))
    info = resolve(lab, f"{name}@{number}")
    return info, created, staged if created else set()


def _insert_version(
    conn: Connection, name: str, base: dict[str, Any], found: list[_Found]
) -> tuple[int, int, bool]:
    from sqlalchemy import insert, select

    from rigml.store.schema import dataset_files, dataset_versions, datasets
    from rigml.track._writer import _upsert

    stmt = _upsert(conn)(datasets).values(name=name, created_at=base["created_at"])
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    ds_id = _dataset_id(conn, name)
    dv = dataset_versions
    latest = conn.execute(
        select(dv.c.id, dv.c.version, dv.c.fingerprint, dv.c.kind)
        .where(dv.c.dataset_id == ds_id)
        .order_by(dv.c.version.desc())
        .limit(1)
    ).first()
    if (
        latest is not None
        and latest.fingerprint == base["fingerprint"]
        and latest.kind == base["kind"]  # a file, then a folder holding it, differ
    ):
        return latest.version, latest.id, False
    added = removed = changed = 0
    if latest is not None:
        old = dict(
            conn.execute(
                select(dataset_files.c.path, dataset_files.c.object).where(
                    dataset_files.c.version_id == latest.id
                )
            ).all()
        )
        new = {f.rel: f.digest for f in found}
        added = sum(1 for p in new if p not in old)
        removed = sum(1 for p in old if p not in new)
        changed = sum(1 for p, d in new.items() if p in old and old[p] != d)
    else:
        added = len(found)
    number = (latest.version if latest is not None else 0) + 1
    res = conn.execute(
        insert(dv).values(
            dataset_id=ds_id, version=number, added=added, removed=removed, changed=changed, **base
        )
    )
    vid = int(res.inserted_primary_key[0])
    rows = [
        {
            "version_id": vid,
            "path": f.rel,
            "object": f.digest,
            "size": f.stat.size,
            "tabular": json.dumps(f.tabular, separators=(",", ":")) if f.tabular else None,
        }
        for f in found
    ]
    for i in range(0, len(rows), _BATCH):
        conn.execute(insert(dataset_files), rows[i : i + _BATCH])
    return number, vid, True
