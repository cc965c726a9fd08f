"""``rig gates check`` and ``rig gates show`` on a real lab: tables, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


@pytest.fixture
def runs(lab) -> dict[str, str]:
    ids = {}
    for name, metrics in {
        "cand": {"auc": 0.9, "loss": 0.2, "slice/segment/a/auc": 0.88},
        "prod": {"auc": 0.92, "loss": 0.25},
    }.items():
        with start_run(lab, name=name, **QUIET) as run:
            run.log(metrics)
        ids[name] = run.id
    return ids


def test_check_passes_prints_a_table_and_stores_the_report(rig, lab, runs) -> None:
    result = rig(
        "--lab", str(lab.path), "gates", "check", "cand",
        "--rule", "metrics.auc >= 0.85",
        "--rule", "slices(metrics.auc, by=segment) >= overall - 0.05",
        "--rule", "metrics.auc >= production - 0.01",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    for needle in ("rule", "candidate", "reference", "threshold", "verdict", "no-reference"):
        assert needle in result.stdout
    assert "passed: 2 pass, 1 no-reference; stored as report 1" in result.stdout
    shown = rig("--lab", str(lab.path), "gates", "show", "cand", "--json")
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["passed"] is True and data["id"] == 1 and data["run_id"] == runs["cand"]
    assert [r["verdict"] for r in data["results"]] == ["pass", "pass", "no-reference"]


def test_check_against_a_run_fails_with_exit_1(rig, lab, runs) -> None:
    result = rig(
        "--lab", str(lab.path), "gates", "check", runs["cand"][:8],
        "--rule", "metrics.auc >= production - 0.01", "--against", "prod", "--json",
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["passed"] is False and data["reference_id"] == runs["prod"]
    (res,) = data["results"]
    assert res["verdict"] == "fail" and res["reference"] == 0.92
    assert res["threshold"] == pytest.approx(0.91)
    shown = rig("--lab", str(lab.path), "gates", "show", "cand")
    assert shown.exit_code == 1 and "FAILED: 1 fail" in shown.stdout


def test_require_reference_and_no_store(rig, lab, runs) -> None:
    result = rig(
        "--lab", str(lab.path), "gates", "check", "cand", "--no-store",
        "--rule", "metrics.auc >= production", "--require-reference",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "a reference is required" in result.stdout and "stored as" not in result.stdout
    shown = rig("--lab", str(lab.path), "gates", "show", "cand")
    assert shown.exit_code == 1 and "has no stored gate report" in shown.err


def test_rules_from_a_file(rig, lab, runs, tmp_path: Path) -> None:
    rules = tmp_path / "rig.yaml"
    rules.write_text("gates:\n  - metrics.loss < 0.3\n  - {metric: auc, op: '>=', value: 0.95}\n")
    result = rig("--lab", str(lab.path), "gates", "check", "cand", "--file", str(rules))
    assert result.exit_code == 1
    assert "FAILED: 1 pass, 1 fail" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [
        (["--rule", "metrics.acu >= 0.8"], 2, ["no metric 'acu'", "did you mean auc"]),
        (["--rule", "metrics.auc >= "], 2, ["--rule[0]: ", "nothing after the comparison"]),
        ([], 2, ["no rules given", "--rule RULE"]),
        (["--rule", "metrics.auc >= 1", "--against", "nobody"], 1, ["no run named 'nobody'"]),
    ],
)
def test_errors_are_clean(rig, lab, runs, args, code, needles) -> None:
    result = rig("--lab", str(lab.path), "gates", "check", "cand", *args)
    assert result.exit_code == code, result.stderr
    assert all(n in result.err for n in needles), result.err
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    shown = rig("--lab", str(lab.path), "gates", "show", "cand")
    assert shown.exit_code == 1 and "no stored gate report" in shown.err  # nothing stored


def test_unknown_run(rig, lab) -> None:
    for args in (["check", "ghost", "--rule", "metrics.a > 1"], ["show", "ghost"]):
        result = rig("--lab", str(lab.path), "gates", *args)
        assert result.exit_code == 1 and "no run named 'ghost'" in result.err
