"""``rig predictions list/export/feedback``, run through their Typer app on a real lab."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.serve._predlog_fixtures import _predlog_audit_key, record  # noqa: F401 - fixture
from typer.testing import CliRunner

from rigml.cli.predictions import app
from rigml.errors import InvalidPredictionQuery
from rigml.serve._predlog import PredictionLog


@pytest.fixture
def logged(lab: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RIG_LAB", str(lab.path))
    monkeypatch.setenv("COLUMNS", "200")
    log = PredictionLog(lab, service="svc")
    for i in range(30):
        log.append(record(i, arm="canary" if i % 3 == 0 else "primary"))
    log.close()
    return lab


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_list_shows_the_latest_first(logged: Any) -> None:
    out = invoke("list", "-n", "5")
    assert out.exit_code == 0, out.output
    assert "req-29" in out.output and "age=29 " in out.output and "churn@1" in out.output
    assert "req-24" not in out.output
    rows = json.loads(invoke("list", "--arm", "canary", "-n", "3", "--json").output)
    assert [r["request_id"] for r in rows] == ["req-27", "req-24", "req-21"]


def test_list_says_when_nothing_matches(logged: Any) -> None:
    out = invoke("list", "--model", "nobody")
    assert out.exit_code == 0 and "no predictions logged that match" in out.output


def test_list_refuses_a_malformed_since(logged: Any) -> None:
    out = invoke("list", "--since", "last tuesday")
    assert isinstance(out.exception, InvalidPredictionQuery)


def test_feedback_then_list_with_feedback(logged: Any) -> None:
    out = invoke("feedback", "req-29", '{"label": 1}', "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["value"] == {"label": 1}
    assert "feedback for req-28" in invoke("feedback", "req-28", "cat").output
    rows = json.loads(invoke("list", "-n", "2", "--feedback", "--json").output)
    assert [r["feedback"] for r in rows] == ['{"label":1}', '"cat"']


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_export_writes_each_format(logged: Any, tmp_path: Path, suffix: str) -> None:
    import pandas as pd

    dest = tmp_path / f"preds{suffix}"
    out = invoke("export", "-o", str(dest), "--arm", "primary", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["rows"] == 20
    frame = {
        ".parquet": pd.read_parquet,
        ".csv": pd.read_csv,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }[suffix](dest)
    assert len(frame) == 20 and set(frame["arm"]) == {"primary"}
    assert "in.age" in frame.columns


def test_export_of_two_models_unifies_columns(logged: Any, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    log = PredictionLog(logged, service="svc")
    log.append(record(99, model="other") | {"inputs": np.ones((1, 2))})
    log.close()
    dest = tmp_path / "all.parquet"
    assert invoke("export", "-o", str(dest)).exit_code == 0
    frame = pd.read_parquet(dest)
    assert len(frame) == 31 and {"in.age", "in.0", "in.1"} <= set(frame.columns)


def test_a_failed_export_leaves_no_file(logged: Any, tmp_path: Path) -> None:
    dest = tmp_path / "x.parquet"
    out = invoke("export", "-o", str(dest), "--since", "nonsense")
    assert isinstance(out.exception, InvalidPredictionQuery)
    assert not dest.exists() and list(tmp_path.glob(".x.parquet*")) == []
