"""Environment locks from files, tracked runs and this process, on a real lab."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from rigml.errors import InvalidInput, NotFound, OutputNotWritable, RunNotFound
from rigml.machine.env import capture_environment
from rigml.track.environment import (
    EnvironmentFileNotFound,
    InvalidEnvironmentFile,
    NoEnvironmentRecorded,
    compare_environments,
    load_environment,
    needs_lab,
    run_environment,
    save_environment,
)
from rigml.track.runs import set_tags, start_run

QUIET = {"capture_git": False, "system_metrics": False}


@pytest.fixture(scope="module")
def lock() -> dict:
    return capture_environment(include_env_vars=True)


@pytest.fixture
def tracked(lab) -> str:
    """A finished run that recorded its environment."""
    with start_run(lab, **QUIET) as run:
        run.log({"loss": 1.0})
    return run.id


@pytest.fixture
def bare(lab) -> str:
    """A finished run that recorded no environment."""
    with start_run(lab, capture_environment=False, capture_machine=False, **QUIET) as run:
        pass
    return run.id


def test_a_run_environment_is_the_lock_it_recorded(lab, tracked: str, lock: dict) -> None:
    env = run_environment(lab, tracked[:8])
    assert env["schema_version"] == lock["schema_version"]
    assert env["python"] == lock["python"]
    assert env["packages"] == lock["packages"]


def test_a_run_is_found_by_its_name_too(lab, tracked: str) -> None:
    from rigml.track.queries import get_run

    name = get_run(lab, tracked).name
    assert needs_lab(name)
    assert compare_environments(lab, name, "now").a.startswith(f"run {tracked[:8]} (")


def test_a_run_reproduces_in_the_environment_that_made_it(lab, tracked: str) -> None:
    result = compare_environments(lab, tracked, "now")
    assert result.a.startswith(f"run {tracked[:8]} (")
    assert result.b == "now"
    assert result.breaking == []
    assert {c.section for c in result.changes} <= {"env_vars"}  # pytest's own variables move


def test_a_run_without_an_environment_says_so(lab, bare: str) -> None:
    with pytest.raises(NoEnvironmentRecorded, match=f"run {bare[:8]} has no recorded env") as e:
        run_environment(lab, bare)
    assert isinstance(e.value, NotFound) and "capture_environment=False" in e.value.message
    set_tags(lab, bare, {"rig.capture_error": "OSError: disk full"})
    with pytest.raises(NoEnvironmentRecorded, match="its capture failed \\(OSError: disk full\\)"):
        load_environment(lab, bare)


def test_unknown_runs_are_run_not_found(lab, tracked: str) -> None:
    with pytest.raises(RunNotFound, match="deadbeef"):
        run_environment(lab, "deadbeef")
    with pytest.raises(RunNotFound):
        load_environment(lab, "0000000000")


def test_now_and_files_need_no_lab(tmp_path: Path, lock: dict) -> None:
    path = save_environment(lock, tmp_path / "env.json")
    label, env = load_environment(None, str(path))
    assert label == str(path) and env == lock
    label, env = load_environment(None, "now")
    assert label == "now" and env["packages"] == lock["packages"]
    assert compare_environments(None, str(path), "now").breaking == []


def test_needs_lab(tmp_path: Path) -> None:
    assert needs_lab("deadbeef") and needs_lab("ABCD") and needs_lab("0" * 32)
    assert not needs_lab("now")
    assert needs_lab("abc") and needs_lab("quiet-panda-42")  # a short prefix or a run name
    assert not needs_lab("env.json") and not needs_lab("locks/env")  # these name files
    (tmp_path / "cafe1234").write_text("{}")
    assert not needs_lab("cafe1234")  # an existing file wins over a run id
    with pytest.raises(InvalidInput, match="a lab is needed"):
        load_environment(None, "deadbeef")


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path, lock: dict) -> None:
    dest = tmp_path / "env.json"
    dest.write_text("old")
    save_environment(lock, dest)
    assert json.loads(dest.read_text()) == lock
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env.json"]
    with pytest.raises(OutputNotWritable, match="does not exist"):
        save_environment(lock, tmp_path / "missing" / "env.json")
    assert not (tmp_path / "missing").exists()  # a parent folder is never created


def test_save_into_an_unwritable_place_is_output_not_writable(tmp_path: Path, lock: dict) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputNotWritable, match="is a file"):
        save_environment(lock, tmp_path / "file" / "env.json")
    with pytest.raises(OutputNotWritable):
        save_environment(lock, "/proc/env.json")


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentFileNotFound, match=r"no environment file at nope\.json") as e:
        load_environment(None, "nope.json")
    assert isinstance(e.value, LookupError) and "rig env capture" in e.value.hint


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"format": "rigml-gpu-recording/1"}', "not an environment lock"),
        ('{"schema_version": 99, "packages": []}', "schema version 99, newer"),
    ],
)
def test_files_that_are_not_locks_are_invalid_input(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidEnvironmentFile, match=problem) as e:
        load_environment(None, str(path))
    assert isinstance(e.value, ValueError) and str(path) in e.value.message


def test_a_folder_or_binary_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidEnvironmentFile, match="folder"):
        load_environment(None, str(tmp_path))
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InvalidEnvironmentFile):
        load_environment(None, str(tmp_path / "blob.bin"))


def test_breaking_changes_between_files(tmp_path: Path, lock: dict) -> None:
    old = copy.deepcopy(lock)
    major, minor, *_ = old["python"]["version"].split(".")
    old["python"]["version"] = f"{major}.{int(minor) + 1}.0"
    save_environment(old, tmp_path / "old.json")
    result = compare_environments(None, str(tmp_path / "old.json"), "now")
    assert [(c.section, c.name) for c in result.breaking] == [("python", "version")]
    assert result.to_dict()["breaking"] == 1
    assert result.to_dict()["changes"][0]["why"].startswith("another Python minor")
