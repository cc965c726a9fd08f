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
import io
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
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
_DECIMAL = re.compile(r"decimal(32|64|128|256)?\((\d+), ?(-?\d+)\)")
_FAMILY_PREFIXES = (
    ("bool", "bool"),
    ("int", "int"),
    ("uint", "int"),
    ("halffloat", "float"),
    ("float", "float"),
    ("double", "float"),
    ("decimal", "float"),
    ("string", "string"),
    ("large_string", "string"),
    ("utf8", "string"),
    ("large_utf8", "string"),
    ("string_view", "string"),
    ("dictionary", "string"),
    ("timestamp", "timestamp"),
    ("date", "date"),
    ("null", "null"),
)


def type_from_str(text: str) -> pa.DataType:
    """The Arrow type a stored type name stands for.

    Raises:
        ValueError: a nested type (list, struct, map...) that has no alias; use the
            file's own schema for those (:func:`part_schema`).
    """
    import pyarrow as pa

    m = _TS.fullmatch(text)
    if m:
        return pa.timestamp(m.group(1), tz=m.group(2))
    m = _DECIMAL.fullmatch(text)
    if m:
        width = m.group(1) or "128"
        make = {"32": "decimal32", "64": "decimal64", "128": "decimal128", "256": "decimal256"}
        return getattr(pa, make[width])(int(m.group(2)), int(m.group(3)))  # type: ignore[no-any-return]
    return pa.type_for_alias(text)


def family_of(text: str) -> str:
    """:func:`family` of a stored type name, for any type (nested ones are ``other``)."""
    for prefix, fam in _FAMILY_PREFIXES:
        if text == prefix or (text.startswith(prefix) and not text[len(prefix)].isalpha()):
            return fam
    return "other"


class _TypeDrift(Exception):
    def __init__(self, column: int, wanted: str) -> None:
        super().__init__(column, wanted)
        self.column, self.wanted = column, wanted


_DRIFT = re.compile(
    r"^In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+): invalid value"
)
_QUOTE_SCAN = 16 << 20


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
            yield from _jsonl_batches(path, block_size, name)
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
    parse = _csv_parse_options(path, fmt)
    types = {k: type_from_str(v) for k, v in (column_types or {}).items()}
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    reader = pcsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    schema = reader.schema
    binary = [f.name for f in schema if pa.types.is_binary(f.type)]
    if binary:
        line, detail = _first_bad_utf8(path)
        raise BadDataFile(name, f"is not valid UTF-8 text ({detail})", line=line)
    _check_unique_header(schema.names, name)
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if "UTF8" in text or "UTF-8" in text:  # bad bytes in a later block, not a type drift
            line, detail = _first_bad_utf8(path)
            raise BadDataFile(name, f"is not valid UTF-8 text ({detail})", line=line) from exc
        m = _DRIFT.search(text)
        if m and drift and not m.group(2).startswith(("string", "utf8", "binary")):
            raise _TypeDrift(int(m.group(1)), m.group(2)) from exc
        raise


def _csv_parse_options(path: str, fmt: str) -> Any:
    """Parse options; quoted values may span lines whenever the file holds a quote."""
    import pyarrow.csv as pcsv

    return pcsv.ParseOptions(
        delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=_has_quote(path)
    )


def _has_quote(path: str) -> bool:
    with open(path, "rb") as fh:
        while chunk := fh.read(_QUOTE_SCAN):
            if b'"' in chunk:
                return True
    return False


