"""Digests of deps and outs: blake3 through the data layer's stat cache.

A file unchanged since it was last hashed (same size, mtime, ctime, inode) costs one
``stat`` and a dictionary look-up: the cache's entries for the whole project are read in
one query when the first digest is asked for. A folder's digest is that of its manifest
(a canonical JSON list of ``[path, digest, size]``), which is also what is stored as an
object for an output folder, so the two compare directly.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.data._stat_cache import Stat, StatCache
    from rigml.lab import Lab


@dataclass(frozen=True)
class Digest:
    """What a path holds now: ``kind`` is ``file``, ``folder`` or ``missing``."""

    kind: str
    hash: str | None = None
    size: int = 0
    files: int = 0
    manifest: bytes | None = None  # folders: the bytes ``hash`` names


MISSING = Digest("missing")
# Stages run in threads: two opening (and so creating) the stat cache at once, or writing
# it, get SQLite's "database is locked" at once rather than after its busy timeout.
_db_lock = threading.Lock()


def manifest_bytes(entries: list[tuple[str, str, int]]) -> bytes:
    return json.dumps(sorted(entries), separators=(",", ":")).encode()


class Hasher:
    """Digests of project paths for one command; cached, and written back to the stat cache."""

    def __init__(self, lab: Lab, root: Path) -> None:
        self.lab = lab
        self.root = root
        self._cache: StatCache | None = None
        self._known: dict[str, tuple[Stat, str]] | None = None
        self._new: list[tuple[str, Stat, str]] = []
        self._seen: dict[str, Digest] = {}

    def _lookup(self) -> dict[str, tuple[Stat, str]]:
        if self._known is None:
            from rigml.data._stat_cache import StatCache

            with _db_lock:
                self._cache = StatCache(self.lab.path / "cache" / "stat.db")
                self._known = self._cache.under(str(self.root))
        return self._known

    def digest(self, rel: str, *, fresh: bool = False) -> Digest:
        """The digest of project path ``rel`` (``fresh``: not from this command's memo)."""
        if not fresh and rel in self._seen:
            return self._seen[rel]
        path = str(self.root / rel) if rel != "." else str(self.root)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            found = MISSING
        else:
            import stat as st_mod

            if st_mod.S_ISDIR(st.st_mode):
                found = self._folder(path)
            else:
                found = Digest("file", self._file(path, st), st.st_size, 1)
        self._seen[rel] = found
        return found

    def _file(self, path: str, st: os.stat_result) -> str:
        from rigml.data._stat_cache import Stat

        now = Stat.of(st)
        hit = self._lookup().get(path)
        if hit is not None and hit[0] == now:
            return hit[1]
        from rigml.data._hashing import hash_path  # on a miss only: it loads the object store

        digest = hash_path(path, st.st_size)
        self._new.append((path, now, digest))
        return digest

    def _folder(self, path: str) -> Digest:
        entries: list[tuple[str, str, int]] = []
        lab, lock = str(self.lab.path), str(self.root / "rig.lock")
        for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
            # the lab and rig.lock (a dep of "." holds them) change with every run
            dirnames[:] = sorted(d for d in dirnames if os.path.join(dirpath, d) != lab)
            for name in filenames:
                full = os.path.join(dirpath, name)
                if full == lock:
                    continue
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                rel = Path(os.path.relpath(full, path)).as_posix()
                entries.append((rel, self._file(full, st), st.st_size))
        data = manifest_bytes(entries)
        from rigml.objects import hash_bytes

        size = sum(e[2] for e in entries)
        return Digest("folder", hash_bytes(data), size, len(entries), data)

    def forget(self, rel: str) -> None:
        self._seen.pop(rel, None)

    def close(self) -> None:
        """Record the digests hashed by this command, so the next one skips them."""
        if self._cache is not None:
            with _db_lock:
                if self._new:
                    self._cache.update(self._new)
                self._cache.close()
            self._cache = None
        self._new = []

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def folder_entries(manifest: bytes) -> list[tuple[str, str, int]]:
    """The ``(path, digest, size)`` entries of a folder manifest."""
    data: Any = json.loads(manifest)
    return [(str(p), str(d), int(s)) for p, d, s in data]
