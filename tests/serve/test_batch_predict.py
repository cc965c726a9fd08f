"""Batch prediction: CSV, Parquet and JSONL streamed in chunks, logged, written atomically."""
# ruff: noqa: F811 - fixtures come from _predlog_fixtures, imported by name

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.serve._predlog_fixtures import (  # noqa: F401 - fixtures
    _predlog_audit_key,
    churn,
    frame_data,
)
from typer.testing import CliRunner

from rigml.cli.predict import app
from rigml.errors import BadBatchInput, InvalidInput
from rigml.serve._batch_predict import predict_file
from rigml.serve._predlog_read import read_predictions

WRITE = {
    "csv": lambda df, p: df.to_csv(p, index=False),
    "parquet": lambda df, p: df.to_parquet(p, index=False),
    "jsonl": lambda df, p: df.to_json(p, orient="records", lines=True),
}
READ = {
    "csv": pd.read_csv,
    "parquet": pd.read_parquet,
    "jsonl": lambda p: pd.read_json(p, lines=True),
}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_each_format_in_several_chunks(
    lab: Any, churn: Any, frame_data: Any, tmp_path: Path, fmt: str
) -> None:
    X, _ = frame_data
    src, dest = tmp_path / f"in.{fmt}", tmp_path / f"out.{fmt}"
    WRITE[fmt](X, src)
    seen: list[tuple[int, float | None]] = []
    result = predict_file(
        lab,
        "churn",
        src,
        dest,
        chunk_rows=64,
        proba=True,
        progress=lambda r, s: seen.append((r, s)),
    )
    assert (result.rows, result.chunks, result.version) == (200, 4, 1)
    assert [r for r, _ in seen] == [64, 128, 192, 200] and seen[-1][1] == 1.0
    out = READ[fmt](dest)
    from rigml.registry import load_model

    expected = load_model(lab, "churn").predict(X)
    assert list(out.columns) == [*X.columns, "prediction", "probability_0", "probability_1"]
    np.testing.assert_array_equal(out["prediction"].to_numpy(), expected)
    np.testing.assert_allclose(out["age"].to_numpy(), X["age"].to_numpy())
    logged = read_predictions(lab, arm="batch")
    assert logged.num_rows == 200 and len(set(logged["request_id"].to_pylist())) == 4
    np.testing.assert_array_equal(logged["out"].to_numpy(), expected)


def test_a_csv_whose_column_turns_fractional_after_the_first_block(
    lab: Any, churn: Any, tmp_path: Path
) -> None:
    rows = 60_000  # over the 1 MiB CSV block: types come from the signature, not the block
    frame = pd.DataFrame({c: np.arange(rows) for c in ("age", "income", "visits", "score")})
    src = tmp_path / "in.csv"
    frame.to_csv(src, index=False)
    with open(src, "a") as fh:
        fh.write("0.5,1.5,2.5,3.5\n")
    result = predict_file(lab, "churn", src, tmp_path / "out.parquet", chunk_rows=25_000, log=False)
    assert (result.rows, result.chunks) == (rows + 1, 3)
    assert pd.read_parquet(tmp_path / "out.parquet")["age"].iloc[-1] == 0.5
    assert read_predictions(lab).num_rows == 0  # --no-log


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("short.csv", "age,income,visits,score\n1,2,3,4\n1,2,3\n", 3),
        ("word.csv", "age,income,visits,score\n1,2,3,4\n5,6,7,8\n1,x,3,4\n", 4),
        ("broken.jsonl", '{"age":1,"income":2,"visits":3,"score":4}\n{"age": 1,\n', 2),
        ("list.jsonl", '{"age":1,"income":2,"visits":3,"score":4}\n[1,2,3,4]\n', 2),
    ],
)
def test_a_malformed_row_is_named_and_nothing_is_written(
    lab: Any, churn: Any, tmp_path: Path, name: str, text: str, line: int
) -> None:
    src = tmp_path / name
    src.write_text(text)
    dest = tmp_path / ("out" + src.suffix)
    with pytest.raises(BadBatchInput) as info:
        predict_file(lab, "churn", src, dest)
    assert info.value.line == line and "chunk 1" in info.value.message
    assert not dest.exists() and not list(tmp_path.glob(".out*"))


def test_a_missing_column_in_a_later_chunk_names_the_chunk(
    lab: Any, churn: Any, frame_data: Any, tmp_path: Path
) -> None:
    X, _ = frame_data
    rows = [json.dumps(r) for r in X.to_dict(orient="records")]
    rows[150] = json.dumps({"age": 1.0})
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(rows) + "\n")
    with pytest.raises(BadBatchInput, match=r"chunk 2: rows 101-200") as info:
        predict_file(lab, "churn", src, tmp_path / "out.jsonl", chunk_rows=100)
    assert info.value.chunk == 2
    assert not (tmp_path / "out.jsonl").exists()


def test_unknown_suffix_is_refused(lab: Any, churn: Any, tmp_path: Path) -> None:
    (tmp_path / "in.xlsx").write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"not \.csv, \.parquet or \.jsonl"):
        predict_file(lab, "churn", tmp_path / "in.xlsx", tmp_path / "out.csv")


def test_rig_predict_command(
    lab: Any, churn: Any, frame_data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIG_LAB", str(lab.path))
    X, _ = frame_data
    X.to_parquet(tmp_path / "in.parquet")
    dest = tmp_path / "out.csv"
    args = ["churn@1", str(tmp_path / "in.parquet"), "-o", str(dest), "--chunk-rows", "50"]
    out = CliRunner().invoke(app, [*args, "--proba", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert (summary["rows"], summary["chunks"], summary["logged"]) == (200, 4, True)
    assert "probability_1" in pd.read_csv(dest).columns
    text = CliRunner().invoke(app, [*args, "--no-log"])
    assert "scored 200 rows with churn@1" in text.output and "(not logged)" in text.output
    assert read_predictions(lab).num_rows == 200
