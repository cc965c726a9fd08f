"""Exporting the prediction log to a file: Parquet, CSV or JSONL, streamed, written atomically.

Segments of different models carry different ``in.*`` columns, and a Parquet or CSV file has
one schema: a first pass reads each matching segment's schema (its footer) and unifies them;
the second streams the rows, each batch given the missing columns as nulls. Memory holds one
segment at a time; the file appears whole or not at all (:mod:`rigml._output`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from rigml.lab import Lab
    from rigml.serve._predlog_read import Filters, TimeLike


@dataclass(frozen=True)
class ExportResult:
    path: str
    format: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def export_predictions(
    lab: Lab,
    path: str | os.PathLike[str],
    *,
    model: str | None = None,
    version: int | None = None,
    arm: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    columns: Sequence[str] | None = None,
    with_feedback: bool = False,
) -> ExportResult:
    """Write the matching predictions to ``path`` (.parquet, .csv or .jsonl, by suffix).

    Raises:
        InvalidInput: an unknown suffix.
        InvalidPredictionQuery: a malformed filter or an unknown column.
        OutputNotWritable: the file cannot be written there.
    """
    from rigml._output import output_path
    from rigml.serve._batch_predict import file_format
    from rigml.serve._predlog_read import check_filters, iter_predictions

    fmt = file_format(path, "export file")
    f = check_filters(
        model=model,
        version=version,
        arm=arm,
        since=since,
        until=until,
        columns=columns,
        with_feedback=with_feedback,
    )
    schema = None if fmt == "jsonl" else _union_schema(lab, f)
    rows = 0
    with output_path(path) as tmp:
        writer = _Writer(fmt, tmp, schema)
        try:
            for batch in iter_predictions(
                lab,
                model=model,
                version=version,
                arm=arm,
                since=f.since,
                until=f.until,
                columns=columns,
                with_feedback=with_feedback,
            ):
                writer.write(batch)
                rows += batch.num_rows
        finally:
            writer.close()
    return ExportResult(str(Path(path).expanduser()), fmt, rows)


def _union_schema(lab: Lab, f: Filters) -> pa.Schema:
    """All matching segments' columns (the first pass: footers only), in a stable order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rigml.serve._predlog_read import _no_rows, _segments

    schemas = [_no_rows().schema]
    for seg in _segments(lab, f):
        schemas.append(pq.read_schema(pa.BufferReader(lab.objects.get_bytes(seg.object))))
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    if f.with_feedback:
        schema = schema.append(pa.field("feedback", pa.string()))
        schema = schema.append(pa.field("feedback_time", pa.float64()))
    if f.columns is not None:
        have = {n: schema.field(n) for n in schema.names}
        schema = pa.schema([have.get(c, pa.field(c, pa.null())) for c in f.columns])
    return schema


class _Writer:
    def __init__(self, fmt: str, path: Path, schema: pa.Schema | None) -> None:
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        self.fmt, self.schema = fmt, schema
        self._fh: Any = None
        self._out: Any = None
        if fmt == "parquet":
            self._out = pq.ParquetWriter(path, schema, compression="zstd")
        elif fmt == "csv":
            self._out = pcsv.CSVWriter(path, schema)
        else:
            self._fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, batch: pa.RecordBatch) -> None:
        import pyarrow as pa

        if self._fh is not None:
            text = batch.to_pandas().to_json(orient="records", lines=True, double_precision=15)
            self._fh.write(text if text.endswith("\n") or not text else text + "\n")
            return
        assert self.schema is not None
        table = pa.Table.from_batches([batch])
        have = set(table.column_names)
        arrays = [
            table[f.name].cast(f.type) if f.name in have else pa.nulls(table.num_rows, f.type)
            for f in self.schema
        ]
        self._out.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        for handle in (self._out, self._fh):
            if handle is not None:
                handle.close()
