"""What a run records about its code and invocation without being asked: git and argv.

Inside :func:`shared_capture` (one ``rig run`` of many stages), what the runs capture
(git state, environment lock, machine fingerprint) is computed by the first run and
reused by the others: it cannot change in between, and computing it per run costs more
than a short stage.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

GIT_TIMEOUT_S = 10.0
MAX_DIFF_BYTES = 50 * 1024 * 1024  # a diff larger than this is a data file, not code


@dataclass(frozen=True)
class GitState:
    commit: str
    branch: str | None
    dirty: bool
    diff: bytes  # uncommitted changes against HEAD, plus the list of untracked files


def _git(args: list[str], cwd: str) -> bytes | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_state(cwd: str | None = None) -> GitState | None:
    """The repository state of ``cwd``; None outside a repository or without git."""
    where = cwd or os.getcwd()
    commit = _git(["rev-parse", "HEAD"], where)
    if commit is None:
        return None
    branch = (_git(["rev-parse", "--abbrev-ref", "HEAD"], where) or b"").decode().strip()
    status = _git(["status", "--porcelain", "--untracked-files=normal"], where) or b""
    dirty = bool(status.strip())
    diff = b""
    if dirty:
        diff = _git(["diff", "HEAD", "--binary"], where) or b""
        untracked = [ln[3:] for ln in status.splitlines() if ln.startswith(b"??")]
        if untracked:
            diff += b"\n# untracked files (not in the diff):\n" + b"\n".join(
                b"#   " + u for u in untracked
            )
        if len(diff) > MAX_DIFF_BYTES:
            diff = diff[:MAX_DIFF_BYTES] + b"\n# diff truncated by rigml\n"
    return GitState(
        commit=commit.decode().strip(),
        branch=None if branch in ("", "HEAD") else branch,
        dirty=dirty,
        diff=diff,
    )


def command_line() -> str:
    """The command that started this process, shell-quoted (``python train.py --lr 0.1``)."""
    try:
        import psutil

        argv = psutil.Process().cmdline()
    except Exception:
        argv = [sys.executable, *sys.argv]
    return shlex.join(argv)


class _Shared:
    """Captured values by key, each computed once (the others wait for it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Hashable, Any] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._values:
                self._values[key] = compute()
            value: T = self._values[key]
            return value


_shared: _Shared | None = None


@contextlib.contextmanager
def shared_capture() -> Iterator[None]:
    """Runs started inside (in any thread) share one capture; nested calls share the outer."""
    global _shared
    if _shared is not None:
        yield
        return
    _shared = _Shared()
    try:
        yield
    finally:
        _shared = None


def captured(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or inside :func:`shared_capture` its first result for ``key``."""
    shared = _shared
    return compute() if shared is None else shared.get(key, compute)
