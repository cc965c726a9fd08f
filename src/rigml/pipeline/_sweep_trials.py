"""Running a sweep's trials: a slot folder each, the stage as a tracked run, the objective.

With pruning, the stage's intermediate values (``rigml.log({"val/auc": x}, step=i)`` in
the stage script, which lands in the trial's run) are read from the store while it runs,
reported to Optuna's median pruner, and a trial it prunes is terminated (its run is
recorded as killed, tagged ``rig.trial_state=pruned``).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.pipeline._sweep import TrialResult, TrialState
from rigml.pipeline._sweep_space import params_file_of

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.pipeline._executor import Executor, Job, Outcome
    from rigml.pipeline._spec import Pipeline, Stage
    from rigml.pipeline._sweep_plan import Plan

POLL_S = 0.2


@dataclass
class Context:
    """What every trial of one sweep shares: ``executor`` runs every trial's commands."""

    lab: Lab
    pipeline: Pipeline
    plan: Plan
    optuna: Any
    study: Any
    on_output: Callable[[str, str], None] | None
    executor: Executor
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _Done:
    """How a trial ended, before the study is told."""

    state: TrialState
    value: float | None
    run_id: str | None
    note: str | None = None


def run_upstream(
    lab: Lab,
    pipeline: Pipeline,
    stage: Stage,
    on_output: Callable[[str, str], None] | None,
    executor: Executor | None = None,
) -> None:
    from rigml.pipeline._graph import build_graph
    from rigml.pipeline._runner import run_pipeline

    ups = build_graph(pipeline.stages).upstream[stage.name]
    if ups:
        run_pipeline(lab, pipeline, targets=sorted(ups), on_output=on_output, executor=executor)


def drive(
    ctx: Context,
    remaining: int,
    slots: list[tuple[int, ...] | None],
    on_trial: Callable[[TrialResult], None],
) -> None:
    """Keep every slot busy with a new trial until ``remaining`` trials have run."""
    from rigml.pipeline._runner import _stop_on_signal

    distributions = {s.key: s.distribution() for s in ctx.plan.specs}
    free = list(range(len(slots)))
    running: dict[Future[_Done], tuple[Any, int]] = {}
    launched = 0
    with ThreadPoolExecutor(len(slots), thread_name_prefix="rig-trial") as pool, _stop_on_signal():
        try:
            while launched < remaining or running:
                while free and launched < remaining:
                    trial, slot = ctx.study.ask(distributions), free.pop(0)
                    running[pool.submit(_trial, ctx, trial, slot, slots[slot])] = (trial, slot)
                    launched += 1
                done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    trial, slot = running.pop(future)
                    free.append(slot)
                    on_trial(_tell(ctx, trial, _outcome(future)))
        except BaseException:
            _stop_all(ctx, running)
            raise


def _outcome(future: Future[_Done]) -> _Done:
    try:
        return future.result()
    except Exception as exc:  # a trial that could not be recorded: the sweep goes on
        return _Done("failed", None, None, f"{type(exc).__name__}: {exc}")


def _stop_all(ctx: Context, running: dict[Future[_Done], tuple[Any, int]]) -> None:
    ctx.cancel.set()
    ctx.executor.stop()  # every trial's commands, whichever executor runs them
    wait(list(running))
    for future, (trial, _slot) in running.items():
        done = _outcome(future)
        _tell(ctx, trial, replace(done, state="killed", note=done.note or "interrupted"))


def _tell(ctx: Context, trial: Any, done: _Done) -> TrialResult:
    states = ctx.optuna.trial.TrialState
    trial.set_user_attr("rig.state", done.state)
    if done.run_id:
        from rigml.track.runs import set_tags

        trial.set_user_attr("rig.run_id", done.run_id)
        with contextlib.suppress(Exception):  # the tag helps a reader; the study holds the state
            set_tags(ctx.lab, done.run_id, {"rig.trial_state": done.state})
    if done.note:
        trial.set_user_attr("rig.note", done.note[:500])
    if done.state == "complete":
        ctx.study.tell(trial, done.value)
    elif done.state == "pruned":
        ctx.study.tell(trial, state=states.PRUNED)
    else:
        ctx.study.tell(trial, state=states.FAIL)
    return TrialResult(trial.number, dict(trial.params), done.value, done.state, done.run_id,
                       done.note)  # fmt: skip


