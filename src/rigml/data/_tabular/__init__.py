"""Tabular files (CSV, TSV, Parquet, JSON Lines) read as streams of Arrow record batches.

One concept per module: type names (:mod:`._types`), streaming readers (:mod:`._read`),
finding the bad line of a refused file (:mod:`._bad_lines`), statistics of one file with
type widening (:mod:`._inspect`), and several files as one table (:mod:`._schemas`).
pyarrow is imported inside the functions that use it.
"""

from __future__ import annotations

from rigml.data._tabular._inspect import inspect_file, jsonable
from rigml.data._tabular._read import BLOCK_SIZE, batches, jsonl_schema
from rigml.data._tabular._schemas import (
    TablePart,
    check_same_columns,
    part_schema,
    schema_difference,
    table_batches,
    table_schema,
    unified_schema,
)
from rigml.data._tabular._types import (
    FORMATS,
    family,
    family_of,
    format_of,
    require_pyarrow,
    type_from_str,
    type_name,
)

__all__ = [
    "BLOCK_SIZE",
    "FORMATS",
    "TablePart",
    "batches",
    "check_same_columns",
    "family",
    "family_of",
    "format_of",
    "inspect_file",
    "jsonable",
    "jsonl_schema",
    "part_schema",
    "require_pyarrow",
    "schema_difference",
    "table_batches",
    "table_schema",
    "type_from_str",
    "type_name",
    "unified_schema",
]
