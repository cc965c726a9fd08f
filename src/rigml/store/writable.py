"""Write failures of a lab's files as :class:`~rigml.errors.LabNotWritable`, in one place.

Every writer of the lab folder (the SQLite store, the object store, the store and objects
locks, the stat cache) meets the same few failures: a read-only file system, a folder it may
not write, a full disk. Each translates them here, so the user reads one message with a
hint that fits the cause, never an ``OSError`` or a driver's "unable to open database file".
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

from rigml.errors import DiskFull, LabNotWritable

READ_ONLY_HINT = (
    "the file system is mounted read-only: remount it read-write, or copy the lab to a "
    "writable folder and point RIG_LAB (or --lab) there; a lab needs write access even to "
    "read, since SQLite keeps its write-ahead log beside the database"
)
PERMISSION_HINT = (
    "check the folder's owner and permissions (ls -ld), or choose another lab with --lab"
)
_SQLITE_WRITE_FAILURES = ("readonly database", "read-only", "unable to open database file")


def read_only(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` (or its nearest existing parent) is on a read-only file system."""
    folder = os.path.abspath(os.fspath(path))
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def not_writable(where: str, exc: OSError) -> LabNotWritable | DiskFull | None:
    """The RigError for an ``OSError`` met while writing ``where``, or None for other errors."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(where)
    if exc.errno == errno.EROFS:
        return LabNotWritable(where, "read-only file system", hint=READ_ONLY_HINT)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return LabNotWritable(where, exc.strerror or "permission denied", hint=PERMISSION_HINT)
    return None


@contextlib.contextmanager
def lab_writes(where: str | os.PathLike[str]) -> Iterator[None]:
    """Translate write failures under ``where`` (a file or folder of the lab)."""
    try:
        yield
    except OSError as exc:
        error = not_writable(os.fspath(where), exc)
        if error is None:
            raise
        raise error from exc


def sqlite_not_writable(db_path: str, message: str) -> LabNotWritable | None:
    """LabNotWritable for a SQLite error that means its file or folder cannot be written.

    "unable to open database file" also means a missing folder; it counts only when the
    folder is read-only or not writable, so other causes keep their own message.
    """
    text = message.lower()
    if not any(marker in text for marker in _SQLITE_WRITE_FAILURES):
        return None
    folder = os.path.dirname(db_path) or "."
    if read_only(folder):
        return LabNotWritable(db_path, "read-only file system", hint=READ_ONLY_HINT)
    if os.path.isdir(folder) and not os.access(folder, os.W_OK):
        return LabNotWritable(db_path, "permission denied", hint=PERMISSION_HINT)
    if "readonly" in text or "read-only" in text:
        return LabNotWritable(db_path, message.strip(), hint=PERMISSION_HINT)
    return None
