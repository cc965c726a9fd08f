"""Tabular files (CSV, TSV, Parquet, JSON Lines) read as streams of Arrow record batches.

Nothing here loads a whole file: CSV and JSON Lines are parsed block by block
(``block_size`` bytes at a time), Parquet row group by row group, so files larger than
memory work. Errors name the file and, where a line is at fault, the line: pyarrow's
streaming readers do not know line numbers, so on an error the file is scanned once more
in Python to find the first bad line.

A streaming CSV reader guesses column types from its first block; a later block that does
not fit ("x" in a column of integers) is a *type drift*. :func:`inspect_file` resolves drift
by widening that column (int to float to text) and reading again, and records the resolved
types, so that every later read of the same file passes them and never drifts.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from rigml.errors import BadDataFile, MissingExtra, MixedSchemas

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
BLOCK_SIZE = 16 << 20  # bytes parsed at a time
_MAX_TEXT = 80  # characters of a text min/max kept in statistics


def format_of(path: str) -> str | None:
    """The tabular format a file name says, or None for any other file."""
    return FORMATS.get(os.path.splitext(path)[1].lower())


def require_pyarrow() -> None:
    """Raises MissingExtra('data') when pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("data", module="pyarrow") from exc


def family(t: pa.DataType) -> str:
    """A coarse type name that contracts and schema comparisons use."""
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return "string"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_null(t):
        return "null"
    return "other"


def type_name(t: pa.DataType) -> str:
    """The stored name of a column type; dictionary-encoded columns are their values' type."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return str(t.value_type)
    return str(t)


_TS = re.compile(r"timestamp\[(\w+)(?:, tz=(.+))?\]")


def type_from_str(text: str) -> pa.DataType:
    import pyarrow as pa

    m = _TS.fullmatch(text)
    if m:
        return pa.timestamp(m.group(1), tz=m.group(2))
    return pa.type_for_alias(text)


class _TypeDrift(Exception):
    def __init__(self, column: int, wanted: str) -> None:
        super().__init__(column, wanted)
        self.column, self.wanted = column, wanted


_DRIFT = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+)")


def batches(
    path: str,
    fmt: str,
    *,
    column_types: dict[str, str] | None = None,
    block_size: int = BLOCK_SIZE,
    label: str | None = None,
    _drift: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Record batches of a tabular file, streamed.

    Args:
        path: the file to read.
        fmt: ``csv``, ``tsv``, ``parquet`` or ``jsonl``.
        column_types: CSV/TSV column types resolved by :func:`inspect_file`.
        block_size: bytes of CSV/JSON parsed at a time.
        label: the name used in errors (the path inside the dataset).

    Raises:
        BadDataFile: the file is not what its name says, is ragged, empty or not UTF-8.
    """
    require_pyarrow()
    import pyarrow as pa

    name = label or path
    try:
        if fmt in ("csv", "tsv"):
            yield from _csv_batches(path, fmt, column_types, block_size, name, _drift)
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(path).iter_batches(batch_size=256_000)
        elif fmt == "jsonl":
            import pyarrow.json as pj

            try:
                reader = pj.open_json(path, read_options=pj.ReadOptions(block_size=block_size))
            except pa.ArrowInvalid as exc:
                if os.path.getsize(path) == 0:
                    raise BadDataFile(name, "is empty: no JSON lines") from exc
                raise
            yield from reader
        else:
            raise BadDataFile(name, f"has no tabular format ({fmt!r})")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise _translate(path, fmt, exc, name) from exc
    except FileNotFoundError as exc:
        raise BadDataFile(name, "vanished while it was read") from exc
    except PermissionError as exc:
        raise BadDataFile(name, "cannot be read: permission denied") from exc


