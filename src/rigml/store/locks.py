"""The lab's objects lock: one writer at a time decides whether an object may be deleted.

Whoever deletes objects (``rig data gc``, deleting runs) re-checks references and deletes
under this lock; ``rig data add`` registers a version under it after checking that every
object it reuses still exists. So an object is never deleted between being found and being
referenced. Writers that only add objects (artifacts, contract files) refresh an existing
object's mtime instead, which the gc grace period then protects.

The lock is a file in the lab folder (``data.lock``), shared by every process on the machine,
and reentrant within one thread of one process.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from rigml.errors import LabBusy

TIMEOUT_S = 600.0
_locks: dict[str, Any] = {}
_guard = threading.Lock()


@contextlib.contextmanager
def objects_lock(
    lab_path: str | os.PathLike[str], *, timeout: float | None = None
) -> Iterator[None]:
    """Hold the objects lock of the lab at ``lab_path``.

    Raises:
        LabBusy: another process held it for ``timeout`` seconds (default ``TIMEOUT_S``).
    """
    if timeout is None:
        timeout = TIMEOUT_S
    from filelock import FileLock, Timeout

    path = os.path.join(os.fspath(lab_path), "data.lock")
    with _guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = FileLock(path)
    from rigml.store.writable import lab_writes

    try:
        with lab_writes(path):
            lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise LabBusy(path, timeout) from exc
    try:
        yield
    finally:
        lock.release()
