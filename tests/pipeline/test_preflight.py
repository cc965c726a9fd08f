"""Preflight on real projects, labs, datasets and processes: each check passing and failing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rigml.data import add, check, contract_from_dict
from rigml.errors import InvalidPipeline, UnknownStage
from rigml.fit import Target
from rigml.machine.doctor import DoctorContext
from rigml.machine.readings import DiskUsage
from rigml.pipeline import (
    PreflightOptions,
    PreflightReport,
    load_pipeline,
    preflight,
    run_pipeline,
)
from rigml.pipeline._lockfile import read_lock, update_lock

from .conftest import PY, Project

GIB = 2**30
QUIET = PreflightOptions(doctor=False, smoke=False)
COLUMNS = {"id": {"type": "int"}}


def _check(project: Project, *targets: str, **options: object) -> PreflightReport:
    opts = PreflightOptions(**{"doctor": False, **options})  # type: ignore[arg-type]
    return preflight(project.lab, load_pipeline(deps_on_disk=False), targets, options=opts)


def _rows(report: PreflightReport, check: str) -> list[tuple[str | None, str, str]]:
    return [(c.stage, c.status, c.evidence) for c in report.checks if c.check == check]


def _dataset(project: Project, name: str = "users", rows: int = 3) -> None:
    body = "".join(f"{i},{20 + i}\n" for i in range(rows))
    project.write(f"raw/{name}/{name}.csv", "id,age\n" + body)
    add(project.lab, project.root / "raw" / name, name=name)


# ---------------------------------------------------------------------------- a ready pipeline


def test_a_ready_pipeline_passes_every_check(project: Project) -> None:
    _dataset(project)
    check(project.lab, "users@1", contract_from_dict({"columns": COLUMNS}))
    project.write(
        "src/prep.py",
        "import os, sys\nsys.exit(0 if os.path.isdir(os.environ['RIG_DATA_USERS']) else 5)\n",
    )
    project.write("conf/a.yaml", "x: 1\n")
    project.pipeline(
        f"""
        stages:
          prep:
            cmd: {PY} w.py clean.txt
            deps: [src/prep.py, conf, 'data:users']
            outs: [clean.txt]
            resources: {{memory: 1GiB}}
            smoke: {PY} src/prep.py  # the dataset is checked out for it, as for a run
        """
    )
    report = _check(project, smoke=True, available_memory=8 * GIB)
    assert not report.failed and report.exit_code == 0, report.checks
    assert [(c.check, c.status) for c in report.checks] == [
        ("deps", "pass"),
        ("contract", "pass"),
        ("disk", "pass"),
        ("memory", "pass"),
        ("smoke", "pass"),
    ]
    assert report.checks[0].evidence == "2 present and readable; datasets users@latest = users@1"
    assert report.checks[2].evidence == "no previous size: never run"
    data = report.to_dict()
    assert data["ok"] is True and data["stages"] == ["prep"]
    assert data["counts"] == {"fail": 0, "warn": 0, "pass": 5}


def test_targets_select_their_upstream_only(project: Project) -> None:
    project.pipeline(
        f"""
        stages:
          a: {{cmd: {PY} w.py a.txt, outs: [a.txt]}}
          b: {{cmd: {PY} w.py b.txt, deps: [a.txt], outs: [b.txt]}}
          c: {{cmd: {PY} w.py c.txt, outs: [c.txt]}}
        """
    )
    assert _check(project, "b").stages == ("a", "b")
    assert _rows(_check(project, "b"), "deps") == [("b", "pass", "1 written by upstream stages")]
    with pytest.raises(UnknownStage):
        _check(project, "nope")


# ---------------------------------------------------------------------------- deps


def test_missing_and_unreadable_deps_fail(project: Project) -> None:
    project.write("w2.py", "print(1)\n")
    project.write("data/ok.txt", "1\n")
    os.symlink(project.root / "gone.txt", project.root / "data" / "link.txt")
    os.symlink(project.root / "nowhere", project.root / "dangling")
    project.pipeline(
        f"""
        stages:
          s:
            cmd: {PY} w.py out.txt
            deps: [w2.py, missing.csv, dangling, data, 'data:nope@1']
            outs: [out.txt]
        """
    )
    with pytest.raises(InvalidPipeline, match="does not exist"):
        load_pipeline()  # `rig run` refuses it; preflight reports it
    report = _check(project)
    assert report.failed and report.exit_code == 1
    deps = _rows(report, "deps")
    assert [e.split(" ", 1)[0] for _s, status, e in deps if status == "fail"] == [
        "missing.csv",
        "dangling",
        "data",
        "data:nope@1:",
    ]
    assert "is a broken symlink" in deps[1][2]
    assert "holds a broken symlink: link.txt" in deps[2][2]
    assert "no dataset" in deps[3][2] or "nope" in deps[3][2]
    assert all(c.fix for c in report.checks if c.status == "fail")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_a_file_without_read_permission_fails(project: Project) -> None:
    locked = project.write("secret.txt", "x\n")
    locked.chmod(0)
    project.pipeline(f"stages:\n  s:\n    cmd: {PY} w.py a\n    deps: [secret.txt]\n")
    try:
        (row,) = _rows(_check(project), "deps")
    finally:
        locked.chmod(0o600)
    assert row[1] == "fail" and "secret.txt cannot be read" in row[2]


def test_a_folder_where_the_last_run_read_a_file_fails(project: Project) -> None:
    project.write("in.txt", "x\n")
    project.pipeline(
        f"stages:\n  s:\n    cmd: {PY} w.py out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"
    )
    run_pipeline(project.lab, load_pipeline())
    assert _rows(_check(project), "deps")[0][1] == "pass"
    (project.root / "in.txt").unlink()
    (project.root / "in.txt").mkdir()
    (project.root / "in.txt" / "x").write_text("x")
    (row,) = _rows(_check(project), "deps")
    assert row == ("s", "fail", "in.txt is a folder, but it was a file when the stage last ran")


# ---------------------------------------------------------------------------- contracts


def test_contract_checks_pass_fail_or_are_missing(project: Project) -> None:
    _dataset(project, "good")
    _dataset(project, "bad")
    _dataset(project, "new")
    ok, too_many = {"rows": {"min": 1}}, {"rows": {"max": 2}}
    check(project.lab, "good@1", contract_from_dict({**ok, "columns": COLUMNS}))
    check(project.lab, "bad@1", contract_from_dict({**ok, "columns": COLUMNS}))
    check(project.lab, "bad@1", contract_from_dict({**too_many, "columns": COLUMNS}))  # newest
    project.pipeline(
        f"""
        stages:
          s:
            cmd: {PY} w.py out.txt
            deps: ['data:good', 'data:bad@1', 'data:new@latest']
            outs: [out.txt]
        """
    )
    report = _check(project)
    assert _rows(report, "contract") == [
        ("s", "pass", "good@1: 2 of 2 checks passed"),
        ("s", "fail", "bad@1: 1 of 2 checks failed (rows)"),
        ("s", "warn", "new@1 has no stored contract check"),
    ]
    fail = next(c for c in report.checks if c.status == "fail")
    assert "rig data check bad@1" in (fail.fix or "") and fail.figures["failures"] == ["rows"]
    assert report.exit_code == 1


# ---------------------------------------------------------------------------- disk


def _ran_once(project: Project, text: str = "x" * 4096) -> None:
    project.write("big.py", f"open('big.bin', 'w').write({text!r})\n")
    project.pipeline(f"stages:\n  s:\n    cmd: {PY} big.py\n    outs: [big.bin]\n")
    run_pipeline(project.lab, load_pipeline())


def test_disk_space_is_estimated_from_the_last_run(project: Project) -> None:
    _ran_once(project)
    (project.root / "big.bin").unlink()  # the rerun writes all of it again
    seen: list[str] = []

    def free(place: str) -> int:
        seen.append(place)
        return 6000

    (row,) = [c for c in _check(project, free_bytes=free).checks if c.check == "disk"]
    # 4 KiB out in place + 4 KiB copy in the lab's objects, both on this disk
    assert row.status == "fail" and row.figures["need_bytes"] == 8192
    assert "needs about 8.0 KiB" in row.evidence and "5.9 KiB free" in row.evidence
    assert row.fix is not None and "free at least" in row.fix
    assert str(project.root) in seen
    (row,) = [c for c in _check(project, free_bytes=lambda _p: 9000).checks if c.check == "disk"]
    assert row.status == "warn"  # over 80% of what is free
    (row,) = [c for c in _check(project, free_bytes=lambda _p: 10**9).checks if c.check == "disk"]
    assert row.status == "pass"


def test_an_out_that_is_there_is_overwritten_not_added(project: Project) -> None:
    _ran_once(project)
    (row,) = [c for c in _check(project, free_bytes=lambda _p: 6000).checks if c.check == "disk"]
    assert row.status == "pass" and row.figures["need_bytes"] == 4096  # the objects' copy only


def test_needs_add_up_over_the_stages_on_one_disk(project: Project) -> None:
    project.write("big.py", "import sys\nopen(sys.argv[1], 'w').write(sys.argv[1] * 4096)\n")
    project.pipeline(
        f"""
        stages:
          a: {{cmd: {PY} big.py a, outs: [a]}}
          b: {{cmd: {PY} big.py b, outs: [b]}}
        """
    )
    run_pipeline(project.lab, load_pipeline())
    (project.root / "a").unlink()
    (project.root / "b").unlink()
    a, b = [c for c in _check(project, free_bytes=lambda _p: 12000).checks if c.check == "disk"]
    assert a.status == "pass" and a.figures["need_bytes"] == 8192
    assert b.status == "fail" and b.figures["need_bytes"] == 16384
    assert "(with the stages before it: 16.0 KiB)" in b.evidence


def test_a_huge_previous_out_in_the_lock_fails_against_the_real_disk(project: Project) -> None:
    _ran_once(project)
    lock = project.root / "rig.lock"
    entry = read_lock(lock)["s"]
    entry["outs"][0]["size"] = 2**62  # 4 EiB: no disk has that free
    update_lock(project.lab, lock, "s", entry)
    report = _check(project)
    (row,) = [c for c in report.checks if c.check == "disk"]
    assert row.status == "fail" and row.figures["free_bytes"] < 2**62
    assert report.exit_code == 1


# ---------------------------------------------------------------------------- memory


def test_memory_over_what_is_available_fails(project: Project) -> None:
    project.pipeline(
        f"""
        stages:
          small: {{cmd: {PY} w.py a.txt, outs: [a.txt], resources: {{memory: 512MiB}}}}
          edge: {{cmd: {PY} w.py b.txt, outs: [b.txt], resources: {{memory: 3.8GiB}}}}
          big: {{cmd: {PY} w.py c.txt, outs: [c.txt], resources: {{memory: 64GB}}}}
        """
    )
    report = _check(project, available_memory=4 * GIB)
    assert [(s, st) for s, st, _e in _rows(report, "memory")] == [
        ("small", "pass"),
        ("edge", "warn"),
        ("big", "fail"),
    ]
    big = next(c for c in report.checks if c.check == "memory" and c.stage == "big")
    assert big.figures["need_bytes"] == 64 * 10**9
    measured = _check(project)  # this machine's memory now
    assert all(c.figures["available_bytes"] > 0 for c in measured.checks if c.check == "memory")


def test_a_memory_value_that_is_not_a_size_is_located(project: Project) -> None:
    project.pipeline(f"stages:\n  s:\n    cmd: {PY} w.py a\n    resources:\n      memory: lots\n")
    with pytest.raises(InvalidPipeline, match=r"rig.yaml:5: stages.s.resources.memory"):
        _check(project)


# ---------------------------------------------------------------------------- gpus

RECORDED = Path(__file__).parents[1] / "machine" / "recorded" / "rtx4090_idle.json"


def test_gpus_asked_for_against_those_visible(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.pipeline(
        f"""
        stages:
          one: {{cmd: {PY} w.py a, resources: {{gpus: 1}}}}
          two: {{cmd: {PY} w.py b, resources: {{gpus: 2}}}}
          cpu: {{cmd: {PY} w.py c, resources: {{gpus: 0}}}}
        """
    )
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    rows = _rows(_check(project), "gpus")
    assert [(s, st) for s, st, _e in rows] == [("one", "pass"), ("two", "fail")]
    assert "1 NVIDIA GPU(s): NVIDIA GeForce RTX 4090" in rows[0][2]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    hidden = _rows(_check(project), "gpus")
    assert hidden[0][1] == "fail" and "CUDA_VISIBLE_DEVICES=''" in hidden[0][2]
    assert [st for _s, st, _e in _rows(_check(project, gpu_count=2), "gpus")] == ["pass", "pass"]


# ---------------------------------------------------------------------------- fit


def test_a_model_that_does_not_fit_fails_with_the_planners_first_change(
    project: Project,
) -> None:
    project.pipeline(
        f"""
        stages:
          serve:
            cmd: {PY} w.py a.txt
            model: {{name: llama-3.1-70b, task: infer, context: 4096}}
          tune:
            cmd: {PY} w.py b.txt
            model: {{name: llama-3.1-8b, task: qlora, gradient_checkpointing: true}}
        """
    )
    gpu = (Target("24 GiB GPU", 24 * GIB, source="vram"),)
    report = _check(project, fit_targets=gpu)
    serve, tune = [c for c in report.checks if c.check == "fit"]
    assert serve.status == "fail" and serve.figures["verdict"] == "no"
    assert "does not fit" in serve.evidence and "24 GiB GPU" in serve.evidence
    assert serve.fix and "(--" in serve.fix  # the planner's change, with its rig fit flags
    assert tune.status == "pass" and tune.fix is None
    by_vram = _check(project, vram_gb=24)
    assert [c.status for c in by_vram.checks if c.check == "fit"] == ["fail", "pass"]


def test_an_unknown_model_fails_and_a_misspelt_key_is_located(project: Project) -> None:
    project.pipeline(f"stages:\n  s:\n    cmd: {PY} w.py a\n    model: no-such-model-xyz\n")
    (row,) = [c for c in _check(project).checks if c.check == "fit"]
    assert row.status == "fail" and "no-such-model-xyz" in row.evidence
    project.pipeline(
        f"stages:\n  s:\n    cmd: {PY} w.py a\n    model:\n      name: llama-3.1-8b\n"
        "      contxt: 4096\n"
    )
    with pytest.raises(InvalidPipeline, match=r"stages\.s\.model\.contxt.*did you mean 'context'"):
        _check(project)


# ---------------------------------------------------------------------------- doctor


def _disk(percent: float) -> DiskUsage:
    total = 1000 * GIB
    used = int(total * percent / 100)
    return DiskUsage("/", total, used, total - used, percent)


def test_doctor_failures_and_warnings_are_rows(project: Project) -> None:
    project.pipeline(f"stages:\n  s:\n    cmd: {PY} w.py a\n")
    full = DoctorContext(disks=[_disk(99.0)])
    report = _check(project, doctor=True, doctor_checks=("disk",), doctor_context=full)
    rows = [c for c in report.checks if c.check == "doctor"]
    assert [(c.stage, c.status) for c in rows] == [(None, "fail")]
    assert rows[0].evidence.startswith("disk.system_full: /: ") and rows[0].fix
    assert report.exit_code == 1
    healthy = DoctorContext(disks=[_disk(10.0)])
    ok = _check(project, doctor=True, doctor_checks=("disk.system_full",), doctor_context=healthy)
    assert _rows(ok, "doctor") == [(None, "pass", "1 checks passed (`rig doctor` shows them)")]


def test_the_doctor_runs_without_its_slow_checks_by_default(project: Project) -> None:
    from rigml.pipeline._preflight_run import SLOW_DOCTOR_CHECKS

    project.pipeline(f"stages:\n  s:\n    cmd: {PY} w.py a\n")
    report = _check(project, doctor=True)
    rows = [c for c in report.checks if c.check == "doctor"]
    assert rows and not any(c.evidence.startswith(SLOW_DOCTOR_CHECKS) for c in rows)


# ---------------------------------------------------------------------------- smoke


def test_smoke_runs_in_wdir_and_records_nothing(project: Project) -> None:
    from rigml import search_runs

    project.write(
        "sub/s.py", "import os, pathlib\npathlib.Path('here').write_text(os.environ['RIG_STAGE'])\n"
    )
    project.pipeline(
        f"""
        stages:
          s:
            cmd: {PY} w.py a
            wdir: sub
            smoke: {{cmd: {PY} s.py, timeout: 30s}}
        """
    )
    report = _check(project, smoke=True)
    assert _rows(report, "smoke")[0][:2] == ("s", "pass")
    assert (project.root / "sub" / "here").read_text() == "s"
    assert not (project.root / "rig.lock").exists()
    assert len(search_runs(lab=project.lab)) == 0


def test_smoke_failure_and_timeout_fail_with_the_last_output(project: Project) -> None:
    project.write("bad.py", "for i in range(20):\n    print('line', i)\nraise SystemExit(3)\n")
    project.write("slow.py", "import time\nprint('started', flush=True)\ntime.sleep(30)\n")
    project.pipeline(
        f"""
        stages:
          bad: {{cmd: {PY} w.py a, smoke: {PY} bad.py}}
          slow: {{cmd: {PY} w.py b, smoke: {{cmd: {PY} slow.py, timeout: 0.5s}}}}
          several: {{cmd: {PY} w.py c, smoke: [{PY} -c "print(1)", "exit 4"]}}
        """
    )
    report = _check(project, smoke=True)
    bad, slow, several = [c for c in report.checks if c.check == "smoke"]
    assert bad.status == "fail" and "exited with 3" in bad.evidence
    assert bad.figures["tail"][-1] == "line 19" and len(bad.figures["tail"]) == 8
    assert slow.status == "fail" and "did not end within" in slow.evidence
    assert slow.figures["exit_code"] is None and slow.figures["tail"] == ["started"]
    assert several.status == "fail" and several.figures["cmd"] == "exit 4"
    assert _check(project, smoke=False).checks == ()


def test_a_bad_smoke_timeout_is_located(project: Project) -> None:
    project.pipeline(
        f"stages:\n  s:\n    cmd: {PY} w.py a\n    smoke: {{cmd: 'true', timeout: soon}}\n"
    )
    with pytest.raises(InvalidPipeline, match=r"stages.s.smoke.timeout"):
        _check(project)


def test_quiet_options_leave_out_the_machine(project: Project) -> None:
    project.pipeline(f"stages:\n  s:\n    cmd: {PY} w.py a\n    smoke: 'exit 1'\n")
    report = preflight(project.lab, load_pipeline(), options=QUIET)
    assert report.checks == ()
    assert Path(project.root / "rig.lock").exists() is False
