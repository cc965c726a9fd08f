"""``rig sweep``: search a stage's params with Optuna, each trial a tracked stage run.

The study lives in the lab, in an Optuna journal file (``<lab>/sweeps/NAME/study.journal``,
beside ``sweep.json`` which holds the search space and options): a journal needs no table
in the lab's store, so SQLite and PostgreSQL labs keep one schema, and a sweep resumes
after Ctrl-C or a crash by reading it back (``resume=True``). Upstream stages are brought
up to date first (from the cache when they can be); each trial then runs only the swept
stage, in a slot folder that mirrors the project with the trial's params files (see
:mod:`rigml.pipeline._sweep_slot`). Trials are tagged ``rig.sweep`` and ``rig.trial``.

The steps live beside this module: the stored plan and the resources
(:mod:`~rigml.pipeline._sweep_plan`), the Optuna study (:mod:`~rigml.pipeline._sweep_study`),
and the trials as they run, pruning included (:mod:`~rigml.pipeline._sweep_trials`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import InvalidSweep

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.pipeline._executor import Executor
    from rigml.pipeline._spec import Pipeline

Sampler = Literal["grid", "random", "tpe"]
Direction = Literal["min", "max"]
TrialState = Literal["complete", "pruned", "failed", "killed", "running"]


@dataclass(frozen=True)
class SweepConfig:
    """What to sweep and how. With ``resume``, the stored space and options are used."""

    stage: str
    params: tuple[str, ...] = ()  # KEY=SPEC, as given to --param
    metric: str | None = None
    direction: Direction = "min"
    sampler: Sampler = "tpe"
    trials: int | None = None  # total trials of the sweep (default: the grid, else 20)
    jobs: int = 1
    name: str | None = None
    resume: bool = False
    seed: int | None = None
    prune: bool = False
    startup_trials: int = 5  # trials before TPE models and the pruner compares
    gpus: tuple[int, ...] | None = None  # GPU indices to hand out (default: this machine's)
    executor: str | None = None  # local or ray (default: [pipeline] executor of rig.toml)
    address: str | None = None  # a Ray cluster's (default: [pipeline] address)


@dataclass(frozen=True)
class TrialResult:
    number: int
    params: dict[str, Any]
    value: float | None
    state: TrialState
    run_id: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "params": self.params,
            "value": self.value,
            "state": self.state,
            "run_id": self.run_id,
            "note": self.note,
        }


@dataclass(frozen=True)
class SweepReport:
    name: str
    stage: str
    metric: str
    direction: Direction
    trials: tuple[TrialResult, ...]  # best first
    log_keys: tuple[str, ...] = ()  # params searched on a log scale (plotted so)

    @property
    def best(self) -> TrialResult | None:
        return next((t for t in self.trials if t.state == "complete"), None)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "name": self.name,
            "stage": self.stage,
            "metric": self.metric,
            "direction": self.direction,
            "best": best.to_dict() if best else None,
            "trials": [t.to_dict() for t in self.trials],
        }


def run_sweep(
    lab: Lab,
    pipeline: Pipeline,
    config: SweepConfig,
    *,
    on_trial: Callable[[TrialResult], None] | None = None,
    on_output: Callable[[str, str], None] | None = None,
    executor: Executor | None = None,
) -> SweepReport:
    """Run (or resume) the sweep ``config`` describes, until it holds ``trials`` trials.

    Upstream stages and each trial's commands run through ``executor`` (default: the one
    ``config.executor`` and ``config.address`` name, closed at the end). With Ray, Ray
    places trials by the stage's resources: ``jobs`` trials at once, no local GPU slots.

    Raises:
        InvalidSweepParam: a ``--param`` spec or key is wrong.
        InvalidSweep: options that cannot work (no params, no metric, too few GPUs...).
        SweepNotFound: ``resume`` names no stored sweep.
        StageFailed: an upstream stage failed.
        MissingExtra: optuna (or, for Ray, ray) is not installed.
        ExecutorUnavailable: the Ray cluster cannot be reached.
        KeyboardInterrupt: Ctrl-C or SIGTERM; running trials were stopped and recorded as
            killed, and the sweep can be resumed.
    """
    from rigml.pipeline._resources import machine_gpus
    from rigml.pipeline._sweep_plan import load_plan, new_plan, trial_slots
    from rigml.pipeline._sweep_study import (
        counted,
        enqueue_grid,
        import_optuna,
        open_study,
        report_of,
        requeue_killed,
    )
    from rigml.pipeline._sweep_trials import Context, drive, run_upstream

    optuna = import_optuna()
    if config.jobs < 1:
        raise InvalidSweep(f"--jobs must be at least 1, got {config.jobs}", hint="--jobs 2")
    if config.trials is not None and config.trials < 1:
        raise InvalidSweep(f"--trials must be at least 1, got {config.trials}", hint="--trials 20")
    own = executor is None
    if executor is None:  # first: a sweep that cannot run leaves no plan behind
        from rigml.pipeline._executor import make_executor

        executor = make_executor(lab, config.executor, config.address)
    try:
        plan = (
            load_plan(lab, pipeline, config) if config.resume else new_plan(lab, pipeline, config)
        )
        if executor.name == "local":
            slots = trial_slots(plan.stage, config.jobs, machine_gpus(config.gpus))
        else:
            slots = [None] * config.jobs  # the cluster's scheduler places each trial
        study = open_study(optuna, plan, len(slots))
        enqueue_grid(plan, study)
        requeue_killed(optuna, study)
        remaining = plan.trials - counted(optuna, study)
        if remaining > 0:
            run_upstream(lab, pipeline, plan.stage, on_output, executor)
            ctx = Context(lab, pipeline, plan, optuna, study, on_output, executor)
            drive(ctx, remaining, slots, on_trial or (lambda _t: None))
        return report_of(optuna, plan, study)
    finally:
        if own:
            from rigml.pipeline._runner import _close

            _close(executor)


def sweep_report(lab: Lab, pipeline: Pipeline, name: str) -> SweepReport:
    """The trials of the stored sweep ``name``, best first.

    Raises:
        SweepNotFound: no such sweep.
    """
    from rigml.pipeline._sweep_plan import load_plan
    from rigml.pipeline._sweep_study import import_optuna, open_study, report_of

    optuna = import_optuna()
    plan = load_plan(lab, pipeline, SweepConfig(stage="", name=name, resume=True))
    return report_of(optuna, plan, open_study(optuna, plan, 1))
