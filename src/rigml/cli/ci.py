"""``rig ci``: write a CI workflow that tests, runs, gates and stages a project's model."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

app = typer.Typer(
    help=(
        "CI workflows: `rig ci init github|gitlab` writes one that tests the project, runs "
        "its pipeline, checks the gates and stages the candidate."
    ),
    no_args_is_help=True,
)


class ProviderChoice(StrEnum):
    """The CI services ``rig ci init`` writes for (mirrors ``ci_workflows.PROVIDERS``)."""

    github = "github"
    gitlab = "gitlab"


@app.command("init")
def init(
    provider: ProviderChoice = typer.Argument(..., help="github or gitlab."),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write here (default: .github/workflows/rig.yml or .gitlab-ci.yml).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing workflow file."),
    python: str = typer.Option(
        f"{sys.version_info.major}.{sys.version_info.minor}",
        "--python",
        help="Python version the jobs use (default: this interpreter's).",
    ),
    model: str = typer.Option("model", "--model", help="Model name to register the candidate as."),
    branch: str = typer.Option("main", "--branch", help="Branch whose pushes stage a candidate."),
    artifact: str = typer.Option(
        "model", "--artifact", help="The run's artifact holding the model package to register."
    ),
) -> None:
    """Write a CI workflow: install, test, preflight, run, gates, register, promote to staging.

    Registering and staging happen on pushes to the default branch only; pull requests stop
    after the gates. Refuses to overwrite an existing file unless --force is given.
    """
    from rigml.cli import _ui
    from rigml.pipeline.ci_workflows import WorkflowOptions, write_workflow

    options = WorkflowOptions(python=python, model=model, branch=branch, artifact=artifact)
    dest = write_workflow(provider.value, output, force=force, options=options)
    _ui.write(f"wrote {dest}: edit it to fit your project, then commit it", markup=False)
