"""``rig run``, ``rig status``, ``rig dag``: the pipeline in ``rig.yaml``, cached by ``rig.lock``.

Each command finds ``rig.yaml`` here or above (or takes ``--file``), opens the nearest lab,
calls one service of :mod:`rigml.pipeline` and renders its result.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from rigml.lab import Lab
    from rigml.pipeline._spec import Pipeline
    from rigml.pipeline._stage import StageResult
    from rigml.pipeline._status import StageStatus

_STAGES = typer.Argument(
    None, help="Stages to bring up to date, with what they need (default: all).", show_default=False
)
_FILE = typer.Option(
    None, "--file", help="The pipeline file (default: rig.yaml here or in a folder above)."
)
_JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
_EXECUTOR = typer.Option(
    None,
    "--executor",
    help="Where stage commands run: local (processes here) or ray (Ray tasks with the "
    "stage's resources; needs rigml\\[ray]). Default: \\[pipeline] executor in rig.toml, "
    "else local.",
    show_default=False,
)
_RAY_ADDRESS = typer.Option(
    None,
    "--ray-address",
    help="The Ray cluster: HOST:6379 (or ray://HOST:10001); auto or local for one on this "
    "machine. Default: \\[pipeline] address, else RAY_ADDRESS, else a local Ray. A cluster on "
    "other machines needs a PostgreSQL store and an S3 object store.",
    show_default=False,
)

RUN_HELP = (
    (
        "Run what is stale in rig.yaml (as `dvc repro` does), caching outs in the lab.\n\n"
        "A stage reruns when its cmd, deps (blake3 content), params, environment or outs "
        "changed; a missing out whose content is cached is restored without rerunning. Each "
        "stage run is a tracked run (`rig runs list`): params, metrics files, outs as "
        "artifacts, datasets read (`data:NAME@VERSION` deps, checked out for the stage at "
        "$RIG_DATA_NAME), and its log.\n\n"
    )
    + """\b
Example rig.yaml:
  stages:
    prep:
      cmd: python prep.py
      deps:
        - prep.py
        - data:raw@latest
      outs:
        - data/clean.csv
    train:
      cmd: python train.py
      deps:
        - train.py
        - data/clean.csv
      params:
        - train.lr
      outs:
        - model.pkl
      metrics:
        - metrics.json
