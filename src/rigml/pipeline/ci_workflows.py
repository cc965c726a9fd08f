"""CI workflows that test a project, run its pipeline, gate the candidate and stage it.

``rig ci init github|gitlab`` writes one of these into a project. Both providers get the same
steps in the same order (:func:`workflow_steps`): install the project, run its tests, then
in a second job ``rig preflight``, ``rig run``, export the run's environment, check the
gates, and, on the default branch only, register the candidate and move it to ``staging``.
The workflow is a template a user edits: the steps are plain shell, each under a comment
saying what it is for.

The text is written by hand rather than through a YAML library so that it keeps those
comments; the tests parse it back with ``yaml.safe_load``.

Errors, beneath the tree in :mod:`rigml.errors`::

    Conflict
    └── WorkflowExists      the workflow file is there already (give --force)
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rigml.errors import Conflict

__all__ = [
    "DEFAULT_PATHS",
    "PROVIDERS",
    "Provider",
    "Step",
    "WorkflowExists",
    "WorkflowOptions",
    "github_workflow",
    "gitlab_pipeline",
    "render_workflow",
    "workflow_steps",
    "write_workflow",
]

Provider = Literal["github", "gitlab"]
PROVIDERS: tuple[Provider, ...] = ("github", "gitlab")
DEFAULT_PATHS: dict[Provider, str] = {
    "github": ".github/workflows/rig.yml",
    "gitlab": ".gitlab-ci.yml",
}

_RUN_ID = (
    "rig runs list -n 1 --json"
    " | python -c \"import json, sys; print(json.load(sys.stdin)[0]['id'])\""
)
_REGISTER = "registers the run's model package (artifact --artifact) as the next version"
_PROMOTE = "moves staging onto it once the gates stored with the run pass against the holder"


class WorkflowExists(Conflict):
    """A workflow file is already where ``rig ci init`` would write one."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} exists already; not overwriting it",
            hint="give --force to replace it, or -o PATH to write elsewhere",
        )
        self.path = path


@dataclass(frozen=True)
class WorkflowOptions:
    """What a generated workflow is parameterised by."""

    python: str = "3.11"
    model: str = "model"
    branch: str = "main"
    artifact: str = "model"  # the run's artifact holding the model package (a stage's out)


@dataclass(frozen=True)
class Step:
    """One shell step: ``key`` is stable (tests, GitLab job ids), ``name`` is shown in the UI."""

    key: str
    name: str
    run: str
    comment: str
    default_branch_only: bool = False


def workflow_steps(options: WorkflowOptions) -> tuple[list[Step], list[Step]]:
    """The steps of the ``test`` job and of the ``train`` job, in order."""
    install = Step(
        "install",
        "Install the project",
        "python -m pip install --upgrade pip\npython -m pip install -e . pytest",
        "installs the project and rigml (list rigml in your dependencies)",
    )
    test = Step("test", "Run the tests", "python -m pytest -q", "the project's own tests")
    train = [
        install,
        Step(
            "preflight",
            "Preflight",
            "rig preflight",
            "checks the machine, data and config before spending compute",
        ),
        Step(
            "run",
            "Run the pipeline",
            f'rig run\necho "RIG_RUN_ID=$({_RUN_ID})" >> rig-candidate.env',
            "runs rig.yaml; the candidate is the newest run",
        ),
        Step(
            "env",
            "Export the run's environment",
            '. ./rig-candidate.env\nrig env export "$RIG_RUN_ID" -o rig-requirements.txt',
            "pinned requirements that rebuild the candidate's environment",
        ),
        Step(
            "gates",
            "Check the gates",
            '. ./rig-candidate.env\nrig gates check "$RIG_RUN_ID"',
            "fails the job when the candidate misses a gate in rig.yaml",
        ),
        *_staging_steps(options),
    ]
    return [install, test], train


def _staging_steps(options: WorkflowOptions) -> list[Step]:
    model, artifact = shlex.quote(options.model), shlex.quote(options.artifact)
    register = (
        ". ./rig-candidate.env\n"
        f'rig models register "$RIG_RUN_ID" --artifact {artifact} --name {model} --json'
        " > rig-version.json\n"
        "python -c \"import json; print('RIG_VERSION=%s' % json.load(open('rig-version.json'))"
        "['version'])\" >> rig-candidate.env"
    )
    promote = f'. ./rig-candidate.env\nrig models promote {model} "$RIG_VERSION" --to staging'
    return [
        Step("register", "Register the candidate", register, _REGISTER, default_branch_only=True),
        Step("promote", "Move it to staging", promote, _PROMOTE, default_branch_only=True),
    ]


