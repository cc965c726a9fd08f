"""Executor.cancel(job) stops that job alone: local processes, and Ray tasks (a fake Ray)."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from rigml.pipeline import LocalExecutor
from rigml.pipeline._executor import Job, Outcome

from .conftest import PY

WAIT = "import pathlib, sys, time\nwhile not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.02)\n"


def _in_thread(run: Any, job: Job) -> tuple[threading.Thread, list[Outcome]]:
    out: list[Outcome] = []
    thread = threading.Thread(target=lambda: out.append(run(job)))
    thread.start()
    return thread, out


def test_local_cancel_ends_one_job_and_the_other_runs_on(tmp_path: Path) -> None:
    (tmp_path / "wait.py").write_text(WAIT)
    started = threading.Event()

    def on_line(line: str) -> None:
        if line.startswith("$"):
            started.set()

    executor = LocalExecutor(grace_s=2.0)
    doomed = Job("a", (f"{PY} wait.py never", "echo not reached"), tmp_path, {}, on_line)
    other = Job("b", (f"{PY} wait.py go",), tmp_path, {})
    t1, out1 = _in_thread(executor.run, doomed)
    t2, out2 = _in_thread(executor.run, other)
    started.wait(10)
    executor.cancel(doomed)
    t1.join(10)
    assert out1 and out1[0].stopped and out1[0].exit_code != 0
    (tmp_path / "go").write_text("")
    t2.join(10)
    assert out2 == [Outcome(0, False)]
    executor.cancel(doomed)  # no longer running: nothing happens


class _Stream:
    """A Ray generator task's results: one exit code, once released (or an error if cancelled)."""

    def __init__(self, errors: Any) -> None:
        self.release = threading.Event()
        self.cancelled = False
        self.errors = errors

    def __iter__(self) -> Any:
        self.release.wait(10)
        if self.cancelled:
            raise self.errors.RayError("cancelled")
        yield ("exit", 0)


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch) -> Any:
    errors = types.SimpleNamespace(RayError=type("RayError", (Exception,), {}))
    streams: list[_Stream] = []

    def submit(*_args: Any) -> _Stream:
        streams.append(_Stream(errors))
        return streams[-1]

    def cancel(stream: _Stream, force: bool = False) -> None:
        stream.cancelled = True
        stream.release.set()

    task = types.SimpleNamespace(options=lambda **_o: types.SimpleNamespace(remote=submit))
    ray = types.SimpleNamespace(
        is_initialized=lambda: True,
        cloudpickle=types.SimpleNamespace(register_pickle_by_value=lambda _m: None),
        remote=lambda **_k: lambda _f: task,
        nodes=lambda: [{"Alive": True, "Resources": {"CPU": 4.0}}],
        get=lambda ref: ref,
        cancel=cancel,
        exceptions=errors,
        streams=streams,
    )
    monkeypatch.setitem(sys.modules, "ray", ray)
    return ray


def test_ray_cancel_cancels_one_task_and_the_other_runs_on(tmp_path: Path, fake_ray: Any) -> None:
    from rigml.pipeline._ray import RayExecutor

    executor = RayExecutor(None, grace_s=0.5)
    doomed, other = Job("a", ("x",), tmp_path, {}), Job("b", ("y",), tmp_path, {})
    t1, out1 = _in_thread(executor.run, doomed)
    t2, out2 = _in_thread(executor.run, other)
    for _ in range(500):
        if len(fake_ray.streams) == 2:
            break
        threading.Event().wait(0.01)
    executor.cancel(doomed)
    t1.join(10)
    assert out1 == [Outcome(130, True)]
    assert sum(s.cancelled for s in fake_ray.streams) == 1  # the other task was left alone
    for stream in fake_ray.streams:
        stream.release.set()
    t2.join(10)
    assert out2 == [Outcome(0, False)]
