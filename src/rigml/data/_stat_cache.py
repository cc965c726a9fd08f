"""A local cache of file digests keyed by (size, mtime, ctime, inode), so unchanged files skip
hashing.

Re-adding a folder of 100,000 unchanged files then costs one ``stat`` per file and one
query, not a re-hash. The cache lives beside the lab (``cache/stat.db``, plain sqlite3) and
never in the metadata store: paths and inodes only mean something on this machine, and a
lab on PostgreSQL is shared by machines.

The key holds the inode change time as git's index does: a rewrite that restores the
modification time (``touch -r``, ``rsync -t``, ``cp -p``) still changes ``st_ctime``, which
nothing but the kernel can set.

A file modified within ``RACY_NS`` of being hashed is not cached ("racy" in git's words):
a second write in the same timestamp tick could keep size and mtime and go unnoticed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from rigml.errors import LabNotWritable

RACY_NS = 1_000_000_000
_BATCH = 5000


class Stat(NamedTuple):
    size: int
    mtime_ns: int
    dev: int
    ino: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stat:
        return cls(st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns)


def _not_writable(path: Path, exc: OSError | sqlite3.Error) -> LabNotWritable:
    """The lab's cache cannot be opened for writing: say where and why, not SQLite's words
    ("unable to open database file")."""
    folder = next((p for p in path.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        reason = f"{folder} is a file, not a folder"
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    elif "readonly" in str(exc) or not os.access(path.parent, os.W_OK):
        reason = "the folder is read-only"
    else:
        reason = f"its stat cache {path} cannot be opened ({exc})"
    return LabNotWritable(str(path.parent.parent), reason)


class StatCache:
    """``path -> (stat, digest)`` for files hashed on this machine.

    Args:
        path: the SQLite file; its folder is created when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from rigml.store.writable import lab_writes, sqlite_not_writable

        self.path = Path(path)
        try:
            with lab_writes(self.path.parent):
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise _not_writable(self.path, exc) from exc
        try:
            self._create()
        except sqlite3.Error as exc:
            self._db.close()
            known = sqlite_not_writable(str(self.path), str(exc))
            raise (known or _not_writable(self.path, exc)) from exc

    def _create(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("DROP TABLE IF EXISTS files")  # the first layout, without ctime
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS stats (path TEXT PRIMARY KEY, size INTEGER, "
            "mtime_ns INTEGER, dev INTEGER, ino INTEGER, ctime_ns INTEGER, digest TEXT) "
            "WITHOUT ROWID"
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StatCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def under(self, root: str) -> dict[str, tuple[Stat, str]]:
        """Every entry for ``root`` itself and the files below it, in one range query."""
        root = os.path.abspath(root)
        prefix = root.rstrip(os.sep) + os.sep
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, dev, ino, ctime_ns, digest FROM stats "
            "WHERE path = ? OR (path >= ? AND path < ?)",
            (root, prefix, prefix[:-1] + chr(ord(os.sep) + 1)),
        ).fetchall()
        return {r[0]: (Stat(r[1], r[2], r[3], r[4], r[5]), r[6]) for r in rows}

    def update(self, entries: Iterable[tuple[str, Stat, str]], *, now_ns: int | None = None) -> int:
        """Record digests; entries modified too recently to trust are skipped. Returns count."""
        limit = (now_ns if now_ns is not None else time.time_ns()) - RACY_NS
        rows = [
            (p, s.size, s.mtime_ns, s.dev, s.ino, s.ctime_ns, d)
            for p, s, d in entries
            if s.mtime_ns < limit
        ]
        with contextlib.suppress(sqlite3.OperationalError):  # a busy cache only costs speed
            for i in range(0, len(rows), _BATCH):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO stats VALUES (?, ?, ?, ?, ?, ?, ?)",
                        rows[i : i + _BATCH],
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            return len(rows)
        return 0
