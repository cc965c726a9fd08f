"""``rig sweep`` as a service: real stage processes, a real lab, a real Optuna journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigml.errors import InvalidSweep, InvalidSweepParam, SweepNotFound
from tests.pipeline.conftest import PY, Project

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
json.dump({"loss": loss, "env": {"gpus": os.environ.get("CUDA_VISIBLE_DEVICES", "-")}},
          open("out/metrics.json", "w"))
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


def _sweep(project: Project, **kw: object):  # type: ignore[no-untyped-def]
    from rigml.pipeline import load_pipeline
    from rigml.pipeline._sweep import SweepConfig, run_sweep

    config = SweepConfig(**{"stage": "train", "metric": "loss", "gpus": (), **kw})  # type: ignore[arg-type]
    return run_sweep(project.lab, load_pipeline(project.root), config)


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
    xs = lambda r: sorted(t.params["train.x"] for t in r.trials)  # noqa: E731
    assert xs(a) == xs(b) and len(set(xs(a))) == 3
    assert all(0 <= x <= 1 for x in xs(a))

    tpe = _sweep(
        sweep_project, params=("train.x=-3.0:3.0",), sampler="tpe", seed=1, trials=10,
        startup_trials=3, name="t",
    )  # fmt: skip
    first = next(t for t in tpe.trials if t.number == 0)
    assert tpe.best is not None and tpe.best.value is not None and first.value is not None
    assert tpe.best.value < first.value and abs(tpe.best.params["train.x"] - 0.7) < 0.5
