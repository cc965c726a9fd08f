"""rig run end to end on real files, real processes and a real SQLite lab."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from rigml.errors import StageFailed
from rigml.pipeline import RunReport, load_pipeline, pipeline_status, run_pipeline
from rigml.pipeline._lockfile import read_lock

from .conftest import PY, Project

TRAIN = """
import json, pathlib, yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
pathlib.Path("model.pkl").write_text(f"model {lr}\\n")
json.dump({"acc": 0.9, "loss": {"val": 0.25}, "name": "x"}, open("metrics.json", "w"))
print("trained with", lr)
"""


def _two_stages(project: Project) -> None:
    project.write("params.yaml", "train:\n  lr: 0.1\n")
    project.write("in.csv", "a\n")
    project.write("train.py", TRAIN)
    project.pipeline(
        f"""
        stages:
          prep:
            cmd: {PY} w.py data/clean.csv prepared
            deps: [in.csv]
            outs: [data]
          train:
            cmd: {PY} train.py
            deps: [data/clean.csv, train.py]
            params: [train.lr]
            outs: [model.pkl]
            metrics: [metrics.json]
        """
    )


def _run(project: Project, **kwargs: Any) -> dict[str, str]:
    lines: list[tuple[str, str]] = []
    report = run_pipeline(
        project.lab,
        load_pipeline(),
        on_output=lambda s, line: lines.append((s, line)),
        **kwargs,
    )
    return {r.name: r.action for r in report.stages}


def test_happy_path_each_stage_is_a_tracked_run(project: Project) -> None:
    from rigml.track import get_run, list_artifacts

    _two_stages(project)
    assert _run(project) == {"prep": "ran", "train": "ran"}
    assert (project.root / "model.pkl").read_text() == "model 0.1\n"
    lock = read_lock(project.root / "rig.lock")
    assert [o["path"] for o in lock["train"]["outs"]] == ["model.pkl", "metrics.json"]
    assert lock["prep"]["outs"][0]["kind"] == "folder"
    run = get_run(project.lab, lock["train"]["run"])
    assert (run.name, run.experiment, run.status) == ("train", project.root.name, "finished")
    assert run.tags["rig.stage"] == "train" and run.tags["rig.pipeline"] == project.root.name
    assert run.params == {"train.lr": 0.1}
    assert run.metrics == {"acc": 0.9, "loss.val": 0.25}
    assert run.env_object is not None  # the full environment lock was captured
    names = {a.path: a.object for a in list_artifacts(project.lab, run.id)}
    assert names["model.pkl"] == lock["train"]["outs"][0]["hash"]
    assert "logs/train.log" in names
    log = project.lab.objects.get_bytes(names["logs/train.log"]).decode()
    assert "trained with 0.1" in log


def test_a_rerun_with_nothing_changed_runs_nothing(project: Project) -> None:
    _two_stages(project)
    _run(project)
    assert _run(project) == {"prep": "up to date", "train": "up to date"}


def test_changing_one_param_reruns_only_its_dependants(project: Project) -> None:
    _two_stages(project)
    _run(project)
    project.write("params.yaml", "train:\n  lr: 0.2\n")
    plan = {s.name: s.reasons for s in pipeline_status(project.lab, load_pipeline())}
    assert plan == {"prep": ("up to date",), "train": ("param train.lr changed",)}
    assert _run(project) == {"prep": "up to date", "train": "ran"}
    assert (project.root / "model.pkl").read_text() == "model 0.2\n"


def test_a_deleted_out_is_restored_from_cache_without_rerunning(project: Project) -> None:
    import shutil

    _two_stages(project)
    _run(project)
    run_before = read_lock(project.root / "rig.lock")["prep"]["run"]
    shutil.rmtree(project.root / "data")
    (project.root / "model.pkl").unlink()
    plan = {s.name: s.state for s in pipeline_status(project.lab, load_pipeline())}
    assert plan == {"prep": "restore", "train": "restore"}
    assert _run(project) == {"prep": "restored", "train": "restored"}
    assert (project.root / "data" / "clean.csv").read_text() == "prepared\n"
    assert (project.root / "model.pkl").read_text() == "model 0.1\n"
    assert read_lock(project.root / "rig.lock")["prep"]["run"] == run_before


def test_dry_reasons(project: Project) -> None:
    _two_stages(project)

    def reasons() -> dict[str, tuple[str, ...]]:
        return {s.name: s.reasons for s in pipeline_status(project.lab, load_pipeline())}

    assert reasons() == {
        "prep": ("never run",),
        "train": ("never run", "upstream stage prep will run"),
    }
    _run(project)
    project.write("in.csv", "b\n")
    assert reasons()["prep"] == ("dep in.csv changed",)
    _run(project)
    (project.root / "model.pkl").write_text("tampered\n")
    assert reasons()["train"] == ("out model.pkl modified",)
    project.pipeline(
        (project.root / "rig.yaml").read_text().replace("train.py\n", "train.py --x\n")
    )
    assert reasons()["train"] == ("cmd changed", "out model.pkl modified")
    _run(project)
    project.lab.objects.delete(read_lock(project.root / "rig.lock")["train"]["outs"][0]["hash"])
    (project.root / "model.pkl").unlink()
    assert reasons()["train"] == ("out model.pkl missing",)
    forced = pipeline_status(project.lab, load_pipeline(), force=True)
    assert [s.reasons[0] for s in forced] == ["forced", "forced"]


def test_a_failing_stage_stops_its_dependants_and_keeps_upstream(project: Project) -> None:
    from rigml.track import get_run

    project.write("fail.py", "import sys\nprint('about to fail')\nsys.exit(3)\n")
    project.pipeline(
        f"""
        stages:
          prep: {{cmd: {PY} w.py a.txt a, outs: [a.txt]}}
          bad: {{cmd: {PY} fail.py, deps: [a.txt], outs: [b.txt]}}
          after: {{cmd: {PY} w.py c.txt c, deps: [b.txt], outs: [c.txt]}}
          other: {{cmd: {PY} w.py d.txt d, outs: [d.txt]}}
        """
    )
    with pytest.raises(StageFailed) as info:
        _run(project)
    err = info.value
    assert (err.stage, err.returncode, err.exit_code) == ("bad", 3, 1)
    assert "about to fail" in err.message
    actions = {r.name: r.action for r in _report(err).stages}
    assert actions == {"prep": "ran", "bad": "failed", "after": "not run", "other": "ran"}
    lock = read_lock(project.root / "rig.lock")
    assert set(lock) == {"prep", "other"}
    failed = next(r for r in _report(err).stages if r.name == "bad")
    assert failed.run_id is not None
    assert get_run(project.lab, failed.run_id).status == "failed"
    project.write("fail.py", "import pathlib\npathlib.Path('b.txt').write_text('fixed')\n")
    assert _run(project) == {
        "prep": "up to date",
        "bad": "ran",
        "after": "ran",
        "other": "up to date",
    }


def _report(err: StageFailed) -> RunReport:
    assert isinstance(err.report, RunReport)
    return err.report


def test_independent_stages_run_in_parallel(project: Project) -> None:
    # each stage waits (up to 20 s) until the other has started: only parallel runs finish
    waiter = """
