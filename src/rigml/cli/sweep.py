"""``rig sweep``: search a stage's params (grid, random, Optuna TPE), each trial a run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rigml.cli.pipeline import _EXECUTOR, _RAY_ADDRESS

if TYPE_CHECKING:
    from rigml.pipeline._sweep import SweepReport, TrialResult

HELP = (
    "Search the params of a stage: each trial runs the stage as a tracked run.\n\n"
    "Upstream stages come from the cache (run first when stale). The params files are never "
    "edited: each trial runs in a folder under the lab that mirrors the project, with its own "
    "params files and outs. Trials are tagged rig.sweep=NAME and rig.trial=N (`rig runs list "
    "--where 'tags.rig.sweep = NAME'`). The study is kept in the lab: `--resume NAME` goes on "
    "after Ctrl-C, and --trials is the sweep's total. With --prune, a stage that logs its "
    "metric as it goes (`rigml.log({'val/auc': x}, step=i)`) has bad trials stopped early. "
    "With --executor ray, upstream stages and each trial run as Ray tasks with the stage's "
    "resources (a pruned trial's task alone is cancelled).\n\n"
    """\b
Param specs (--param KEY=SPEC, KEY a param the stage declares in rig.yaml):
  train.lr=0.0001:0.1:log     log-uniform float
  train.dropout=0.0:0.5       uniform float (0:5 would be an int range)
  train.depth=2:12            int (also 2:12:int)
  train.opt=adam,sgd          choices (numbers are parsed: 3,5,8)

\b
Example:
  rig sweep train --param train.lr=0.001:0.1:log --param train.depth=3,5,8 \\
      --metric val/auc --direction max --trials 20 --jobs 2 --prune \\
      --plot sweep.png
"""
)


def sweep(
    stage: str = typer.Argument("", help="The stage to sweep (not needed with --resume)."),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=SPEC; repeat for more."),
    metric: str | None = typer.Option(None, "--metric", "-m", help="The objective's key."),
    direction: str = typer.Option("min", "--direction", help="min or max."),
    sampler: str = typer.Option("tpe", "--sampler", help="grid, random or tpe."),
    trials: int | None = typer.Option(
        None, "--trials", "-n", help="Trials in all (default: the whole grid, else 20)."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Trials at once (capped by resources)."),
    name: str | None = typer.Option(None, "--name", help="The sweep's name (default: dated)."),
    resume: str | None = typer.Option(None, "--resume", help="Continue the sweep NAME."),
    prune: bool = typer.Option(False, "--prune", help="Stop trials the median pruner drops."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the sampler."),
    startup: int = typer.Option(5, "--startup", help="Trials before TPE and pruning act."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG of params vs metric."),
    file: Path | None = typer.Option(None, "--file", help="The pipeline file."),
    executor: str | None = _EXECUTOR,
    ray_address: str | None = _RAY_ADDRESS,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    from rigml.cli import _ui
    from rigml.cli.pipeline import _open
    from rigml.errors import InvalidSweep
    from rigml.pipeline._sweep import SweepConfig, run_sweep

    if not stage and not resume:
        raise InvalidSweep("which stage?", hint="rig sweep train --param ... (or --resume NAME)")
    config = SweepConfig(
        stage=stage,
        params=tuple(param),
        metric=metric,
        direction=direction,  # type: ignore[arg-type]  # checked by run_sweep
        sampler=sampler,  # type: ignore[arg-type]
        trials=trials,
        jobs=jobs,
        name=resume or name,
        resume=resume is not None,
        seed=seed,
        prune=prune,
        startup_trials=startup,
        executor=executor,
        address=ray_address,
    )
    lab, pipeline = _open(file)
    try:
        try:
            report = run_sweep(
                lab,
                pipeline,
                config,
                on_trial=None if json_out else _write_trial,
                on_output=None,
            )
        except KeyboardInterrupt:
            print(
                "interrupted: running trials were stopped and recorded as killed; "
                f"continue with `rig sweep --resume {config.name or 'NAME'}`",
                file=sys.stderr,
            )
            raise
        if plot is not None:
            from rigml.pipeline._sweep_plot import plot_sweep

            plot_sweep(report, plot)
        if json_out:
            _ui.write_json(report)
        else:
            _render(report)
            if plot is not None:
                _ui.write(f"plot: {plot}", markup=False)
    finally:
        lab.close()


sweep.__doc__ = HELP


def _write_trial(t: TrialResult) -> None:
    from rigml.cli import _ui

    value = "" if t.value is None else f" {_ui.fmt(t.value)}"
    note = f" ({t.note.splitlines()[0]})" if t.note and t.state != "complete" else ""
    shown = ", ".join(f"{k}={_ui.fmt(v)}" for k, v in t.params.items())
    _ui.write(f"trial {t.number}: {t.state}{value} — {shown}{note}", markup=False)


def _render(report: SweepReport) -> None:
    from rigml.cli import _ui

    keys = sorted({k for t in report.trials for k in t.params})
    rows = [
        [t.number, *(t.params.get(k, "") for k in keys), t.value, t.state, (t.run_id or "")[:8]]
        for t in report.trials
    ]
    title = f"sweep {report.name}: {report.stage}, {report.metric} ({report.direction})"
    _ui.table(["trial", *keys, report.metric, "state", "run"], rows, title=title)
    best = report.best
    if best is None:
        _ui.write("no trial completed", markup=False)
        return
    shown = " ".join(f"{k}={_ui.fmt(v)}" for k, v in best.params.items())
    _ui.write(
        f"best: trial {best.number}, {report.metric} = {_ui.fmt(best.value)} — {shown}"
        f" (run {(best.run_id or '')[:8]})",
        markup=False,
    )
