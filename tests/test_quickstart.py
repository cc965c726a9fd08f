"""The quickstart end to end on the data it generates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult
from rigml.cli import main
from rigml.track.queries import list_runs

Rig = Callable[..., CliResult]


def test_quickstart_tracks_a_sweep_and_compares_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("sklearn")
    assert main(["quickstart", "--path", str(tmp_path / "qs")]) == 0
    out = capsys.readouterr().out
    assert "This machine" in out and "archetype" in out
    assert "Tracked runs" in out and "final metrics" in out
    from rigml.lab import open_lab

    lab = open_lab(tmp_path / "qs")
    runs = list_runs(lab, experiment="quickstart")
    assert len(runs) == 4 and all(r.status == "finished" for r in runs)
    assert all(len(r.metrics) >= 3 for r in runs)
    from rigml.quickstart import GRID

    assert {(r.params["alpha"], r.params["eta0"]) for r in runs} == set(GRID)
    assert all(r.metric_steps["val/acc"] > 10 for r in runs)  # a curve, not one point
    assert (tmp_path / "qs" / "quickstart.png").is_file()
    lab.close()
    _check_pipeline(tmp_path / "qs", out)
    _check_registry(tmp_path / "qs", out)


def _check_registry(root: Path, out: str) -> None:
    """The best gated candidate is churn@1, in staging then production through the gates,
    traced to its run and dataset, and the audit log verifies."""
    from rigml.audit import verify
    from rigml.lab import open_lab
    from rigml.registry import alias_history, get_version, lineage

    flat = " ".join(out.split())
    assert "Registry (rig models register" in flat and "Lineage" in flat
    assert "churn@production: nobody -> v1 (promote by" in flat
    assert "Audit (rig audit verify):" in flat and "intact" in flat
    assert "Serving (rig serve churn@production" in flat
    assert "Prediction log (rig predictions list --model churn): 60 rows, 20 joined" in flat
    assert (root / "lineage.png").is_file() and (root / "lineage.mmd").is_file()
    lab = open_lab(root)
    try:
        version = get_version(lab, "churn@production")
        assert version.ref == "churn@1" and set(version.aliases) == {"staging", "production"}
        moves = alias_history(lab, "churn")
        assert [(m.alias, m.gate_report_id is not None) for m in moves] == [
            ("staging", True),
            ("production", True),
        ]
        lin = lineage(lab, "churn@production")
        assert lin.run is not None and lin.run["name"] == "gate"
        assert [d["ref"] for d in lin.datasets] == ["churn@1"]
        assert verify(lab).ok
    finally:
        lab.close()


def _check_pipeline(root: Path, out: str) -> None:
    """The pipeline part: every stage ran once, the rerun ran nothing, the param change
    reran exactly train and what reads it, and the gate stage's passing report is stored."""
    from collections import Counter

    from rigml.gates import latest_gate_report
    from rigml.lab import open_lab
    from rigml.pipeline import load_pipeline, pipeline_status

    assert "Pipeline" in out and "everything is up to date" in out
    assert "Reran: train, evaluate, gate; the rest stayed cached." in out
    assert "train: will run — param train.C changed" in " ".join(out.split())
    lab = open_lab(root)
    try:
        everything = list_runs(lab, experiment="quickstart-pipeline")
        assert all(r.status == "finished" for r in everything)
        runs = [r for r in everything if "rig.sweep" not in r.tags]
        trials = [r for r in everything if r.tags.get("rig.sweep") == "quickstart-c"]
        # the sweep: one train run per grid point, each with its validation AUC
        assert sorted(r.params["train.C"] for r in trials) == [0.01, 0.1, 1, 10]
        assert all(r.name == "train" and "val_auc" in r.metrics for r in trials)
        assert "Sweep (rig sweep train" in out
        # once each, then nothing (a second run would add runs), then train and its dependants
        assert Counter(r.name for r in runs) == {
            "prepare": 1,
            "validate": 1,
            "train": 2,
            "evaluate": 2,
            "gate": 2,
        }
        trains = sorted((r for r in runs if r.name == "train"), key=lambda r: r.start_time)
        assert [r.params["train.C"] for r in trains] == [1.0, 0.05]
        pipeline = load_pipeline(root / "pipeline")
        assert {s.state for s in pipeline_status(lab, pipeline)} == {"up to date"}
        for gate_run in (r for r in runs if r.name == "gate"):
            report = latest_gate_report(lab, gate_run.id)
            assert report is not None and report.passed
            assert "metrics.auc >= 0.7" in report.rules
            assert gate_run.tags["rig.gates"] == "passed"
        evaluate = next(r for r in runs if r.name == "evaluate")
        assert {"auc", "accuracy", "slice/f00/high/auc", "slice/f00/low/auc"} <= set(
            evaluate.metrics
        )
    finally:
        lab.close()


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory, redirected to an empty folder we can inspect."""
    import tempfile

    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.mark.slow
def test_without_a_path_the_temporary_lab_is_removed(temp_root: Path, rig: Rig) -> None:
    pytest.importorskip("sklearn")
    result = rig("quickstart")
    assert result.exit_code == 0, result.stderr
    assert list(temp_root.iterdir()) == []
    assert "--keep" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_keep_keeps_the_temporary_lab_and_says_where(temp_root: Path, rig: Rig) -> None:
    pytest.importorskip("sklearn")
    result = rig("quickstart", "--keep")
    assert result.exit_code == 0, result.stderr
    (kept,) = temp_root.iterdir()
    assert kept.name.startswith("rig-quickstart-") and (kept / ".rig" / "rig.toml").is_file()
    assert str(kept / ".rig") in "".join(result.stdout.split())
