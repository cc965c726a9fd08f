"""rig run / status / dag through the real entry point on a temporary project and lab."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult

PY = sys.executable
Rig = Callable[..., CliResult]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    from rigml.lab import init_lab

    lab, _ = init_lab(tmp_path / ".rig")
    lab.close()
    toml = tmp_path / ".rig" / "rig.toml"
    text = toml.read_text().replace("capture_machine = true", "capture_machine = false")
    toml.write_text(text.replace("system_metrics = true", "system_metrics = false"))
    (tmp_path / "params.yaml").write_text("lr: 0.1\n")
    (tmp_path / "w.py").write_text(
        "import json, sys, pathlib\n"
        "text = sys.argv[2]\n"
        "if sys.argv[1] == 'm.json':\n    text = json.dumps({'acc': float(text)})\n"
        "pathlib.Path(sys.argv[1]).write_text(text)\n"
        "print('wrote', sys.argv[1])\n"
    )
    (tmp_path / "rig.yaml").write_text(
        f"""stages:
  prep:
    cmd: {PY} w.py a.txt a
    outs: [a.txt]
  train:
    desc: fit
    cmd: {PY} w.py m.json 0.5
    deps: [a.txt]
    params: [lr]
    metrics: [m.json]
"""
    )
    return tmp_path


def test_run_status_dag(project: Path, rig: Rig) -> None:
    dry = rig("run", "--dry", "--json")
    assert dry.exit_code == 0, dry.stderr
    plan = json.loads(dry.stdout)["stages"]
    assert [(s["name"], s["will_run"], s["reasons"][0]) for s in plan] == [
        ("prep", True, "never run"),
        ("train", True, "never run"),
    ]
    assert not (project / "a.txt").exists()
    result = rig("run")
    assert result.exit_code == 0, result.stderr
    assert "wrote a.txt" in result.stdout
    assert "prep: ran" in result.stdout and "train: ran" in result.stdout
    status = rig("status")
    assert "everything is up to date" in status.stdout
    (project / "params.yaml").write_text("lr: 0.2\n")
    stale = json.loads(rig("status", "--json").stdout)["stages"]
    assert [s["state"] for s in stale] == ["up to date", "stale"]
    assert stale[1]["reasons"] == ["param lr changed"]
    dag = rig("dag")
    assert dag.stdout.splitlines() == [
        "prep [up to date]",
        "  train [stale: param lr changed]  <- prep",
    ]
    graph = json.loads(rig("dag", "--json").stdout)
    assert graph["edges"] == [{"from": "prep", "to": "train"}]
    again = json.loads(rig("run", "train", "--json").stdout)
    assert [(s["name"], s["action"]) for s in again["stages"]] == [
        ("prep", "up to date"),
        ("train", "ran"),
    ]
    forced = json.loads(rig("run", "prep", "--force", "--json").stdout)
    assert [s["action"] for s in forced["stages"]] == ["ran"]


def test_errors_exit_cleanly(project: Path, rig: Rig) -> None:
    (project / "rig.yaml").write_text("stages:\n  a:\n    cmd: x\n    outz: [a]\n")
    bad = rig("run")
    assert bad.exit_code == 2
    assert "rig.yaml:4: stages.a.outz: unknown key 'outz'; did you mean 'outs'?" in bad.err
    (project / "rig.yaml").write_text(f"stages:\n  a:\n    cmd: {PY} -c 'print(1); exit(4)'\n")
    failed = rig("run")
    assert failed.exit_code == 1
    assert "stage 'a' failed with exit code 4" in failed.err
    assert "| 1" in failed.err
    assert "a: failed (exit code 4)" in failed.stdout
    unknown = rig("run", "trian")
    assert unknown.exit_code == 1 and "did you mean 'a'?" not in unknown.err
    assert "no stage named 'trian'" in unknown.err
    assert rig("run", "--jobs", "0").exit_code == 2


def test_no_pipeline(tmp_path: Path, rig: Rig) -> None:
    result = rig("status")
    assert result.exit_code == 1
    assert "no rig.yaml" in result.err
