"""What a run records about its code and invocation without being asked: git and argv."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass

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
