"""Bad input: each problem is a clear error naming the file (and line), and no version is
half-registered. Also streaming of files larger than the read block."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from rigml.data import _hashing, add, resolve, version_files
from rigml.data import _tabular as tabular
from rigml.errors import (
    BadDataFile,
    DataChanged,
    DatasetNotFound,
    EmptyDataset,
    MissingExtra,
    MixedSchemas,
)

from .conftest import write


def assert_nothing_registered(lab, name: str = "ds") -> None:
    with pytest.raises(DatasetNotFound):
        resolve(lab, name)
    tmp = lab.objects.root / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


def test_a_ragged_csv_row_names_the_file_and_line(lab, tmp_path: Path) -> None:
    write(tmp_path / "d" / "t.csv", "a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    with pytest.raises(BadDataFile) as info:
        add(lab, tmp_path / "d", name="ds")
    err = info.value
    assert err.path == "t.csv" and err.line == 4
    assert "t.csv, line 4: a row has 3 fields where the header has 2" in err.message
    assert_nothing_registered(lab)


def test_bad_utf8_names_the_line(lab, tmp_path: Path) -> None:
    write(tmp_path / "d" / "t.csv", b"a,b\n1,x\n2,y\n3,\xff\xfe\n")
    with pytest.raises(BadDataFile) as info:
        add(lab, tmp_path / "d", name="ds")
    assert info.value.line == 4 and "not valid UTF-8" in info.value.message
    assert "0xff" in info.value.message
    assert_nothing_registered(lab)


def test_empty_inputs(lab, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDataset, match="holds no files"):
        add(lab, tmp_path / "empty", name="ds")
    write(tmp_path / "e" / "t.csv", "")
    with pytest.raises(BadDataFile, match=r"t\.csv: is empty"):
        add(lab, tmp_path / "e", name="ds")
    with pytest.raises(BadDataFile, match="does not exist"):
        add(lab, tmp_path / "nowhere", name="ds")
    assert_nothing_registered(lab)
    write(tmp_path / "h" / "t.csv", "a,b\n")  # a header and no rows is a valid empty table
    res = add(lab, tmp_path / "h", name="header-only")
    (entry,) = version_files(lab, res.version)
    assert entry.tabular["rows"] == 0 and [c["name"] for c in entry.tabular["columns"]] == [
        "a",
        "b",
    ]


def test_mixed_schemas_in_one_folder(lab, tmp_path: Path) -> None:
    write(tmp_path / "d" / "part-0.csv", "id,x\n1,2\n")
    write(tmp_path / "d" / "part-1.csv", "id,y\n1,2\n")
    with pytest.raises(MixedSchemas) as info:
        add(lab, tmp_path / "d", name="ds")
    assert info.value.path == "part-1.csv" and info.value.other == "part-0.csv"
    assert "missing x" in info.value.message and "extra y" in info.value.message
    assert_nothing_registered(lab)
    res = add(lab, tmp_path / "d", name="ds", allow_mixed_schemas=True)
    assert res.created
    # numbers widen: an int part and a float part are one table
    write(tmp_path / "n" / "p0.csv", "id,x\n1,2\n")
    write(tmp_path / "n" / "p1.csv", "id,x\n1,2.5\n")
    assert add(lab, tmp_path / "n", name="numbers").created


def test_malformed_json_lines_and_fake_parquet(lab, tmp_path: Path) -> None:
    write(tmp_path / "j" / "t.jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3\n')
    with pytest.raises(BadDataFile) as info:
        add(lab, tmp_path / "j", name="ds")
    assert info.value.line == 3 and "JSON Lines" in info.value.message
    write(tmp_path / "p" / "t.parquet", "not parquet at all")
    with pytest.raises(BadDataFile, match=r"t\.parquet: is not a readable Parquet file"):
        add(lab, tmp_path / "p", name="ds")
    assert_nothing_registered(lab)
    res = add(lab, tmp_path / "p", name="ds", inspect=False)  # stored as bytes
    assert version_files(lab, res.version)[0].tabular is None


def test_a_broken_symlink_is_named(lab, tmp_path: Path) -> None:
    write(tmp_path / "d" / "ok.txt", "x")
    os.symlink(tmp_path / "gone", tmp_path / "d" / "link.txt")
    with pytest.raises(BadDataFile, match="broken symbolic link"):
        add(lab, tmp_path / "d", name="ds")
    assert_nothing_registered(lab)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_named(lab, tmp_path: Path) -> None:
    f = write(tmp_path / "d" / "secret.bin", "x")
    f.chmod(0)
    with pytest.raises(BadDataFile, match=r"secret\.bin: cannot be read"):
        add(lab, tmp_path / "d", name="ds")
    assert_nothing_registered(lab)


def test_a_file_that_vanishes_during_add(lab, folder, monkeypatch) -> None:
    real = _hashing.read_small
    victim = str(folder / "a" / "f05.txt")

    def vanish(path: str, size: int, mtime_ns: int) -> bytes:
        if path == victim:
            os.unlink(path)
        return real(path, size, mtime_ns)

    monkeypatch.setattr(_hashing, "read_small", vanish)
    with pytest.raises(DataChanged) as info:
        add(lab, folder, name="ds")
    assert info.value.path == victim and "vanished" in info.value.message
    assert_nothing_registered(lab)


def test_a_file_that_changes_during_add(lab, folder, monkeypatch) -> None:
    real = _hashing.read_small
    victim = str(folder / "table.csv")

    def grow(path: str, size: int, mtime_ns: int) -> bytes:
        if path == victim:  # a writer appends between the scan and the read
            with open(path, "a") as fh:
                fh.write("4,3.5,cow\n")
        return real(path, size, mtime_ns)

    monkeypatch.setattr(_hashing, "read_small", grow)
    with pytest.raises(DataChanged, match="changed while it was being added"):
        add(lab, folder, name="ds")
    assert_nothing_registered(lab)


@pytest.mark.parametrize("change", ["grow", "truncate"])
def test_a_large_file_that_changes_while_it_is_hashed(
    lab, tmp_path: Path, monkeypatch, change: str
) -> None:
    monkeypatch.setattr(_hashing, "SMALL", 16)  # every file takes the large-file path
    monkeypatch.setattr(_hashing, "CHUNK", 256)  # and is read in several chunks
    src = tmp_path / "d"
    write(src / "a.bin", b"x" * 1000)
    write(src / "b.bin", b"y" * 1000)
    real = _hashing._pump

    def changing(fd: int, h, dst):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("b.bin"):
            with open(src / "b.bin", "r+b") as fh:
                if change == "grow":
                    fh.seek(0, 2)
                    fh.write(b"more")
                else:  # a memory map would die of SIGBUS here
                    fh.truncate(300)
        return real(fd, h, dst)

    monkeypatch.setattr(_hashing, "_pump", changing)
    with pytest.raises(DataChanged, match=r"b\.bin changed"):
        add(lab, src, name="ds")
    assert_nothing_registered(lab)
    monkeypatch.setattr(_hashing, "_pump", real)
    res = add(lab, src, name="ds")
    size = 1004 if change == "grow" else 300
    assert res.stored == 2 and [f.size for f in version_files(lab, res.version)] == [1000, size]
    obj = version_files(lab, res.version)[1].object
    assert _hashing.hash_path(lab.objects.location(obj)) == obj


def test_tables_without_pyarrow_need_the_data_extra(lab, folder, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtra) as info:
        add(lab, folder, name="ds")
    assert "rigml[data]" in (info.value.hint or "") and "--no-inspect" in (info.value.hint or "")
    assert_nothing_registered(lab)
    assert add(lab, folder, name="ds", inspect=False).created


def test_a_csv_bigger_than_the_read_block_streams_and_resolves_type_drift(tmp_path: Path) -> None:
    rows = 60_000
    lines = ["id,value,code"] + [f"{i},{i % 97},{i % 7}" for i in range(rows)]
    lines[-3] = f"{rows - 3},1.5,{(rows - 3) % 7}"  # a float after ~1 MB of integers
    lines[-2] = f"{rows - 2},3,x"  # text in a column of integers
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    assert path.stat().st_size > 16 * 4096
    meta = tabular.inspect_file(str(path), "csv", block_size=4096)
    assert meta["rows"] == rows
    assert meta["column_types"] == {"id": "int64", "value": "double", "code": "string"}
    cols = {c["name"]: c for c in meta["columns"]}
    assert cols["id"]["min"] == 0 and cols["id"]["max"] == rows - 1
    n = sum(
        b.num_rows
        for b in tabular.batches(
            str(path), "csv", column_types=meta["column_types"], block_size=4096
        )
    )
    assert n == rows


def test_parquet_and_json_lines_are_read_in_batches(lab, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "d").mkdir()
    table = pa.table({"id": list(range(1000)), "name": [f"n{i}" for i in range(1000)]})
    pq.write_table(table, tmp_path / "d" / "t.parquet", row_group_size=100)
    write(
        tmp_path / "d" / "t.jsonl",
        "\n".join(json.dumps({"id": i, "ok": i % 2 == 0}) for i in range(50)) + "\n",
    )
    res = add(lab, tmp_path / "d", name="ds")
    metas = {f.path: f.tabular for f in version_files(lab, res.version)}
    assert metas["t.parquet"]["rows"] == 1000 and metas["t.jsonl"]["rows"] == 50
    assert {c["name"]: c["type"] for c in metas["t.jsonl"]["columns"]} == {
        "id": "int64",
        "ok": "bool",
    }
