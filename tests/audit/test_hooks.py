"""Dataset adds, tag moves, gc and run deletions write audit entries with their change."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rigml.audit import entries, verify
from rigml.data import add, collect, plan_gc, tag
from rigml.track.delete import delete_runs
from rigml.track.runs import start_run


def _actions(lab) -> list[tuple[str, str]]:
    return [(e.action, e.subject) for e in reversed(entries(lab))]


def _failing_trigger(lab, name: str, when: str) -> None:
    """A trigger that fails at run time (malformed JSON) inside the change's transaction."""
    with lab.store.write() as conn:
        conn.execute(text(f"CREATE TRIGGER {name} {when} BEGIN SELECT json('{{'); END"))


def test_add_tag_gc_and_delete_are_recorded(any_lab, tmp_path, quiet_run_kwargs) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("one\n")
    add(any_lab, src, name="ds", message="first")
    tag(any_lab, "ds@1", "golden")
    (src / "a.txt").write_text("two\n")
    add(any_lab, src, name="ds")
    tag(any_lab, "ds@2", "golden")
    tag(any_lab, "ds@2", "golden")  # no move: nothing to record
    tag(any_lab, "ds", "golden", delete=True)
    stray = any_lab.objects.put_bytes(b"nobody references this")
    collect(any_lab, plan_gc(any_lab, grace_s=0))
    with start_run(any_lab, name="r", **quiet_run_kwargs) as run:
        pass
    delete_runs(any_lab, [run.id])
    assert _actions(any_lab) == [
        ("dataset.version.add", "ds@1"),
        ("dataset.tag", "ds@golden"),
        ("dataset.version.add", "ds@2"),
        ("dataset.tag", "ds@golden"),
        ("dataset.tag", "ds@golden"),
        ("data.gc", "objects"),
        ("run.delete", run.id),
    ]
    log = list(reversed(entries(any_lab)))
    assert log[0].reason == "first" and log[0].after["files"] == 1
    assert (log[3].before, log[3].after) == ("ds@1", "ds@2")
    assert (log[4].before, log[4].after) == ("ds@2", None)
    assert log[5].after["deleted"] >= 1 and log[5].after["bytes_freed"] >= 1
    assert log[6].before == {"name": "r", "status": "finished"}
    assert not any_lab.objects.exists(stray)
    assert verify(any_lab).ok


def test_a_failed_audit_entry_rolls_back_the_dataset_version(lab, tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("one\n")
    _failing_trigger(lab, "no_audit", "BEFORE INSERT ON audit_log")
    with pytest.raises(Exception, match="JSON"):
        add(lab, src, name="ds")
    with lab.store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM dataset_versions")).scalar() == 0


def test_a_failed_tag_move_leaves_no_entry(lab, tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("one\n")
    add(lab, src, name="ds")
    _failing_trigger(lab, "no_tags", "BEFORE INSERT ON dataset_tags")
    with pytest.raises(Exception, match="JSON"):
        tag(lab, "ds@1", "golden")
    assert _actions(lab) == [("dataset.version.add", "ds@1")]


def test_a_failed_run_deletion_leaves_no_entry(lab, quiet_run_kwargs) -> None:
    with start_run(lab, **quiet_run_kwargs) as run:
        pass
    _failing_trigger(lab, "no_delete", "BEFORE DELETE ON runs")
    with pytest.raises(Exception, match="JSON"):
        delete_runs(lab, [run.id])
    assert entries(lab) == []
