"""Schema, rows and column statistics of one tabular file, in one stream, with widening.

A streaming CSV reader guesses column types from its first block; a later block that does
not fit ("x" in a column of integers) is a *type drift*. :func:`inspect_file` resolves
drift by widening that column (int to float to text) and reading again, and records the
resolved types, so that every later read of the same file passes them and never drifts.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rigml.data._tabular._bad_lines import translate
from rigml.data._tabular._read import BLOCK_SIZE, TypeDrift, batches, csv_parse_options
from rigml.data._tabular._types import family, family_of, require_pyarrow, type_from_str, type_name
from rigml.errors import BadDataFile

if TYPE_CHECKING:
    import pyarrow as pa

_MAX_TEXT = 80  # characters of a text min/max kept in statistics


class _Acc:
    """Running statistics of one column (see :class:`rigml.data._stats.ColumnStats`)."""

    def __init__(self, type: str) -> None:
        from rigml.data._stats import ColumnStats

        self.type = type
        self.stats = ColumnStats()

    def feed(self, arr: pa.ChunkedArray | pa.Array) -> None:
        import pyarrow as pa

        t = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
        fam = family(t)
        self.stats.feed(arr, fam, numeric=fam in ("int", "float", "bool"))

    def to_dict(self, name: str) -> dict[str, Any]:
        st = self.stats
        out: dict[str, Any] = {"name": name, "type": self.type, "nulls": st.nulls}
        out["min"], out["max"] = jsonable(st.min), jsonable(st.max)
        if family_of(self.type) in ("int", "float", "bool") and st.count:
            out["mean"] = st.moments.mean_or_none
            out["std"] = st.moments.std
        return out


def jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, str) and len(v) > _MAX_TEXT:
        return v[:_MAX_TEXT] + "…"
    if isinstance(v, bytes):
        return v[:_MAX_TEXT].hex()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def inspect_file(
    path: str, fmt: str, *, label: str | None = None, block_size: int = BLOCK_SIZE
) -> dict[str, Any]:
    """Schema, row count and per-column statistics of one tabular file, in one stream.

    Returns a JSON-ready dict: ``format``, ``rows``, ``columns`` (name, type, nulls, min,
    max, and mean/std for numbers), and ``column_types`` for CSV (the resolved types that
    later reads pass back).

    Raises:
        BadDataFile: see :func:`batches`.
    """
    require_pyarrow()
    import pyarrow as pa

    name = label or path
    overrides: dict[str, str] = {}
    for _attempt in range(64):
        try:
            return _inspect_once(path, fmt, overrides or None, block_size, name)
        except TypeDrift as drift:
            schema = _csv_schema(path, fmt, overrides, block_size)
            column = schema.field(drift.column).name
            if overrides.get(column) == "string":
                raise BadDataFile(name, f"column {column!r} cannot be read as text") from None
            widen = drift.wanted.startswith(("int", "uint")) and column not in overrides
            overrides[column] = "double" if widen else "string"
        except pa.ArrowInvalid as exc:  # pragma: no cover - translated in batches()
            raise translate(path, fmt, exc, name) from exc
    raise BadDataFile(name, "column types keep changing between blocks")


def _csv_schema(path: str, fmt: str, overrides: dict[str, str], block_size: int) -> pa.Schema:
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=block_size),
        parse_options=csv_parse_options(path, fmt),
        convert_options=pcsv.ConvertOptions(
            column_types={k: type_from_str(v) for k, v in overrides.items()}
        ),
    )
    return reader.schema


def _inspect_once(
    path: str, fmt: str, overrides: dict[str, str] | None, block_size: int, name: str
) -> dict[str, Any]:
    rows = 0
    accs: dict[str, _Acc] = {}
    schema = None
    stream = batches(
        path, fmt, column_types=overrides, block_size=block_size, label=name, _drift=True
    )
    for batch in stream:
        if schema is None:
            schema = batch.schema
            accs = {f.name: _Acc(type_name(f.type)) for f in schema}
        elif batch.schema != schema:
            _check_batch_schema(name, schema, batch.schema)
        rows += batch.num_rows
        for f, col in zip(batch.schema, batch.columns, strict=True):
            if f.name not in accs:
                accs[f.name] = _Acc(type_name(f.type))
            accs[f.name].feed(col)
    if schema is None:
        schema = _empty_schema(path, fmt, overrides, block_size, name)
        accs = {f.name: _Acc(type_name(f.type)) for f in schema}
    out: dict[str, Any] = {
        "format": fmt,
        "rows": rows,
        "columns": [acc.to_dict(n) for n, acc in accs.items()],
    }
    if fmt in ("csv", "tsv"):
        out["column_types"] = {n: acc.type for n, acc in accs.items()}
    return out


def _check_batch_schema(name: str, first: pa.Schema, other: pa.Schema) -> None:
    if first.names != other.names:
        raise BadDataFile(name, f"its records change columns: {first.names} then {other.names}")


def _empty_schema(
    path: str, fmt: str, overrides: dict[str, str] | None, block_size: int, name: str
) -> pa.Schema:
    import pyarrow as pa

    if fmt in ("csv", "tsv"):
        return _csv_schema(path, fmt, overrides or {}, block_size)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).schema_arrow
    return pa.schema([])
