"""``rig preflight`` through the real entry point: table, --json, exit codes."""

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
    (tmp_path / "in.txt").write_text("x\n")
    (tmp_path / "rig.yaml").write_text(
        f"""stages:
  prep:
    cmd: {PY} -c "open('a.txt', 'w').write('a')"
    deps: [in.txt]
    outs: [a.txt]
    smoke: {PY} -c "print('sample ok')"
  serve:
    cmd: {PY} -c "print('serve')"
    deps: [a.txt]
    model: {{name: llama-3.1-70b, task: infer, context: 4096}}
"""
    )
    return tmp_path


def test_a_ready_stage_passes_and_exits_0(project: Path, rig: Rig) -> None:
    result = rig("preflight", "prep", "--no-doctor")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "smoke" in result.stdout and "sample ok" not in result.stdout
    assert "3 checks of 1 stages" in " ".join(result.stdout.split())
    data = json.loads(rig("preflight", "prep", "--no-doctor", "--json").stdout)
    assert data["ok"] is True and data["stages"] == ["prep"]
    assert [c["check"] for c in data["checks"]] == ["deps", "disk", "smoke"]


def test_a_failing_check_exits_1_and_json_says_why(project: Path, rig: Rig) -> None:
    (project / "in.txt").unlink()
    result = rig("preflight", "--no-doctor", "--no-smoke", "--vram", "24", "--json")
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["counts"]["fail"] == 2
    failed = {(c["check"], c["stage"]) for c in data["checks"] if c["status"] == "fail"}
    assert failed == {("deps", "prep"), ("fit", "serve")}
    fit = next(c for c in data["checks"] if c["check"] == "fit")
    assert fit["fix"] and fit["figures"]["verdict"] == "no"
    table = rig("preflight", "--no-doctor", "--no-smoke", "--vram", "24")
    assert table.exit_code == 1
    text = " ".join(table.stdout.split())
    assert "does not fit" in text and "in.txt does not exist" in text
    assert "2 fail" in text


def test_a_rig_yaml_mistake_exits_2(project: Path, rig: Rig) -> None:
    text = (project / "rig.yaml").read_text().replace("context: 4096", "contxt: 4096")
    (project / "rig.yaml").write_text(text)
    result = rig("preflight", "--no-doctor", "--no-smoke")
    assert result.exit_code == 2
    assert "did you mean 'context'" in result.err
    assert rig("preflight", "nope", "--no-doctor").exit_code != 0
