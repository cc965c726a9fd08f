"""``rig sweep`` through the real entry point on a temporary project and lab."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult

pytest.importorskip("optuna")

PY = sys.executable
Rig = Callable[..., CliResult]

STAGE = """
import json, os, pathlib, time, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
if p.get("nap"):
    pathlib.Path(os.environ["RIG_LAB"], "..", "started").write_text("")
    time.sleep(60)
json.dump({"val": {"auc": 1 - (float(p["lr"]) - 0.01) ** 2}}, open("m.json", "w"))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from rigml.lab import init_lab

    lab, _ = init_lab(tmp_path / ".rig")
    lab.close()
    toml = tmp_path / ".rig" / "rig.toml"
    text = toml.read_text().replace("capture_machine = true", "capture_machine = false")
    toml.write_text(text.replace("system_metrics = true", "system_metrics = false"))
    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.1\n  nap: false\n")
    (tmp_path / "train.py").write_text(STAGE)
    (tmp_path / "rig.yaml").write_text(
        f"stages:\n  train:\n    cmd: {PY} train.py\n    deps: [train.py]\n"
        "    params: [train.lr, train.nap]\n    metrics: [m.json]\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RIG_GPU_RECORDING", str(tmp_path / "no-gpus.json"))
    return tmp_path


def test_sweep_json_table_and_plot(project: Path, rig: Rig) -> None:
    args = ("sweep", "train", "-p", "train.lr=0.001,0.01,0.1", "--sampler", "grid")
    result = rig(*args, "--metric", "val.auc", "--direction", "max", "--name", "s", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["best"]["params"] == {"train.lr": 0.01} and data["best"]["value"] == 1.0
    assert [t["state"] for t in data["trials"]] == ["complete"] * 3
    values = [t["value"] for t in data["trials"]]
    assert values == sorted(values, reverse=True)
    runs = rig("runs", "list", "--where", "tags.rig.sweep = s", "--json")
    assert runs.exit_code == 0, runs.stderr
    assert sorted(r["id"] for r in json.loads(runs.stdout)) == sorted(
        t["run_id"] for t in data["trials"]
    )

    shown = rig("sweep", "--resume", "s", "--plot", "sweep.png")
    assert shown.exit_code == 0, shown.stderr
    assert "best: trial 1, val.auc = 1" in shown.stdout and "train.lr" in shown.stdout
    assert (project / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert (project / "params.yaml").read_text() == "train:\n  lr: 0.1\n  nap: false\n"


def test_sweep_errors_are_one_line(project: Path, rig: Rig) -> None:
    bad = rig("sweep", "train", "-p", "train.lr=1:2:cubic", "--metric", "m")
    assert bad.exit_code == 2 and "--param train.lr=1:2:cubic: unknown scale" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = rig("sweep", "--resume", "nope")
    assert missing.exit_code != 0 and "no sweep named 'nope'" in missing.stderr
    unknown = rig("sweep", "trian", "-p", "train.lr=1,2", "--metric", "m")
    assert "did you mean 'train'" in unknown.stderr


def test_ctrl_c_records_the_trial_killed_and_resume_reruns_it(project: Path, rig: Rig) -> None:
    from rigml.lab import Lab
    from rigml.track import list_runs

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import sys; from rigml.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["sweep", "train", "-p", "train.nap=true", "--metric", "val.auc", "--name", "k"]
    proc = subprocess.Popen([PY, "-c", code, *args], cwd=project, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 30
    while not (project / "started").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 130, out
    assert "--resume k" in out
    lab = Lab(project / ".rig")
    try:
        assert [r.status for r in list_runs(lab)] == ["killed"]
    finally:
        lab.close()
    (project / "params.yaml").write_text("train:\n  lr: 0.01\n  nap: false\n")
    # the sweep sets nap=true again: the stage naps unless told otherwise, so stub it
    (project / "train.py").write_text(STAGE.replace('if p.get("nap"):', "if False:"))
    again = rig("sweep", "--resume", "k", "--trials", "1", "--json")
    assert again.exit_code == 0, again.stderr
    trials = json.loads(again.stdout)["trials"]
    assert [(t["number"], t["state"]) for t in trials] == [(1, "complete"), (0, "killed")]


def test_optuna_loads_only_when_a_sweep_runs() -> None:
    probe = "import rigml.cli.sweep, rigml.pipeline, sys; print('optuna' in sys.modules)"
    out = subprocess.run([PY, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
