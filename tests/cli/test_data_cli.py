"""``rig data`` on a real lab: JSON output, exit codes, errors without tracebacks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from rigml.cli import main


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    t = time.time() - 10
    os.utime(path, (t, t))


@pytest.fixture
def data(lab, tmp_path: Path) -> tuple[tuple[str, ...], Path]:
    src = tmp_path / "src"
    rows = "\n".join(f"{i},{i % 5},{'ab'[i % 2]}" for i in range(200))
    _write(src / "train.csv", "id,x,cls\n" + rows + "\n")
    _write(src / "notes" / "readme.txt", "about the data\n")
    return ("--lab", str(lab.path)), src


def test_add_list_show_log_tag(capsys, data) -> None:
    base, src = data
    code, out, _ = rig(
        capsys, *base, "data", "add", str(src), "--name", "train", "-m", "v1", "--json"
    )
    assert code == 0
    res = json.loads(out)
    assert res["created"] and res["version"]["ref"] == "train@1" and res["files"] == 2
    code, out, _ = rig(capsys, *base, "data", "add", str(src), "--name", "train")
    assert code == 0 and "unchanged" in out and "train@1" in out
    _write(src / "notes" / "more.txt", "more\n")
    code, out, _ = rig(capsys, *base, "data", "add", str(src), "-n", "train")
    assert code == 0 and "train@2" in out and "+1 ~0 -0" in out
    code, out, _ = rig(capsys, *base, "data", "list", "--json")
    assert [(d["name"], d["latest"], d["versions"]) for d in json.loads(out)] == [("train", 2, 2)]
    assert rig(capsys, *base, "data", "tag", "train@1", "golden")[0] == 0
    code, out, _ = rig(capsys, *base, "data", "show", "train@golden", "--json")
    shown = json.loads(out)
    assert shown["version"] == 1 and shown["tags"] == ["golden"]
    table = next(f for f in shown["file_list"] if f["path"] == "train.csv")
    assert table["tabular"]["rows"] == 200
    code, out, _ = rig(capsys, *base, "data", "show", "train")
    assert code == 0 and "train.csv" in out and "id:int64" in out
    code, out, _ = rig(capsys, *base, "data", "log", "train", "--json")
    assert [v["version"] for v in json.loads(out)] == [2, 1]
    code, out, _ = rig(capsys, *base, "data", "log", "train")
    assert code == 0 and "v1" in out


def test_diff_checkout_verify_gc(capsys, data, tmp_path: Path) -> None:
    base, src = data
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    _write(src / "train.csv", "id,x,cls\n1,1,b\n2,2,a\n9,9,z\n")
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    code, out, _ = rig(capsys, *base, "data", "diff", "train@1", "train@2", "--json")
    d = json.loads(out)
    assert code == 0 and [c["path"] for c in d["changed"]] == ["train.csv"]
    table = d["changed"][0]["table"]
    assert (table["rows_removed"], table["rows_added"]) == (198, 1)
    code, out, _ = rig(capsys, *base, "data", "diff", "train@1", "train@latest")
    assert code == 0 and "changed" in out
    dest = tmp_path / "out"
    code, out, _ = rig(capsys, *base, "data", "checkout", "train@1", str(dest), "--json")
    assert code == 0 and json.loads(out)["files"] == 2
    assert (dest / "notes" / "readme.txt").read_text() == "about the data\n"
    code, _, err = rig(capsys, *base, "data", "checkout", "train@1", str(dest))
    assert code == 1 and "already exists" in err and "Traceback" not in err
    code, out, _ = rig(capsys, *base, "data", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"]
    code, out, _ = rig(capsys, *base, "data", "gc", "--dry-run", "--grace", "0")
    assert code == 0 and "nothing to collect" in out


def test_verify_exits_1_on_a_damaged_object(capsys, data, lab) -> None:
    base, src = data
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    digest = next(iter(lab.objects))
    path = lab.objects.location(digest)
    os.chmod(path, 0o644)
    Path(path).write_text("rot")
    code, out, _ = rig(capsys, *base, "data", "verify")
    assert code == 1 and "damaged" in out


def test_contract_infer_and_check(capsys, data, tmp_path: Path) -> None:
    base, src = data
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    contract = tmp_path / "contract.yaml"
    code, out, _ = rig(capsys, *base, "data", "contract", "infer", "train@1")
    assert code == 0 and "columns:" in out
    contract.write_text(out)
    code, out, _ = rig(capsys, *base, "data", "check", "train@1", "--contract", str(contract))
    assert code == 0 and "pass" in out
    contract.write_text("columns:\n  x:\n    type: int\n    max: 2\n")
    code, out, _ = rig(capsys, *base, "data", "check", "train@1", "-c", str(contract), "--json")
    report = json.loads(out)
    assert code == 1 and not report["passed"]
    (failure,) = report["failures"]
    assert failure["check"] == "x: range" and failure["failing_rows"] == 80
    assert failure["examples"][0] == {"value": 3, "file": "train.csv", "row": 4}
    code, out, _ = rig(capsys, *base, "data", "show", "train@1", "--json")
    assert [c["passed"] for c in json.loads(out)["checks"]] == [False, True]
    contract.write_text("columns:\n  x:\n    type: number\n")
    code, _, err = rig(capsys, *base, "data", "check", "train@1", "-c", str(contract))
    assert code == 2 and "columns.x.type" in err and "Traceback" not in err


def test_profile_writes_html(capsys, data, tmp_path: Path) -> None:
    base, src = data
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    page = tmp_path / "profile.html"
    code, out, _ = rig(capsys, *base, "data", "profile", "train", "--html", str(page))
    assert code == 0 and "200 rows" in out and page.read_text().count("<svg") == 3
    code, out, _ = rig(capsys, *base, "data", "profile", "train", "--json")
    assert json.loads(out)["columns"][0]["name"] == "id"


def test_errors_are_one_clear_line(capsys, data, tmp_path: Path) -> None:
    base, _src = data
    code, _, err = rig(capsys, *base, "data", "show", "nope@3")
    assert code == 1 and "no dataset named 'nope'" in err and "rig data list" in err
    _write(tmp_path / "bad" / "t.csv", "a,b\n1,2\n3\n")
    code, _, err = rig(capsys, *base, "data", "add", str(tmp_path / "bad"), "--name", "bad")
    assert code == 2 and "t.csv, line 3" in err and "Traceback" not in err
    code, _, err = rig(capsys, *base, "data", "add", str(tmp_path), "--name", "no@pe")
    assert code == 2 and "dataset names" in err


def test_gc_asks_then_deletes(capsys, data, lab, monkeypatch) -> None:
    import io

    base, src = data
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    stray = lab.objects.put_bytes(b"nobody references this")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = rig(capsys, *base, "data", "gc", "--grace", "0")
    assert code == 1 and "1 unreferenced objects" in out and "nothing deleted" in out
    assert lab.objects.exists(stray)
    code, _, err = rig(capsys, *base, "data", "gc", "--grace", "0", "--json")
    assert code == 2 and "--yes" in err and lab.objects.exists(stray)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, _ = rig(capsys, *base, "data", "gc", "--grace", "0")
    assert code == 0 and "removed 1 objects" in out and not lab.objects.exists(stray)
    stray = lab.objects.put_bytes(b"another stray")
    code, out, _ = rig(capsys, *base, "data", "gc", "--grace", "0", "-y")
    assert code == 0 and "1 unreferenced objects" in out and "removed 1 objects" in out
    stray = lab.objects.put_bytes(b"a third stray")
    code, out, _ = rig(capsys, *base, "data", "gc", "--grace", "0", "-y", "--json")
    got = json.loads(out)
    assert got["deleted"]["deleted"] == 1 and got["plan"]["objects"] == [stray]


def test_gc_grace_takes_a_duration(capsys, data, lab) -> None:
    base, src = data
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    lab.objects.put_bytes(b"young stray")
    old = lab.objects.put_bytes(b"two hours old")
    two_hours_ago = time.time() - 7200
    os.utime(lab.objects.location(old), (two_hours_ago, two_hours_ago))
    code, out, _ = rig(capsys, *base, "data", "gc", "--dry-run", "--grace", "30m")
    assert code == 0 and "1 unreferenced objects" in out and "1 younger than 30m00s kept" in out
    code, out, _ = rig(capsys, *base, "data", "gc", "--dry-run", "--grace", "3h", "--json")
    assert code == 0 and json.loads(out)["plan"]["young"] == 2
    code, out, _ = rig(capsys, *base, "data", "gc", "--dry-run", "--grace", "3600", "--json")
    assert code == 0 and json.loads(out)["plan"]["objects"] == [old]
    code, _, err = rig(capsys, *base, "data", "gc", "--dry-run", "--grace", "soon")
    assert code == 2 and "--grace" in err and "Traceback" not in err


def test_a_missing_contract_column_is_named_in_the_output(capsys, data, tmp_path: Path) -> None:
    base, src = data
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    contract = tmp_path / "c.yaml"
    contract.write_text("columns:\n  age:\n    type: int\n")
    code, out, _ = rig(capsys, *base, "data", "check", "train", "-c", str(contract))
    flat = " ".join(out.split())
    assert code == 1 and "'age' is missing" in flat and "id, x, cls" in flat


def test_a_lab_that_cannot_be_written_is_one_clear_line(capsys, data, lab) -> None:
    base, src = data
    cache = lab.path / "cache"
    if cache.is_dir():
        for child in cache.iterdir():
            child.unlink()
        cache.rmdir()
    cache.write_text("in the way")
    code, _, err = rig(capsys, *base, "data", "add", str(src), "--name", "train")
    assert code == 1 and "cannot write to the lab" in err and "Traceback" not in err
    assert "unable to open database file" not in err


@pytest.mark.parametrize("dest", ["/proc/rig-out", "FILE/out", "MISSING/out"])
def test_outputs_and_checkouts_in_unwritable_places(capsys, data, tmp_path: Path, dest) -> None:
    base, src = data
    rig(capsys, *base, "data", "add", str(src), "--name", "train")
    (tmp_path / "FILE").write_text("a file")
    where = dest if dest.startswith("/") else str(tmp_path / dest)
    for args in (
        ("profile", "train", "--html", where + ".html"),
        ("contract", "infer", "train", "--out", where + ".yaml"),
        ("checkout", "train", where),
    ):
        code, _, err = rig(capsys, *base, "data", *args)
        if args[0] == "checkout" and dest.startswith("MISSING"):
            assert code == 0  # a checkout makes the folders above its destination
            continue
        assert code == 1 and "cannot write" in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "MISSING" / "out.html").exists()
