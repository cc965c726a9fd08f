"""Export runs as a table: one row per run, params/metrics/tags as prefixed columns.

Times are ISO-8601 in UTC (``2026-11-01T12:30:00.123+00:00``) in CSV and timestamp
columns in Parquet; durations stay seconds. The file is written through
:mod:`rigml._output`: whole or not at all, never into a folder that does not exist.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import InvalidInput, MissingExtra

if TYPE_CHECKING:
    import pyarrow as pa

    from rigml.track.queries import RunInfo

__all__ = ["Format", "arrow_table", "export_runs", "format_for", "runs_table"]

Format = Literal["csv", "parquet"]
_BASE = ["id", "name", "experiment", "status", "start_time", "end_time", "duration", "host",
         "user", "git_commit", "git_branch", "git_dirty", "python", "command"]  # fmt: skip
_TIMES = ("start_time", "end_time")


def runs_table(infos: Sequence[RunInfo]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of the export, in a stable column order; times as epoch seconds."""
    pkeys = sorted({k for r in infos for k in r.params})
    mkeys = sorted({k for r in infos for k in r.metrics})
    tkeys = sorted({k for r in infos for k in r.tags})
    columns = (
        _BASE
        + [f"params.{k}" for k in pkeys]
        + [f"metrics.{k}" for k in mkeys]
        + [f"tags.{k}" for k in tkeys]
    )
    rows = []
    for r in infos:
        row: dict[str, Any] = {c: getattr(r, c) for c in _BASE}
        row.update({f"params.{k}": r.params.get(k) for k in pkeys})
        row.update({f"metrics.{k}": r.metrics.get(k) for k in mkeys})
        row.update({f"tags.{k}": r.tags.get(k) for k in tkeys})
        rows.append(row)
    return columns, rows


def format_for(path: str | os.PathLike[str], fmt: str | None) -> Format:
    """The format asked for, or the one the file name implies.

    Raises:
        InvalidInput: neither names CSV or Parquet.
    """
    chosen = (fmt or Path(path).suffix.lstrip(".")).lower()
    if chosen == "csv":
        return "csv"
    if chosen == "parquet":
        return "parquet"
    raise InvalidInput(
        f"cannot export to {chosen or 'a file without extension'!r}",
        hint="name the file .csv or .parquet, or pass --format csv|parquet",
    )


def export_runs(
    infos: Sequence[RunInfo], path: str | os.PathLike[str], *, fmt: str | None = None
) -> Path:
    """Write ``infos`` to ``path`` atomically as CSV or Parquet.

    Parquet keeps types (params as text in JSON form when they are not numbers); CSV
    writes NaN and infinities as ``nan``, ``inf``, ``-inf``.

    Raises:
        InvalidInput: the format is neither CSV nor Parquet.
        MissingExtra: Parquet without pyarrow.
        OutputNotWritable: the file cannot be written there (missing folder, read-only...).
    """
    from rigml._output import check_output_dir, output_path, write_output

    kind = format_for(path, fmt)
    dest = check_output_dir(path)
    if kind == "csv":
        return write_output(dest, _csv_text(*runs_table(infos)))
    table = arrow_table(infos)
    import pyarrow.parquet as pq  # present: arrow_table imported pyarrow

    with output_path(dest) as tmp:
        pq.write_table(table, tmp)
    return dest


def arrow_table(infos: Sequence[RunInfo]) -> pa.Table:
    """The export as a pyarrow table: UTC timestamps, float metrics, params typed or as JSON.

    A column holds one type, so a param that is not a number in every run becomes its
    JSON text in all of them.

    Raises:
        MissingExtra: pyarrow is not installed (``rigml[parquet]``).
    """
    try:
        import pyarrow as pa
    except ImportError as exc:
        raise MissingExtra("parquet", module="pyarrow") from exc
    columns, rows = runs_table(infos)
    data: dict[str, Any] = {}
    for c in columns:
        values = [row[c] for row in rows]
        if c in _TIMES:
            stamps = [None if v is None else datetime.fromtimestamp(v, tz=UTC) for v in values]
            data[c] = pa.array(stamps, type=pa.timestamp("us", tz="UTC"))
        else:
            data[c] = _arrow_values(c, values)
    return pa.table(data)


def _iso_time(ts: float | None) -> str | None:
    """Epoch seconds as ISO-8601 in UTC, to the millisecond."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def _csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        cells = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        cells.update({k: _iso_time(row[k]) for k in _TIMES})
        writer.writerow(cells)
    return buffer.getvalue()


def _arrow_values(column: str, values: list[Any]) -> list[Any]:
    """Values of one column in a type Arrow can hold: a column has one type."""
    if column.startswith("metrics."):
        return [None if v is None else float(v) for v in values]
    if column.startswith("params.") and not all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
    ):
        return [None if v is None else json.dumps(v) for v in values]
    return values