import pathlib, sys, time
me, other = sys.argv[1], sys.argv[2]
pathlib.Path(me + ".started").write_text("")
t = time.time()
while not pathlib.Path(other + ".started").exists() and time.time() - t < 20:
    time.sleep(0.02)
pathlib.Path(me + ".out").write_text(str(pathlib.Path(other + ".started").exists()))
"""
    project.write("wait.py", waiter)
    project.pipeline(
        f"""
        stages:
          a: {{cmd: {PY} wait.py a b, outs: [a.out]}}
          b: {{cmd: {PY} wait.py b a, outs: [b.out]}}
        """
    )
    assert _run(project, jobs=2) == {"a": "ran", "b": "ran"}
    assert (project.root / "a.out").read_text() == "True"
    assert (project.root / "b.out").read_text() == "True"


def test_a_dataset_dep_is_checked_out_and_recorded_as_lineage(project: Project) -> None:
    from rigml.data import add
    from rigml.data._lineage import versions_used_by

    src = project.write("raw/iris.csv", "x,y\n1,2\n")
    add(project.lab, src.parent, name="iris", inspect=False)
    reader = """
import os, pathlib
folder = pathlib.Path(os.environ["RIG_DATA_IRIS"])
pathlib.Path("copy.csv").write_text((folder / "iris.csv").read_text())
"""
    project.write("read.py", reader)
    project.pipeline(
        f"stages:\n  use:\n    cmd: {PY} read.py\n    deps: ['data:iris']\n    outs: [copy.csv]\n"
    )
    assert _run(project) == {"use": "ran"}
    assert (project.root / "copy.csv").read_text() == "x,y\n1,2\n"
    entry = read_lock(project.root / "rig.lock")["use"]
    assert entry["deps"][0]["version"] == "iris@1"
    assert versions_used_by(project.lab, entry["run"]) == ["iris@1"]
    assert _run(project) == {"use": "up to date"}
    project.write("raw/iris.csv", "x,y\n3,4\n")
    add(project.lab, src.parent, name="iris", inspect=False)
    plan = pipeline_status(project.lab, load_pipeline())
    assert plan[0].reasons == ("dep data:iris@latest changed (now iris@2)",)
    assert _run(project) == {"use": "ran"}
    assert (project.root / "copy.csv").read_text() == "x,y\n3,4\n"


def _rig_process(project: Project, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import sys; from rigml.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_concurrent_rig_runs_share_one_project(project: Project) -> None:
    project.write(
        "slow.py",
        "import sys, time, pathlib\ntime.sleep(0.5)\n"
        "pathlib.Path(sys.argv[1]).write_text(sys.argv[1])\n",
    )
    stages = "\n".join(
        f"  s{i}: {{cmd: {PY} slow.py o{i}.txt, outs: [o{i}.txt]}}" for i in range(6)
    )
    project.pipeline("stages:\n" + stages + "\n")
    first = _rig_process(project, "run", "--jobs", "2")
    second = _rig_process(project, "run", "--jobs", "2")
    outs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    lock = read_lock(project.root / "rig.lock")
    assert sorted(lock) == [f"s{i}" for i in range(6)]
    ran = sum(out.count(": ran") for out in outs)
    assert ran == 6, outs  # each stage ran once: the other invocation found it up to date
    assert yaml.safe_load((project.root / "rig.lock").read_text())["schema"] == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_running_stages_and_records_them_killed(
    project: Project, sig: signal.Signals
) -> None:
    from rigml.track import list_runs

    project.write(
        "sleep.py", "import pathlib, time\npathlib.Path('started').write_text('')\ntime.sleep(60)\n"
    )
    project.pipeline(f"stages:\n  nap: {{cmd: {PY} sleep.py, outs: [never.txt]}}\n")
    proc = _rig_process(project, "run")
    deadline = time.time() + 30
    while not (project.root / "started").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 130, out
    runs = list_runs(project.lab)
    assert [(r.name, r.status) for r in runs] == [("nap", "killed")]
    assert "nap" not in read_lock(project.root / "rig.lock")
    assert "interrupted" in out


def test_status_with_nothing_changed_hashes_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rigml.data import _hashing

    project.write("in.csv", "a\n")
    project.pipeline(
        "stages:\n"
        + "\n".join(
            f"  s{i}: {{cmd: {PY} w.py o{i}/f.txt {i}, deps: [in.csv], outs: [o{i}]}}"
            for i in range(20)
        )
        + "\n"
    )
    _run(project, jobs=2)
    project.age("in.csv", *(f"o{i}/f.txt" for i in range(20)))
    pipeline_status(project.lab, load_pipeline())  # fills the stat cache
    calls: list[str] = []
    real = _hashing.hash_path

    def counting(path: str, size: int | None = None) -> str:
        calls.append(path)
        return real(path, size)

    monkeypatch.setattr(_hashing, "hash_path", counting)
    states = {s.state for s in pipeline_status(project.lab, load_pipeline())}
    assert states == {"up to date"}
    assert calls == []


def test_foreach_and_matrix_stages_run_and_select_by_template(project: Project) -> None:
    project.pipeline(
        f"""
        stages:
          fit:
            foreach: [a, b]
            do:
              cmd: {PY} w.py "fit-${{item}}.txt" ${{item}}
              outs: ["fit-${{item}}.txt"]
          grid:
            matrix: {{lr: [1, 2], depth: [3]}}
            cmd: {PY} w.py "g-${{item.lr}}-${{item.depth}}.txt" x
            deps: [fit-a.txt]
            outs: ["g-${{item.lr}}-${{item.depth}}.txt"]
        """
    )
    assert _run(project, targets=["fit"]) == {"fit@a": "ran", "fit@b": "ran"}
    assert _run(project, targets=["grid@2-3"], jobs=2) == {"fit@a": "up to date", "grid@2-3": "ran"}
    assert (project.root / "g-2-3.txt").read_text() == "x\n"
    assert _run(project) == {
        "fit@a": "up to date",
        "fit@b": "up to date",
        "grid@1-3": "ran",
        "grid@2-3": "up to date",
    }


def test_a_stage_runs_in_its_wdir_and_sees_its_environment(project: Project) -> None:
    show = "import os, pathlib\npathlib.Path('env.txt').write_text(os.environ['RIG_STAGE'])\n"
    project.write("sub/show.py", show)
    project.pipeline(f"stages:\n  s:\n    cmd: {PY} show.py\n    wdir: sub\n    outs: [env.txt]\n")
    assert _run(project) == {"s": "ran"}
    assert (project.root / "sub" / "env.txt").read_text() == "s"
    assert read_lock(project.root / "rig.lock")["s"]["outs"][0]["path"] == "sub/env.txt"


def test_another_environment_makes_every_stage_stale(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rigml.pipeline import _env

    project.pipeline(f"stages:\n  s: {{cmd: {PY} w.py o.txt x, outs: [o.txt]}}\n")
    _run(project)
    monkeypatch.setattr(_env, "env_digest", lambda: "another")
    assert pipeline_status(project.lab, load_pipeline())[0].reasons == ("environment changed",)


def test_a_single_file_dataset_is_given_as_a_file(project: Project) -> None:
    from rigml.data import add

    add(project.lab, project.write("t.csv", "a\n"), name="t-1", inspect=False)
    copy = "import os, shutil\nshutil.copy(os.environ['RIG_DATA_T_1'], 'c.csv')\n"
    project.write("copy.py", copy)
    project.pipeline(
        f"stages:\n  s:\n    cmd: {PY} copy.py\n    deps: ['data:t-1@1']\n    outs: [c.csv]\n"
    )
    assert _run(project) == {"s": "ran"}
    assert (project.root / "c.csv").read_text() == "a\n"


def _write_entries(lab_path: str, lock: str, prefix: str) -> None:
    from rigml.lab import Lab
    from rigml.pipeline._lockfile import update_lock

    lab = Lab(lab_path)
    for i in range(15):
        update_lock(lab, Path(lock), f"{prefix}{i}", {"cmd": [f"echo {i}"]})


def test_two_processes_merging_rig_lock_lose_no_entry(project: Project) -> None:
    import multiprocessing

    lock = str(project.root / "rig.lock")
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_write_entries, args=(str(project.lab.path), lock, p)) for p in "ab"
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(read_lock(Path(lock))) == 30


def test_a_dep_on_the_whole_project_leaves_out_the_lab_and_rig_lock(project: Project) -> None:
    project.pipeline(f"stages:\n  s: {{cmd: {PY} -c 'print(1)', deps: [.]}}\n")
    assert _run(project) == {"s": "ran"}
    assert pipeline_status(project.lab, load_pipeline())[0].state == "up to date"
    project.write("new.txt", "x")
    assert pipeline_status(project.lab, load_pipeline())[0].reasons == ("dep . changed",)


def test_ctrl_c_ends_a_wait_for_a_stage_another_rig_run_holds(project: Project) -> None:
    nap = "import pathlib, time\npathlib.Path('started').write_text('')\ntime.sleep(60)\n"
    project.write("sleep.py", nap)
    project.pipeline(f"stages:\n  nap: {{cmd: {PY} sleep.py, outs: [never.txt]}}\n")
    holder = _rig_process(project, "run")
    try:
        deadline = time.time() + 30
        while not (project.root / "started").exists() and time.time() < deadline:
            time.sleep(0.05)
        waiter = _rig_process(project, "run")
        time.sleep(1.0)  # long enough to be waiting on the stage's lock
        assert waiter.poll() is None
        waiter.send_signal(signal.SIGINT)
        out = waiter.communicate(timeout=20)[0]  # not the 60 s the holder's stage takes
        assert waiter.returncode == 130, out
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=30)
