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
