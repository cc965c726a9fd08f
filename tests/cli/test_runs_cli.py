"""``rig runs``: references by name, sort errors, datasets in show, exports and the list's
layout in an 80-column terminal."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from rigml.cli import main
from rigml.track.queries import get_run
from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}
LONG_NAME = "a-remarkably-long-run-name-that-would-never-fit-in-a-column"


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch):
    """Output drawn for an 80-column terminal."""
    from rigml.cli import _ui

    monkeypatch.setenv("COLUMNS", "80")
    _ui.console.cache_clear()
    yield 80
    _ui.console.cache_clear()


@pytest.fixture
def wide_runs(lab) -> list[str]:
    """Runs with many params and metrics, long names and a long experiment name."""
    ids = []
    for i in range(3):
        with start_run(
            lab,
            experiment="an-experiment-with-a-long-name" if i else "short",
            name=LONG_NAME if i == 1 else None,
            params={
                "lr": 0.01 * (i + 1),
                "optimizer": "adamw-with-decoupled-weight-decay",
                "batch_size": 32,
                "epochs": 10,
                "model": "resnet50",
            },
            **QUIET,
        ) as run:
            run.log({"acc": 0.9 + i / 100, "loss": 0.1, "val/accuracy": 0.8, "f1": 0.5})
        ids.append(run.id)
    return ids


def _table_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("│")]


def test_list_fits_80_columns_without_splitting_words(capsys, lab, wide_runs, narrow) -> None:
    code, out, err = rig(capsys, "--lab", str(lab.path), "runs", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= narrow
    assert len(_table_rows(out)) == len(wide_runs)  # one line per run: nothing wrapped
    long_row = next(r for r in _table_rows(out) if wide_runs[1][:8] in r)
    cell = long_row.split("│")[2].strip()
    assert cell.endswith("…") and LONG_NAME.startswith(cell[:-1])
    assert "more columns (see --columns): " in out


def test_list_shows_the_sort_key_first_when_space_is_short(capsys, lab, wide_runs, narrow) -> None:
    base = ("--lab", str(lab.path), "runs", "list", "-e", "an-experiment-with-a-long-name")
    code, out, _ = rig(capsys, *base, "-s", "-params.epochs")
    assert code == 0 and "params.epochs" in out.splitlines()[2]  # after the title
    code, out, _ = rig(capsys, *base)
    assert "params.epochs" not in out.splitlines()[2] and "metrics." in out.splitlines()[2]


def test_list_columns_picks_exactly_those(capsys, lab, wide_runs, narrow) -> None:
    code, out, err = rig(
        capsys, "--lab", str(lab.path), "runs", "list", "--columns", "id, name,status,metrics.acc"
    )
    assert code == 0, err
    header = out.splitlines()[1]
    assert [h.strip() for h in header.strip("┃").split("┃")] == [
        "id",
        "name",
        "status",
        "metrics.acc",
    ]
    assert "more columns" not in out
    assert max(len(line) for line in out.splitlines()) <= narrow


def test_list_columns_fold_params_and_metrics(capsys, lab, wide_runs, narrow) -> None:
    code, out, _ = rig(
        capsys, "--lab", str(lab.path), "runs", "list", "-c", "id,params,metrics,tags"
    )
    assert code == 0
    assert "batch_size=32" in out and "acc=0.9" in out
    assert max(len(line) for line in out.splitlines()) <= narrow
    assert len(_table_rows(out)) == len(wide_runs)


def test_list_too_many_columns_still_fit(capsys, lab, wide_runs, narrow) -> None:
    many = "id,name,experiment,status,started,ended,duration,host,user,params,metrics"
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "list", "-c", many)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= narrow
    assert len(_table_rows(out)) == len(wide_runs)


def test_list_unknown_column_is_a_clear_error(capsys, lab, wide_runs) -> None:
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "list", "-c", "id,accuracy")
    assert code == 2 and "unknown column 'accuracy'" in err and "metrics.<key>" in err
    assert "Traceback" not in err


def test_list_leaves_out_experiment_when_there_is_one(capsys, lab, wide_runs) -> None:
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "list", "-e", "short")
    assert code == 0 and "experiment short" in out
    assert "experiment" not in out.splitlines()[2]  # the header line


def test_bad_sort_key_names_the_valid_ones(capsys, lab, wide_runs) -> None:
    code, out, err = rig(capsys, "--lab", str(lab.path), "runs", "list", "--sort", "bogus")
    assert code == 2 and out == ""
    assert "unknown sort key 'bogus'" in err and "valid keys: id, name, status" in err
    assert "cannot read filter" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 2 and "hint:" in err


def test_time_and_duration_filters_from_the_command_line(capsys, lab, wide_runs) -> None:
    base = ("--lab", str(lab.path), "runs", "list", "--json", "-w")
    today = datetime.now().strftime("%Y-%m-%d")
    code, out, err = rig(capsys, *base, f"start_time >= {today} and duration < 10m")
    assert code == 0, err
    assert {r["id"] for r in json.loads(out)} == set(wide_runs)
    code, out, _ = rig(capsys, *base, "start_time < '2001-01-01 00:00' or duration > 1.5h")
    assert code == 0 and json.loads(out) == []


def test_show_and_compare_by_name_and_short_prefix(capsys, lab, wide_runs) -> None:
    code, out, err = rig(capsys, "--lab", str(lab.path), "runs", "show", LONG_NAME, "--json")
    assert code == 0, err
    assert json.loads(out)["id"] == wide_runs[1]
    other = get_run(lab, wide_runs[0])
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "compare", LONG_NAME, other.name)
    assert code == 0


def test_show_an_ambiguous_reference_lists_candidates(capsys, lab) -> None:
    for _ in range(2):
        with start_run(lab, name="twin", **QUIET):
            pass
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "show", "twin")
    assert code == 1 and "run 'twin' matches 2 runs:" in err and "twin (started " in err
    assert "Traceback" not in err


def test_show_lists_the_datasets_a_run_used(capsys, lab, tmp_path: Path) -> None:
    from rigml.data import add

    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,2\n")
    add(lab, folder, name="churn")
    with start_run(lab, **QUIET) as run:
        run.use_dataset("churn@1")
    with start_run(lab, **QUIET) as bare:
        pass
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "show", run.id, "--json")
    assert code == 0 and json.loads(out)["datasets"] == ["churn@1"]
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "show", run.id)
    assert "datasets" in out and "churn@1" in out
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "show", bare.id, "--json")
    assert json.loads(out)["datasets"] == []


def test_export_writes_iso_times(capsys, lab, wide_runs, tmp_path: Path) -> None:
    dest = tmp_path / "runs.csv"
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "export", "-o", str(dest))
    assert code == 0, err
    with dest.open() as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    info = get_run(lab, wide_runs[0])
    start = datetime.fromisoformat(rows[info.id]["start_time"])
    assert rows[info.id]["start_time"].endswith("+00:00") and "T" in rows[info.id]["start_time"]
    assert start.timestamp() == pytest.approx(info.start_time, abs=0.001)
    assert info.end_time is not None
    end = datetime.fromisoformat(rows[info.id]["end_time"])
    assert end.timestamp() == pytest.approx(info.end_time, abs=0.001)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_parquet_has_timestamp_columns(capsys, lab, wide_runs, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    dest = tmp_path / "runs.parquet"
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "export", "-o", str(dest))
    assert code == 0, err
    table = pq.read_table(dest)
    assert table.schema.field("start_time").type == pa.timestamp("us", tz="UTC")
    info = get_run(lab, wide_runs[0])
    ids, starts = table.column("id").to_pylist(), table.column("start_time").to_pylist()
    got = dict(zip(ids, starts, strict=True))
    assert got[info.id].timestamp() == pytest.approx(info.start_time, abs=1e-5)


def _unwritable(tmp_path: Path) -> list[tuple[Path, str]]:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    return [
        (Path("/proc/runs.{ext}"), "/proc does not accept new files"),
        (a_file / "runs.{ext}", "is a file, not a folder"),
        (tmp_path / "nonexistent" / "dir" / "runs.{ext}", "does not exist"),
    ]


@pytest.mark.parametrize("case", [0, 1, 2], ids=["proc", "under-a-file", "missing-parent"])
def test_export_to_an_unwritable_place_is_one_clear_error(
    capsys, lab, wide_runs, tmp_path: Path, case: int
) -> None:
    template, reason = _unwritable(tmp_path)[case]
    for ext in ("csv", "parquet"):
        dest = str(template).format(ext=ext)
        code, out, err = rig(capsys, "--lab", str(lab.path), "runs", "export", "-o", dest)
        assert code != 0 and out == ""
        assert f"error: cannot write {dest}: " in err and reason in err
        assert "Traceback" not in err and "unexpected error" not in err
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("case", [0, 1, 2], ids=["proc", "under-a-file", "missing-parent"])
def test_plot_to_an_unwritable_place_is_one_clear_error(
    capsys, lab, wide_runs, tmp_path: Path, case: int
) -> None:
    pytest.importorskip("matplotlib")
    template, reason = _unwritable(tmp_path)[case]
    dest = str(template).format(ext="png")
    code, out, err = rig(
        capsys, "--lab", str(lab.path), "runs", "plot", wide_runs[0], "-m", "acc", "-o", dest
    )
    assert out == ""
    assert code != 0 and f"error: cannot write {dest}: " in err and reason in err
    assert "Traceback" not in err
    assert not (tmp_path / "nonexistent").exists()


def test_export_to_a_read_only_filesystem(lab, wide_runs, tmp_path: Path) -> None:
    """A read-only mount in a private mount namespace; skipped where that is not allowed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare(1) to make a read-only mount")
    ro = tmp_path / "ro"
    ro.mkdir()
    args = ["--lab", str(lab.path), "runs", "export", "-o", str(ro / "r.csv")]
    script = f"import sys; from rigml.cli import main; sys.exit(main({args!r}))"
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {ro} && echo ok"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0 or "ok" not in probe.stdout:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.strip()}")
    lab.close()
    r = subprocess.run(
        [unshare, "-m", "sh", "-c", f'mount -t tmpfs -o ro tmpfs {ro} && exec "$0" -c "$1"',
         sys.executable, script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert r.returncode != 0, r.stdout
    assert f"cannot write {ro / 'r.csv'}: the filesystem is read-only" in r.stderr
    assert "Traceback" not in r.stderr


def test_durations_read_like_the_rest_of_rigml() -> None:
    from rigml._units import format_bytes, format_duration
    from rigml.cli import _ui

    for seconds in (None, 4.2, 754, 7384, 3 * 86400 + 7200):
        assert _ui.duration(seconds) == format_duration(seconds)
    assert _ui.duration(3 * 86400 + 7200) == "3d02h"
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(5 * 1024**4) == "5.0 TiB"
