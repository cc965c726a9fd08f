"""Nothing stored is lost or exposed: the objects lock between adds, gc and run deletion,
grace periods (local and remote), live temp files, safe checkout paths and link modes,
folder links and special files, the stat cache's ctime."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from rigml.data import (
    _hashing,
    add,
    checkout,
    collect,
    diff,
    plan_gc,
    profile,
    resolve,
    tag,
    version_files,
)
from rigml.data._refs import check_manifest_path
from rigml.errors import (
    BadDataFile,
    Conflict,
    DatasetNotFound,
    InvalidInput,
    LabBusy,
)
from rigml.lab import Lab
from rigml.store import locks
from rigml.track.delete import delete_runs
from rigml.track.runs import start_run

from .conftest import write


@pytest.fixture
def held_lock(lab, monkeypatch):
    """The lab's objects lock held by another thread; waits give up after 0.2 s."""
    monkeypatch.setattr(locks, "TIMEOUT_S", 0.2)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with locks.objects_lock(lab.path, timeout=5):
            taken.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    taken.wait(5)
    yield
    release.set()
    t.join()


def test_deleting_runs_waits_for_the_objects_lock(lab, tmp_path, quiet_run_kwargs, held_lock):
    src = write(tmp_path / "model.bin", b"weights only this run has")
    with start_run(lab, **quiet_run_kwargs) as run:
        run.log_artifact(src)
    (digest,) = {d for d in lab.objects}
    with pytest.raises(LabBusy, match=r"data\.lock"):
        delete_runs(lab, [run.id])
    assert lab.objects.exists(digest)  # nothing deleted outside the lock


def test_gc_and_add_wait_for_the_objects_lock_with_a_clear_error(lab, folder, held_lock):
    with pytest.raises(LabBusy) as info:
        add(lab, folder, name="ds")
    assert "wait for the other" in info.value.hint
    with pytest.raises(DatasetNotFound):
        resolve(lab, "ds")


def test_storing_existing_content_refreshes_it_for_the_gc_grace(lab) -> None:
    digest = lab.objects.put_bytes(b"reused by a new writer")
    old = time.time() - 7200
    os.utime(lab.objects.location(digest), (old, old))
    assert plan_gc(lab).objects == [digest]  # unreferenced and two hours old
    assert lab.objects.put_bytes(b"reused by a new writer") == digest  # a writer reuses it
    plan = plan_gc(lab)
    assert plan.objects == [] and plan.young == 1


@pytest.mark.parametrize("prefix", ["", "ab"], ids=["tmp", "tmp/ab (small files)"])
def test_gc_leaves_temp_files_of_a_live_add_alone(lab, prefix: str) -> None:
    tmp = lab.objects.root / "tmp" / prefix
    tmp.mkdir(parents=True, exist_ok=True)
    live = Path(_hashing.temp_name(tmp, "add"))  # this process: alive
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dead = tmp / f"add-{dead_pid}-{uuid.uuid4().hex[:16]}"
    for p in (live, dead):
        p.write_bytes(b"staged")
        os.utime(p, (time.time() - 7200, time.time() - 7200))
    plan = plan_gc(lab, grace_s=0)
    assert plan.temp_files == [str(dead)]
    assert collect(lab, plan).temp_files == 1
    assert live.exists() and not dead.exists()


def test_gc_on_a_remote_store_keeps_young_objects(lab, monkeypatch) -> None:
    monkeypatch.setenv("RIG_OBJECTS_URL", f"memory://rig-gc-{uuid.uuid4().hex}")
    remote = Lab(lab.path)
    assert not remote.objects.is_local
    stray = remote.objects.put_bytes(b"just written by a run")
    plan = plan_gc(remote)
    assert plan.objects == [] and plan.young == 1
    assert plan_gc(remote, grace_s=0).objects == [stray]
    remote.close()


def test_checkout_auto_never_hard_links_and_copies_are_independent(lab, folder, tmp_path):
    add(lab, folder, name="ds")
    res = checkout(lab, "ds@1", tmp_path / "auto")
    assert set(res.methods) <= {"reflink", "copy"} and sum(res.methods.values()) == 21
    entry = next(f for f in version_files(lab, "ds@1") if f.path == "table.csv")
    obj = lab.objects.location(entry.object)
    out = tmp_path / "auto" / "table.csv"
    assert os.stat(out).st_ino != os.stat(obj).st_ino
    out.write_text("edited in the checkout\n")  # writable, and the object does not change
    assert lab.objects.verify(entry.object)
    copy = checkout(lab, "ds@1", tmp_path / "copy", link="copy")
    assert copy.methods == {"copy": 21}
    mode = os.stat(tmp_path / "copy" / "table.csv").st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # as any new file, not mkstemp's 0600


