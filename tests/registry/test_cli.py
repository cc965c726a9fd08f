"""``rig models`` end to end on a real lab: tables, JSON, exit codes, errors with hints."""

from __future__ import annotations

import json

import pytest

from rigml.gates import evaluate_gates, store_gate_report


@pytest.fixture
def two(lab, make_version):
    """churn@1 (auc 0.9) in production, churn@2 (auc 0.85) with a failing stored gate."""
    make_version(0.9)
    v2 = make_version(0.85)
    store_gate_report(lab, evaluate_gates(lab, v2.run_id, ["metrics.auc >= 0.88"]))
    return ["--lab", str(lab.path)]


def test_list_show_and_json(rig, two) -> None:
    out = rig(*two, "models", "list")
    assert out.exit_code == 0, out.stderr
    assert "churn" in out.stdout
    shown = rig(*two, "models", "show", "churn")
    assert shown.exit_code == 0 and "sklearn" in shown.stdout
    one = rig(*two, "models", "show", "churn@1")
    assert "churn@1" in one.stdout and "signature" in one.stdout
    data = json.loads(rig(*two, "models", "show", "churn@2", "--json").stdout)
    assert data["version"] == 2 and any(f["path"] == "rigmodel.json" for f in data["files"])
    assert [m["name"] for m in json.loads(rig(*two, "models", "list", "--json").stdout)] == [
        "churn"
    ]


def test_promote_blocked_prints_the_gate_table_and_exits_1(rig, two) -> None:
    assert rig(*two, "models", "promote", "churn", "1", "--to", "production").exit_code == 0
    blocked = rig(*two, "models", "promote", "churn", "2", "--to", "production")
    assert blocked.exit_code == 1
    assert "cannot move to production" in blocked.err and "metrics.auc >= 0.88" in blocked.err
    assert "--force" in blocked.err
    forced = rig(*two, "models", "promote", "churn", "2", "--to", "production", "--force")
    assert forced.exit_code == 2 and "needs a reason" in forced.err
    ok = rig(*two, "models", "promote", "churn", "2", "--to", "production", "--force",
             "--reason", "hotfix")  # fmt: skip
    assert ok.exit_code == 0 and "force" in ok.stdout
    back = rig(*two, "models", "rollback", "churn", "--reason", "latency")
    assert back.exit_code == 0 and "v2 -> v1" in back.stdout
    history = json.loads(rig(*two, "models", "history", "churn", "--json").stdout)
    assert [m["action"] for m in history] == ["promote", "force", "rollback"]
    audit = json.loads(rig(*two, "audit", "log", "--action", "alias.", "--json").stdout)
    assert [e["action"] for e in audit] == ["alias.rollback", "alias.force", "alias.promote"]


def test_promote_with_rules_from_the_command_line(rig, two) -> None:
    passed = rig(*two, "models", "promote", "churn", "1", "--to", "staging",
                 "--rule", "metrics.auc >= 0.85")  # fmt: skip
    assert passed.exit_code == 0 and "staging: nobody -> v1" in passed.stdout
    missing = rig(*two, "models", "promote", "churn", "1", "--to", "production",
                  "--rule", "metrics.f1 >= 0.5")  # fmt: skip
    assert missing.exit_code == 2 and "no metric 'f1'" in missing.err


def test_register_download_and_lineage(rig, two, lab, tmp_path) -> None:
    from rigml.registry import get_version

    run = get_version(lab, "churn@1").run_id
    reg = rig(*two, "models", "register", run, "--artifact", "models/churn", "--name", "copy")
    assert reg.exit_code == 0 and "copy@1" in reg.stdout
    down = rig(*two, "models", "download", "copy@1", "-o", str(tmp_path / "pkg"))
    assert down.exit_code == 0 and (tmp_path / "pkg" / "rigmodel.json").is_file()
    rig(*two, "models", "promote", "churn", "1", "--to", "production")
    png = tmp_path / "lineage.png"
    lin = rig(*two, "models", "lineage", "churn@production", "--png", str(png))
    assert lin.exit_code == 0 and "moved" in lin.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mermaid = rig(*two, "models", "lineage", "churn@production", "--mermaid", "-")
    assert mermaid.stdout.startswith("flowchart LR")
    data = json.loads(rig(*two, "models", "lineage", "churn@1", "--json").stdout)
    assert data["version"]["ref"] == "churn@1" and data["run"]["id"] == run


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("models", "show", "chrun"), 1, "did you mean churn"),
        (("models", "show", "churn@9"), 1, "versions 1 to 2"),
        (("models", "show", "churn@@"), 2, "more than one '@'"),
        (("models", "promote", "churn", "1", "--to", "v2"), 2, "reads as a version"),
        (("models", "rollback", "churn"), 1, "no version holds it"),
        (("models", "lineage", "churn@production"), 1, "no version holds alias"),
        (("models", "register", "nope", "--artifact", "m", "--name", "x"), 1, "nope"),
    ],
)
def test_bad_input_is_a_clear_error(rig, two, args, code, words) -> None:
    result = rig(*two, *args)
    assert result.exit_code == code, result.stderr
    assert words in result.err
    assert "Traceback" not in result.stderr


def test_audit_log_filters_by_model(rig, two, make_version) -> None:
    make_version(name="other")
    rig(*two, "models", "promote", "churn", "1", "--to", "staging")
    found = json.loads(rig(*two, "audit", "log", "--model", "churn", "--json").stdout)
    assert [e["action"] for e in found] == [
        "alias.promote", "model.register", "model.register", "model.create"
    ]  # fmt: skip
    assert all(e["subject"].startswith("churn") for e in found)
