"""Generated CI workflows parse, hold the steps in order, and never overwrite by accident."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rigml.errors import Conflict, OutputNotWritable
from rigml.pipeline.ci_workflows import (
    DEFAULT_PATHS,
    PROVIDERS,
    WorkflowExists,
    WorkflowOptions,
    github_workflow,
    gitlab_pipeline,
    render_workflow,
    workflow_steps,
    write_workflow,
)

TRAIN_ORDER = ["install", "preflight", "run", "env", "gates", "register", "promote"]


def _first_command(run: str) -> str:
    """The first ``rig``/``python`` command of a step, past ``. ./rig-candidate.env``."""
    return next(ln for ln in run.splitlines() if not ln.startswith(". "))


def _on(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as True; GitHub reads it as "on"
    return workflow.get("on", workflow.get(True))  # type: ignore[no-any-return]


def test_steps_are_the_same_for_both_providers_and_in_order() -> None:
    test, train = workflow_steps(WorkflowOptions(model="churn"))
    assert [s.key for s in test] == ["install", "test"]
    assert [s.key for s in train] == TRAIN_ORDER
    assert [s.key for s in train if s.default_branch_only] == ["register", "promote"]
    promote = train[-1].run
    assert 'rig models promote churn "$RIG_VERSION" --to staging' in promote


def test_github_workflow_has_the_structure_actions_expects() -> None:
    text = github_workflow(WorkflowOptions(python="3.10", branch="trunk"))
    workflow = yaml.safe_load(text)
    assert set(_on(workflow)) == {"push", "pull_request", "workflow_dispatch"}
    assert _on(workflow)["push"]["branches"] == ["trunk"]
    assert list(workflow["jobs"]) == ["test", "train"]
    assert workflow["jobs"]["train"]["needs"] == "test"
    for job in workflow["jobs"].values():
        assert isinstance(job["runs-on"], str) and job["steps"]
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), step  # each step runs or uses, not both
    test, train = (workflow["jobs"][j]["steps"] for j in ("test", "train"))
    assert test[1]["with"]["python-version"] == "3.10"  # a string: 3.10 is not 3.1
    names = [s["name"] for s in train if "run" in s]
    assert names == [s.name for s in workflow_steps(WorkflowOptions())[1]]
    commands = [_first_command(s["run"]) for s in train if "run" in s]
    assert commands[1:5] == [
        "rig preflight",
        "rig run",
        'rig env export "$RIG_RUN_ID" -o rig-requirements.txt',
        'rig gates check "$RIG_RUN_ID"',
    ]
    staged = [s for s in train if s.get("name") in ("Register the candidate", "Move it to staging")]
    assert [s["if"] for s in staged] == [
        "github.event_name == 'push' && github.ref == 'refs/heads/trunk'"
    ] * 2
    assert train[-1]["uses"].startswith("actions/upload-artifact@")
    assert "registers the run's model package" in text  # each registry step says what it does


def test_gitlab_pipeline_has_stages_jobs_and_a_default_branch_rule() -> None:
    pipeline = yaml.safe_load(gitlab_pipeline(WorkflowOptions(python="3.12")))
    assert pipeline["stages"] == ["test", "train", "stage"]
    assert pipeline["default"]["image"] == "python:3.12-slim"
    jobs = {k: v for k, v in pipeline.items() if isinstance(v, dict) and "script" in v}
    assert list(jobs) == ["test", "train", "stage"]
    assert [jobs[j]["stage"] for j in jobs] == ["test", "train", "stage"]
    train = [_first_command(s) for s in jobs["train"]["script"]]
    assert train[1:] == [
        "rig preflight",
        "rig run",
        'rig env export "$RIG_RUN_ID" -o rig-requirements.txt',
        'rig gates check "$RIG_RUN_ID"',
    ]
    assert "rig-candidate.env" in jobs["train"]["artifacts"]["paths"]
    stage = [_first_command(s) for s in jobs["stage"]["script"]]
    assert stage[1].startswith('rig models register "$RIG_RUN_ID" --artifact model --name model')
    assert stage[2] == 'rig models promote model "$RIG_VERSION" --to staging'
    assert jobs["stage"]["needs"] == ["train"]
    assert jobs["stage"]["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_write_makes_the_default_place_and_refuses_to_overwrite(provider, tmp_path: Path) -> None:
    dest = write_workflow(provider)  # the test runs in tmp_path
    assert dest == Path(DEFAULT_PATHS[provider]) and dest.is_file()
    assert dest.read_text() == render_workflow(provider)

    dest.write_text("# mine\n")
    with pytest.raises(WorkflowExists, match="exists already") as caught:
        write_workflow(provider)
    assert isinstance(caught.value, Conflict) and "--force" in (caught.value.hint or "")
    assert dest.read_text() == "# mine\n"
    write_workflow(provider, force=True)
    assert dest.read_text() == render_workflow(provider)


def test_a_chosen_path_needs_its_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputNotWritable, match="does not exist"):
        write_workflow("github", tmp_path / "missing" / "ci.yml")
    assert write_workflow("gitlab", tmp_path / "ci.yml") == tmp_path / "ci.yml"


def test_an_unknown_provider_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown CI provider 'jenkins'"):
        render_workflow("jenkins")  # type: ignore[arg-type]