def _csv_batches(
    path: str,
    fmt: str,
    column_types: dict[str, str] | None,
    block_size: int,
    name: str,
    drift: bool,
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if os.path.getsize(path) == 0:
        raise BadDataFile(name, "is empty: no header row")
    read = pcsv.ReadOptions(block_size=block_size)
    parse = pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
    types = {k: type_from_str(v) for k, v in (column_types or {}).items()}
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    reader = pcsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    schema = reader.schema
    binary = [f.name for f in schema if pa.types.is_binary(f.type)]
    if binary:
        line, detail = _first_bad_utf8(path)
        raise BadDataFile(name, f"is not valid UTF-8 text ({detail})", line=line)
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        m = _DRIFT.search(str(exc))
        if m and drift:
            raise _TypeDrift(int(m.group(1)), m.group(2)) from exc
        raise


def _translate(path: str, fmt: str, exc: Exception, name: str) -> Exception:
    text = str(exc)
    if isinstance(exc, _TypeDrift):
        return exc
    if fmt in ("csv", "tsv"):
        if "Expected" in text and "columns" in text:
            line, got, want = _first_ragged_line(path, fmt)
            return BadDataFile(
                name, f"a row has {got} fields where the header has {want}", line=line
            )
        if "UTF8" in text or "UTF-8" in text:
            line, detail = _first_bad_utf8(path)
            return BadDataFile(name, f"is not valid UTF-8 text ({detail})", line=line)
        if "Empty CSV" in text:
            return BadDataFile(name, "is empty: no header row")
        return BadDataFile(name, f"cannot be read as CSV: {text}")
    if fmt == "jsonl":
        line, detail = _first_bad_json_line(path)
        return BadDataFile(name, f"cannot be read as JSON Lines: {detail or text}", line=line)
    if fmt == "parquet":
        return BadDataFile(name, f"is not a readable Parquet file: {text}")
    return BadDataFile(name, text)


def _first_ragged_line(path: str, fmt: str) -> tuple[int | None, int, int]:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter="\t" if fmt == "tsv" else ",")
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, len(row), len(header)
    return None, 0, len(header)


def _first_bad_utf8(path: str) -> tuple[int | None, str]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk.count(b"\n", 0, exc.start)
                bad = chunk[exc.start : exc.start + 1].hex()
                return line, f"byte 0x{bad} cannot be decoded"
            line += chunk.count(b"\n")
    return None, "undecodable bytes"


def _first_bad_json_line(path: str) -> tuple[int | None, str | None]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                return n, exc.msg
            if not isinstance(value, dict):
                return n, f"a line must be a JSON object, found {type(value).__name__}"
    return None, None


# -- statistics ---------------------------------------------------------------------------


@dataclass
class _Acc:
    """Running statistics of one column."""

    type: str
    count: int = 0
    nulls: int = 0
    min: Any = None
    max: Any = None
    total: float = 0.0
    total_sq: float = 0.0

    def feed(self, arr: pa.ChunkedArray | pa.Array) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(arr)
        nulls = arr.null_count
        self.count += n - nulls
        self.nulls += nulls
        if n == nulls:
            return
        t = arr.type
        if pa.types.is_dictionary(t):
            arr = arr.cast(t.value_type)
            t = arr.type
        fam = family(t)
        if fam in ("int", "float", "bool", "string", "timestamp", "date"):
            mm = pc.min_max(arr)
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if fam == "float":
                lo, hi = _finite_or_none(lo), _finite_or_none(hi)
            if lo is not None and (self.min is None or lo < self.min):
                self.min = lo
            if hi is not None and (self.max is None or hi > self.max):
                self.max = hi
        if fam in ("int", "float", "bool"):
            values = arr.cast(pa.float64())
            s = pc.sum(values).as_py()
            sq = pc.sum(pc.multiply(values, values)).as_py()
            self.total += s or 0.0
            self.total_sq += sq or 0.0

    def to_dict(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "type": self.type, "nulls": self.nulls}
        out["min"], out["max"] = _jsonable(self.min), _jsonable(self.max)
        fam = family(type_from_str(self.type)) if self.type != "null" else "null"
        if fam in ("int", "float", "bool") and self.count:
            mean = self.total / self.count
            var = max(0.0, self.total_sq / self.count - mean * mean)
            out["mean"] = mean if math.isfinite(mean) else None
            out["std"] = math.sqrt(var) if math.isfinite(var) else None
        return out


def _finite_or_none(v: Any) -> Any:
    return v if v is None or math.isfinite(v) else None


def _jsonable(v: Any) -> Any:
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
        except _TypeDrift as drift:
            schema = _csv_schema(path, fmt, overrides, block_size)
            column = schema.field(drift.column).name
            if overrides.get(column) == "string":
                raise BadDataFile(name, f"column {column!r} cannot be read as text") from None
            widen = drift.wanted.startswith(("int", "uint")) and column not in overrides
            overrides[column] = "double" if widen else "string"
        except pa.ArrowInvalid as exc:  # pragma: no cover - translated in batches()
            raise _translate(path, fmt, exc, name) from exc
    raise BadDataFile(name, "column types keep changing between blocks")


