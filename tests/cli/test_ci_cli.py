"""``rig ci init`` writes a workflow that parses, and refuses to overwrite without --force."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rigml.cli import main


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_github_writes_the_workflow(capsys) -> None:
    code, out, err = rig(capsys, "ci", "init", "github", "--model", "churn", "--python", "3.12")
    assert code == 0, err
    path = Path(".github/workflows/rig.yml")
    assert out.startswith(f"wrote {path}")
    workflow = yaml.safe_load(path.read_text())
    assert list(workflow["jobs"]) == ["test", "train"]
    steps = workflow["jobs"]["train"]["steps"]
    assert steps[1]["with"]["python-version"] == "3.12"
    assert any("rig models promote churn" in s.get("run", "") for s in steps)


def test_init_refuses_to_overwrite_without_force(capsys) -> None:
    assert rig(capsys, "ci", "init", "gitlab")[0] == 0
    Path(".gitlab-ci.yml").write_text("# mine\n")
    code, out, err = rig(capsys, "ci", "init", "gitlab")
    assert code == 1 and out == ""
    assert "error: .gitlab-ci.yml exists already; not overwriting it" in err
    assert "--force" in err and "Traceback" not in err
    assert Path(".gitlab-ci.yml").read_text() == "# mine\n"
    code, _, err = rig(capsys, "ci", "init", "gitlab", "--force")
    assert code == 0, err
    assert yaml.safe_load(Path(".gitlab-ci.yml").read_text())["stages"][-1] == "stage"


def test_init_to_a_chosen_path_and_bad_input(capsys, tmp_path: Path) -> None:
    code, _, err = rig(capsys, "ci", "init", "github", "-o", str(tmp_path / "wf.yml"))
    assert code == 0, err
    assert (tmp_path / "wf.yml").is_file()
    code, _, err = rig(capsys, "ci", "init", "github", "-o", str(tmp_path / "no" / "wf.yml"))
    assert code == 1 and "does not exist" in err
    code, _, err = rig(capsys, "ci", "init", "jenkins")
    assert code == 2 and "jenkins" in err
