"""Parsed rig.yaml and rig.lock are reused while their text is the same, and only then."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rigml.errors import InvalidPipeline
from rigml.pipeline import _parsecache, load_pipeline
from rigml.pipeline._lockfile import read_lock, render_lock, update_lock

from .conftest import Project

STAGES = """
stages:
  a:
    cmd: python w.py a.txt
    outs: [a.txt]
    smoke: python w.py a.txt
    resources: {cpus: 2}
"""


def _entries() -> list[Path]:
    return sorted(_parsecache.cache_dir().glob("*.json"))


def _forget_memo() -> None:
    """As a new process would: nothing in memory, only the entries on disk."""
    _parsecache._memo.clear()


def test_a_cached_pipeline_equals_the_parsed_one(project: Project) -> None:
    project.pipeline(STAGES)
    first = load_pipeline()
    assert [p.name for p in _entries()] and all(p.name.startswith("pipeline-") for p in _entries())
    _forget_memo()
    again = load_pipeline()
    assert again.stages == first.stages
    assert again.name == first.name and again.root == first.root


def test_a_pipeline_with_gates_is_parsed_every_time(project: Project) -> None:
    """Parsed gate rules are not JSON: such a file is never served from the cache."""
    project.pipeline(STAGES + '    gates: ["metrics.acc >= 0.9"]\n')
    for _ in range(2):
        _forget_memo()
        assert [g.text for g in load_pipeline().stages["a"].gates] == ["metrics.acc >= 0.9"]
    assert _entries() == []


def test_an_edit_is_seen_at_once(project: Project) -> None:
    project.pipeline(STAGES)
    load_pipeline()
    project.pipeline(STAGES.replace("python w.py a.txt", "python w.py b.txt"))
    assert load_pipeline().stages["a"].cmd == ("python w.py b.txt",)


def test_a_mistake_is_reported_however_often_it_is_loaded(project: Project) -> None:
    project.pipeline(STAGES.replace("outs:", "out:"))
    for _ in range(2):
        with pytest.raises(InvalidPipeline, match="did you mean 'outs'"):
            load_pipeline()


def test_the_disk_checks_run_on_a_cached_pipeline(project: Project) -> None:
    project.write("in.csv", "x\n")
    project.pipeline(STAGES.replace("outs:", "deps: [in.csv]\n    outs:"))
    load_pipeline()
    (project.root / "in.csv").unlink()
    _forget_memo()
    with pytest.raises(InvalidPipeline, match=r"dep 'in\.csv' does not exist"):
        load_pipeline()


def test_a_damaged_entry_means_parsing_again(project: Project) -> None:
    project.pipeline(STAGES)
    first = load_pipeline()
    for entry in _entries():
        entry.write_text("{not json")
    _forget_memo()
    assert load_pipeline().stages == first.stages


def test_an_unwritable_cache_folder_is_no_error(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = project.root / "cache-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    project.pipeline(STAGES)
    assert load_pipeline().stages["a"].outs == ("a.txt",)


def test_the_lock_is_written_as_yaml_dumps_it_and_read_back(project: Project) -> None:
    lock = project.root / "rig.lock"
    entry = {
        "cmd": ["echo 'a\nb'  " + "long " * 30, "x: y"],
        "params": {"params.yaml": {"a": 1.5, "b": None, "c": [1, 2], "d": "yes"}},
        "outs": [],
    }
    update_lock(project.lab, lock, "b", entry)
    update_lock(project.lab, lock, "a", {**entry, "cmd": ["true"]})
    stages = yaml.safe_load(lock.read_text())["stages"]
    assert list(stages) == ["a", "b"] and stages["b"] == entry
    whole = yaml.safe_dump(
        {"schema": 1, "stages": stages}, sort_keys=False, default_flow_style=False
    )
    assert lock.read_text().split("\n", 1)[1] == whole
    _forget_memo()
    assert read_lock(lock) == stages
    assert render_lock({}).endswith("stages: {}\n")


def test_a_lock_edited_by_hand_is_read_again(project: Project) -> None:
    lock = project.root / "rig.lock"
    update_lock(project.lab, lock, "a", {"cmd": ["true"], "outs": []})
    assert read_lock(lock)["a"]["cmd"] == ["true"]
    lock.write_text(lock.read_text().replace("'true'", "'false'"))
    assert read_lock(lock)["a"]["cmd"] == ["false"]


def test_values_json_cannot_hold_are_not_cached(project: Project) -> None:
    lock = project.root / "rig.lock"
    lock.write_text("schema: 1\nstages:\n  a:\n    params: {p.yaml: {1: 2021-01-02}}\n")
    _forget_memo()
    first = read_lock(lock)
    assert read_lock(lock) == first and 1 in first["a"]["params"]["p.yaml"]
    assert not list(_parsecache.cache_dir().glob("lock-*.json"))


def test_an_update_after_another_writer_keeps_its_entries(project: Project) -> None:
    lock = project.root / "rig.lock"
    update_lock(project.lab, lock, "a", {"cmd": ["true"], "outs": []})
    update_lock(project.lab, lock, "b", {"cmd": ["true"], "outs": []})
    # another process rewrites entry a: the chunks this process kept are stale now
    lock.write_text(lock.read_text().replace("- 'true'\n    outs", "- 'echo'\n    outs", 1))
    update_lock(project.lab, lock, "c", {"cmd": ["true"], "outs": []})
    update_lock(project.lab, lock, "b", None)
    stages = yaml.safe_load(lock.read_text())["stages"]
    assert stages == {"a": {"cmd": ["echo"], "outs": []}, "c": {"cmd": ["true"], "outs": []}}
