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


def test_an_unwritable_folder_gives_lab_not_writable(tmp_path: Path, mounts) -> None:
    ro = tmp_path / "ro"
    _mount(ro, "size=1m,ro")
    mounts.append(ro)
    with pytest.raises(LabNotWritable) as info:
        init_lab(ro / "lab")
    assert str(ro / "lab") in info.value.message and info.value.hint


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
