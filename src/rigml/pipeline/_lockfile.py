"""``rig.lock``: what each stage last ran with, in readable YAML, updated one stage at a time.

Two ``rig run`` in one project may finish stages at the same time, so an update is a short
read-modify-write of one stage's entry under a file lock in the lab
(``<lab>/locks/<hash of the lock file's path>.lock``), written through a temporary file and
a rename: a reader never sees half a file, and a writer never drops another's entry.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidPipeline

if TYPE_CHECKING:
    from rigml.lab import Lab

SCHEMA = 1
LOCK_TIMEOUT_S = 600.0


def read_lock(path: Path) -> dict[str, dict[str, Any]]:
    """The stages' entries of ``path`` (empty when there is no lock file yet).

    An unchanged file (the same text) is not parsed again: see :mod:`._parsecache`.

    Raises:
        InvalidPipeline: the file is not a lock file rigml wrote.
    """
    from rigml.pipeline import _parsecache

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    where, key = path.absolute(), _parsecache.text_key(text, "lock")
    hit = _parsecache.load("lock", where, key)
    if isinstance(hit, dict):
        return hit
    stages = _parse(path, text)
    _parsecache.store("lock", where, key, stages)
    return stages


def _parse(path: Path, text: str) -> dict[str, dict[str, Any]]:
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise _damaged(path, f"is not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
        raise _damaged(path, "expected a mapping with `stages:`")
    return dict(data.get("stages") or {})


def _damaged(path: Path, problem: str) -> InvalidPipeline:
    return InvalidPipeline(
        path.name, "", problem, hint=f"delete {path.name}: the next `rig run` reruns every stage"
    )


def lock_file_for(lab: Lab, key: str) -> str:
    """A lock file in the lab for ``key`` (a path): ``<lab>/locks/<blake3(key)[:24]>.lock``."""
    from rigml.objects import hash_bytes
    from rigml.store.writable import lab_writes

    folder = lab.path / "locks"
    with lab_writes(folder):
        folder.mkdir(exist_ok=True)
    return str(folder / f"{hash_bytes(key.encode())[:24]}.lock")


class Cancelled(Exception):
    """The wait for a lock was given up: the pipeline is stopping."""


@contextlib.contextmanager
def file_lock(
    lab: Lab,
    key: str,
    *,
    timeout: float | None = LOCK_TIMEOUT_S,
    cancel: threading.Event | None = None,
) -> Iterator[None]:
    """Hold the lab's lock for ``key`` across processes; waiting ends early on ``cancel``.

    Raises:
        LabBusy: another process held it for ``timeout`` seconds (None: wait on).
        Cancelled: ``cancel`` was set while waiting.
    """
    from filelock import FileLock, Timeout

    from rigml.errors import LabBusy
    from rigml.store.writable import lab_writes

    path = lock_file_for(lab, key)
    lock = FileLock(path)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled(key)
        left = 0.2 if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            with lab_writes(path):
                lock.acquire(timeout=min(0.2, left))
            break
        except Timeout as exc:
            if deadline is not None and timeout is not None and time.monotonic() >= deadline:
                raise LabBusy(path, timeout) from exc
    try:
        yield
    finally:
        lock.release()


def update_lock(lab: Lab, path: Path, name: str, entry: dict[str, Any] | None) -> None:
    """Set (or with ``None`` remove) stage ``name``'s entry of lock file ``path``.

    The file is rendered from one YAML chunk per entry; the chunks of the text this
    process last wrote are kept, so finishing one stage of 200 dumps one entry, not 200.
    """
    from rigml._output import write_output
    from rigml.pipeline import _parsecache

    with file_lock(lab, f"rig.lock:{path}"):
        stages = read_lock(path)
        try:
            before = _parsecache.text_key(path.read_text(encoding="utf-8"), "lock")
        except FileNotFoundError:
            before = ""
        with _chunks_lock:
            last = _chunks.get(str(path))
        chunks = dict(last[1]) if last is not None and last[0] == before else {}
        chunks.pop(name, None)
        if entry is None:
            stages.pop(name, None)
        else:
            stages[name] = entry
        text = render_lock(stages, chunks)
        write_output(path, text)
        key = _parsecache.text_key(text, "lock")
        with _chunks_lock:
            _chunks[str(path)] = (key, chunks)
        _parsecache.store("lock", path.absolute(), key, stages)


_HEADER = "# written by `rig run`; do not edit\n"
_chunks: dict[str, tuple[str, dict[str, str]]] = {}  # lock file -> (its text's key, chunks)
_chunks_lock = threading.Lock()


def render_lock(stages: dict[str, dict[str, Any]], chunks: dict[str, str] | None = None) -> str:
    """The text of a lock file holding ``stages``, sorted by name.

    Each entry is dumped on its own, at the indentation it has in the file; ``chunks``
    holds entries already dumped (by name), and gets the others.
    """
    if not stages:
        return f"{_HEADER}schema: {SCHEMA}\nstages: {{}}\n"
    chunks = {} if chunks is None else chunks
    for n, e in stages.items():
        if n not in chunks:
            chunks[n] = _dump({"stages": {n: e}}).removeprefix("stages:\n")
    body = "".join(chunks[n] for n in sorted(stages))
    return f"{_HEADER}schema: {SCHEMA}\nstages:\n{body}"


def _dump(data: dict[str, Any]) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(
        data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def stage_lock_keys(root: Path, outs: tuple[str, ...]) -> list[str]:
    """The lock keys of a stage's outs, sorted so two processes take them in one order."""
    return sorted(f"out:{os.path.normpath(root / out)}" for out in outs)
