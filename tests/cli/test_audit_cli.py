"""``rig audit log``, ``verify`` and ``checkpoint`` on a real lab: tables, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from rigml.audit import record_now


@pytest.fixture
def logged(lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RIG_AUDIT_KEY", str(tmp_path / "keys" / "audit.key"))
    record_now(lab, action="dataset.tag", subject="ds@golden", after="ds@1", actor="ann")
    record_now(lab, action="run.delete", subject="r1", before={"name": "r"}, reason="junk")
    record_now(lab, action="dataset.version.add", subject="ds@2", after={"files": 1})
    return lab


def test_log_filters_and_prints_json(rig, logged) -> None:
    lab = ["--lab", str(logged.path)]
    result = rig(*lab, "audit", "log")
    assert result.exit_code == 0, result.stderr
    assert "run.delete" in result.stdout and "junk" in result.stdout
    data = json.loads(rig(*lab, "audit", "log", "--action", "dataset.", "--json").stdout)
    assert [e["seq"] for e in data] == [3, 1]
    assert [
        e["seq"] for e in json.loads(rig(*lab, "audit", "log", "--user", "ann", "--json").stdout)
    ] == [1]
    assert len(json.loads(rig(*lab, "audit", "log", "-n", "1", "--json").stdout)) == 1
    assert json.loads(rig(*lab, "audit", "log", "--subject", "r1", "--json").stdout)[0]["seq"] == 2
    assert len(json.loads(rig(*lab, "audit", "log", "--since", "1h", "--json").stdout)) == 3
    assert json.loads(rig(*lab, "audit", "log", "--since", "2999-01-01", "--json").stdout) == []


def test_a_bad_since_is_exit_2(rig, logged) -> None:
    result = rig("--lab", str(logged.path), "audit", "log", "--since", "soon")
    assert result.exit_code == 2 and "--since" in result.err


def test_verify_ok_then_tampered(rig, logged) -> None:
    lab = ["--lab", str(logged.path)]
    result = rig(*lab, "audit", "verify")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("3 entries, root ")
    with logged.store.write() as conn:
        conn.execute(text("UPDATE audit_log SET reason = NULL WHERE seq = 2"))
    result = rig(*lab, "audit", "verify")
    assert result.exit_code == 1 and "audit entry 2" in result.err and "hint" in result.err
    data = json.loads(rig(*lab, "audit", "verify", "--json").stdout)
    assert (data["ok"], data["bad_seq"], data["problem"]) == (False, 2, "edited")


def test_checkpoint_to_a_file_then_verify_against_it(rig, logged, tmp_path: Path) -> None:
    lab = ["--lab", str(logged.path)]
    out = tmp_path / "cp.json"
    result = rig(*lab, "audit", "checkpoint", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["size"] == 3
    record_now(logged, action="x", subject="y")
    result = rig(*lab, "audit", "verify", "--checkpoint", str(out), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["checkpoint_size"] == 3
    forged = json.loads(out.read_text()) | {"size": 2}
    out.write_text(json.dumps(forged))
    result = rig(*lab, "audit", "verify", "--checkpoint", str(out))
    assert result.exit_code == 1 and "signature" in result.err


def test_checkpoint_prints_and_takes_a_key(rig, logged, tmp_path: Path) -> None:
    key = tmp_path / "elsewhere.key"
    result = rig("--lab", str(logged.path), "audit", "checkpoint", "--key", str(key))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["size"] == 3 and key.exists()


def test_checkpoint_to_an_unwritable_place_is_a_clean_error(rig, logged, tmp_path: Path) -> None:
    result = rig(
        "--lab", str(logged.path), "audit", "checkpoint", "-o", str(tmp_path / "no" / "cp")
    )
    assert result.exit_code not in (0, 70) and "Traceback" not in result.stderr
