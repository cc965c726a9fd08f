"""Tabular files larger than the read block: quoted multi-line values, late UTF-8 errors,
JSON Lines whose fields appear late, exotic Parquet types, and exact statistics."""

from __future__ import annotations

import json
import math
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from rigml.data import _tabular as tabular
from rigml.data import add, profile, version_files
from rigml.errors import BadDataFile

from .conftest import write

BLOCK = 4096  # small read blocks make every test file span many blocks


def test_quoted_values_spanning_lines_across_blocks_are_read_exactly(tmp_path: Path) -> None:
    body = "".join(f'{i},"line a\nline b {i}",{i * 2}\n' for i in range(3000))
    path = write(tmp_path / "m.csv", "id,txt,n\n" + body)
    meta = tabular.inspect_file(str(path), "csv", block_size=BLOCK)
    assert meta["rows"] == 3000
    assert meta["column_types"] == {"id": "int64", "txt": "string", "n": "int64"}
    rows = [b.to_pylist() for b in tabular.batches(str(path), "csv", block_size=BLOCK)]
    flat = [r for batch in rows for r in batch]
    assert flat[2999] == {"id": 2999, "txt": "line a\nline b 2999", "n": 5998}


def test_an_unclosed_quote_is_an_error_not_a_widened_column(tmp_path: Path) -> None:
    body = "".join(f"{i},{i}\n" for i in range(3000))
    path = write(tmp_path / "q.csv", "a,b\n" + body + '3001,"never closed\n' + body)
    with pytest.raises(BadDataFile):
        tabular.inspect_file(str(path), "csv", block_size=BLOCK)


def test_bad_utf8_after_the_first_block_names_the_absolute_line(tmp_path: Path) -> None:
    body = b"".join(b"%d,abc\n" % i for i in range(3000))
    path = write(tmp_path / "u.csv", b"id,t\n" + body + b"5,\xff\xfe\n")
    with pytest.raises(BadDataFile) as info:
        tabular.inspect_file(str(path), "csv", label="u.csv", block_size=BLOCK)
    assert info.value.line == 3002 and "not valid UTF-8" in info.value.message
    assert info.value.path == "u.csv"


def test_duplicate_csv_headers_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "a,a\n1,2\n")
    with pytest.raises(BadDataFile, match="names column 'a' twice"):
        tabular.inspect_file(str(path), "csv")


def test_json_lines_whose_fields_fill_in_after_the_first_block(tmp_path: Path) -> None:
    lines = [json.dumps({"a": i, "b": None}) for i in range(500)]
    lines += [json.dumps({"a": i, "b": "x", "c": 1.5}) for i in range(500)]
    path = write(tmp_path / "j.jsonl", "\n".join(lines) + "\n")
    meta = tabular.inspect_file(str(path), "jsonl", block_size=BLOCK)
    types = tabular.table_schema(meta)
    assert meta["rows"] == 1000 and types["b"] == "string" and types["c"] == "double"
    cols = {c["name"]: c for c in meta["columns"]}
    assert cols["b"]["nulls"] == 500 and cols["c"]["nulls"] == 500


def test_a_json_field_that_changes_kind_names_the_absolute_line(tmp_path: Path) -> None:
    lines = [json.dumps({"a": i}) for i in range(800)] + [json.dumps({"a": "text"})]
    path = write(tmp_path / "k.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(BadDataFile) as info:
        tabular.inspect_file(str(path), "jsonl", label="k.jsonl", block_size=BLOCK)
    assert info.value.line == 801 and "'a'" in info.value.message


def test_parquet_with_decimal_and_list_columns_is_added_and_profiled(lab, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "price": pa.array([Decimal("1.25"), Decimal("2.50"), None], pa.decimal128(10, 2)),
            "tags": pa.array([[1, 2], [], [3]], pa.list_(pa.int64())),
            "id": [1, 2, 3],
        }
    )
    src = tmp_path / "src"
    src.mkdir()
    pq.write_table(table, src / "t.parquet")
    res = add(lab, src, name="dec")
    (entry,) = version_files(lab, res.version)
    cols = {c["name"]: c for c in entry.tabular["columns"]}
    assert cols["price"]["min"] == 1.25 and cols["price"]["max"] == 2.5
    assert cols["price"]["mean"] == pytest.approx(1.875)
    assert tabular.family_of(cols["tags"]["type"]) == "other"
    prof = profile(lab, "dec")
    assert prof.rows == 3 and prof.column("tags").distinct is None


def test_std_is_exact_for_values_with_a_large_offset(lab, tmp_path: Path) -> None:
    values = [1e9 + v for v in (0.1, 0.2, 0.3, 0.4, 0.5)] * 400
    path = write(tmp_path / "src" / "big.csv", "x\n" + "\n".join(repr(v) for v in values) + "\n")
    meta = tabular.inspect_file(str(path), "csv", block_size=BLOCK)
    want = statistics.pstdev(values)
    (col,) = meta["columns"]
    assert math.isclose(col["std"], want, rel_tol=1e-6)
    add(lab, tmp_path / "src", name="big")
    assert math.isclose(profile(lab, "big").column("x").std, want, rel_tol=1e-6)


def test_type_names_map_to_families_for_any_type() -> None:
    assert tabular.family_of("decimal128(10, 2)") == "float"
    assert tabular.family_of("list<element: int64>") == "other"
    assert tabular.family_of("timestamp[ns, tz=UTC]") == "timestamp"
    assert tabular.family_of("int64") == "int" and tabular.family_of("large_string") == "string"
    assert tabular.family_of("date32[day]") == "date" and tabular.family_of("time64[us]") == "other"
    assert str(tabular.type_from_str("decimal128(10, 2)")) == "decimal128(10, 2)"
