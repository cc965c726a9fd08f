"""Reading a tabular file as a stream of Arrow record batches, never whole.

CSV and JSON Lines are parsed block by block (``block_size`` bytes at a time), Parquet row
group by row group, so files larger than memory work. Errors are translated by
:mod:`._bad_lines`, which finds the line at fault.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rigml.data._tabular._bad_lines import (
    first_bad_utf8,
    first_kind_change,
    translate,
    two_kinds,
)
from rigml.data._tabular._types import require_pyarrow, type_from_str
from rigml.errors import BadDataFile

if TYPE_CHECKING:
    import pyarrow as pa

BLOCK_SIZE = 16 << 20  # bytes parsed at a time


class TypeDrift(Exception):
    """A later CSV block does not fit the column type the first block set."""

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
        raise translate(path, fmt, exc, name) from exc
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
    parse = csv_parse_options(path, fmt)
    types = {k: type_from_str(v) for k, v in (column_types or {}).items()}
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    reader = pcsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    schema = reader.schema
    binary = [f.name for f in schema if pa.types.is_binary(f.type)]
    if binary:
        line, detail = first_bad_utf8(path)
        raise BadDataFile(name, f"is not valid UTF-8 text ({detail})", line=line)
    _check_unique_header(schema.names, name)
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if "UTF8" in text or "UTF-8" in text:  # bad bytes in a later block, not a type drift
            line, detail = first_bad_utf8(path)
            raise BadDataFile(name, f"is not valid UTF-8 text ({detail})", line=line) from exc
        m = _DRIFT.search(text)
        if m and drift and not m.group(2).startswith(("string", "utf8", "binary")):
            raise TypeDrift(int(m.group(1)), m.group(2)) from exc
        raise


def csv_parse_options(path: str, fmt: str) -> Any:
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
                    raise translate(path, "jsonl", exc, name) from exc
                schemas.append(table.schema)
                try:
                    pa.unify_schemas(schemas, promote_options="permissive")
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    field, line = first_kind_change(path, schemas)
                    raise two_kinds(name, field, line) from exc
            if not chunk:
                break
    return pa.unify_schemas(schemas, promote_options="permissive")
