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
