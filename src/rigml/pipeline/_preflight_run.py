"""Preflight checks that ask other parts of rigml or run something: fit, doctor, smoke.

The fit planner judges a stage's ``model:`` against this machine's GPUs (or the targets
given); ``rig doctor`` runs without its slow checks unless asked; a ``smoke:`` command
runs in the stage's ``wdir`` as a plain process, with a timeout, never as a tracked run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING, Any

from rigml._units import format_bytes, format_duration
from rigml.errors import RigError
from rigml.pipeline._preflight import PreflightCheck, Status

if TYPE_CHECKING:
    from rigml.fit.planner import FitReport, Target
    from rigml.pipeline._preflight import Context
    from rigml.pipeline._preflight_spec import ModelSpec, Smoke
    from rigml.pipeline._spec import Stage

# seconds each: sizing caches walks them, `pip check` imports every package's metadata
SLOW_DOCTOR_CHECKS = ("disk.caches_on_system", "python.pip_check")
TAIL_LINES = 8
_VERDICT: dict[str, Status] = {"comfortable": "pass", "tight": "warn", "no": "fail"}


# ---------------------------------------------------------------------------- fit


def fit_checks(ctx: Context) -> list[PreflightCheck]:
    """The planner's verdict for each stage that declares ``model:``."""
    with_model = [(n, ctx.specs[n].model) for n in ctx.order if ctx.specs[n].model is not None]
    if not with_model:
        return []
    targets = _targets(ctx)
    rows = []
    for name, spec in with_model:
        assert spec is not None
        rows.append(_fit_row(ctx, ctx.pipeline.stages[name], spec, targets))
    return rows


def _targets(ctx: Context) -> list[Target]:
    from rigml.fit.planner import resolve_targets

    opts = ctx.options
    if opts.fit_targets is not None:
        return list(opts.fit_targets)
    return resolve_targets(gpu=opts.gpu, vram_gb=opts.vram_gb)


def _fit_row(ctx: Context, stage: Stage, spec: ModelSpec, targets: list[Target]) -> PreflightCheck:
    from rigml.fit.planner import plan_fit

    beside = ctx.pipeline.root / stage.wdir / spec.name
    model = str(beside) if beside.exists() else spec.name
    try:
        report = plan_fit(model, spec.request(), targets=targets)
    except RigError as exc:
        return PreflightCheck("fit", stage.name, "fail", f"{spec.name}: {exc.message}", exc.hint)
    primary = report.primary
    verdict = primary.verdict
    req = report.request
    evidence = (
        f"{report.model.name}, {req.task} at {req.context} tokens x {req.batch}: needs about "
        f"{format_bytes(verdict.need_bytes)} of {format_bytes(verdict.capacity_bytes)} on "
        f"{primary.target.name}: {verdict.label} (an estimate; `rig fit` shows the parts)"
    )
    status = _VERDICT[verdict.status]
    figures = {
        "model": report.model.name,
        "target": primary.target.name,
        "verdict": verdict.status,
        "need_bytes": verdict.need_bytes,
        "capacity_bytes": verdict.capacity_bytes,
    }
    fix = _fit_fix(report) if status != "pass" else None
    return PreflightCheck("fit", stage.name, status, evidence, fix, figures)


def _fit_fix(report: FitReport) -> str:
    """The planner's first change that fits, else its combination, else the GPU to rent."""
    first = report.mitigations[0] if report.mitigations else None
    if first is None or first.status == "no":
        first = report.combined if report.combined and report.combined.status != "no" else first
    if first is not None and first.status != "no":
        size = format_bytes(first.total_bytes)
        return f"{first.action} ({first.flags}): about {size}, {first.cost}"
    if report.cloud is not None:
        n = report.cloud_gpus_needed
        return f"a bigger GPU: the smallest common one that fits is {n} x {report.cloud.name}"
    return "no change the planner knows makes it fit; see `rig fit` for the parts"


# ---------------------------------------------------------------------------- doctor


