"""``rig preflight``: check the stages of ``rig.yaml`` before a long job runs them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rigml.pipeline._preflight import PreflightReport

PREFLIGHT_HELP = (
    (
        "Check what would waste a long or rented job, before `rig run` starts it.\n\n"
        "For the stages named (default: all) and the stages they need: deps present and "
        "readable (`data:` deps resolve), the dataset versions' stored contract checks, disk "
        "space for the outs (estimated from the last run's sizes), resources.memory and "
        "resources.gpus against what this machine has free, the fit planner's verdict for a "
        "stage's `model:`, `rig doctor`'s failures and warnings, and each stage's `smoke:` "
        "command (run in its wdir with a timeout; not a tracked run, rig.lock untouched).\n\n"
        "Exits with 1 when a check fails, so a job script can gate on it: "
        "`rig preflight train && rig run train`.\n\n"
    )
    + """\b
Stage keys it reads:
  train:
    cmd: python train.py
    resources: {memory: 24GiB, gpus: 1}
    model: {name: llama-3.1-8b, task: qlora, context: 4096}
    smoke: {cmd: python train.py --max-steps 2, timeout: 60s}
"""
)


def preflight(
    stages: list[str] | None = typer.Argument(
        None, help="Stages to check, with what they need (default: all).", show_default=False
    ),
    file: Path | None = typer.Option(
        None, "--file", help="The pipeline file (default: rig.yaml here or in a folder above)."
    ),
    smoke: bool = typer.Option(True, "--smoke/--no-smoke", help="Run the smoke commands."),
    doctor: bool = typer.Option(True, "--doctor/--no-doctor", help="Run rig doctor's checks."),
    full: bool = typer.Option(
        False, "--full", help="Run every doctor check, the slow ones too (pip check, caches)."
    ),
    gpu: str | None = typer.Option(
        None, "--gpu", help="Plan `model:` for this GPU of the table (`rig fit --list-gpus`)."
    ),
    vram: float | None = typer.Option(
        None, "--vram", metavar="GIB", help="Plan `model:` for a GPU with this much memory."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    from rigml.cli import _state, _ui
    from rigml.lab import open_lab
    from rigml.machine.doctor import all_checks
    from rigml.pipeline import PreflightOptions, load_pipeline
    from rigml.pipeline import preflight as run_preflight

    pipeline = load_pipeline(file, deps_on_disk=False)
    options = PreflightOptions(
        smoke=smoke,
        doctor=doctor,
        doctor_checks=tuple(c.id for c in all_checks()) if full else None,
        gpu=gpu,
        vram_gb=vram,
    )
    lab = open_lab(_state.lab_path or pipeline.root)
    try:
        report = run_preflight(lab, pipeline, stages or None, options=options)
    finally:
        lab.close()
    if json_out:
        _ui.write_json(report)
    else:
        _render(report)
    if report.failed:
        raise typer.Exit(1)


preflight.__doc__ = PREFLIGHT_HELP


def _render(report: PreflightReport) -> None:
    from rigml.cli import _ui

    rows = [[c.check, c.stage, _ui.status(c.status), c.evidence, c.fix] for c in report.checks]
    _ui.table(["check", "stage", "status", "evidence", "fix"], rows)
    counts = report.counts
    shown = [s for s in ("fail", "warn", "pass") if counts[s]]
    summary = ", ".join(f"[{_ui.STATUS_STYLE[s]}]{counts[s]} {s}[/]" for s in shown)
    took = _ui.duration(report.elapsed_s)
    _ui.write(f"{len(report.checks)} checks of {len(report.stages)} stages in {took}: {summary}")
