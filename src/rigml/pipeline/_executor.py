"""Executors: where a stage's commands run. Local processes now; a Ray executor later.

An executor runs one :class:`Job` to its end (``run`` blocks, from a worker thread) and can
be told to ``stop`` everything it runs from another thread (Ctrl-C, SIGTERM). The scheduler
in :mod:`rigml.pipeline._runner` decides what runs when; an executor only runs it.

Each local command runs in its own process group (a new session), so stopping it reaches
the whole tree the shell started: SIGTERM to the group, a grace period, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

GRACE_S = 5.0


@dataclass(frozen=True)
class Job:
    """One stage's commands, run one after another in ``cwd``; the first failure stops it."""

    stage: str
    cmds: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    on_line: Callable[[str], None] = field(default=lambda _line: None)


@dataclass(frozen=True)
class Outcome:
    exit_code: int  # the first non-zero exit code, or 0; 128 + N when signal N ended it
    stopped: bool  # ended by :meth:`Executor.stop`


class Executor(Protocol):
    name: str

    def run(self, job: Job) -> Outcome: ...

    def stop(self) -> None: ...


class LocalExecutor:
    """Each command a local shell process; many jobs at once from many threads."""

    name = "local"

    def __init__(self, *, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def run(self, job: Job) -> Outcome:
        for cmd in job.cmds:
            if self._stopped.is_set():
                return Outcome(130, True)
            code = self._one(job, cmd)
            if self._stopped.is_set():
                return Outcome(code or 130, True)
            if code != 0:
                return Outcome(code, False)
        return Outcome(0, False)

    def _one(self, job: Job, cmd: str) -> int:
        job.on_line(f"$ {cmd}")
        try:
            proc = subprocess.Popen(
                cmd,
                shell=True,
                cwd=job.cwd,
                env=job.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            job.on_line(f"cannot start: {exc}")
            return 127
        with self._lock:
            self._procs.add(proc)
        assert proc.stdout is not None
        try:
            with proc.stdout:
                for raw in iter(proc.stdout.readline, b""):
                    job.on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
            code = proc.wait()
        finally:
            with self._lock:
                self._procs.discard(proc)
        return 128 - code if code < 0 else code

    def stop(self) -> None:
        """Terminate every running command's process group, wait, then kill what is left."""
        self._stopped.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