"""
)


def _open(file: Path | None) -> tuple[Lab, Pipeline]:
    from rigml.cli import _state
    from rigml.lab import open_lab
    from rigml.pipeline import load_pipeline

    pipeline = load_pipeline(file)
    return open_lab(_state.lab_path or pipeline.root), pipeline


def run(
    stages: list[str] | None = _STAGES,
    force: bool = typer.Option(False, "--force", "-f", help="Run even what is up to date."),
    dry: bool = typer.Option(False, "--dry", help="Show the plan, and why, but run nothing."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Stages to run at once when independent."),
    executor: str | None = _EXECUTOR,
    ray_address: str | None = _RAY_ADDRESS,
    file: Path | None = _FILE,
    json_out: bool = _JSON,
    gates_against: str | None = typer.Option(
        None,
        "--gates-against",
        metavar="RUN",
        help="Judge the stages' regression gates (`>= production - 1%`) against this run.",
    ),
) -> None:
    from rigml.errors import StageFailed, StageGatesFailed
    from rigml.pipeline import pipeline_status, run_pipeline
    from rigml.pipeline._executor import make_executor

    lab, pipeline = _open(file)
    runner = None
    try:
        if dry:
            plan = pipeline_status(lab, pipeline, targets=stages or None, force=force)
            _render_statuses(plan, json_out, dry=True)
            return
        runner = make_executor(lab, executor, ray_address)
        try:
            report = run_pipeline(
                lab,
                pipeline,
                targets=stages or None,
                force=force,
                jobs=jobs,
                executor=runner,
                on_output=None if json_out else _output_writer(jobs),
                on_result=None if json_out else _write_result,
                gates_against=gates_against,
            )
        except (StageFailed, StageGatesFailed) as exc:
            summary = exc.report if isinstance(exc, StageFailed) else exc.run_report
            if json_out and summary is not None:
                from rigml.cli import _ui

                _ui.write_json(summary)
            raise
        except KeyboardInterrupt:
            print(
                "interrupted: running stages were stopped, their runs recorded as killed",
                file=sys.stderr,
            )
            raise
        if json_out:
            from rigml.cli import _ui

            _ui.write_json(report)
    finally:
        if runner is not None and hasattr(runner, "close"):
            runner.close()
        lab.close()


run.__doc__ = RUN_HELP


def _output_writer(jobs: int) -> Callable[[str, str], None]:
    def write(stage: str, line: str) -> None:
        sys.stdout.write(f"[{stage}] {line}\n" if jobs > 1 else f"{line}\n")
        sys.stdout.flush()

    return write


def _write_result(result: StageResult) -> None:
    from rigml.cli import _ui

    why = "" if result.action == "up to date" else " — " + "; ".join(result.reasons)
    took = f" in {_ui.duration(result.seconds)}" if result.action == "ran" else ""
    code = f" (exit code {result.exit_code})" if result.action == "failed" else ""
    print(f"{result.name}: {result.action}{code}{took}{why}", flush=True)
    if result.gates is not None:
        g = result.gates
        verdict = "passed" if g.passed else "FAILED"
        counts = ", ".join(
            f"{sum(r.verdict == v for r in g.results)} {v}"
            for v in ("pass", "fail", "no-reference")
            if any(r.verdict == v for r in g.results)
        )
        print(f"{result.name}: gates {verdict} ({counts}; report {g.id})", flush=True)


def status(
    stages: list[str] | None = _STAGES,
    file: Path | None = _FILE,
    json_out: bool = _JSON,
) -> None:
    """Say which stages are stale and why: what `rig run` would do. Changes nothing."""
    from rigml.pipeline import pipeline_status

    lab, pipeline = _open(file)
    try:
        _render_statuses(pipeline_status(lab, pipeline, targets=stages or None), json_out)
    finally:
        lab.close()


def _render_statuses(statuses: list[StageStatus], json_out: bool, *, dry: bool = False) -> None:
    if json_out:
        from rigml.cli import _ui

        rows = [{**s.to_dict(), "will_run": s.stale} for s in statuses]
        _ui.write_json({"stages": rows})
        return
    # plain lines: through rich, 200 of them cost more than computing the statuses
    lines = []
    for s in statuses:
        verb = (
            ("will run" if s.stale else "restore" if s.state == "restore" else "skip")
            if dry
            else s.state
        )
        why = "" if s.state == "up to date" else " — " + "; ".join(s.reasons)
        gates = f" [gates: {'; '.join(s.gates)}]" if s.gates else ""
        lines.append(f"{s.name}: {verb}{why}{gates}\n")
    if not dry and all(s.state == "up to date" for s in statuses):
        lines.append("everything is up to date\n")
    sys.stdout.write("".join(lines))
    sys.stdout.flush()


def dag(
    stages: list[str] | None = _STAGES,
    file: Path | None = _FILE,
    json_out: bool = _JSON,
) -> None:
    """Draw the pipeline: stages by level, what each needs, and its status."""
    from rigml.cli import _ui
    from rigml.pipeline import pipeline_dag

    lab, pipeline = _open(file)
    try:
        graph = pipeline_dag(lab, pipeline, targets=stages or None)
    finally:
        lab.close()
    if json_out:
        _ui.write_json(graph)
        return
    for node in graph.nodes:
        needs = f"  <- {', '.join(node.upstream)}" if node.upstream else ""
        state = (
            node.status.state
            if node.status.state != "stale"
            else "stale: " + "; ".join(node.status.reasons)
        )
        _ui.write(f"{'  ' * node.level}{node.name} [{state}]{needs}", markup=False)
