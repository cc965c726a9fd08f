"""Dataset versions on SQLite and PostgreSQL: add, dedupe, stat cache, refs, tags, lineage,
checkout, verify, gc, diff, and concurrent adds."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from rigml.data import (
    _hashing,
    add,
    checkout,
    collect,
    diff,
    history,
    list_datasets,
    plan_gc,
    resolve,
    runs_using,
    tag,
    verify,
    version_files,
    versions_used_by,
)
from rigml.errors import (
    CheckoutTargetExists,
    DatasetNotFound,
    InvalidDatasetRef,
    InvalidInput,
    ObjectCorrupted,
)
from rigml.track.delete import delete_runs
from rigml.track.runs import start_run

from .conftest import write


def objects_in(lab) -> set[str]:
    return set(lab.objects)


def test_add_snapshots_a_folder_and_readds_unchanged_from_the_stat_cache(any_lab, folder) -> None:
    first = add(any_lab, folder, name="ds", message="first cut")
    assert first.created and first.version.ref == "ds@1"
    assert first.files == 21 and first.hashed == 21 and first.stored == 21
    files = version_files(any_lab, "ds@1")
    assert [f.path for f in files][:3] == ["a/f01.txt", "a/f03.txt", "a/f05.txt"]
    assert all(any_lab.objects.exists(f.object) for f in files)
    again = add(any_lab, folder, name="ds")
    assert not again.created and again.version.ref == "ds@1"
    assert again.hashed == 0 and again.cached == 21 and again.stored == 0


def test_readding_with_one_changed_file_stores_one_object(any_lab, folder) -> None:
    add(any_lab, folder, name="ds")
    before = objects_in(any_lab)
    write(folder / "a" / "f01.txt", "new content\n")
    write(folder / "new.txt", "content 3\n")  # the same bytes as a/f03.txt
    (folder / "b" / "f00.txt").unlink()
    res = add(any_lab, folder, name="ds", message="fix f01")
    assert res.created and res.version.version == 2
    assert res.hashed == 2 and res.cached == 19
    assert (res.version.added, res.version.changed, res.version.removed) == (1, 1, 1)
    assert res.stored == 1  # new.txt duplicates a/f03.txt's content
    assert len(objects_in(any_lab) - before) == 1
    assert [v.version for v in history(any_lab, "ds")] == [2, 1]
    assert history(any_lab, "ds")[0].message == "fix f01"


def test_content_is_shared_between_datasets_and_single_files(any_lab, folder) -> None:
    add(any_lab, folder, name="ds")
    res = add(any_lab, folder / "table.csv", name="just-the-table")
    assert res.created and res.stored == 0 and res.version.kind == "file"
    (entry,) = version_files(any_lab, res.version)
    assert entry.path == "table.csv" and entry.tabular["rows"] == 3


def test_refs_latest_numbers_and_tags(any_lab, folder) -> None:
    add(any_lab, folder, name="ds")
    write(folder / "extra.txt", "x")
    add(any_lab, folder, name="ds")
    assert resolve(any_lab, "ds").version == 2
    assert resolve(any_lab, "ds@latest").version == 2
    assert resolve(any_lab, "ds@1").version == 1 and resolve(any_lab, "ds@v1").version == 1
    tag(any_lab, "ds@1", "golden")
    assert resolve(any_lab, "ds@golden").version == 1
    tag(any_lab, "ds@2", "golden")  # a tag moves
    assert resolve(any_lab, "ds@golden").version == 2
    assert list_datasets(any_lab)[0].tags == {"golden": 2}
    tag(any_lab, "ds", "golden", delete=True)
    with pytest.raises(DatasetNotFound):
        resolve(any_lab, "ds@golden")
    with pytest.raises(DatasetNotFound, match="no version '7'"):
        resolve(any_lab, "ds@7")
    with pytest.raises(DatasetNotFound, match="no dataset named 'nope'"):
        resolve(any_lab, "nope@1")
    for bad in ("ds@", "ds@1@2", "@3", "d s@1"):
        with pytest.raises(InvalidDatasetRef):
            resolve(any_lab, bad)
    for bad_tag in ("latest", "v3", "3", "-x"):
        with pytest.raises(InvalidInput):
            tag(any_lab, "ds@1", bad_tag)


def test_lineage_records_the_exact_version_a_run_read(any_lab, folder, quiet_run_kwargs) -> None:
    add(any_lab, folder, name="ds")
    with start_run(any_lab, **quiet_run_kwargs) as run:
        info = run.use_dataset("ds@latest")
        run.use_dataset("ds@1")  # twice is harmless
    assert info.ref == "ds@1"
    write(folder / "more.txt", "more")
    add(any_lab, folder, name="ds")
    used = runs_using(any_lab, resolve(any_lab, "ds@1"))
    assert [u.run_id for u in used] == [run.id]
    assert runs_using(any_lab, resolve(any_lab, "ds@2")) == []
    assert versions_used_by(any_lab, run.id) == ["ds@1"]
    delete_runs(any_lab, [run.id])
    assert runs_using(any_lab, resolve(any_lab, "ds@1")) == []


def test_deleting_a_run_keeps_objects_a_dataset_uses(any_lab, folder, quiet_run_kwargs) -> None:
    add(any_lab, folder, name="ds")
    with start_run(any_lab, **quiet_run_kwargs) as run:
        run.log_artifact(folder / "table.csv")
    report = delete_runs(any_lab, [run.id])
    assert report.objects_kept == 1 and report.objects_deleted == 0
    assert verify(any_lab, "ds@1").ok


def test_checkout_links_or_copies_and_is_complete(any_lab, folder, tmp_path: Path) -> None:
    add(any_lab, folder, name="ds")
    for mode in ("auto", "copy", "hardlink"):
        dest = tmp_path / f"out-{mode}"
        res = checkout(any_lab, "ds@1", dest, link=mode)
        assert res.files == 21 and sum(res.methods.values()) == 21
        for f in version_files(any_lab, "ds@1"):
            assert (dest / f.path).read_bytes() == (folder / f.path).read_bytes()
    assert res.methods == {"hardlink": 21}  # only when asked for
    obj = any_lab.objects.location(version_files(any_lab, "ds@1")[0].object)
    first = version_files(any_lab, "ds@1")[0].path
    assert os.stat(tmp_path / "out-hardlink" / first).st_ino == os.stat(obj).st_ino
    with pytest.raises(CheckoutTargetExists):
        checkout(any_lab, "ds@1", tmp_path / "out-copy")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert checkout(any_lab, "ds@1", empty).files == 21


def test_single_file_checkout_into_a_folder_or_a_name(lab, folder, tmp_path: Path) -> None:
    add(lab, folder / "table.csv", name="t")
    target = tmp_path / "x"
    target.mkdir()
    res = checkout(lab, "t", target, link="copy")
    assert Path(res.dest) == target / "table.csv"
    res = checkout(lab, "t", tmp_path / "renamed.csv")
    assert (tmp_path / "renamed.csv").read_text().startswith("id,x,label")


def _corrupt(lab, digest: str, data: bytes = b"rotten") -> None:
    path = lab.objects.location(digest)
    os.chmod(path, 0o644)
    Path(path).write_bytes(data)


def test_a_corrupted_object_leaves_no_partial_checkout(lab, folder, tmp_path: Path) -> None:
    add(lab, folder, name="ds")
    files = version_files(lab, "ds@1")
    _corrupt(lab, files[-1].object)
    with pytest.raises(ObjectCorrupted):
        checkout(lab, "ds@1", tmp_path / "out", link="copy")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_verify_reports_corrupted_and_missing_objects_with_owners(any_lab, folder) -> None:
    add(any_lab, folder, name="ds")
    assert verify(any_lab).ok
    files = {f.path: f for f in version_files(any_lab, "ds@1")}
    _corrupt(any_lab, files["table.csv"].object)
    os.unlink(any_lab.objects.location(files["a/f01.txt"].object))
    report = verify(any_lab)
    assert not report.ok and report.checked == 21
    problems = {p.problem: p for p in report.problems}
    assert problems["corrupted"].used_by == ["ds@1:table.csv"]
    assert problems["missing"].used_by == ["ds@1:a/f01.txt"]


def test_gc_removes_only_unreferenced_objects(any_lab, folder, quiet_run_kwargs) -> None:
    add(any_lab, folder, name="ds")
    stray = any_lab.objects.put_bytes(b"nobody references this")
    with start_run(any_lab, **quiet_run_kwargs) as run:
        run.log_artifact(folder / "b" / "f00.txt", name="kept.txt")
    young = plan_gc(any_lab)  # within the grace period nothing goes
    assert young.objects == [] and young.young == 1
    plan = plan_gc(any_lab, grace_s=0)
    assert plan.objects == [stray] and plan.bytes == len(b"nobody references this")
    report = collect(any_lab, plan)
    assert report.deleted == 1 and report.bytes_freed == plan.bytes
    assert not any_lab.objects.exists(stray)
    assert verify(any_lab).ok


def test_gc_keeps_an_object_referenced_after_the_plan(lab, folder) -> None:
    stray = lab.objects.put_bytes(b"content 0\n")  # same bytes as b/f00.txt
    plan = plan_gc(lab, grace_s=0)
    assert plan.objects == [stray]
    add(lab, folder, name="ds")  # now a version names it
    report = collect(lab, plan)
    assert report.deleted == 0 and report.kept == 1 and lab.objects.exists(stray)


def test_diff_lists_files_rows_schema_and_statistics(any_lab, folder) -> None:
    add(any_lab, folder, name="ds")
    write(folder / "table.csv", "id,x,label,extra\n1,0.5,cat,a\n3,2.5,cat,b\n4,9.5,cow,c\n")
    write(folder / "added.txt", "hello")
    (folder / "a" / "f01.txt").unlink()
    add(any_lab, folder, name="ds")
    d = diff(any_lab, "ds@1", "ds@2")
    assert [c.path for c in d.added] == ["added.txt"]
    assert [c.path for c in d.removed] == ["a/f01.txt"]
    (change,) = d.changed
    t = change.table
    assert change.path == "table.csv" and t is not None
    assert (t.rows_a, t.rows_b, t.rows_added, t.rows_removed) == (3, 3, 1, 1)
    assert t.columns_added == ["extra"] and t.columns_removed == []
    stats = {(s["column"], s["stat"]): (s["a"], s["b"]) for s in t.stat_changes}
    assert stats[("x", "max")] == (2.5, 9.5)
    assert d.unchanged == 19


def _add_in_process(lab_path: str, src: str, q: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        from rigml.data import add
        from rigml.lab import Lab

        res = add(Lab(lab_path), src, name="shared")
        q.put(res.version.version)
    except Exception:
        import traceback

        q.put(traceback.format_exc()[-2000:])


def test_concurrent_adds_of_one_name_get_distinct_versions(any_lab, tmp_path: Path) -> None:
    sources = []
    for i in range(4):
        src = tmp_path / f"src{i}"
        for j in range(30):
            write(src / f"f{j}.txt", f"source {i} file {j}\n")
        sources.append(src)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [
        ctx.Process(target=_add_in_process, args=(str(any_lab.path), str(s), q)) for s in sources
    ]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(got) == [1, 2, 3, 4], got
    assert [v.version for v in history(any_lab, "shared")] == [4, 3, 2, 1]
    assert verify(any_lab).ok


@pytest.mark.parametrize(
    ("module", "where"),
    [
        ("_add", "_insert_version"),  # after the objects are committed
        ("_hashing", "_pump"),  # while a large file is hashed and staged
        ("_hashing", "read_small"),  # while small files are read and hashed
        ("_hashing", "syncfs"),  # while staged objects are flushed
    ],
)
def test_an_interrupted_add_registers_nothing_and_leaves_no_temp_files(
    lab, folder, monkeypatch, module: str, where: str
) -> None:
    from rigml.data import _add

    write(folder / "big.bin", b"z" * 3000)
    monkeypatch.setattr(_hashing, "SMALL", 2048)  # big.bin takes the large-file path

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr({"_add": _add, "_hashing": _hashing}[module], where, interrupted)
    with pytest.raises(KeyboardInterrupt):
        add(lab, folder, name="ds")
    monkeypatch.undo()
    with pytest.raises(DatasetNotFound):
        history(lab, "ds")
    assert list((lab.objects.root / "tmp").iterdir()) == []
    assert add(lab, folder, name="ds").version.version == 1


def test_staging_stops_cleanly_on_an_error_midway(lab, folder, monkeypatch) -> None:
    calls = []
    real = _hashing.Stager.stage_bytes

    def failing_stage(self, digest, data):
        calls.append(digest)
        if len(calls) == 5:
            raise OSError(5, "Input/output error")
        return real(self, digest, data)

    monkeypatch.setattr(_hashing.Stager, "stage_bytes", failing_stage)
    with pytest.raises(OSError):
        add(lab, folder, name="ds", workers=1)
    assert list((lab.objects.root / "tmp").iterdir()) == []
    with pytest.raises(DatasetNotFound):
        resolve(lab, "ds")


def test_a_cached_digest_whose_object_was_lost_is_stored_again(lab, folder) -> None:
    add(lab, folder, name="ds")
    digest = version_files(lab, "ds@1")[0].object
    os.unlink(lab.objects.location(digest))
    res = add(lab, folder, name="again")
    assert res.stored == 1 and lab.objects.exists(digest)


def test_recently_modified_files_are_not_trusted_from_the_cache(lab, tmp_path: Path) -> None:
    src = tmp_path / "fresh"
    write(src / "x.txt", "one", age=0)  # modified just now: racy
    add(lab, src, name="fresh")
    assert add(lab, src, name="fresh").hashed == 1
