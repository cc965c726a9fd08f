"""The quickstart end to end on the data it generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigml.cli import main
from rigml.track.queries import list_runs


def test_quickstart_tracks_a_sweep_and_compares_it(tmp_path: Path, capsys) -> None:
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


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory, redirected to an empty folder we can inspect."""
    import tempfile

    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.mark.slow
def test_without_a_path_the_temporary_lab_is_removed(temp_root: Path, rig) -> None:
    pytest.importorskip("sklearn")
    result = rig("quickstart")
    assert result.exit_code == 0, result.stderr
    assert list(temp_root.iterdir()) == []
    assert "--keep" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_keep_keeps_the_temporary_lab_and_says_where(temp_root: Path, rig) -> None:
    pytest.importorskip("sklearn")
    result = rig("quickstart", "--keep")
    assert result.exit_code == 0, result.stderr
    (kept,) = temp_root.iterdir()
    assert kept.name.startswith("rig-quickstart-") and (kept / ".rig" / "rig.toml").is_file()
    assert str(kept / ".rig") in "".join(result.stdout.split())
