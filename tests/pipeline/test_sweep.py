"""``rig sweep`` as a service: real stage processes, a real lab, a real Optuna journal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from tests.pipeline.conftest import PY, Project

from rigml.errors import InvalidSweep, InvalidSweepParam, SweepNotFound

if TYPE_CHECKING:
    from rigml.pipeline._spec import Pipeline
    from rigml.pipeline._sweep import SweepConfig, SweepReport

pytest.importorskip("optuna")

# the objective is a 1-D quadratic with its best at x = 0.7: loss = (x - 0.7)^2 (+ depth)
STAGE = """
import json, os, sys, time, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
x, depth = float(p["x"]), int(p.get("depth", 0))
loss = (x - 0.7) ** 2 + depth / 100
steps = int(p.get("steps", 0))
if steps:
    import rigml
    for i in range(steps):
        rigml.log({"loss": loss * (1 + (steps - i) / steps)}, step=i)
        rigml.active_run().flush()
        time.sleep(float(p.get("pause", 0.0)))
os.makedirs("out", exist_ok=True)
gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
json.dump({"loss": loss, "gpu": int(gpu) if gpu else -1}, open("out/metrics.json", "w"))
print("loss", loss, "gpus", os.environ.get("CUDA_VISIBLE_DEVICES", "-"))
"""

PIPELINE = f"""
stages:
  prep:
    cmd: {PY} w.py data/prep.txt prepared
    deps: [w.py]
    outs: [data/prep.txt]
  train:
    cmd: {PY} train.py
    deps: [train.py, data/prep.txt]
    params: [train]
    metrics: [out/metrics.json]
