"""Tracking: logging, params, statuses on every kind of exit, crash detection, concurrency."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import rigml
from rigml.errors import InvalidInput, InvalidMetric, ParamConflict
from rigml.track.queries import get_run, load_history, metric_keys
from rigml.track.runs import NoActiveRun, start_run


def test_logged_points_come_back_in_order(any_lab, quiet_run_kwargs) -> None:
    with start_run(any_lab, experiment="e", params={"lr": 0.01}, **quiet_run_kwargs) as run:
        for i in range(5000):
            run.log({"loss": 1 / (i + 1), "acc": i / 5000}, step=i)
    hist = load_history(any_lab, run.id, "loss")
    assert len(hist) == 5000
    assert hist.steps.tolist() == list(range(5000))
    assert hist.values[-1] == pytest.approx(1 / 5000)
    info = get_run(any_lab, run.id)
    assert info.status == "finished" and info.end_time is not None
    assert info.metrics["acc"] == pytest.approx(4999 / 5000)
    assert info.params == {"lr": 0.01}


def test_default_steps_count_up_and_latest_is_the_highest_step(lab, quiet_run_kwargs) -> None:
    with start_run(lab, **quiet_run_kwargs) as run:
        run.log({"x": 1.0})
        run.log({"x": 2.0})
        run.log({"x": 9.0}, step=10)
        run.log({"x": 5.0}, step=3)  # a late point at an earlier step is not "latest"
    hist = load_history(lab, run.id, "x")
    assert hist.steps.tolist() == [0, 1, 3, 10]
    info = get_run(lab, run.id)
    assert info.metrics["x"] == 9.0 and info.metric_steps["x"] == 10


def test_nan_and_inf_are_stored_as_such(any_lab, quiet_run_kwargs) -> None:
    with start_run(any_lab, **quiet_run_kwargs) as run:
        run.log({"n": float("nan"), "p": float("inf"), "m": float("-inf")})
    info = get_run(any_lab, run.id)
    assert math.isnan(info.metrics["n"])
    assert info.metrics["p"] == math.inf and info.metrics["m"] == -math.inf
    assert math.isnan(load_history(any_lab, run.id, "n").values[0])
    assert info.to_dict()["metrics"] == {"m": "-inf", "n": "nan", "p": "inf"}


def test_numpy_scalars_and_bools_are_numbers(lab, quiet_run_kwargs) -> None:
    import numpy as np

    with start_run(lab, **quiet_run_kwargs) as run:
        run.log({"f32": np.float32(0.5), "i64": np.int64(3), "flag": True})
    assert get_run(lab, run.id).metrics == {"f32": 0.5, "flag": 1.0, "i64": 3.0}


@pytest.mark.parametrize("bad", ["0.5", None, b"1", [1.0], {"a": 1}, 1 + 2j])
def test_non_numeric_metrics_are_refused_at_the_call(lab, quiet_run_kwargs, bad) -> None:
    with start_run(lab, **quiet_run_kwargs) as run:
        run.log({"ok": 1.0})
        with pytest.raises(InvalidMetric) as info:
            run.log({"good": 2.0, "bad": bad})  # all or nothing
        assert "'bad'" in info.value.message and info.value.hint
    assert get_run(lab, run.id).metrics == {"ok": 1.0}  # what was logged before is kept


def test_conflicting_params_are_refused_and_the_first_value_kept(any_lab, quiet_run_kwargs) -> None:
    with start_run(any_lab, params={"lr": 0.01}, **quiet_run_kwargs) as run:
        run.log_params({"lr": 0.01, "batch": 32})  # the same value again is fine
        with pytest.raises(ParamConflict) as info:
            run.log_params({"lr": 0.1, "other": 1})
        assert "0.01" in info.value.message and "0.1" in info.value.message
    assert get_run(any_lab, run.id).params == {"batch": 32, "lr": 0.01}


def test_params_keep_their_types(lab, quiet_run_kwargs) -> None:
    values = {"s": "0.01", "f": 0.01, "i": 3, "b": True, "n": None, "l": [1, 2]}
    with start_run(lab, params=values, **quiet_run_kwargs) as run:
        pass
    assert get_run(lab, run.id).params == values


def test_bad_names_are_refused(lab, quiet_run_kwargs) -> None:
    with start_run(lab, **quiet_run_kwargs) as run:
        with pytest.raises(InvalidInput):
            run.log({"": 1.0})
        with pytest.raises(InvalidInput):
            run.log_params({"x" * 300: 1})
    with pytest.raises(InvalidInput):
        start_run(lab, experiment="", **quiet_run_kwargs)


def test_steps_must_be_integers_and_ended_runs_refuse_points(lab, quiet_run_kwargs) -> None:
    import numpy as np

    from rigml.track.runs import RunEnded

    with start_run(lab, **quiet_run_kwargs) as run:
        run.log({"x": 1.0}, step=np.int64(4))
        for bad in (1.5, "3", True, None.__class__):
            with pytest.raises(InvalidInput, match="step"):
                run.log({"x": 1.0}, step=bad)
    with pytest.raises(RunEnded):
        run.log({"x": 2.0})
    hist = load_history(lab, run.id, "x")
    assert hist.steps.tolist() == [4] and hist.values.tolist() == [1.0]


def test_tags_can_change(lab, quiet_run_kwargs) -> None:
    with start_run(lab, tags={"stage": "dev"}, **quiet_run_kwargs) as run:
        run.set_tags({"stage": "review", "owner": "ana"})
    assert get_run(lab, run.id).tags == {"owner": "ana", "stage": "review"}


def test_an_exception_marks_the_run_failed_with_its_traceback(lab, quiet_run_kwargs) -> None:
    with pytest.raises(ZeroDivisionError), start_run(lab, **quiet_run_kwargs) as run:
        run.log({"loss": 1.0})
        1 / 0  # noqa: B018
    info = get_run(lab, run.id)
    assert info.status == "failed"
    assert "ZeroDivisionError" in (info.error or "")
    assert info.metrics == {"loss": 1.0}


def test_module_level_api_logs_to_the_active_run(lab, quiet_run_kwargs) -> None:
    assert rigml.active_run() is None
    with pytest.raises(NoActiveRun):
        rigml.log({"x": 1.0})
    with rigml.start_run("api", lab=lab, **quiet_run_kwargs) as run:
        assert rigml.active_run() is run
        rigml.log({"x": 2.0})
    assert rigml.active_run() is None
    assert get_run(lab, run.id).metrics == {"x": 2.0}


def test_artifacts_are_stored_once_and_verified(lab, quiet_run_kwargs, tmp_path: Path) -> None:
    from rigml.track.artifacts import download_artifact, list_artifacts

    f = tmp_path / "model.bin"
    f.write_bytes(b"w" * 1000)
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with start_run(lab, **quiet_run_kwargs) as r1:
        r1.log_artifact(f)
        assert r1.log_artifact(folder) == ["plots/a.txt", "plots/sub/b.txt"]
    with start_run(lab, **quiet_run_kwargs) as r2:
        r2.log_artifact(f, name="weights/model.bin")
    assert [a.path for a in list_artifacts(lab, r1.id)] == [
        "model.bin",
        "plots/a.txt",
        "plots/sub/b.txt",
    ]
    assert len(list(lab.objects)) == 3  # model.bin is stored once for both runs
    out = download_artifact(lab, r2.id, "weights/model.bin", tmp_path / "dl.bin")
    assert out.read_bytes() == b"w" * 1000
    with pytest.raises(rigml.RigError):
        r2.log_artifact(tmp_path / "missing.bin")
    with pytest.raises(InvalidInput):
        r2.log_artifact(f, name="../escape")


# -- automatic capture ---------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_git_environment_and_machine_are_captured(lab, tmp_path: Path, monkeypatch) -> None:
    import json

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "v1")
    (repo / "train.py").write_text("print('v2')\n")  # uncommitted change
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MY_API_TOKEN", "s3cr3t-value")
    with start_run(lab, system_metrics=False) as run:
        run.log({"x": 1.0})
    info = get_run(lab, run.id)
    assert info.git_commit and len(info.git_commit) == 40
    assert info.git_branch == "main" and info.git_dirty is True
    from rigml.track.artifacts import list_artifacts

    diff = next(a for a in list_artifacts(lab, run.id) if a.path == "rig/git.diff")
    assert b"print('v2')" in lab.objects.get_bytes(diff.object)
    env = json.loads(lab.objects.get_bytes(info.env_object))
    assert env["env_vars"]["MY_API_TOKEN"] == "***"
    assert "s3cr3t-value" not in lab.objects.get_bytes(info.env_object).decode()
    assert any(p["name"] == "pytest" for p in env["packages"])
    machine = json.loads(lab.objects.get_bytes(info.machine_object))
    assert machine["memory"]["total_bytes"] > 0
    assert "python" in (info.command or "") or "pytest" in (info.command or "")


def test_capture_can_be_switched_off(lab, quiet_run_kwargs) -> None:
    with start_run(lab, **quiet_run_kwargs) as run:
        run.log({"x": 1.0})
    info = get_run(lab, run.id)
    assert info.env_object is None and info.machine_object is None and info.git_commit is None
    assert metric_keys(lab, run.id) == ["x"]


def test_system_metrics_are_sampled_in_the_background(lab) -> None:
    from rigml.config import TrackingConfig

    lab.config = type(lab.config)(
        tracking=TrackingConfig(system_metrics_interval=0.05, flush_interval=0.05)
    )
    with start_run(lab, capture_git=False, capture_environment=False) as run:
        time.sleep(0.5)
    keys = metric_keys(lab, run.id)
    assert "sys/cpu_percent" in keys and "sys/ram_used_gb" in keys
    assert len(load_history(lab, run.id, "sys/ram_used_gb")) >= 3
    assert get_run(lab, run.id).metrics["sys/ram_used_gb"] > 0


@pytest.mark.parametrize("bad", [0, -1.0, True, "5"])
def test_a_bad_sampling_interval_is_refused_before_the_run_starts(lab, bad) -> None:
    from rigml.track.queries import list_runs

    with pytest.raises(InvalidInput, match="system_metrics_interval"):
        start_run(lab, capture_git=False, system_metrics_interval=bad)
    assert list_runs(lab) == []


# -- exits and crashes, in real processes ----------------------------------------------------

SCRIPT = """
import os, sys, time, signal
import rigml
quiet = dict(capture_git=False, capture_environment=False, capture_machine=False,
             system_metrics=False)
