"""A stage's ``gates:`` in rig run: read with rig.yaml, judged on the stage's run, stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CliResult, run_rig
from rigml.errors import GateMetricMissing, InvalidPipeline, StageGatesFailed
from rigml.gates import latest_gate_report
from rigml.pipeline import load_pipeline, pipeline_status, run_pipeline
from rigml.track.queries import get_run
from rigml.track.runs import start_run

from .conftest import PY, Project

# writes metrics.json: {"auc": params.auc, "slice/region/eu/auc": auc - 0.05}
SCORE = """
import json, yaml
auc = yaml.safe_load(open("params.yaml"))["auc"]
json.dump({"auc": auc, "slice/region/eu/auc": auc - 0.05}, open("metrics.json", "w"))
print("auc", auc)
"""


def _gated(project: Project, auc: float, gates: str = '["metrics.auc >= 0.7"]') -> None:
    project.write("params.yaml", f"auc: {auc}\n")
    project.write("score.py", SCORE)
    project.pipeline(
        f"""
        stages:
          evaluate:
            cmd: {PY} score.py
            deps: [score.py]
            params: [auc]
            metrics: [metrics.json]
            gates: {gates}
          publish:
            cmd: {PY} w.py published.txt ok
            deps: [metrics.json]
            outs: [published.txt]
        """
    )


def _reports(project: Project, run_id: str) -> int:
    from sqlalchemy import func, select

    from rigml.store.schema import gate_reports

    query = select(func.count()).where(gate_reports.c.run_id == run_id)
    with project.lab.store.read() as conn:
        return int(conn.execute(query).scalar_one())


def test_passing_gates_are_stored_with_the_stage_run(project: Project) -> None:
    _gated(project, 0.8)
    report = run_pipeline(project.lab, load_pipeline(project.root))
    evaluate, publish = report.stages
    assert evaluate.action == "ran" and publish.action == "ran"
    assert evaluate.gates is not None and evaluate.gates.passed
    assert evaluate.run_id is not None and evaluate.gates.run_id == evaluate.run_id
    stored = latest_gate_report(project.lab, evaluate.run_id)
    assert stored is not None and stored.passed and stored.rules == ["metrics.auc >= 0.7"]
    assert get_run(project.lab, evaluate.run_id).tags["rig.gates"] == "passed"
    assert publish.gates is None  # no gates: nothing judged
    assert report.to_dict()["stages"][0]["gates"]["passed"] is True


def test_a_failing_gate_fails_the_run_and_stops_dependants(project: Project) -> None:
    _gated(project, 0.6)
    pipeline = load_pipeline(project.root)
    with pytest.raises(StageGatesFailed) as caught:
        run_pipeline(project.lab, pipeline)
    error = caught.value
    assert error.stage == "evaluate" and error.exit_code == 1
    assert "metrics.auc >= 0.7" in error.message and "fail" in error.message
    assert "0.6" in error.message  # the candidate's value is in the table
    results = {s.name: s for s in error.run_report.stages}  # type: ignore[attr-defined]
    assert results["evaluate"].action == "ran"
    assert results["publish"].action == "not run"
    assert results["publish"].reasons == ("upstream stage evaluate failed its gates",)
    assert not (project.root / "published.txt").exists()
    run_id = error.report.run_id  # type: ignore[attr-defined]
    assert get_run(project.lab, run_id).tags["rig.gates"] == "failed"
    # the stage's cache entry is valid: it is up to date, yet its gates still fail
    assert next(s.state for s in pipeline_status(project.lab, pipeline)) == "up to date"
    with pytest.raises(StageGatesFailed) as again:
        run_pipeline(project.lab, pipeline)
    rerun = {s.name: s for s in again.value.run_report.stages}  # type: ignore[attr-defined]
    assert rerun["evaluate"].action == "up to date"
    assert rerun["publish"].action == "not run"
    assert _reports(project, run_id) == 1  # the same verdicts: no second report stored
    # a better param reruns the stage; its new run passes and publish runs
    project.write("params.yaml", "auc: 0.9\n")
    fixed = run_pipeline(project.lab, pipeline)
    assert [s.action for s in fixed.stages] == ["ran", "ran"]


def test_changed_gates_are_judged_again_without_rerunning(project: Project) -> None:
    _gated(project, 0.75)
    run_pipeline(project.lab, load_pipeline(project.root))
    _gated(project, 0.75, '["metrics.auc >= 0.8"]')
    with pytest.raises(StageGatesFailed) as caught:
        run_pipeline(project.lab, load_pipeline(project.root))
    stages = caught.value.run_report.stages  # type: ignore[attr-defined]
    assert stages[0].action == "up to date"
    assert stages[0].gates.rules == ["metrics.auc >= 0.8"]


@pytest.mark.parametrize(
    ("gates", "where"),
    [
        ('["metrics.auc >> 0.7"]', "rig.yaml:8: stages.evaluate.gates[0]: "),
        (
            '[{metric: auc, op: "=>", value: 0.7}]',
            "rig.yaml:8: stages.evaluate.gates[0].op: ",
        ),
        ("metrics.auc >= 0.7", "rig.yaml:8: stages.evaluate.gates: expected a list"),
    ],
)
def test_a_bad_rule_fails_when_rig_yaml_is_read(project: Project, gates: str, where: str) -> None:
    _gated(project, 0.8, gates)
    with pytest.raises(InvalidPipeline) as caught:
        load_pipeline(project.root)
    assert str(caught.value.message).startswith(where), caught.value.message
    assert not (project.root / "metrics.json").exists()


def test_a_gate_metric_the_run_lacks_is_an_error(project: Project) -> None:
    _gated(project, 0.8, '["metrics.acc >= 0.7"]')
    with pytest.raises(GateMetricMissing) as caught:
        run_pipeline(project.lab, load_pipeline(project.root))
    assert "no metric 'acc'" in caught.value.message


def test_regression_rules_against_tagged_and_given_runs(project: Project) -> None:
    rules = '["metrics.auc >= production - 0.01", "slices(metrics.auc) >= overall - 0.1"]'
    _gated(project, 0.8, rules)
    pipeline = load_pipeline(project.root)
    first = run_pipeline(project.lab, pipeline).stages[0].gates
    assert first is not None and first.passed
    assert [r.verdict for r in first.results] == ["no-reference", "pass"]
    with start_run(project.lab, experiment="old", name="prod-model") as old:
        old.log({"auc": 0.9})
        old.set_tags({"rig.alias": "production"})
    with pytest.raises(StageGatesFailed) as caught:  # the tagged run holds `production`
        run_pipeline(project.lab, pipeline)
    result = caught.value.report.results[0]  # type: ignore[attr-defined]
    assert (result.verdict, result.reference, result.reference_id) == ("fail", 0.9, old.id)
    with start_run(project.lab, experiment="old", name="weaker") as weak:
        weak.log({"auc": 0.75})
    against = run_pipeline(project.lab, pipeline, gates_against=weak.id).stages[0].gates
    assert against is not None and against.passed
    assert against.results[0].reference == 0.75


def _cli(project: Project, *args: str) -> CliResult:
    return run_rig("--lab", str(project.lab.path), *args, "--file", str(project.root / "rig.yaml"))


def test_cli_shows_gates_and_exits_1_with_the_table(project: Project) -> None:
    _gated(project, 0.6)
    project.lab.close()
    dry = _cli(project, "run", "--dry")
    assert dry.exit_code == 0, dry.stderr
    assert "evaluate: will run — never run [gates: metrics.auc >= 0.7]" in dry.stdout
    status = json.loads(_cli(project, "status", "--json").stdout)["stages"]
    assert [s["gates"] for s in status] == [["metrics.auc >= 0.7"], []]
    failed = _cli(project, "run")
    assert failed.exit_code == 1, failed.stderr
    assert "evaluate: gates FAILED (1 fail; report 1)" in failed.stdout
    assert "stage 'evaluate'" in failed.err and "fails its gates" in failed.err
    assert "candidate" in failed.err and "reference" in failed.err and "verdict" in failed.err
    summary = json.loads(_cli(project, "run", "--json").stdout)
    assert summary["stages"][0]["gates"]["passed"] is False
    assert summary["stages"][1]["action"] == "not run"
    missing = _cli(project, "run", "--gates-against", "nosuchrun")
    assert missing.exit_code != 0 and "nosuchrun" in missing.err


def test_cli_errors_of_gates_exit_2_cleanly(project: Project) -> None:
    _gated(project, 0.6, '["metrics.acc >= 0.7"]')
    project.lab.close()
    missing = _cli(project, "run")
    assert missing.exit_code == 2, missing.stderr
    assert "gate 'metrics.acc >= 0.7': run evaluate has no metric 'acc'" in missing.err
    assert "did you mean" in missing.err
    _gated(project, 0.6, '["metrics.auc >> 0.7"]')
    bad = _cli(project, "status")
    assert bad.exit_code == 2 and "rig.yaml:8: stages.evaluate.gates[0]" in bad.err
    assert "--gates-against" in " ".join(run_rig("run", "--help").stdout.split())


def test_a_deleted_stage_run_is_told_with_the_fix(project: Project) -> None:
    from rigml.errors import RunNotFound
    from rigml.track.delete import delete_runs

    _gated(project, 0.8)
    pipeline = load_pipeline(project.root)
    first = run_pipeline(project.lab, pipeline).stages[0]
    assert first.run_id is not None
    delete_runs(project.lab, [first.run_id])
    with pytest.raises(RunNotFound) as caught:
        run_pipeline(project.lab, pipeline)
    assert "rig run evaluate --force" in str(caught.value.hint)
    forced = run_pipeline(project.lab, pipeline, targets=["evaluate"], force=True)
    assert forced.stages[0].gates is not None and forced.stages[0].gates.passed


def test_empty_gates_mean_no_gates(project: Project) -> None:
    _gated(project, 0.1, "[]")
    report = run_pipeline(project.lab, load_pipeline(project.root))
    assert report.stages[0].gates is None


def test_stage_to_dict_lists_gates(project: Project) -> None:
    _gated(project, 0.8)
    stage = load_pipeline(project.root).stages["evaluate"]
    assert stage.to_dict()["gates"] == ["metrics.auc >= 0.7"]
    assert Path(project.root / "rig.yaml").is_file()


def test_a_stage_with_registry_compares_with_the_registered_holder(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sklearn.dummy import DummyClassifier

    from rigml.registry import promote

    monkeypatch.setenv("RIG_AUDIT_KEY", str(tmp_path / "audit.key"))
    _gated(project, 0.8, '["metrics.auc >= production - 0.01"]')
    text = (project.root / "rig.yaml").read_text()
    (project.root / "rig.yaml").write_text(
        text.replace("    gates:", "    registry: churn\n    gates:", 1)
    )
    with start_run(project.lab, experiment="old", name="prod-model") as old:
        old.log({"auc": 0.9})
        old.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), name="churn")
    promote(project.lab, "churn", 1, to="production")
    with start_run(project.lab, experiment="old", name="tagged") as tagged:
        tagged.log({"auc": 0.5})  # the tag stand-in is not read when a stage names its model
        tagged.set_tags({"rig.alias": "production"})
    with pytest.raises(StageGatesFailed) as caught:
        run_pipeline(project.lab, load_pipeline(project.root))
    result = caught.value.report.results[0]  # type: ignore[attr-defined]
    assert (result.verdict, result.reference, result.reference_id) == ("fail", 0.9, "churn@1")