def test_manifest_paths_that_escape_are_refused_at_checkout(lab, folder, tmp_path) -> None:
    from sqlalchemy import update

    from rigml.store.schema import dataset_files

    add(lab, folder, name="ds")
    with lab.store.write() as conn:
        conn.execute(
            update(dataset_files)
            .where(dataset_files.c.path == "table.csv")
            .values(path="../../escaped.txt")
        )
    with pytest.raises(InvalidInput, match="unsafe path"):
        checkout(lab, "ds@1", tmp_path / "a" / "b" / "out")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "a" / "b").exists()
    for bad in ("/etc/passwd", "a//b", "./a", "a/..", "", "a/./b"):
        with pytest.raises(InvalidInput):
            check_manifest_path(bad)
    assert check_manifest_path("a/b.csv") == "a/b.csv"


def test_a_linked_sub_folder_is_followed_and_a_loop_is_named(lab, tmp_path) -> None:
    outside = tmp_path / "outside"
    write(outside / "inner.txt", "linked in\n")
    src = tmp_path / "src"
    write(src / "own.txt", "own\n")
    os.symlink(outside, src / "linked")
    res = add(lab, src, name="ds")
    assert [f.path for f in version_files(lab, res.version)] == ["linked/inner.txt", "own.txt"]
    os.symlink(src, outside / "back")  # src/linked/back -> src: a loop
    with pytest.raises(BadDataFile, match="loop"):
        add(lab, src, name="ds")


def test_a_fifo_is_an_error_not_dropped(lab, tmp_path) -> None:
    src = tmp_path / "src"
    write(src / "a.txt", "a\n")
    os.mkfifo(src / "pipe")
    with pytest.raises(BadDataFile, match=r"pipe: is not a regular file"):
        add(lab, src, name="ds")


def test_a_rewrite_that_restores_the_mtime_is_hashed_again(lab, tmp_path) -> None:
    src = tmp_path / "src"
    path = write(src / "a.txt", "first\n")
    add(lab, src, name="ds")
    st = os.stat(path)
    path.write_text("other\n")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as touch -r / rsync -t do
    time.sleep(0.01)
    res = add(lab, src, name="ds")
    assert res.hashed == 1 and res.created and res.version.version == 2


def test_a_file_then_a_folder_holding_it_are_two_versions(lab, tmp_path) -> None:
    path = write(tmp_path / "src" / "a.txt", "same\n")
    add(lab, path, name="ds")
    res = add(lab, tmp_path / "src", name="ds")
    assert res.created and res.version.kind == "folder"


def test_an_oversized_version_number_is_not_found(lab, folder) -> None:
    add(lab, folder, name="ds")
    with pytest.raises(DatasetNotFound):
        resolve(lab, "ds@99999999999999999999")


def test_deleting_a_tag_checks_the_version_named(lab, folder) -> None:
    add(lab, folder, name="ds")
    write(folder / "more.txt", "more")
    add(lab, folder, name="ds")
    tag(lab, "ds@2", "golden")
    with pytest.raises(Conflict, match="points at ds@2"):
        tag(lab, "ds@1", "golden", delete=True)
    assert resolve(lab, "ds@golden").version == 2
    assert tag(lab, "ds@2", "golden", delete=True).version == 2


def test_diff_reports_a_column_that_changes_type(lab, tmp_path) -> None:
    src = tmp_path / "src"
    write(src / "t.csv", "id,v\n1,10\n2,20\n")
    add(lab, src, name="ds")
    write(src / "t.csv", "id,v\n1,ten\n2,twenty\n")
    add(lab, src, name="ds")
    (change,) = diff(lab, "ds@1", "ds@2").changed
    assert change.table.type_changes == [{"column": "v", "a": "int64", "b": "string"}]
    assert (change.table.rows_added, change.table.rows_removed) == (0, 0)  # ids alike


def test_profile_of_several_tables_asks_which(lab, tmp_path) -> None:
    src = tmp_path / "src"
    write(src / "train" / "a.csv", "x\n1\n2\n")
    write(src / "train" / "b.csv", "x\n3\n")
    write(src / "labels" / "l.csv", "name\ncat\n")
    add(lab, src, name="ds")
    with pytest.raises(InvalidInput) as info:
        profile(lab, "ds")
    assert "2 tables" in info.value.message and "train/*.csv (2 files)" in info.value.message
    prof = profile(lab, "ds", file="train/*.csv")
    assert prof.rows == 3 and [c.name for c in prof.columns] == ["x"]
    assert profile(lab, "ds", file="labels/l.csv").rows == 1