def doctor_checks(ctx: Context) -> list[PreflightCheck]:
    """``rig doctor``'s failures and warnings as rows; one pass row when there are none."""
    from rigml.machine.doctor import all_checks, run_checks

    only = ctx.options.doctor_checks
    if only is None:
        only = tuple(c.id for c in all_checks() if c.id not in SLOW_DOCTOR_CHECKS)
    if not only:
        return []
    report = run_checks(only=list(only), context=ctx.options.doctor_context)
    rows = [
        PreflightCheck("doctor", None, r.status, f"{r.id}: {r.summary}", r.fix, r.evidence)
        for r in report.results
        if r.status in ("fail", "warn")
    ]
    if rows:
        return rows
    counts = report.counts
    skipped = f", {counts['skip']} skipped" if counts["skip"] else ""
    evidence = f"{counts['pass']} checks passed{skipped} (`rig doctor` shows them)"
    return [PreflightCheck("doctor", None, "pass", evidence, figures={"counts": counts})]


# ---------------------------------------------------------------------------- smoke


def smoke_checks(ctx: Context) -> list[PreflightCheck]:
    """Each stage's ``smoke:`` commands, in run order."""
    rows = []
    for name in ctx.order:
        smoke = ctx.specs[name].smoke
        if smoke is not None:
            rows.append(_smoke_row(ctx, ctx.pipeline.stages[name], smoke))
    return rows


def _smoke_row(ctx: Context, stage: Stage, smoke: Smoke) -> PreflightCheck:
    cwd = ctx.pipeline.root / stage.wdir
    if not cwd.is_dir():
        return PreflightCheck("smoke", stage.name, "fail", f"wdir {stage.wdir} does not exist")
    try:
        env = _smoke_env(ctx, stage)
    except RigError as exc:
        return PreflightCheck("smoke", stage.name, "fail", exc.message, exc.hint)
    start = time.monotonic()
    deadline = start + smoke.timeout_s
    for cmd in smoke.cmds:
        code, tail = _run(cmd, cwd, env, deadline)
        if code != 0:
            return _smoke_failed(stage.name, cmd, code, tail, smoke.timeout_s)
    took = format_duration(time.monotonic() - start)
    return PreflightCheck(
        "smoke", stage.name, "pass", f"exit 0 in {took}", figures={"cmds": list(smoke.cmds)}
    )


def _smoke_failed(
    name: str, cmd: str, code: int | None, tail: list[str], timeout_s: float
) -> PreflightCheck:
    if code is None:
        what = f"`{cmd}` did not end within {format_duration(timeout_s)} (stopped)"
        fix = "make the smoke run smaller (a sample of the data), or raise smoke.timeout"
    else:
        what = f"`{cmd}` exited with {code}"
        fix = "fix what the output says, then `rig preflight` again"
    evidence = what + ("; last output:\n" + "\n".join(tail) if tail else "; no output")
    figures = {"cmd": cmd, "exit_code": code, "tail": tail}
    return PreflightCheck("smoke", name, "fail", evidence, fix, figures)


def _smoke_env(ctx: Context, stage: Stage) -> dict[str, str]:
    """The stage's environment as ``rig run`` gives it, less its run: data paths, names."""
    from rigml.pipeline._data import checkout_version
    from rigml.pipeline._stage import data_env_name

    env = dict(os.environ)
    env.update(RIG_STAGE=stage.name, RIG_LAB=str(ctx.lab.path), RIG_PREFLIGHT="1")
    for ref in stage.data:
        info = ctx.version(ref)
        if not isinstance(info, Exception):
            env[data_env_name(info.name)] = str(checkout_version(ctx.lab, info))
    return env


def _run(cmd: str, cwd: Any, env: dict[str, str], deadline: float) -> tuple[int | None, list[str]]:
    """Exit code (None: timed out and stopped) and the output's last lines."""
    try:
        proc = subprocess.Popen(
            cmd,
            shell=True,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return 127, [f"cannot start: {exc}"]
    try:
        out, _ = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _stop(proc)
        out, code = _rest(proc), None
    except BaseException:
        _stop(proc)
        proc.wait()
        raise
    lines = out.decode("utf-8", "replace").splitlines()
    if code is not None and code < 0:
        code = 128 - code
    return code, lines[-TAIL_LINES:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the command's process group, a moment, then SIGKILL to what is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _rest(proc: subprocess.Popen[bytes]) -> bytes:
    """What a stopped command wrote; a process that left its group may hold the pipe."""
    try:
        return proc.communicate(timeout=5.0)[0] or b""
    except subprocess.TimeoutExpired:
        assert proc.stdout is not None
        proc.stdout.close()
        proc.wait()
        return b""
