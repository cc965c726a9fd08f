"""A stage script's ``rigml.log`` lands in the run its ``rig run`` started (RIG_STAGE_RUN_ID)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rigml.lab import Lab

CHILD = """
import rigml
for i in range(3):
    rigml.log({"val/auc": 0.5 + i / 10}, step=i)
"""


def test_a_child_logs_into_the_stage_run_and_leaves_its_status(
    lab: Lab, quiet_run_kwargs: dict[str, Any]
) -> None:
    from rigml.track.queries import get_run, list_runs, load_history
    from rigml.track.runs import start_run

    run = start_run(lab, experiment="pipe", name="train", **quiet_run_kwargs)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.update(RIG_STAGE_RUN_ID=run.id, RIG_LAB=str(lab.path))
    subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, timeout=60)
    assert get_run(lab, run.id).status == "running"  # the child only logged
    assert load_history(lab, run.id, "val/auc").values.tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert len(list_runs(lab)) == 1  # no second run
    run.end("finished")
    assert get_run(lab, run.id).status == "finished"


def test_attaching_to_an_ended_run_is_refused(lab: Lab, quiet_run_kwargs: dict[str, Any]) -> None:
    from rigml.track.runs import RunEnded, attach_run, start_run

    run = start_run(lab, name="done", **quiet_run_kwargs)
    run.end("failed")
    with pytest.raises(RunEnded):
        attach_run(lab, run.id)


CHILD_WITH_START_RUN = """
import rigml
with rigml.start_run("ignored", params={"depth": 4}, tags={"who": "stage"}) as run:
    rigml.log({"loss": 0.25}, step=0)
    run.log({"loss": 0.125}, step=1)
"""


def test_start_run_in_a_stage_attaches_to_the_stage_run(
    lab: Lab, quiet_run_kwargs: dict[str, Any]
) -> None:
    """As ``mlflow.start_run()`` under MLFLOW_RUN_ID: one run, the stage's, not two."""
    from rigml.track.queries import get_run, list_runs, load_history
    from rigml.track.runs import start_run

    run = start_run(lab, experiment="pipe", name="train", **quiet_run_kwargs)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.update(RIG_STAGE_RUN_ID=run.id, RIG_LAB=str(lab.path))
    subprocess.run([sys.executable, "-c", CHILD_WITH_START_RUN], env=env, check=True, timeout=60)
    assert len(list_runs(lab)) == 1
    info = get_run(lab, run.id)
    assert info.status == "running" and info.experiment == "pipe"  # the stage's, not "ignored"
    assert info.params["depth"] == 4 and info.tags["who"] == "stage"
    assert load_history(lab, run.id, "loss").values.tolist() == [0.25, 0.125]
    run.end("finished")
