"""``python.*`` checks: conflicting packages (``pip check``) and running in a virtual env."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from rigml.machine.doctor._context import DoctorContext
from rigml.machine.doctor._errors import FactUnavailable
from rigml.machine.doctor._registry import _check
from rigml.machine.doctor._results import Outcome


@_check("python.pip_check", "Conflicting Python packages")
def check_pip(ctx: DoctorContext) -> Outcome:
    """Whether the installed packages agree with each other (`python -m pip check`).

    Runs pip check in a subprocess with a {pip_check_timeout_s:g} s timeout in the Python
    running rig, and parses each line into the evidence.

    Why: a package installed with an incompatible dependency (a transformers that needs a
    newer tokenizers, a numpy 2 under a library built for numpy 1) fails at import time or,
    worse, deep into a run.

    Verdict: fail when a required package is missing; warn when versions conflict or a
    package does not support this platform; skip when pip is not installed (a uv-made
    environment: run `uv pip check`).

    Fix: install what is missing, or upgrade/downgrade the packages named in the evidence
    until `pip check` is clean, e.g. `pip install "tokenizers>=0.19,<0.20"`; pinning a
    lock file (`pip freeze > requirements.txt`, `uv lock`) keeps it that way.
    """
    result = ctx.get_pip_check()
    python = ctx.python_executable
    if result.error:
        reason = result.error
        if "not installed" in reason:
            reason += " (run `uv pip check` in a uv-made environment)"
        raise FactUnavailable(reason)
    problems = list(result.problems)
    evidence: dict[str, Any] = {"python": python, "problems": problems}
    if not problems:
        return Outcome("pass", "no broken requirements", evidence)
    missing = [p for p in problems if p["kind"] == "missing"]
    first = problems[0]["line"]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    if missing:
        names = sorted({p["requirement"].split()[0].split(";")[0] for p in missing})
        return Outcome(
            "fail",
            f"{len(missing)} missing requirement(s): {first}{more}",
            evidence,
            "install what is missing: `pip install " + " ".join(f'"{n}"' for n in names) + "`",
        )
    return Outcome(
        "warn",
        f"{len(problems)} conflict(s): {first}{more}",
        evidence,
        "install versions that satisfy every requirement in the evidence, e.g. `pip install "
        '"PACKAGE>=X"`, until `python -m pip check` is clean',
    )


@_check("python.virtualenv", "Virtual environment")
def check_virtualenv(ctx: DoctorContext) -> Outcome:
    """Whether rig runs inside a virtual environment (venv, virtualenv, uv, or a conda env).

    Why: installing ML stacks into the system Python (or conda's base) mixes them with the
    operating system's own packages: an upgrade for one project breaks another or the OS
    tools, and no run can be reproduced from a clean list of packages.

    Verdict: pass in a venv or a named conda environment; warn on the system Python or in
    conda's base environment. Never fails. The Python checked is the one running rig: when
    rig is installed with pipx, its own environment.

    Fix: `python -m venv .venv && . .venv/bin/activate && pip install rigml` (or
    `uv venv && uv pip install rigml`); with conda, `conda create -n ml python=3.11`.
    """
    py = ctx.get_python()
    evidence = asdict(py)
    fix = (
        "make one per project: `python -m venv .venv && . .venv/bin/activate && pip install "
        "rigml` (or `uv venv`; with conda: `conda create -n ml python=3.11`)"
    )
    in_venv = py.prefix != py.base_prefix
    if in_venv:
        note = ""
        if py.virtual_env and os.path.realpath(py.virtual_env) != os.path.realpath(py.prefix):
            note = f" (the shell has {py.virtual_env} active: rig runs from another environment)"
        return Outcome("pass", f"virtual environment at {py.prefix}{note}", evidence)
    if py.conda_prefix and os.path.realpath(py.conda_prefix) == os.path.realpath(py.prefix):
        if py.conda_env in (None, "base") or os.path.isdir(os.path.join(py.prefix, "envs")):
            return Outcome("warn", f"conda's base environment ({py.prefix})", evidence, fix)
        return Outcome("pass", f"conda environment {py.conda_env} at {py.prefix}", evidence)
    return Outcome(
        "warn", f"the system Python ({py.executable}), outside any environment", evidence, fix
    )