# --------------------------------------------------------------------------- rendering


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _block(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{line}" for line in text.splitlines()]


def _header(provider: str) -> list[str]:
    return [
        f"# Written by `rig ci init {provider}`: test the project, run its rig pipeline, check",
        "# the gates and, on the default branch, register the candidate and stage it.",
        "# RIG_LAB: point it at your shared lab (RIG_LAB=http://...) so that runs and models",
        "# outlive the CI job; by default the lab is a .rig/ folder kept as an artifact.",
    ]


def _github_step(step: Step, branch: str) -> list[str]:
    lines = [f"      # {step.comment}", f"      - name: {_q(step.name)}"]
    if step.default_branch_only:
        lines.append(
            f"        if: github.event_name == 'push' && github.ref == 'refs/heads/{branch}'"
        )
    return [*lines, "        run: |", *_block(step.run, 10)]


def _github_setup(python: str) -> list[str]:
    return [
        "      - uses: actions/checkout@v4",
        "      - uses: actions/setup-python@v5",
        "        with:",
        f"          python-version: {_q(python)}",
        "          cache: pip",
    ]


def github_workflow(options: WorkflowOptions | None = None) -> str:
    """``.github/workflows/rig.yml``: a ``test`` job, then ``train`` (which needs it)."""
    o = options or WorkflowOptions()
    test, train = workflow_steps(o)
    lines = [*_header("github"), "name: rig", "", "on:", "  push:"]
    lines += [f"    branches: [{_q(o.branch)}]", "  pull_request:", "  workflow_dispatch:", ""]
    lines += ["permissions:", "  contents: read", "", "env:", "  RIG_LAB: .rig", "", "jobs:"]
    lines += ["  test:", "    runs-on: ubuntu-latest", "    steps:", *_github_setup(o.python)]
    for step in test:
        lines += _github_step(step, o.branch)
    lines += ["", "  train:", "    needs: test", "    # a GPU: runs-on: [self-hosted, gpu]"]
    lines += ["    runs-on: ubuntu-latest", "    steps:", *_github_setup(o.python)]
    for step in train:
        lines += _github_step(step, o.branch)
    lines += [
        "      # the run's lab, requirements and ids, kept with the workflow run",
        "      - uses: actions/upload-artifact@v4",
        "        if: always()",
        "        with:",
        "          name: rig-lab",
        "          include-hidden-files: true",
        "          path: |",
        *_block(".rig/\nrig-candidate.env\nrig-requirements.txt", 12),
    ]
    return "\n".join(lines) + "\n"


def _gitlab_job(name: str, stage: str, steps: list[Step]) -> list[str]:
    lines = [f"{name}:", f"  stage: {stage}", "  script:"]
    for step in steps:
        lines.append(f"    # {step.name}: {step.comment}")
        lines.append("    - |")
        lines += _block(step.run, 6)
    return lines


def gitlab_pipeline(options: WorkflowOptions | None = None) -> str:
    """``.gitlab-ci.yml``: ``test``, ``train`` and, on the default branch, ``stage`` jobs.

    ``train`` hands the lab and the candidate's ids to ``stage`` as artifacts.
    """
    o = options or WorkflowOptions()
    test, train = workflow_steps(o)
    gated = [s for s in train if not s.default_branch_only]
    staging = [s for s in train if s.default_branch_only]
    lines = [*_header("gitlab"), "stages: [test, train, stage]", "", "default:"]
    lines += [f"  image: python:{o.python}-slim", "", "variables:", "  RIG_LAB: .rig"]
    lines += ['  PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"', "", "cache:", "  paths:"]
    lines += ["    - .cache/pip", ""]
    lines += [*_gitlab_job("test", "test", test), ""]
    lines += _gitlab_job("train", "train", gated)
    lines += ["  artifacts:", "    when: always", "    paths:"]
    lines += ["      - .rig/", "      - rig-candidate.env", "      - rig-requirements.txt", ""]
    lines += _gitlab_job("stage", "stage", [train[0], *staging])
    lines += ["  needs: [train]", "  rules:", "    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"]
    return "\n".join(lines) + "\n"


def render_workflow(provider: Provider, options: WorkflowOptions | None = None) -> str:
    """The workflow text for ``provider``."""
    if provider == "github":
        return github_workflow(options)
    if provider == "gitlab":
        return gitlab_pipeline(options)
    raise ValueError(f"unknown CI provider {provider!r}; choose one of {', '.join(PROVIDERS)}")


def write_workflow(
    provider: Provider,
    path: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    options: WorkflowOptions | None = None,
) -> Path:
    """Write the workflow to ``path`` (default: the provider's place, folders made).

    Raises:
        WorkflowExists: ``path`` exists and ``force`` is false.
        OutputNotWritable: it cannot be written there.
    """
    from rigml._output import write_output

    text = render_workflow(provider, options)
    dest = Path(path if path is not None else DEFAULT_PATHS[provider]).expanduser()
    if dest.exists() and not force:
        raise WorkflowExists(str(dest))
    return write_output(dest, text, parents=path is None)