def _csv_schema(path: str, fmt: str, overrides: dict[str, str], block_size: int) -> pa.Schema:
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(block_size=block_size),
        parse_options=pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","),
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


def table_schema(meta: dict[str, Any]) -> dict[str, str]:
    """``{column: type}`` from the statistics :func:`inspect_file` returned."""
    return {c["name"]: c["type"] for c in meta.get("columns", [])}


def check_same_columns(files: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Files of one folder and format are parts of one table: they must share columns.

    Args:
        files: ``(path inside the dataset, inspect_file result)`` pairs.

    Raises:
        MixedSchemas: names the first file whose columns or column types differ.
    """
    groups: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
    for path, meta in sorted(files):
        key = (os.path.dirname(path), meta["format"])
        cols = {n: family(type_from_str(t)) for n, t in table_schema(meta).items()}
        if key not in groups:
            groups[key] = (path, cols)
            continue
        first_path, first = groups[key]
        difference = schema_difference(first, cols)
        if difference:
            raise MixedSchemas(path, first_path, difference)


def schema_difference(a: dict[str, str], b: dict[str, str]) -> str:
    """A short description of how column set ``b`` differs from ``a`` ('' when compatible)."""
    parts = []
    missing = [c for c in a if c not in b]
    extra = [c for c in b if c not in a]
    if missing:
        parts.append("missing " + ", ".join(missing[:5]))
    if extra:
        parts.append("extra " + ", ".join(extra[:5]))
    numeric = {"int", "float"}
    for c in a:
        if c in b and a[c] != b[c] and not {a[c], b[c]} <= numeric and "null" not in (a[c], b[c]):
            parts.append(f"{c}: {a[c]} here {b[c]}")
    return "; ".join(parts)


# -- one table over several files ----------------------------------------------------------


@dataclass(frozen=True)
class TablePart:
    """One tabular file of a dataset version, readable locally."""

    label: str  # the path inside the dataset
    path: str  # where its bytes are on this machine
    meta: dict[str, Any]


def unified_schema(parts: Sequence[TablePart]) -> pa.Schema:
    """The schema every part is cast to: columns in first-seen order, numbers widened.

    Raises:
        MixedSchemas: two parts hold the same column with incompatible types.
    """
    import pyarrow as pa

    fields: dict[str, pa.DataType] = {}
    origin: dict[str, str] = {}
    for part in parts:
        for name, text in table_schema(part.meta).items():
            t = type_from_str(text)
            if name not in fields or pa.types.is_null(fields[name]):
                fields[name], origin[name] = t, part.label
                continue
            if fields[name] == t or pa.types.is_null(t):
                continue
            fa, fb = family(fields[name]), family(t)
            if {fa, fb} <= {"int", "float"}:
                fields[name] = pa.float64()
            elif fa == fb:
                fields[name] = (
                    pa.unify_schemas(
                        [pa.schema([(name, fields[name])]), pa.schema([(name, t)])],
                        promote_options="permissive",
                    )
                    .field(name)
                    .type
                )
            else:
                raise MixedSchemas(part.label, origin[name], f"{name}: {fa} there, {fb} here")
    return pa.schema(list(fields.items()))


def table_batches(
    parts: Sequence[TablePart], *, columns: Sequence[str] | None = None
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """``(label, batch)`` for every batch of every part, cast to :func:`unified_schema`."""
    import pyarrow as pa

    schema = unified_schema(parts)
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns if c in schema.names])
    for part in parts:
        fmt = part.meta["format"]
        for batch in batches(
            part.path, fmt, column_types=part.meta.get("column_types"), label=part.label
        ):
            arrays = []
            for field in schema:
                idx = batch.schema.get_field_index(field.name)
                if idx < 0:
                    arrays.append(pa.nulls(batch.num_rows, type=field.type))
                else:
                    col = batch.column(idx)
                    arrays.append(col if col.type == field.type else col.cast(field.type))
            yield part.label, pa.RecordBatch.from_arrays(arrays, schema=schema)
