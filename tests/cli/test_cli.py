"""The rig command on real labs: JSON output, exit codes, and errors without tracebacks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rigml.cli import main
from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def runs(lab):
    """Three finished runs with params, metrics and tags, and one failed run."""
    ids = []
    for i, lr in enumerate([0.01, 0.1, 0.01]):
        with start_run(lab, experiment="sweep", params={"lr": lr, "opt": "adam"}, **QUIET) as run:
            for step in range(20):
                run.log({"loss": 1.0 / (step + 1 + i), "acc": 0.8 + 0.05 * i}, step=step)
            run.set_tags({"team": "nlp" if i else "cv"})
        ids.append(run.id)
    with pytest.raises(RuntimeError), start_run(lab, experiment="other", **QUIET) as run:
        raise RuntimeError("diverged")
    ids.append(run.id)
    return ids


def test_init_creates_a_lab_and_is_idempotent(capsys, tmp_path: Path) -> None:
    code, out, _ = rig(capsys, "init", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["created"] is True and Path(data["path"]) == tmp_path / ".rig"
    assert (tmp_path / ".rig" / "rig.toml").is_file()
    code, out, _ = rig(capsys, "init", "--json")
    assert json.loads(out)["created"] is False


def test_commands_find_the_lab_upward(capsys, tmp_path: Path, monkeypatch) -> None:
    rig(capsys, "init")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    code, out, _ = rig(capsys, "runs", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_no_lab_is_a_clear_error(capsys) -> None:
    code, out, err = rig(capsys, "runs", "list")
    assert code == 1
    assert "no rig lab found" in err and "rig init" in err
    assert "Traceback" not in err + out


def test_list_filters_sorts_and_limits(capsys, lab, runs) -> None:
    base = ("--lab", str(lab.path))
    code, out, _ = rig(
        capsys, *base, "runs", "list", "--where", "metrics.acc > 0.82 and params.lr = 0.01",
        "--json",
    )  # fmt: skip
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [runs[2]]
    code, out, _ = rig(capsys, *base, "runs", "list", "--sort", "-metrics.acc", "--json", "-n", "2")
    assert [r["id"] for r in json.loads(out)] == [runs[2], runs[1]]
    code, out, _ = rig(capsys, *base, "runs", "list", "-w", "status = failed", "--json")
    assert [r["id"] for r in json.loads(out)] == [runs[3]]
    code, out, _ = rig(capsys, *base, "runs", "list")
    assert code == 0 and runs[0][:8] in out and "params.lr" in out


def test_a_bad_filter_is_a_clear_error(capsys, lab, runs) -> None:
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "list", "-w", "metrics.acc >")
    assert code == 2 and "cannot read filter" in err and "Traceback" not in err


def test_show_by_prefix_with_json(capsys, lab, runs) -> None:
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "show", runs[1][:6], "--json")
    data = json.loads(out)
    assert code == 0 and data["id"] == runs[1] and data["params"] == {"lr": 0.1, "opt": "adam"}
    assert data["tags"] == {"team": "nlp"} and data["metrics"]["acc"] == pytest.approx(0.85)
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "show", runs[3][:8])
    assert "diverged" in out and "failed" in out


def test_unknown_run_ids_are_clear_errors(capsys, lab, runs) -> None:
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "show", "deadbeef")
    assert code == 1 and "no run with id 'deadbeef'" in err
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "show", "not-an-id")
    assert code == 1 and "no run" in err


def test_compare_lines_up_params_and_metrics(capsys, lab, runs) -> None:
    code, out, _ = rig(
        capsys, "--lab", str(lab.path), "runs", "compare", runs[0], runs[1], "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert data["params"]["lr"] == [0.01, 0.1] and data["different_params"] == ["lr"]
    assert data["metrics"]["acc"] == pytest.approx([0.8, 0.85])
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "compare", runs[0], runs[1])
    assert "lr" in out and "final metrics" in out
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "compare", runs[0])
    assert code == 2 and "at least two" in err


def test_plot_writes_a_png(capsys, lab, runs, tmp_path: Path) -> None:
    out_png = tmp_path / "loss.png"
    code, _, err = rig(
        capsys, "--lab", str(lab.path), "runs", "plot", runs[0], runs[1], "-m", "loss",
        "-m", "acc", "-o", str(out_png),
    )  # fmt: skip
    assert code == 0, err
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "plot", runs[0], "-m", "nope")
    assert code == 2 and "has metric 'nope'" in err


def test_export_csv_and_parquet(capsys, lab, runs, tmp_path: Path) -> None:
    csv_path = tmp_path / "runs.csv"
    code, _, _ = rig(capsys, "--lab", str(lab.path), "runs", "export", "-o", str(csv_path))
    assert code == 0
    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["id"] for r in rows} == set(runs)
    assert {"params.lr", "metrics.acc", "tags.team"} <= set(rows[0])
    pq = pytest.importorskip("pyarrow.parquet")
    pq_path = tmp_path / "runs.parquet"
    code, _, _ = rig(
        capsys,
        "--lab",
        str(lab.path),
        "runs",
        "export",
        "-o",
        str(pq_path),
        "-w",
        "params.lr = 0.1",
    )
    table = pq.read_table(pq_path)
    assert table.num_rows == 1 and table.column("params.lr").to_pylist() == [0.1]
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "export", "-o", "x.xlsx")
    assert code == 2 and ".csv or .parquet" in err


def test_delete_asks_first_and_keeps_shared_objects(
    capsys, lab, tmp_path: Path, monkeypatch
) -> None:
    shared = tmp_path / "shared.bin"
    shared.write_bytes(b"s" * 100)
    own = tmp_path / "own.bin"
    own.write_bytes(b"o" * 50)
    with start_run(lab, **QUIET) as a:
        a.log_artifact(shared)
        a.log_artifact(own)
        a.log({"x": 1.0})
    with start_run(lab, **QUIET) as b:
        b.log_artifact(shared)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "delete", a.id[:8])
    assert code == 1 and "nothing deleted" in out
    code, out, _ = rig(
        capsys, "--lab", str(lab.path), "runs", "delete", a.id[:8], "--yes", "--json"
    )
    report = json.loads(out)
    assert report["runs"] == [a.id] and report["objects_deleted"] == 1
    assert report["objects_kept"] == 1 and report["bytes_freed"] == 50
    code, _, err = rig(capsys, "--lab", str(lab.path), "runs", "show", a.id)
    assert code == 1 and "no run" in err
    code, out, _ = rig(capsys, "--lab", str(lab.path), "runs", "show", b.id, "--json")
    art = json.loads(out)["artifacts"][0]
    assert lab.objects.get_bytes(art["object"]) == b"s" * 100


def test_version_and_help(capsys) -> None:
    from rigml import __version__

    assert rig(capsys, "--version")[1].strip() == f"rig {__version__}"
    code, out, _ = rig(capsys, "runs", "--help")
    assert code == 0 and "--where" in out and "compare" in out and "delete" in out


def test_the_installed_command_runs_and_reports_errors_in_one_or_two_lines(tmp_path: Path) -> None:
    rig_bin = Path(sys.executable).with_name("rig")
    if not rig_bin.exists():
        pytest.skip("the rig console script is not installed in this environment")
    r = subprocess.run([str(rig_bin), "runs", "show", "abcd"], capture_output=True, text=True)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.stderr
