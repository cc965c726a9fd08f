"""The fast scan: inlined leaves, blocks and their roots, and the two-process split.

Blocks are shrunk to 4 entries so that a log of a few dozen entries crosses many block
boundaries, and the split is forced so that a child process really scans the second half
(on SQLite and on PostgreSQL): the first bad entry must be named wherever it lies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from rigml.audit import _scan, _split, checkpoint, leaf_hash, root_hash, verify
from rigml.audit._entry import canonical_json, compute_leaf, entry_bytes
from rigml.audit._tree import root_of_blocks
from rigml.store.schema import audit_log

_KEYS = ("seq", "time", "actor", "action", "subject", "before", "after", "reason")


def _row(seq: int) -> tuple:
    after = canonical_json({"v": seq, "name": "é\n"})
    return (seq, 1_700_000_000 + seq / 7, "ann", "dataset.tag", f"ds@{seq}", None, after, None)


def _fill(lab, n: int) -> None:
    """Entries 1..n with correct leaves, in one insert (as the benchmark fills its log)."""
    rows = [
        dict(zip(_KEYS, _row(s), strict=True)) | {"leaf": compute_leaf(*_row(s)).hex()}
        for s in range(1, n + 1)
    ]
    with lab.store.write() as conn:
        conn.execute(insert(audit_log), rows)


def _sql(lab, statement: str) -> None:
    with lab.store.write() as conn:
        conn.execute(text(statement))


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_scan, "BLOCK", 4)


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch, small_blocks: None) -> list[bool]:
    """Force the two-process path; the list records whether each child sent its part."""
    monkeypatch.setattr(_split, "MIN_ROWS", 1)
    monkeypatch.setattr(_split, "cores", lambda: 2)
    sent: list[bool] = []
    wait = _split._Child.wait

    def spy(self: _split._Child, tick) -> _scan.Part | None:  # type: ignore[no-untyped-def]
        part = wait(self, tick)
        sent.append(part is not None)
        return part

    monkeypatch.setattr(_split._Child, "wait", spy)
    return sent


@pytest.mark.parametrize(
    "fields",
    [
        (1, 1796359428.889825, "ann", "dataset.tag", "ds@golden", None, '"ds@1"', None),
        (10**9, 1e20, "röot", "a.b", 'x"\\\n\u2028é', "[]", None, "why \U0001f600"),
        (7, 0.1, "", "", "", "{}", "null", ""),
        (3, 5.0, "a\x00b\x1f", "\t", "\\", '"', "\x7f", "\r\n"),
    ],
)
def test_inlined_leaves_equal_the_reference_encoding(fields: tuple) -> None:
    assert _scan.leaves([(*fields, "leaf")]) == [leaf_hash(entry_bytes(*fields))]


@pytest.mark.parametrize("block", [1, 2, 4, 16])
def test_block_roots_fold_to_the_rfc6962_head(block: int) -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(70)]
    for n in range(71):
        full = n // block * block
        blocks = [root_hash(leaves[i : i + block]) for i in range(0, full, block)]
        assert root_of_blocks(blocks, leaves[full:n]) == root_hash(leaves[:n]), (block, n)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 9, 21])
def test_the_root_matches_the_leaves_across_block_boundaries(lab, small_blocks, n: int) -> None:
    _fill(lab, n)
    report = verify(lab)
    expected = root_hash([compute_leaf(*_row(s)) for s in range(1, n + 1)])
    assert report.ok and report.size == n and report.root == expected.hex()


@pytest.mark.parametrize("seq", [1, 4, 5, 8, 9, 21])
def test_an_edit_at_a_block_edge_is_named(lab, small_blocks, seq: int) -> None:
    _fill(lab, 21)
    _sql(lab, f"UPDATE audit_log SET subject = 'x' WHERE seq = {seq}")
    report = verify(lab)
    assert (report.bad_seq, report.problem) == (seq, "edited")


@pytest.mark.parametrize(("gone", "first"), [("4", 4), ("5", 5), ("4, 5", 4), ("21", None)])
def test_a_removal_at_a_block_edge_is_named(lab, small_blocks, gone: str, first) -> None:
    _fill(lab, 21)
    _sql(lab, f"DELETE FROM audit_log WHERE seq IN ({gone})")
    report = verify(lab)
    if first is None:  # the newest entry: only a checkpoint can tell
        assert report.ok and report.size == 20
    else:
        assert (report.bad_seq, report.problem) == (first, "removed")


def test_only_the_first_problem_is_named_and_every_leaf_still_counts(lab, small_blocks) -> None:
    _fill(lab, 12)
    _sql(lab, "UPDATE audit_log SET actor = 'eve' WHERE seq IN (6, 10)")
    _sql(lab, "DELETE FROM audit_log WHERE seq = 3")
    report = verify(lab)
    assert (report.bad_seq, report.problem, report.size) == (3, "removed", 11)
    assert report.detail == "entry 3 missing (seq jumps to 4)"


def test_a_field_of_the_wrong_type_is_an_edit_not_a_crash(lab, small_blocks) -> None:
    _fill(lab, 9)
    _sql(lab, "UPDATE audit_log SET time = 'yesterday' WHERE seq = 6")
    report = verify(lab)
    assert (report.bad_seq, report.problem) == (6, "edited")


def test_entries_slipped_in_are_named_as_inserted(any_lab) -> None:
    _fill(any_lab, 6)
    _sql(any_lab, "UPDATE audit_log SET seq = seq + 102 WHERE seq >= 3")
    _sql(any_lab, "UPDATE audit_log SET seq = seq - 100 WHERE seq >= 105")  # 3..6 -> 5..8
    for seq in (3, 4):  # two forged entries with correct leaves take their places
        fields = (seq, 1.0, "mallory", "dataset.tag", "ds@forged", None, None, None)
        row = dict(zip(_KEYS, fields, strict=True)) | {"leaf": compute_leaf(*fields).hex()}
        with any_lab.store.write() as conn:
            conn.execute(insert(audit_log), [row])
    report = verify(any_lab)
    assert (report.bad_seq, report.problem) == (3, "inserted")
    assert report.detail == (
        "entries 3..4 were inserted: entry 5 holds the contents recorded as entry 3"
    )


def test_an_entry_copied_over_a_later_one_is_not_an_insertion(lab) -> None:
    _fill(lab, 5)
    _sql(lab, "DELETE FROM audit_log WHERE seq = 4")
    copy = dict(zip(_KEYS, _row(2), strict=True)) | {"seq": 4, "leaf": compute_leaf(*_row(2)).hex()}
    with lab.store.write() as conn:
        conn.execute(insert(audit_log), [copy])
    report = verify(lab)
    assert (report.bad_seq, report.problem) == (4, "reordered")
    assert report.detail == "entry 4 holds the contents recorded as entry 2"


@pytest.mark.parametrize(
    ("change", "bad", "problem"),
    [
        ("UPDATE audit_log SET actor = 'eve' WHERE seq = 3", 3, "edited"),  # the parent's half
        ("UPDATE audit_log SET actor = 'eve' WHERE seq = 15", 15, "edited"),  # the child's
        ("UPDATE audit_log SET reason = 'x' WHERE seq IN (9, 17)", 9, "edited"),  # first of its
        ("DELETE FROM audit_log WHERE seq = 9", 9, "removed"),  # where the halves meet
        ("DELETE FROM audit_log WHERE seq = 8", 8, "removed"),  # the parent's last
        ("DELETE FROM audit_log WHERE seq IN (16, 17)", 16, "removed"),
    ],
)
def test_the_split_names_the_first_bad_entry_in_either_half(
    any_lab, split: list[bool], change: str, bad: int, problem: str
) -> None:
    _fill(any_lab, 21)
    _sql(any_lab, change)
    report = verify(any_lab)
    assert split == [True], "the child did not scan its half"
    assert (report.bad_seq, report.problem) == (bad, problem)


def test_a_move_into_the_childs_half_is_a_reorder(any_lab, split: list[bool]) -> None:
    _fill(any_lab, 21)
    _sql(any_lab, "UPDATE audit_log SET seq = 100 WHERE seq = 12")
    _sql(any_lab, "UPDATE audit_log SET seq = 12 WHERE seq = 19")
    _sql(any_lab, "UPDATE audit_log SET seq = 19 WHERE seq = 100")
    report = verify(any_lab)
    assert split == [True]
    assert (report.bad_seq, report.problem) == (12, "reordered")
    assert report.detail == "entry 12 holds the contents recorded as entry 19"


@pytest.mark.parametrize("n", [9, 21, 40])
def test_the_split_gives_the_same_head_as_one_pass(any_lab, split: list[bool], n: int) -> None:
    _fill(any_lab, n)
    report = verify(any_lab)
    assert split == [True]
    expected = root_hash([compute_leaf(*_row(s)) for s in range(1, n + 1)])
    assert report.ok and report.size == n and report.root == expected.hex()


def test_the_split_proves_a_checkpoint(any_lab, split: list[bool], tmp_path: Path) -> None:
    _fill(any_lab, 13)
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(checkpoint(any_lab).to_dict()))
    with any_lab.store.write() as conn:
        for s in range(14, 31):
            fields = _row(s)
            row = dict(zip(_KEYS, fields, strict=True)) | {"leaf": compute_leaf(*fields).hex()}
            conn.execute(insert(audit_log), [row])
    report = verify(any_lab, checkpoint=path)
    assert report.ok and report.size == 30 and report.checkpoint_size == 13
    assert split == [True, True]


def test_a_child_that_cannot_start_leaves_the_work_to_the_parent(
    lab, split: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_split, "_CHILD", "import sys; sys.exit(3)")
    _fill(lab, 21)
    _sql(lab, "UPDATE audit_log SET actor = 'eve' WHERE seq = 15")
    report = verify(lab)
    assert split == [False]
    assert (report.bad_seq, report.problem, report.size) == (15, "edited", 21)


def test_progress_counts_every_entry(lab, split: list[bool]) -> None:
    _fill(lab, 21)
    seen: list[tuple[str, int, int]] = []
    assert verify(lab, progress=lambda *a: seen.append(a)).ok
    assert seen and seen[-1] == ("verify", 21, 21)
    assert all(done <= total for _, done, total in seen)


def test_an_in_memory_store_is_scanned_in_one_pass() -> None:
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        assert _split.connect_spec(conn) is None
    engine.dispose()