def _trial(ctx: Context, trial: Any, slot: int, gpus: tuple[int, ...] | None) -> _Done:
    """Run one trial: its slot folder, its params, the stage, then its objective."""
    from rigml.pipeline._stage import Session, execute_stage

    plan, root = ctx.plan, ctx.pipeline.root
    folder = _prepare_slot(ctx, slot, dict(trial.params))
    from rigml.pipeline._resources import gpu_env

    env = {"RIG_SWEEP": plan.name, "RIG_TRIAL": str(trial.number), **gpu_env(gpus)}
    executor = _TrialExecutor(ctx, trial)
    sink = ctx.on_output
    session = Session(
        ctx.lab,
        replace(ctx.pipeline, root=folder, file=folder / ctx.pipeline.file.relative_to(root)),
        executor,
        force=True,
        on_output=(lambda _s, line: sink(f"trial {trial.number}", line)) if sink else None,
        extra_env=env,
        cancel=ctx.cancel,
        tags={"rig.sweep": plan.name, "rig.trial": str(trial.number)},
    )
    result = execute_stage(session, plan.stage)
    if executor.pruned:
        return _Done("pruned", executor.last, result.run_id, executor.note)
    if result.action == "killed" or (result.action == "not run" and ctx.cancel.is_set()):
        return _Done("killed", None, result.run_id, "interrupted")
    if result.action != "ran":
        tail = "\n".join(result.tail[-3:])
        return _Done("failed", None, result.run_id, f"exit code {result.exit_code}: {tail}")
    return _objective(ctx, folder, result.run_id)


def _prepare_slot(ctx: Context, slot: int, values: dict[str, Any]) -> Path:
    from rigml.pipeline._sweep_slot import build_slot, copy_params_files, write_params

    root, stage = ctx.pipeline.root, ctx.plan.stage
    folder = ctx.plan.folder / "slots" / str(slot)
    build_slot(root, folder, stage, skip=ctx.lab.path)
    by_file: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        by_file.setdefault(params_file_of(stage, key), {})[key] = value
    for rel, file_values in by_file.items():
        write_params(root, folder, rel, file_values)
    copy_params_files(root, folder, stage)
    return folder


def _objective(ctx: Context, folder: Path, run_id: str | None) -> _Done:
    """The metric from the stage's metrics files, else the last value its run logged."""
    from rigml.pipeline._params import flatten
    from rigml.pipeline._stage import _read_metrics

    metric = ctx.plan.metric
    for rel in ctx.plan.stage.metrics:
        with contextlib.suppress(OSError, ValueError):
            data = _read_metrics(folder / rel)
            value = flatten(data).get(metric, data.get(metric) if isinstance(data, dict) else None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return _scored(float(value), metric, run_id)
    if run_id:
        from rigml.track.queries import get_run

        value = get_run(ctx.lab, run_id).metrics.get(metric)
        if value is not None:
            return _scored(float(value), metric, run_id)
    return _Done("failed", None, run_id, f"the stage reported no metric {metric!r}")


def _scored(value: float, metric: str, run_id: str | None) -> _Done:
    if math.isnan(value):  # Optuna refuses NaN: the trial failed, say so
        return _Done("failed", None, run_id, f"the stage reported {metric} = nan")
    return _Done("complete", value, run_id)


class _TrialExecutor:
    """One trial's view of the sweep's executor: it reports intermediate values and prunes.

    Pruning cancels this trial's job alone (:meth:`Executor.cancel`): the other trials,
    local processes or Ray tasks alike, run on.
    """

    def __init__(self, ctx: Context, trial: Any) -> None:
        self.ctx, self.trial = ctx, trial
        self.inner = ctx.executor
        self.name = self.inner.name
        self.pruned = False
        self.last: float | None = None
        self.note: str | None = None
        self._seen = -1
        self._job: Job | None = None

    def run(self, job: Job) -> Outcome:
        self._job = job
        if not self.ctx.plan.prune:
            return self.inner.run(job)
        finished = threading.Event()
        run_id = job.env["RIG_STAGE_RUN_ID"]
        watcher = threading.Thread(target=self._watch, args=(run_id, finished), daemon=True)
        watcher.start()
        try:
            return self.inner.run(job)
        finally:
            finished.set()
            watcher.join()

    def stop(self) -> None:
        """Stop this trial's job (the sweep stops them all through its executor)."""
        if self._job is not None:
            self.inner.cancel(self._job)

    def cancel(self, job: Job) -> None:
        self.inner.cancel(job)

    def _watch(self, run_id: str, finished: threading.Event) -> None:
        while not finished.wait(POLL_S):
            with contextlib.suppress(Exception):  # a read that fails is tried again
                if self._progress(run_id):
                    self.pruned = True
                    self.note = f"pruned at step {self._seen}"
                    self.stop()
                    return

    def _progress(self, run_id: str) -> bool:
        from rigml.track.queries import load_history

        history = load_history(self.ctx.lab, run_id, self.ctx.plan.metric)
        new = False
        for step, value in zip(history.steps.tolist(), history.values.tolist(), strict=True):
            if step > self._seen:
                self.trial.report(float(value), int(step))
                self._seen, self.last, new = int(step), float(value), True
        return new and bool(self.trial.should_prune())