def _check_unique_header(names: list[str], name: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise BadDataFile(
                name,
                f"its header names column {n!r} twice",
                line=1,
                hint="give every column its own name",
            )
        seen.add(n)


# -- JSON Lines ----------------------------------------------------------------------------


def _jsonl_batches(path: str, block_size: int, name: str) -> Iterator[pa.RecordBatch]:
    """Batches of a JSON Lines file under one schema for the whole file.

    pyarrow fixes the schema from the first block, so a field that is null or absent there
    and filled later would fail; a file over one block is first read once for its schema
    (every block's inferred schema, unified), which is then passed explicitly.
    """
    import pyarrow as pa
    import pyarrow.json as pj

    size = os.path.getsize(path)
    if size == 0:
        raise BadDataFile(name, "is empty: no JSON lines")
    parse = None
    if size > block_size:
        schema = jsonl_schema(path, block_size, name)
        parse = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    try:
        reader = pj.open_json(
            path, read_options=pj.ReadOptions(block_size=block_size), parse_options=parse
        )
    except pa.ArrowInvalid:
        if not _has_content(path):
            raise BadDataFile(name, "is empty: no JSON lines") from None
        raise
    yield from reader


def _has_content(path: str) -> bool:
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            if chunk.strip():
                return True
    return False


def jsonl_schema(path: str, block_size: int, name: str) -> pa.Schema:
    """The schema of a whole JSON Lines file: each block's inferred schema, unified.

    Raises:
        BadDataFile: a line is not a JSON object, or a field holds values of two kinds
            (names the field and the absolute line).
    """
    import pyarrow as pa
    import pyarrow.json as pj

    schemas: list[pa.Schema] = []
    tail = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(block_size)
            data = tail + chunk
            if not chunk:
                block, tail = data, b""
            else:
                cut = data.rfind(b"\n") + 1
                block, tail = data[:cut], data[cut:]
            if block.strip():
                try:
                    table = pj.read_json(
                        io.BytesIO(block), read_options=pj.ReadOptions(block_size=len(block) + 1)
                    )
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise _translate(path, "jsonl", exc, name) from exc
                schemas.append(table.schema)
                try:
                    pa.unify_schemas(schemas, promote_options="permissive")
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    field, line = _first_kind_change(path, schemas)
                    raise BadDataFile(
                        name,
                        f"field {field!r} holds values of two kinds (e.g. a number, then text)",
                        line=line,
                        hint="give each field one kind of value, or quote the numbers",
                    ) from exc
            if not chunk:
                break
    return pa.unify_schemas(schemas, promote_options="permissive")


def _json_kind(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return type(v).__name__


def _first_kind_change(path: str, schemas: list[pa.Schema]) -> tuple[str | None, int | None]:
    """The field and absolute line where a JSON field first changes kind."""
    fields = set()
    for a in schemas:
        for b in schemas:
            for f in a:
                if f.name in b.names and b.field(f.name).type != f.type:
                    fields.add(f.name)
    seen: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                continue
            if not isinstance(row, dict):
                continue
            for k, v in row.items():
                if fields and k not in fields:
                    continue
                kind = _json_kind(v)
                if kind is None:
                    continue
                if seen.setdefault(k, kind) != kind:
                    return k, n
    return (sorted(fields)[0] if fields else None), None


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
        if "out of sync with chunker" in text:
            return BadDataFile(name, "a quoted value is not closed", hint="check the quotes")
        if "Empty CSV" in text:
            return BadDataFile(name, "is empty: no header row")
        return BadDataFile(name, f"cannot be read as CSV: {text}")
    if fmt == "jsonl":
        line, detail = _first_bad_json_line(path)
        if line is None:  # every line parses: a field changes kind (pyarrow's row is per block)
            field, line = _first_kind_change(path, [])
            if line is not None:
                return BadDataFile(
                    name,
                    f"field {field!r} holds values of two kinds (e.g. a number, then text)",
                    line=line,
                    hint="give each field one kind of value, or quote the numbers",
                )
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
        out["min"], out["max"] = _jsonable(st.min), _jsonable(st.max)
        if family_of(self.type) in ("int", "float", "bool") and st.count:
            out["mean"] = st.moments.mean_or_none
            out["std"] = st.moments.std
        return out


def _jsonable(v: Any) -> Any:
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
        parse_options=_csv_parse_options(path, fmt),
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
        cols = {n: family_of(t) for n, t in table_schema(meta).items()}
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
        for name, t in part_schema(part).items():
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


def part_schema(part: TablePart) -> dict[str, pa.DataType]:
    """``{column: Arrow type}`` of one part; nested types come from the file itself."""
    out: dict[str, pa.DataType] = {}
    stored = table_schema(part.meta)
    try:
        for name, text in stored.items():
            out[name] = type_from_str(text)
        return out
    except (ValueError, KeyError):
        pass
    fmt = part.meta["format"]
    if fmt == "parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(part.path)
    elif fmt == "jsonl":
        schema = jsonl_schema(part.path, BLOCK_SIZE, part.label)
    else:  # CSV types are always simple; unreachable in practice
        raise BadDataFile(part.label, f"has a column type rigml cannot read back: {stored}")
    return {f.name: f.type for f in schema if f.name in stored}


def table_batches(
    parts: Sequence[TablePart], *, columns: Sequence[str] | None = None
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """``(label, batch)`` for every batch of every part, cast to :func:`unified_schema`."""
    import pyarrow as pa

    schema = unified_schema(parts)
    if columns is not None:
        picked = [schema.field(c) for c in columns if c in schema.names]
        # no wanted column at all: keep one anyway, so that batches still count their rows
        schema = pa.schema(picked or list(schema)[:1])
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
