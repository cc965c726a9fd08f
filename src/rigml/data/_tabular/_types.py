"""Which files are tables, and the names of their column types.

A stored type name (``int64``, ``timestamp[us, tz=UTC]``, ``decimal128(10, 2)``) is how a
column's type is kept in a version's statistics; :func:`family` and :func:`family_of` give
the coarse kind (``int``, ``float``, ``string``, ``timestamp``...) contracts and schema
comparisons use.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from rigml.errors import MissingExtra

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
        return getattr(pa, make[width])(int(m.group(2)), int(m.group(3)))
    return pa.type_for_alias(text)


def family_of(text: str) -> str:
    """:func:`family` of a stored type name, for any type (nested ones are ``other``)."""
    for prefix, fam in _FAMILY_PREFIXES:
        if text == prefix or (text.startswith(prefix) and not text[len(prefix)].isalpha()):
            return fam
    return "other"
