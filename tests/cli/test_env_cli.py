"""``rig env capture`` and ``rig env diff`` on real files, a real lab and this environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigml.cli import main
from rigml.track.runs import start_run


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def captured(capsys, tmp_path: Path) -> Path:
    path = tmp_path / "f.json"
    code, out, err = rig(capsys, "env", "capture", "-o", str(path))
    assert code == 0, err
    assert out.startswith(f"wrote {path}: Python ")
    return path


def _broken_copy(src: Path, dest: Path) -> Path:
    """The lock with another Python minor, another numpy major and another torch CUDA build."""
    env = json.loads(src.read_text())
    major, minor, *_ = env["python"]["version"].split(".")
    env["python"]["version"] = f"{major}.{int(minor) - 1}.9"
    for p in env["packages"]:
        if p["name"] == "numpy":
            p["version"] = "1.26.4" if not p["version"].startswith("1.") else "2.1.0"
    env["frameworks"]["torch"] = {"version": "2.3.1", "cuda": "11.8", "hip": None}
    dest.write_text(json.dumps(env))
    return dest


def test_capture_prints_the_lock(capsys) -> None:
    code, out, _ = rig(capsys, "env", "capture")
    assert code == 0
    env = json.loads(out)
    assert env["schema_version"] == 1 and env["packages"] and "env_vars" in env
    code, out, _ = rig(capsys, "env", "capture", "--no-env-vars")
    assert "env_vars" not in json.loads(out)


def test_capture_writes_a_file_atomically(captured: Path) -> None:
    env = json.loads(captured.read_text())
    assert env["schema_version"] == 1
    assert [p.name for p in captured.parent.iterdir() if p.name.startswith(".f.json")] == []


def test_capture_into_a_missing_folder_is_a_clear_error(capsys, tmp_path: Path) -> None:
    code, out, err = rig(capsys, "env", "capture", "-o", str(tmp_path / "no" / "f.json"))
    assert code == 1 and out == ""
    assert "cannot write" in err and "does not exist" in err and "hint:" in err
    assert not (tmp_path / "no").exists()


def test_a_fresh_capture_has_no_breaking_differences(capsys, captured: Path) -> None:
    code, out, err = rig(capsys, "env", "diff", str(captured), "now", "--fail-on-breaking")
    assert code == 0, err
    assert "0 that commonly break reproducibility" in out or "no differences" in out
    code, out, _ = rig(capsys, "env", "diff", str(captured), "now", "--json")
    data = json.loads(out)
    assert data["breaking"] == 0 and data["a"] == str(captured) and data["b"] == "now"
    assert all(c["section"] == "env_vars" for c in data["changes"])


def test_breaking_differences_are_flagged(capsys, captured: Path, tmp_path: Path) -> None:
    broken = _broken_copy(captured, tmp_path / "broken.json")
    code, out, _ = rig(capsys, "env", "diff", str(captured), str(broken), "--json")
    assert code == 0  # different is not an error...
    data = json.loads(out)
    flagged = {(c["section"], c["name"]): c["why"] for c in data["changes"] if c["breaking"]}
    assert set(flagged) == {
        ("python", "version"),
        ("packages", "numpy"),
        ("frameworks", "torch.cuda"),
    }
    assert flagged[("python", "version")].startswith("another Python minor")
    assert flagged[("packages", "numpy")].startswith("another numpy major")
    assert data["breaking"] == 3

    code, out, _ = rig(capsys, "env", "diff", str(broken), "now")
    assert code == 0
    assert "breaks reproducibility" in out
    assert "3 that commonly break reproducibility" in out
    assert "torch.cuda" in out and "11.8" in out

    code, _, _ = rig(capsys, "env", "diff", str(broken), "now", "--fail-on-breaking")
    assert code == 1  # ...unless asked


def test_diff_of_files_needs_no_lab(capsys, captured: Path) -> None:
    code, _, err = rig(capsys, "--lab", "/nowhere/lab", "env", "diff", str(captured), "now")
    assert code == 0, err


def test_why_does_this_run_not_reproduce_here(capsys, lab) -> None:
    with start_run(lab, capture_git=False, system_metrics=False) as run:
        run.log({"loss": 0.5})
    code, out, err = rig(
        capsys, "--lab", str(lab.path), "env", "diff", run.id[:8], "now", "--fail-on-breaking"
    )
    assert code == 0, err
    assert f"run {run.id[:8]}" in out
    code, out, _ = rig(capsys, "--lab", str(lab.path), "env", "diff", run.id, "now", "--json")
    data = json.loads(out)
    assert data["a"].startswith(f"run {run.id[:8]} (") and data["breaking"] == 0


def test_errors_are_two_lines_and_an_exit_code(capsys, lab, tmp_path: Path) -> None:
    code, _, err = rig(capsys, "env", "diff", "missing.json", "now")
    assert code == 1 and "no environment file at missing.json" in err and "hint:" in err

    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code, _, err = rig(capsys, "env", "diff", str(bad), "now")
    assert code == 2 and f"cannot read environment lock {bad}: not valid JSON" in err

    with start_run(lab, capture_git=False, capture_environment=False, system_metrics=False) as r:
        pass
    base = ("--lab", str(lab.path), "env", "diff")
    code, _, err = rig(capsys, *base, r.id[:8], "now")
    assert code == 1 and f"run {r.id[:8]} has no recorded environment" in err

    code, _, err = rig(capsys, *base, "deadbeef", "now")
    assert code == 1 and "no run with id 'deadbeef'" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- export


def _pins(text: str) -> set[str]:
    return {ln for ln in text.splitlines() if ln and not ln.startswith(("#", "-"))}


def test_export_rebuilds_a_runs_environment_by_id_or_name(capsys, lab) -> None:
    with start_run(lab, name="train-7", capture_git=False, system_metrics=False) as run:
        pass
    base = ("--lab", str(lab.path), "env", "export")
    code, by_id, err = rig(capsys, *base, run.id[:8])
    assert code == 0, err
    assert by_id.startswith("# Pinned requirements, written by `rig env export`")
    assert f"# from run {run.id[:8]} (train-7)" in by_id
    assert "pytest==" + pytest.__version__ in _pins(by_id)
    assert not any(p.startswith(("pip==", "setuptools==", "wheel==")) for p in _pins(by_id))
    code, by_name, err = rig(capsys, *base, "train-7")
    assert code == 0, err
    assert by_name == by_id


def test_export_reads_a_saved_lock_and_writes_each_format(
    capsys, captured: Path, tmp_path: Path
) -> None:
    import tomllib

    code, out, err = rig(capsys, "env", "export", str(captured), "-f", "uv", "-o", "pyproject.toml")
    assert code == 0, err
    assert out.startswith(f"wrote pyproject.toml from {captured}")
    project = tomllib.loads(Path("pyproject.toml").read_text())
    assert project["project"]["requires-python"].startswith("==3.")

    code, out, err = rig(
        capsys, "env", "export", str(captured), "-f", "dockerfile", "-o", "Dockerfile"
    )
    assert code == 0, err
    assert "rig-requirements.txt" in out and Path("rig-requirements.txt").is_file()
    assert "FROM " in Path("Dockerfile").read_text()

    code, out, err = rig(capsys, "env", "export", str(captured), "-f", "devcontainer")
    assert code == 0, err
    assert json.loads(out)["build"]["dockerfile"] == "Dockerfile"
    code, out, err = rig(
        capsys, "env", "export", str(captured), "-f", "devcontainer", "-o", ".devcontainer"
    )
    assert code == 0, err
    made = sorted(p.name for p in Path(".devcontainer").iterdir())
    assert made == ["Dockerfile", "devcontainer.json", "rig-requirements.txt"]


def test_export_errors_are_clean(capsys, lab, captured: Path, tmp_path: Path) -> None:
    code, _, err = rig(capsys, "env", "export", "missing.json")
    assert code == 1 and "no environment file at missing.json" in err
    code, _, err = rig(capsys, "--lab", str(lab.path), "env", "export", "no-such-run")
    assert code == 1 and "no-such-run" in err and "Traceback" not in err
    code, _, err = rig(capsys, "env", "export", str(captured), "-o", str(tmp_path / "no" / "r.txt"))
    assert code == 1 and "does not exist" in err and "hint:" in err
    code, _, err = rig(capsys, "env", "export", str(captured), "-f", "conda")
    assert code == 2 and "conda" in err
