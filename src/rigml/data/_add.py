"""Adding a dataset version: scan a file or folder, hash and stage its content, register it.

``add`` works in two phases. The first hashes and stages content without holding any
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
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.data._refs import VersionInfo, _dataset_id, check_manifest_path, check_name, resolve
from rigml.errors import BadDataFile, DataChanged, EmptyDataset, MissingExtra

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.data._stat_cache import Stat, StatCache
    from rigml.data._versions import Progress
    from rigml.lab import Lab

_BATCH = 2000


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


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
    found = _walk(root, skip, (st.st_dev, st.st_ino))
    if not found:
        raise EmptyDataset(str(root))
    found.sort(key=lambda f: f.rel)
    return "folder", found


# a folder still to read: (path, prefix inside the version, (dev, inode) of folders above)
_Pending = tuple[str, str, frozenset[tuple[int, int]]]


def _walk(root: Path, skip: Path | None, key: tuple[int, int]) -> list[_Found]:
    """The files below folder ``root``, depth first, without ``skip`` (the lab itself)."""
    found: list[_Found] = []
    stack: list[_Pending] = [(str(root), "", frozenset({key}))]
    while stack:
        folder, prefix, above = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError as exc:
            raise DataChanged(folder, "vanished") from exc
        except PermissionError as exc:
            raise BadDataFile(folder, "cannot be read: permission denied") from exc
        for e in entries:
            _visit(e, prefix, above, skip, stack, found)
    return found


def _visit(
    e: os.DirEntry[str],
    prefix: str,
    above: frozenset[tuple[int, int]],
    skip: Path | None,
    stack: list[_Pending],
    found: list[_Found],
) -> None:
    """One folder entry: a file is found, a folder (or a link to one) is pushed."""
    import stat as st_mod

    from rigml.data._stat_cache import Stat

    rel = f"{prefix}{e.name}"
    try:
        if e.is_dir(follow_symlinks=False):
            if skip is None or Path(e.path) != skip:
                dst = e.stat(follow_symlinks=False)
                stack.append((e.path, rel + "/", above | {(dst.st_dev, dst.st_ino)}))
            return
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


def add(
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
        hashed_at = time.time_ns()
        cached_n = _digests_from_cache(lab, cache, root, found)
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
    return AddResult(
        version=version,
        created=created,
        files=total,
        hashed=len(todo),
        cached=cached_n,
        stored=len(stored),
        stored_bytes=sum(f.stat.size for f in found if f.digest in stored),
        seconds=time.perf_counter() - t0,
    )


def _digests_from_cache(lab: Lab, cache: StatCache, root: Path, found: list[_Found]) -> int:
    """Fill in the digests the stat cache knows (and whose objects still exist); count them."""
    from rigml.data import _hashing

    known = cache.under(str(root))
    for f in found:
        hit = known.get(f.abs)
        if hit is not None and hit[0] == f.stat:
            f.digest = hit[1]
    # a cached digest whose object is gone (gc, corruption) is hashed and stored again
    gone = set(_hashing.missing_objects(lab.objects, {f.digest for f in found if f.digest}))
    for f in found:
        if f.digest in gone:
            f.digest = None
    return sum(1 for f in found if f.digest)


def _hash_and_stage(
    lab: Lab, todo: list[_Found], stager: Any, workers: int | None, progress: Progress
) -> None:
    from rigml.data import _hashing
    from rigml.objects import hash_bytes

    if not todo:
        return
    total_bytes = sum(f.stat.size for f in todo)
    done = [0]

    def on_done(_n: int) -> None:
        progress("hash", done[0], total_bytes)

    def one(f: _Found) -> None:
        if f.stat.size < _hashing.SMALL:  # one read: hash and stage from memory
            data = _hashing.read_small(f.abs, f.stat.size, f.stat.mtime_ns)
            digest = hash_bytes(data)
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
    from rigml.data import _hashing
    from rigml.data import _tabular as tabular

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
        # another add may take the next number first (a store shared by machines): retry
        number, _vid, created = lab.store.transact(
            lambda conn: _insert_version(conn, name, base, found),
            patience=10.0,  # a clash that persists is a bug, not a race: give up soon
            retry_if=lambda exc: isinstance(exc, IntegrityError),
        )
    info = resolve(lab, f"{name}@{number}")
    return info, created, staged if created else set()


def _insert_version(
    conn: Connection, name: str, base: dict[str, Any], found: list[_Found]
) -> tuple[int, int, bool]:
    from sqlalchemy import insert, select

    from rigml.store.queries import upsert
    from rigml.store.schema import dataset_files, dataset_versions, datasets

    stmt = upsert(conn)(datasets).values(name=name, created_at=base["created_at"])
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
    key = res.inserted_primary_key
    assert key is not None  # an INSERT of one row has its key
    vid = int(key[0])
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
    from rigml.audit import record

    after = {k: base[k] for k in ("source", "kind", "files", "bytes", "fingerprint")}
    after |= {"added": added, "removed": removed, "changed": changed}
    action, subject = "dataset.version.add", f"{name}@{number}"
    record(conn, action=action, subject=subject, after=after, reason=base["message"])
    return number, vid, True
