"""Record, verify and checkpoint on SQLite and PostgreSQL; tampering is caught where it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from rigml.audit import checkpoint, entries, record, record_now, verify
from rigml.audit._entry import compute_leaf
from rigml.errors import AuditTampered, InvalidCheckpoint


def _fill(lab, n: int = 5) -> None:
    for i in range(1, n + 1):
        record_now(lab, action="dataset.tag", subject=f"ds@t{i}", before=None, after={"v": i})


def _sql(lab, statement: str, **params) -> None:
    with lab.store.write() as conn:
        conn.execute(text(statement), params)


def _save(cp, path: Path) -> Path:
    path.write_text(json.dumps(cp.to_dict()))
    return path


def test_record_and_verify_round_trip(any_lab) -> None:
    _fill(any_lab)
    with any_lab.store.write() as conn:
        entry = record(conn, action="run.delete", subject="abc", before={"x": 1}, reason="why")
    assert entry.seq == 6 and entry.actor
    report = verify(any_lab)
    assert report.ok and report.size == 6 and len(report.root) == 64
    newest = entries(any_lab, limit=1)[0]
    assert newest.to_dict() == entry.to_dict()
    assert [e.seq for e in entries(any_lab, action="dataset.")] == [5, 4, 3, 2, 1]
    assert entries(any_lab, subject="abc")[0].reason == "why"


def test_an_entry_rolled_back_with_its_change_leaves_no_gap(any_lab) -> None:
    _fill(any_lab, 2)
    with pytest.raises(RuntimeError), any_lab.store.write() as conn:
        record(conn, action="x", subject="y")
        raise RuntimeError("the change failed")
    _fill(any_lab, 1)
    assert [e.seq for e in entries(any_lab)] == [3, 2, 1]
    assert verify(any_lab).ok


def test_an_edited_field_is_caught_at_its_seq(any_lab) -> None:
    _fill(any_lab)
    _sql(any_lab, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    report = verify(any_lab)
    assert not report.ok and report.bad_seq == 3 and report.problem == "edited"


def test_a_deleted_row_is_caught(any_lab) -> None:
    _fill(any_lab)
    _sql(any_lab, "DELETE FROM audit_log WHERE seq = 2")
    report = verify(any_lab)
    assert (report.bad_seq, report.problem) == (2, "removed")


def test_swapped_rows_are_caught(any_lab) -> None:
    _fill(any_lab)
    _sql(any_lab, "UPDATE audit_log SET seq = 100 WHERE seq = 2")
    _sql(any_lab, "UPDATE audit_log SET seq = 2 WHERE seq = 4")
    _sql(any_lab, "UPDATE audit_log SET seq = 4 WHERE seq = 100")
    report = verify(any_lab)
    assert (report.bad_seq, report.problem) == (2, "reordered")


def test_a_checkpoint_verifies_and_a_grown_log_is_consistent_with_it(any_lab, tmp_path) -> None:
    _fill(any_lab, 3)
    cp = checkpoint(any_lab)
    assert cp.size == 3 and cp.root == verify(any_lab).root
    path = _save(cp, tmp_path / "cp.json")
    _fill(any_lab, 4)
    report = verify(any_lab, checkpoint=path)
    assert report.ok and report.size == 7 and report.checkpoint_size == 3


def test_the_key_is_made_once_outside_the_store_and_private(lab, _audit_key: Path) -> None:
    first = checkpoint(lab)
    assert _audit_key.stat().st_mode & 0o777 == 0o600
    assert checkpoint(lab).public_key == first.public_key


def test_a_rewritten_history_fails_the_checkpoint(any_lab, tmp_path) -> None:
    _fill(any_lab, 4)
    path = _save(checkpoint(any_lab), tmp_path / "cp.json")
    with any_lab.store.read() as conn:
        row = conn.execute(text("SELECT * FROM audit_log WHERE seq = 2")).mappings().one()
    fields = dict(row) | {"actor": "mallory"}
    leaf = compute_leaf(*(fields[k] for k in _FIELDS)).hex()
    _sql(any_lab, "UPDATE audit_log SET actor = 'mallory', leaf = :leaf WHERE seq = 2", leaf=leaf)
    assert verify(any_lab).ok  # consistent on its own...
    report = verify(any_lab, checkpoint=path)  # ...but not with what was signed
    assert not report.ok and report.problem == "checkpoint"


def test_a_shrunk_log_fails_the_checkpoint(lab, tmp_path) -> None:
    _fill(lab, 4)
    path = _save(checkpoint(lab), tmp_path / "cp.json")
    _sql(lab, "DELETE FROM audit_log WHERE seq = 4")
    report = verify(lab, checkpoint=path)
    assert report.problem == "checkpoint" and report.checkpoint_size == 4


def test_a_bad_signature_fails(lab, tmp_path) -> None:
    _fill(lab, 2)
    data = checkpoint(lab).to_dict()
    data["size"] = 1
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidCheckpoint, match="signature"):
        verify(lab, checkpoint=path)


def test_checkpointing_a_tampered_log_refuses(lab) -> None:
    _fill(lab, 2)
    _sql(lab, "UPDATE audit_log SET subject = 'other' WHERE seq = 1")
    with pytest.raises(AuditTampered, match="entry 1"):
        checkpoint(lab)


_FIELDS = ("seq", "time", "actor", "action", "subject", "before", "after", "reason")


def test_an_empty_log_checkpoints_and_later_growth_is_consistent(lab, tmp_path) -> None:
    path = _save(checkpoint(lab), tmp_path / "cp.json")
    assert verify(lab).root == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    _fill(lab, 2)
    report = verify(lab, checkpoint=path)
    assert report.ok and report.checkpoint_size == 0