mode = sys.argv[1]
if mode == "atexit":
    run = rigml.start_run("exits", **quiet)  # no context manager
    run.log({{"x": 1.0}})
    print(run.id, flush=True)
    if sys.argv[2] == "raise":
        raise RuntimeError("boom at top level")
    sys.exit(0)
with rigml.start_run("exits", **quiet) as run:
    print(run.id, flush=True)
    for i in range(2000):
        run.log({{"x": float(i)}}, step=i)
    run.flush()
    print("flushed", flush=True)
    for i in range(2000, 4000):
        run.log({{"x": float(i)}}, step=i)
    print("logged", flush=True)
    time.sleep(60)
"""


def _spawn(lab_path: Path, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT.format()))
    # the background writer never flushes during the test: what is stored after a
    # signal was written by the signal handling itself
    config = lab_path / "rig.toml"
    config.write_text(config.read_text().replace("flush_interval = 1.0", "flush_interval = 3600.0"))
    env = {**os.environ, "RIG_LAB": str(lab_path)}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_flushed(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "flushed"
    assert proc.stdout.readline().strip() == "logged"
    return run_id


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, "killed"), (signal.SIGINT, "killed")])
def test_signals_flush_everything_and_mark_the_run_killed(lab, tmp_path, sig, status) -> None:
    proc = _spawn(lab.path, tmp_path, "loop")
    run_id = _wait_flushed(proc)
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    info = get_run(lab, run_id)
    assert info.status == status
    assert len(load_history(lab, run_id, "x")) == 4000  # the unflushed half too


def test_sigkill_shows_crashed_with_flushed_points_intact(lab, tmp_path) -> None:
    proc = _spawn(lab.path, tmp_path, "loop")
    run_id = _wait_flushed(proc)
    assert get_run(lab, run_id).status == "running"
    proc.kill()
    proc.communicate(timeout=30)
    info = get_run(lab, run_id)
    assert info.status == "crashed" and info.end_time is not None
    hist = load_history(lab, run_id, "x")
    assert len(hist) == 2000  # flushed before the crash; the rest was only in memory
    assert hist.values[:2000].tolist() == [float(i) for i in range(2000)]


@pytest.mark.parametrize(("how", "status"), [("ok", "finished"), ("raise", "failed")])
def test_runs_left_open_are_ended_at_exit(lab, tmp_path, how, status) -> None:
    proc = _spawn(lab.path, tmp_path, "atexit", how)
    out, err = proc.communicate(timeout=60)
    run_id = out.strip()
    info = get_run(lab, run_id)
    assert info.status == status, err
    assert info.metrics == {"x": 1.0}
    if status == "failed":
        assert "boom at top level" in (info.error or "")


CONCURRENT = """
import sys, rigml
quiet = dict(capture_git=False, capture_environment=False, capture_machine=False,
             system_metrics=False)
