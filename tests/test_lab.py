"""Creating, finding and configuring labs; failures that must lose nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rigml.errors import DiskFull, InvalidInput, LabNotFound, LabNotWritable, StoreUnavailable
from rigml.lab import find_lab, init_lab, open_lab
from rigml.track.queries import get_run, load_history
from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


def test_init_defaults_to_dot_rig_in_the_working_directory(tmp_path: Path) -> None:
    lab, created = init_lab()
    assert created and lab.path == tmp_path / ".rig"
    assert {p.name for p in lab.path.iterdir()} >= {"rig.toml", "store.db", ".gitignore"}
    lab.close()


def test_labs_are_found_upward_and_from_rig_lab(tmp_path: Path, monkeypatch) -> None:
    lab, _ = init_lab(tmp_path / "proj" / ".rig")
    deep = tmp_path / "proj" / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_lab(deep) == lab.path
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LabNotFound) as info:
        find_lab()
    assert "rig init" in (info.value.hint or "")
    monkeypatch.setenv("RIG_LAB", str(tmp_path / "proj"))  # the project folder works too
    assert find_lab() == lab.path
    monkeypatch.setenv("RIG_LAB", str(tmp_path / "nowhere"))
    with pytest.raises(LabNotFound, match="RIG_LAB"):
        find_lab()
    lab.close()


def test_a_malformed_config_names_the_file_and_setting(tmp_path: Path) -> None:
    lab, _ = init_lab(tmp_path / "lab")
    lab.close()
    cfg = tmp_path / "lab" / "rig.toml"
    cfg.write_text("[tracking\nflush_interval = 1")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        open_lab(tmp_path / "lab")
    cfg.write_text("[tracking]\nflush_interval = -1\n")
    with pytest.raises(InvalidInput, match="flush_interval"):
        open_lab(tmp_path / "lab")
    cfg.write_text("[tracking]\nflush_intervall = 1.0\n")
    with pytest.raises(InvalidInput, match="unknown setting"):
        open_lab(tmp_path / "lab")


def test_environment_overrides_the_store_url(tmp_path: Path, monkeypatch) -> None:
    lab, _ = init_lab(tmp_path / "lab")
    lab.close()
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("RIG_STORE_URL", f"sqlite:///{other}")
    lab = open_lab(tmp_path / "lab")
    lab.store  # noqa: B018
    assert other.exists()
    lab.close()


def _mount(path: Path, options: str) -> None:
    path.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")


@pytest.fixture
def mounts():  # type: ignore[no-untyped-def]
    made: list[Path] = []
    yield made
    for m in made:
        subprocess.run(["umount", "-l", str(m)], check=False)


def test_init_where_no_file_can_be_made_says_why(tmp_path: Path) -> None:
    with pytest.raises(LabNotWritable, match="/proc does not accept new files"):
        init_lab("/proc/rig-lab")
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    with pytest.raises(LabNotWritable, match="a part of the path is a file, not a folder"):
        init_lab(a_file / "lab")


def test_an_unwritable_folder_gives_lab_not_writable(tmp_path: Path, mounts) -> None:
    ro = tmp_path / "ro"
    _mount(ro, "size=1m,ro")
    mounts.append(ro)
    with pytest.raises(LabNotWritable) as info:
        init_lab(ro / "lab")
    assert str(ro / "lab") in info.value.message and info.value.hint
    _assert_read_only(info)


def test_a_full_disk_fails_cleanly_and_keeps_what_was_stored(tmp_path: Path, mounts) -> None:
    disk = tmp_path / "disk"
    _mount(disk, "size=4m")
    mounts.append(disk)
    lab, _ = init_lab(disk / "lab")
    with start_run(lab, **QUIET) as run:
        for i in range(100):
            run.log({"loss": 1.0 / (i + 1)}, step=i)
    # fill the disk
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1024 * 1024))
    # DiskFull from the object store, or the store's own error when SQLite hits the wall
    with pytest.raises(StoreUnavailable) as info, start_run(lab, **QUIET) as run2:
        run2.log_artifact(big)
    assert isinstance(info.value, DiskFull) or "full" in info.value.message
    filler.unlink()
    assert len(load_history(lab, run.id, "loss")) == 100
    assert get_run(lab, run.id).status == "finished"
    assert list((lab.path / "objects" / "tmp").glob("*")) == []
    lab.close()


def test_long_runs_are_compacted_and_read_the_same(lab) -> None:
    with start_run(lab, **QUIET) as run:
        for i in range(30):
            run.log({"a": float(i), "b": -float(i)}, step=i)
            run.flush()  # one segment per flush
        before = load_history(lab, run.id, "a")
    from sqlalchemy import func, select

    from rigml.store.schema import metric_segments

    with lab.store.read() as conn:
        count = conn.execute(
            select(func.count()).where(metric_segments.c.run_id == run.id)
        ).scalar()
    assert count == 2  # one per key after the run ended
    after = load_history(lab, run.id, "a")
    assert after.steps.tolist() == before.steps.tolist() == list(range(30))
    assert after.values.tolist() == before.values.tolist()


# -- a lab on a read-only file system: every write path says so, with a hint ------------------


@pytest.fixture
def read_only_lab(tmp_path: Path, mounts) -> Path:
    """A lab with a run and an artifact on a tmpfs that is then remounted read-only."""
    disk = tmp_path / "disk"
    _mount(disk, "size=16m")
    mounts.append(disk)
    lab, _ = init_lab(disk / "lab")
    with start_run(lab, **QUIET) as run:
        run.log({"loss": 0.5}, step=0)
        weights = disk / "model.bin"
        weights.write_bytes(b"weights")
        run.log_artifact(weights)
    lab.close()
    r = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {r.stderr.decode().strip()}")
    return disk / "lab"


def _assert_read_only(info: pytest.ExceptionInfo[LabNotWritable]) -> None:
    assert "read-only file system" in info.value.message
    assert "remount" in (info.value.hint or "")


def test_a_read_only_lab_store_gives_lab_not_writable(read_only_lab: Path, rig) -> None:
    lab = open_lab(read_only_lab)
    with pytest.raises(LabNotWritable) as info:
        lab.store  # noqa: B018
    _assert_read_only(info)
    assert str(read_only_lab / "store.db") in info.value.message
    result = rig("--lab", str(read_only_lab), "runs", "list")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "cannot write to the lab" in result.err and "read-only" in result.err


def test_a_read_only_object_store_gives_lab_not_writable(read_only_lab: Path) -> None:
    from rigml.objects import ObjectStore

    objects = ObjectStore(read_only_lab / "objects")
    for data in (b"weights", b"new content"):  # an existing object (touched) and a new one
        with pytest.raises(LabNotWritable) as info:
            objects.put_bytes(data)
        _assert_read_only(info)


def test_read_only_locks_give_lab_not_writable(read_only_lab: Path, tmp_path: Path) -> None:
    from rigml.store import Store
    from rigml.store.locks import objects_lock

    with pytest.raises(LabNotWritable) as info, objects_lock(read_only_lab):
        pass
    _assert_read_only(info)
    # a new store whose migration lock lies on the read-only lab
    with pytest.raises(LabNotWritable) as info:
        Store(f"sqlite:///{tmp_path / 'new.db'}", lock_path=read_only_lab / "store.lock")
    _assert_read_only(info)


def test_a_read_only_stat_cache_gives_lab_not_writable(read_only_lab: Path) -> None:
    from rigml.data._stat_cache import StatCache

    with pytest.raises(LabNotWritable) as info:
        StatCache(read_only_lab / "cache" / "stat.db")
    _assert_read_only(info)


def test_sqlite_write_refusals_are_translated(tmp_path: Path) -> None:
    """The lowest boundary: SQLite's own messages for a database it may not write."""
    import sqlite3

    from rigml.store.writable import sqlite_not_writable

    db = tmp_path / "x.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as info:
        ro.execute("INSERT INTO t VALUES (1)")
    ro.close()
    error = sqlite_not_writable(str(db), str(info.value))
    assert isinstance(error, LabNotWritable) and "readonly" in error.message
    # a missing folder is not a permission problem: no translation, the store's own message
    assert (
        sqlite_not_writable(str(tmp_path / "nowhere" / "x.db"), "unable to open database file")
        is None
    )
