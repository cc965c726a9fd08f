"""The part of a stage that runs on a Ray worker: its commands, their output streamed back.

Only the standard library is imported here, and the Ray executor ships this module to the
cluster by value (``cloudpickle.register_pickle_by_value``), so a worker needs Python and Ray
but not rigml. The task is a generator: it yields ``("lines", [...])`` batches as the
commands print, then ``("exit", code)``; the driver writes the lines to the stage's log.

Each command runs in its own process group. ``ray.cancel`` without force raises
``KeyboardInterrupt`` here: the group gets SIGTERM, a grace period, then SIGKILL, as the
local executor does; the driver force-cancels what is still running after that.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

BATCH_S = 0.2  # the longest a line waits before it is sent to the driver
BATCH_LINES = 1000

Item = tuple[str, Any]  # ("lines", list[str]) or ("exit", int)


def run_commands(
    cmds: list[str], cwd: str, env: dict[str, str], base_env: bool, grace_s: float
) -> Generator[Item, None, None]:
    """Run ``cmds`` in order in ``cwd``; the first failure stops them.

    Args:
        env: the stage's environment; with ``base_env`` it is laid over the worker's own
            (a cluster node has its own PATH and HOME), else it is the whole environment.
    """
    if not os.path.isdir(cwd):
        host = socket.gethostname()
        yield (
            "lines",
            [
                f"rig: the folder {cwd} does not exist on the Ray node {host}; every node "
                "needs the project at the same path (a shared filesystem)"
            ],
        )
        yield "exit", 127
        return
    full = {**os.environ, **env} if base_env else dict(env)
    full.update(_assigned())
    for cmd in cmds:
        yield "lines", [f"$ {cmd}"]
        code = yield from _one(cmd, cwd, full, grace_s)
        if code != 0:
            yield "exit", code
            return
    yield "exit", 0


def _assigned() -> dict[str, str]:
    """The devices Ray gave this task (``CUDA_VISIBLE_DEVICES``...): they beat the driver's."""
    return {
        k: v
        for k, v in os.environ.items()
        if k.endswith(("_VISIBLE_DEVICES", "_VISIBLE_CORES", "_VISIBLE_CHIPS"))
        or k in ("ONEAPI_DEVICE_SELECTOR", "HABANA_VISIBLE_MODULES")
    }


def _one(cmd: str, cwd: str, env: dict[str, str], grace_s: float) -> Generator[Item, None, int]:
    try:
        proc = subprocess.Popen(
            cmd,
            shell=True,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        yield "lines", [f"cannot start: {exc}"]
        return 127
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read, args=(proc, lines), daemon=True)
    reader.start()
    try:
        yield from _batches(lines)
        code = proc.wait()
    except BaseException:  # KeyboardInterrupt from ray.cancel, or the driver went away
        _terminate(proc, grace_s)
        raise
    return 128 - code if code < 0 else code


def _read(proc: subprocess.Popen[bytes], lines: queue.Queue[str | None]) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        for raw in iter(proc.stdout.readline, b""):
            lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
    lines.put(None)


def _batches(lines: queue.Queue[str | None]) -> Iterator[Item]:
    """The lines as they come, sent at least every ``BATCH_S`` seconds, until the end."""
    batch: list[str] = []
    deadline = time.monotonic() + BATCH_S
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = ""
        else:
            if line is None:
                break
            batch.append(line)
        if batch and (len(batch) >= BATCH_LINES or time.monotonic() >= deadline):
            yield "lines", batch
            batch = []
        if time.monotonic() >= deadline:
            deadline = time.monotonic() + BATCH_S
    if batch:
        yield "lines", batch


def _terminate(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM to the command's process group, ``grace_s`` to end, then SIGKILL."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