n = int(sys.argv[1])
with rigml.start_run("concurrent", params={"worker": int(sys.argv[2])}, **quiet) as run:
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1), "acc": i / n}, step=i)
        if i % 100 == 0:
            run.flush()  # many small transactions, the worst case for locking
print(run.id)
"""


def _concurrent_writers(lab_path: Path, tmp_path: Path, workers: int, points: int) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(CONCURRENT)
    env = {**os.environ, "RIG_LAB": str(lab_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(points), str(w)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(workers)
    ]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert "locked" not in err
        ids.append(out.strip())
    return ids


@pytest.mark.slow
def test_eight_processes_log_at_once_without_losing_a_point(any_lab, tmp_path) -> None:
    ids = _concurrent_writers(any_lab.path, tmp_path, workers=8, points=5000)
    assert len(set(ids)) == 8
    for run_id in ids:
        info = get_run(any_lab, run_id)
        assert info.status == "finished"
        for key in ("loss", "acc"):
            hist = load_history(any_lab, run_id, key)
            assert hist.steps.tolist() == list(range(5000))


def test_sigterm_without_a_context_manager_ends_the_run_killed(lab, tmp_path) -> None:
    script = tmp_path / "open_run.py"
    script.write_text(
        "import sys, time, rigml\n"
        "run = rigml.start_run('exits', capture_git=False, capture_environment=False,\n"
        "                      capture_machine=False, system_metrics=False)\n"
        "run.log({'x': 1.0})\n"
        "print(run.id, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RIG_LAB": str(lab.path)},
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    info = get_run(lab, run_id)
    assert info.status == "killed" and info.metrics == {"x": 1.0}


def test_a_forked_child_leaves_the_parents_run_alone(lab, quiet_run_kwargs) -> None:
    import multiprocessing as mp

    def child() -> None:
        assert rigml.active_run() is None

    with start_run(lab, **quiet_run_kwargs) as run:
        run.log({"x": 1.0})
        proc = mp.get_context("fork").Process(target=child)
        proc.start()
        proc.join(timeout=30)
        assert proc.exitcode == 0
        assert get_run(lab, run.id).status == "running"
        run.log({"x": 2.0})
    assert get_run(lab, run.id).status == "finished"
    assert load_history(lab, run.id, "x").values.tolist() == [1.0, 2.0]


def test_a_stopped_writer_is_replaced(lab, quiet_run_kwargs) -> None:
    from rigml.track import _hooks as hooks

    with start_run(lab, **quiet_run_kwargs) as first:
        first.log({"x": 1.0})
    writer = hooks._writers[lab.store_url]
    writer.stop()
    writer.join(timeout=10)
    assert not writer.is_alive()
    with start_run(lab, **quiet_run_kwargs) as second:
        second.log({"x": 1.0})
    assert hooks._writers[lab.store_url] is not writer
