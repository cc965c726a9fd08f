"""Finding the line at fault when pyarrow refuses a file.

pyarrow's streaming readers do not know line numbers, so on an error the file is scanned
once more in Python for the first bad line: a ragged CSV row, bytes that are not UTF-8, a
JSON line that does not parse, or a JSON field that changes kind.
"""

from __future__ import annotations

import codecs
import csv
import json
from typing import TYPE_CHECKING, Any

from rigml.errors import BadDataFile

if TYPE_CHECKING:
    import pyarrow as pa


def _json_kind(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return type(v).__name__


def first_kind_change(path: str, schemas: list[pa.Schema]) -> tuple[str | None, int | None]:
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


def two_kinds(name: str, field: str | None, line: int | None) -> BadDataFile:
    """A JSON field that holds a number on one line and text on another."""
    return BadDataFile(
        name,
        f"field {field!r} holds values of two kinds (e.g. a number, then text)",
        line=line,
        hint="give each field one kind of value, or quote the numbers",
    )


def translate(path: str, fmt: str, exc: Exception, name: str) -> BadDataFile:
    """pyarrow's error on ``path`` as a :class:`BadDataFile` naming the line at fault."""
    text = str(exc)
    if fmt in ("csv", "tsv"):
        if "Expected" in text and "columns" in text:
            line, got, want = _first_ragged_line(path, fmt)
            return BadDataFile(
                name, f"a row has {got} fields where the header has {want}", line=line
            )
        if "UTF8" in text or "UTF-8" in text:
            line, detail = first_bad_utf8(path)
            return BadDataFile(name, f"is not valid UTF-8 text ({detail})", line=line)
        if "out of sync with chunker" in text:
            return BadDataFile(name, "a quoted value is not closed", hint="check the quotes")
        if "Empty CSV" in text:
            return BadDataFile(name, "is empty: no header row")
        return BadDataFile(name, f"cannot be read as CSV: {text}")
    if fmt == "jsonl":
        line, problem = _first_bad_json_line(path)
        if line is None:  # every line parses: a field changes kind (pyarrow's row is per block)
            field, line = first_kind_change(path, [])
            if line is not None:
                return two_kinds(name, field, line)
        return BadDataFile(name, f"cannot be read as JSON Lines: {problem or text}", line=line)
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


def first_bad_utf8(path: str) -> tuple[int | None, str]:
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
