"""Several files as one table: columns they must share, and one schema to read them under.

Files of one folder and format are parts of one table (``train/*.csv``): adding a version
checks they agree on columns, and reading the table casts every part to one schema with
numbers widened, so profiles, contracts and diffs see a single stream.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rigml.data._tabular._read import BLOCK_SIZE, batches, jsonl_schema
from rigml.data._tabular._types import family, family_of, type_from_str
from rigml.errors import BadDataFile, MixedSchemas

if TYPE_CHECKING:
    import pyarrow as pa


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