"""


@pytest.fixture
def sweep_project(project: Project) -> Project:
    project.write("train.py", STAGE)
    project.write("params.yaml", "train:\n  x: 0.0\n  depth: 1\n")
    project.pipeline(PIPELINE)
    return project


def _pipeline(project: Project) -> Pipeline:
    from rigml.pipeline import load_pipeline

    return load_pipeline(project.root)


def _config(**kw: object) -> SweepConfig:
    from rigml.pipeline._sweep import SweepConfig

    return SweepConfig(**{"stage": "train", "metric": "loss", "gpus": (), **kw})  # type: ignore[arg-type]


def _sweep(project: Project, **kw: object) -> SweepReport:
    from rigml.pipeline._sweep import run_sweep

    return run_sweep(project.lab, _pipeline(project), _config(**kw))


def test_grid_runs_every_point_once_and_leaves_params_yaml(sweep_project: Project) -> None:
    before = (sweep_project.root / "params.yaml").read_text()
    report = _sweep(
        sweep_project, params=("train.x=0.5,0.7", "train.depth=0:2"), sampler="grid", name="g"
    )
    points = sorted((t.params["train.x"], t.params["train.depth"]) for t in report.trials)
    assert points == [(0.5, 0), (0.5, 1), (0.5, 2), (0.7, 0), (0.7, 1), (0.7, 2)]
    assert {t.state for t in report.trials} == {"complete"}
    assert report.best is not None and report.best.params == {"train.x": 0.7, "train.depth": 0}
    assert report.best.value == pytest.approx(0.0)
    assert (sweep_project.root / "params.yaml").read_text() == before
    assert not (sweep_project.root / "out").exists()  # outs stay in the trial's slot

    from rigml.track.queries import get_run

    run = get_run(sweep_project.lab, report.best.run_id or "")
    assert run.tags["rig.sweep"] == "g" and run.tags["rig.trial"] == str(report.best.number)
    assert run.params["train.x"] == 0.7 and run.metrics["loss"] == pytest.approx(0.0)


def test_random_with_a_seed_repeats_and_tpe_improves(sweep_project: Project) -> None:
    a = _sweep(
        sweep_project, params=("train.x=0.0:1.0",), sampler="random", seed=3, trials=3, name="a"
    )
    b = _sweep(
        sweep_project, params=("train.x=0.0:1.0",), sampler="random", seed=3, trials=3, name="b"
    )

    def xs(r: SweepReport) -> list[float]:
        return sorted(t.params["train.x"] for t in r.trials)

    assert xs(a) == xs(b) and len(set(xs(a))) == 3
    assert all(0 <= x <= 1 for x in xs(a))

    tpe = _sweep(
        sweep_project, params=("train.x=-3.0:3.0",), sampler="tpe", seed=1, trials=10,
        startup_trials=3, name="t",
    )  # fmt: skip
    from rigml.track.queries import list_runs

    assert [r.name for r in list_runs(sweep_project.lab)].count("prep") == 1  # then cached
    first = next(t for t in tpe.trials if t.number == 0)
    assert tpe.best is not None and tpe.best.value is not None and first.value is not None
    assert tpe.best.value < first.value and abs(tpe.best.params["train.x"] - 0.7) < 0.5


def test_pruning_stops_a_bad_trial(sweep_project: Project) -> None:
    sweep_project.write("params.yaml", "train:\n  x: 0.0\n  steps: 30\n  pause: 0.03\n")
    report = _sweep(
        sweep_project, params=("train.x=0.7,0.6,3.0",), sampler="grid", prune=True,
        startup_trials=2, name="p",
    )  # fmt: skip
    states = {t.params["train.x"]: t.state for t in report.trials}
    assert states == {0.7: "complete", 0.6: "complete", 3.0: "pruned"}
    pruned = next(t for t in report.trials if t.state == "pruned")
    assert pruned.note and pruned.note.startswith("pruned at step")

    from rigml.track.queries import get_run, load_history

    run = get_run(sweep_project.lab, pruned.run_id or "")
    assert run.status == "killed" and run.tags["rig.trial_state"] == "pruned"
    assert len(load_history(sweep_project.lab, pruned.run_id or "", "loss")) < 30


def test_resume_continues_the_numbering(sweep_project: Project) -> None:
    first = _sweep(sweep_project, params=("train.x=0.0:1.0",), sampler="random", seed=1, trials=2,
                   name="r")  # fmt: skip
    again = _sweep(sweep_project, name="r", resume=True, trials=4)
    assert sorted(t.number for t in again.trials) == [0, 1, 2, 3]
    kept = {t.number: t.params for t in first.trials}
    assert {t.number: t.params for t in again.trials if t.number < 2} == kept
    assert _sweep(sweep_project, name="r", resume=True).trials == again.trials  # 4 is the total

    from rigml.pipeline import load_pipeline
    from rigml.pipeline._sweep import sweep_report
    from rigml.pipeline._sweep_plan import list_sweeps

    assert list_sweeps(sweep_project.lab) == ["r"]
    assert sweep_report(sweep_project.lab, load_pipeline(sweep_project.root), "r") == again
    with pytest.raises(SweepNotFound, match="'nope'"):
        _sweep(sweep_project, name="nope", resume=True)
    with pytest.raises(InvalidSweep, match="exists already"):
        _sweep(sweep_project, params=("train.x=1,2",), name="r")
    with pytest.raises(InvalidSweep, match="started with params"):
        _sweep(sweep_project, params=("train.x=1,2",), name="r", resume=True)


def test_a_trial_a_crash_left_running_is_killed_and_run_again(sweep_project: Project) -> None:
    from rigml.pipeline._sweep_plan import load_plan
    from rigml.pipeline._sweep_study import import_optuna, open_study

    spec = ("train.x=0.1,0.9",)
    _sweep(sweep_project, params=spec, sampler="grid", trials=1, name="c")
    plan = load_plan(sweep_project.lab, _pipeline(sweep_project), _config(name="c", resume=True))
    space = {"train.x": plan.specs[0].distribution()}
    open_study(import_optuna(), plan, 1).ask(space)  # the next grid point starts; "the crash"
    report = _sweep(sweep_project, name="c", resume=True, trials=2)
    rows = sorted((t.number, t.state, t.params.get("train.x")) for t in report.trials)
    assert rows == [(0, "complete", 0.1), (1, "killed", 0.9), (2, "complete", 0.9)]


def test_two_jobs_each_trial_gets_one_gpu(sweep_project: Project) -> None:
    report = _sweep(
        sweep_project, params=("train.x=0.1,0.2,0.3,0.4",), sampler="grid", jobs=2, gpus=(4, 7),
        name="j",
    )  # fmt: skip
    from rigml.track.queries import get_run

    gpus = [get_run(sweep_project.lab, t.run_id or "").metrics["gpu"] for t in report.trials]
    assert len(gpus) == 4 and set(gpus) <= {4.0, 7.0}
    assert (sweep_project.lab.path / "sweeps/j/slots/1").is_dir()  # a second slot was used


def test_resources_bound_the_concurrent_trials() -> None:
    from rigml.pipeline._spec import Stage
    from rigml.pipeline._sweep_plan import trial_slots

    def stage(**res: object) -> Stage:
        return Stage("s", ("true",), ".", (), (), {}, (), (), (), resources=res or None)

    assert trial_slots(stage(), 3, ()) == [None, None, None]
    assert trial_slots(stage(), 3, (0, 1)) == [(0,), (1,)]
    assert trial_slots(stage(gpus=2), 4, (0, 1, 2, 3, 5)) == [(0, 1), (2, 3)]
    assert trial_slots(stage(gpus=0), 2, (0, 1)) == [(), ()]
    assert len(trial_slots(stage(cpus=10**6), 4, ())) == 1
    with pytest.raises(InvalidSweep, match="needs 1 GPU"):
        trial_slots(stage(gpus=1), 2, ())


@pytest.mark.parametrize(
    ("param", "problem"),
    [
        ("train.x", "expected KEY=SPEC"),
        ("=1,2", "expected KEY=SPEC"),
        ("train.x=", "no values"),
        ("train.x=1:2:3:4", "LOW:HIGH"),
        ("train.x=1:2:cubic", "unknown scale"),
        ("train.x=a:b", "must be numbers"),
        ("train.x=2:1", "must be below"),
        ("train.x=0.5:2.5:int", "integer bounds"),
        ("train.x=0:1:log", "above 0"),
        ("train.x=1,,2", "empty choice"),
        ("train.x=1,1", "repeated"),
        ("lr=1,2", "does not declare the param lr"),
        ("other=1,2", "does not declare"),
    ],
)
def test_bad_specs_name_the_param(sweep_project: Project, param: str, problem: str) -> None:
    with pytest.raises(InvalidSweepParam, match=problem) as info:
        _sweep(sweep_project, params=(param,), name="bad")
    assert str(info.value).startswith(f"--param {param}:")
    assert not (sweep_project.lab.path / "sweeps" / "bad").exists()


def test_spec_kinds() -> None:
    from rigml.pipeline._sweep_space import parse_param

    assert parse_param("a=0.001:0.1:log").kind == "log"
    assert parse_param("a=0:1.5").kind == "float"
    assert parse_param("a=1:8").kind == "int"
    assert parse_param("a=1.0:8:int").kind == "int"
    assert parse_param("a=3,0.5,adam,true").choices == (3, 0.5, "adam", True)


def test_grid_needs_values_and_options_are_checked(sweep_project: Project) -> None:
    with pytest.raises(InvalidSweepParam, match="no grid"):
        _sweep(sweep_project, params=("train.x=0.0:1.0",), sampler="grid")
    with pytest.raises(InvalidSweep, match="nothing to sweep"):
        _sweep(sweep_project)
    with pytest.raises(InvalidSweep, match="no metric"):
        _sweep(sweep_project, params=("train.x=1,2",), metric=None)
    with pytest.raises(InvalidSweep, match="--jobs"):
        _sweep(sweep_project, params=("train.x=1,2",), jobs=0)


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(sweep_project: Project) -> None:
    failing = """
    import os, sys, yaml
    x = yaml.safe_load(open("params.yaml"))["train"]["x"]
    os.makedirs("out", exist_ok=True)
    open("out/metrics.json", "w").write("{}")
    sys.exit(3 if x > 1 else 0)
    """
    sweep_project.write("train.py", failing)
    report = _sweep(sweep_project, params=("train.x=0,2",), sampler="grid", name="f")
    states = {t.params["train.x"]: (t.state, t.note or "") for t in report.trials}
    assert states[2][0] == "failed" and "exit code 3" in states[2][1]
    assert states[0] == ("failed", "the stage reported no metric 'loss'")


def test_without_optuna_the_extra_is_named(
    sweep_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from rigml.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(MissingExtra, match="sweep") as info:
        _sweep(sweep_project, params=("train.x=1,2",))
    assert info.value.hint == "pip install 'rigml[sweep]'"


def test_a_nan_objective_fails_the_trial(sweep_project: Project) -> None:
    sweep_project.write(
        "train.py",
        """
        import json, os
        os.makedirs("out", exist_ok=True)
        json.dump({"loss": float("nan")}, open("out/metrics.json", "w"))
        """,
    )
    report = _sweep(sweep_project, params=("train.x=1,2",), sampler="grid", name="n")
    assert {(t.state, t.note) for t in report.trials} == {
        ("failed", "the stage reported loss = nan")
    }


def test_a_stage_in_a_wdir_with_its_own_params_file(sweep_project: Project) -> None:
    sweep_project.write("sub/train.py", STAGE)
    sweep_project.write("sub/params.yaml", "train:\n  x: 5.0\n")
    sweep_project.pipeline(
        f"stages:\n  train:\n    cmd: {PY} train.py\n    wdir: sub\n    deps: [train.py]\n"
        "    params: [{params.yaml: [train.x]}]\n    metrics: [out/metrics.json]\n"
    )
    report = _sweep(sweep_project, params=("train.x=0.7,2.0",), sampler="grid", name="w")
    assert report.best is not None and report.best.params == {"train.x": 0.7}
    assert report.best.value == pytest.approx(0.0)
    assert (sweep_project.root / "sub/params.yaml").read_text() == "train:\n  x: 5.0\n"


class _Recording:
    """An executor that is not local (as Ray is not): local processes, every call recorded."""

    name = "fake"

    def __init__(self) -> None:
        from rigml.pipeline import LocalExecutor

        self.inner = LocalExecutor()
        self.jobs: list[tuple[str, str | None]] = []
        self.cancelled: list[str | None] = []
        self.stopped = 0

    def run(self, job: Any) -> Any:
        self.jobs.append((job.stage, job.env.get("RIG_TRIAL")))
        return self.inner.run(job)

    def stop(self) -> None:
        self.stopped += 1
        self.inner.stop()

    def cancel(self, job: Any) -> None:
        self.cancelled.append(job.env.get("RIG_TRIAL"))
        self.inner.cancel(job)


def test_upstream_stages_and_every_trial_run_through_the_given_executor(
    sweep_project: Project,
) -> None:
    from rigml.pipeline._sweep import run_sweep

    # gpus: 1 and no GPU here: a local sweep refuses it, another executor's cluster places it
    sweep_project.pipeline(PIPELINE + "    resources: {gpus: 1}\n")
    fake = _Recording()
    config = _config(params=("train.x=0.1,0.5",), sampler="grid", jobs=2)
    report = run_sweep(sweep_project.lab, _pipeline(sweep_project), config, executor=fake)
    assert sorted(t.state for t in report.trials) == ["complete", "complete"]
    assert sorted(fake.jobs) == [("prep", None), ("train", "0"), ("train", "1")]
    assert fake.stopped == 0 and fake.cancelled == []


def test_pruning_cancels_only_the_pruned_trials_job(sweep_project: Project) -> None:
    from rigml.pipeline._sweep import run_sweep

    sweep_project.write("params.yaml", "train:\n  x: 0.0\n  steps: 30\n  pause: 0.03\n")
    fake = _Recording()
    config = _config(
        params=("train.x=0.7,0.6,3.0",), sampler="grid", prune=True, startup_trials=2, name="p"
    )
    report = run_sweep(sweep_project.lab, _pipeline(sweep_project), config, executor=fake)
    states = {t.params["train.x"]: t.state for t in report.trials}
    assert states == {0.7: "complete", 0.6: "complete", 3.0: "pruned"}
    pruned = next(t for t in report.trials if t.state == "pruned")
    assert fake.cancelled == [str(pruned.number)] and fake.stopped == 0


def test_rig_sweep_with_ray_and_no_ray_names_the_extra(
    sweep_project: Project, rig: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = rig(
        "--lab", str(sweep_project.lab.path), "sweep", "train", "-p", "train.x=0.1,0.5",
        "--sampler", "grid", "-m", "loss", "--file", str(sweep_project.root / "rig.yaml"),
        "--executor", "ray",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "pip install 'rigml[ray]'" in result.err
    assert not (sweep_project.lab.path / "sweeps").exists()  # no plan left behind


def test_the_labs_pipeline_executor_runs_the_trials(
    sweep_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from rigml.errors import MissingExtra
    from rigml.lab import Lab
    from rigml.pipeline._sweep import run_sweep

    monkeypatch.setitem(sys.modules, "ray", None)
    toml = sweep_project.lab.path / "rig.toml"
    toml.write_text(toml.read_text().replace("# executor = ", "executor = "))
    lab = Lab(sweep_project.lab.path)
    try:
        with pytest.raises(MissingExtra):  # [pipeline] executor = "ray", and no Ray here
            run_sweep(lab, _pipeline(sweep_project), _config(params=("train.x=0.1",)))
        config = _config(params=("train.x=0.1",), sampler="grid", executor="local")
        report = run_sweep(lab, _pipeline(sweep_project), config)  # the option wins
        assert [t.state for t in report.trials] == ["complete"]
    finally:
        lab.close()
