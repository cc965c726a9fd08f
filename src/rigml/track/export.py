"""Export runs as a table: one row per run, params/metrics/tags as prefixed columns."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import InvalidInput, MissingExtra

if TYPE_CHECKING:
    from rigml.track.queries import RunInfo

Format = Literal["csv", "parquet"]
_BASE = ["id", "name", "experiment", "status", "start_time", "end_time", "duration", "host",
         "user", "git_commit", "git_branch", "git_dirty", "python", "command"]  # fmt: skip


def runs_table(infos: Sequence[RunInfo]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of the export, in a stable column order."""
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
    chosen = fmt or Path(path).suffix.lstrip(".").lower()
    if chosen not in ("csv", "parquet"):
        raise InvalidInput(
            f"cannot export to {chosen or 'a file without extension'!r}",
            hint="name the file .csv or .parquet, or pass --format csv|parquet",
        )
    return chosen  # type: ignore[return-value]


def export_runs(
    infos: Sequence[RunInfo], path: str | os.PathLike[str], *, fmt: str | None = None
) -> Path:
    """Write ``infos`` to ``path`` atomically as CSV or Parquet.

    Parquet keeps types (params as text in JSON form when they are not numbers); CSV
    writes NaN and infinities as ``nan``, ``inf``, ``-inf``.

    Raises:
        MissingExtra: Parquet without pyarrow.
    """
    import json

    kind = format_for(path, fmt)
    dest = Path(path)
    columns, rows = runs_table(infos)
    tmp = dest.with_name(f".{dest.name}.tmp")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
                )
    else:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingExtra("parquet", module="pyarrow") from exc
        data: dict[str, list[Any]] = {}
        for c in columns:
            values = [row[c] for row in rows]
            if c.startswith("params.") and not all(
                v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                for v in values
            ):
                values = [None if v is None else json.dumps(v) for v in values]
            if c.startswith("metrics."):
                values = [None if v is None else float(v) for v in values]
            data[c] = values
        pq.write_table(pa.table(data), tmp)
    os.replace(tmp, dest)
    return dest
