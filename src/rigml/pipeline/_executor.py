"""Executors: where a stage's commands run: local processes, or Ray tasks (``_ray.py``).

An executor runs one :class:`Job` to its end (``run`` blocks, from a worker thread) and can
be told to ``stop`` everything it runs from another thread (Ctrl-C, SIGTERM), or to
``cancel`` one job and only that one (a sweep's pruned trial). The scheduler
in :mod:`rigml.pipeline._runner` decides what runs when; an executor only runs it.
:func:`make_executor` is the one place that picks an executor by name (``rig run
--executor``, ``[pipeline]`` in ``rig.toml``), for stages and sweep trials alike.

Each local command runs in its own process group (a new session), so stopping it reaches
the whole tree the shell started: SIGTERM to the group, a grace period, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rigml.errors import InvalidInput

if TYPE_CHECKING:
    from rigml.lab import Lab

GRACE_S = 5.0
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Job:
    """One stage's commands, run one after another in ``cwd``; the first failure stops it."""

    stage: str
    cmds: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    on_line: Callable[[str], None] = field(default=lambda _line: None)
    resources: Mapping[str, Any] | None = None  # rig.yaml's cpus, gpus, memory


@dataclass(frozen=True)
class Outcome:
    exit_code: int  # the first non-zero exit code, or 0; 128 + N when signal N ended it
    stopped: bool  # ended by :meth:`Executor.stop`


class Executor(Protocol):
    name: str

    def run(self, job: Job) -> Outcome: ...

    def stop(self) -> None: ...

    def cancel(self, job: Job) -> None: ...


def make_executor(lab: Lab, name: str | None = None, address: str | None = None) -> Executor:
    """The executor ``name`` (default: ``[pipeline] executor`` of the lab, else local).

    An ``address`` (default: ``[pipeline] address``) is a Ray cluster's; given alone, it
    means Ray. Nothing connects before the lab is known to be reachable from there.

    Raises:
        InvalidInput: an unknown executor name, or an address for the local executor.
        LabNotShared: a Ray cluster on other machines, and a SQLite or local-folder lab.
        MissingExtra: Ray is not installed (``pip install 'rigml[ray]'``).
        ExecutorUnavailable: the Ray cluster cannot be reached.
    """
    config = lab.config.pipeline
    chosen = name or ("ray" if address else config.executor)
    if chosen not in EXECUTORS:
        from rigml.config import suggest

        raise InvalidInput(
            f"unknown executor {chosen!r}; {suggest(chosen, list(EXECUTORS))}",
            hint="pass --executor local or --executor ray",
        )
    if chosen == "local":
        if address:
            raise InvalidInput(
                f"a Ray address ({address}) was given with the local executor",
                hint="pass --executor ray, or leave --ray-address out",
            )
        return LocalExecutor()
    from rigml.pipeline._ray import RayExecutor, check_lab_reachable

    address = address or config.address
    check_lab_reachable(lab, address)
    return RayExecutor(address)


class LocalExecutor:
    """Each command a local shell process; many jobs at once from many threads."""

    name = "local"

    def __init__(self, *, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._jobs: dict[int, subprocess.Popen[bytes] | None] = {}  # id(job) -> its command
        self._cancelled: set[int] = set()

    def run(self, job: Job) -> Outcome:
        with self._lock:
            self._jobs[id(job)] = None
        try:
            for cmd in job.cmds:
                if self._halted(job):
                    return Outcome(130, True)
                code = self._one(job, cmd)
                if self._halted(job):
                    return Outcome(code or 130, True)
                if code != 0:
                    return Outcome(code, False)
            return Outcome(0, False)
        finally:
            with self._lock:
                self._jobs.pop(id(job), None)
                self._cancelled.discard(id(job))

    def _halted(self, job: Job) -> bool:
        return self._stopped.is_set() or id(job) in self._cancelled

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
            self._jobs[id(job)] = proc
            halted = id(job) in self._cancelled  # cancelled while it started
        if halted:
            _signal_group(proc, signal.SIGTERM)
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
        self._end(procs)

    def cancel(self, job: Job) -> None:
        """Stop ``job`` alone (terminate, wait, kill); a job not running is left alone."""
        with self._lock:
            if id(job) not in self._jobs:
                return
            self._cancelled.add(id(job))
            proc = self._jobs[id(job)]
        self._end([proc] if proc is not None else [])

    def _end(self, procs: list[subprocess.Popen[bytes]]) -> None:
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
