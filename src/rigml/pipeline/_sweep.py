"""``rig sweep``: search a stage's params with Optuna, each trial a tracked stage run.

The study lives in the lab, in an Optuna journal file (``<lab>/sweeps/NAME/study.journal``,
beside ``sweep.json`` which holds the search space and options): a journal needs no table
in the lab's store, so SQLite and PostgreSQL labs keep one schema, and a sweep resumes
after Ctrl-C or a crash by reading it back (``resume=True``). Upstream stages are brought
up to date first (from the cache when they can be); each trial then runs only the swept
stage, in a slot folder that mirrors the project with the trial's params files (see
:mod:`rigml.pipeline._sweep_slot`). Trials are tagged ``rig.sweep`` and ``rig.trial``.

With pruning, the stage's intermediate values (``rigml.log({"val/auc": x}, step=i)`` in
the stage script, which lands in the trial's run) are read from the store while it runs,
reported to Optuna's median pruner, and a trial it prunes is terminated.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import InvalidSweep, MissingExtra, SweepNotFound
from rigml.pipeline._sweep_space import ParamSpec, check_keys, params_file_of, parse_param

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.pipeline._executor import Job, Outcome
    from rigml.pipeline._spec import Pipeline, Stage

Sampler = Literal["grid", "random", "tpe"]
Direction = Literal["min", "max"]
TrialState = Literal["complete", "pruned", "failed", "killed", "running"]
DEFAULT_TRIALS = 20
POLL_S = 0.2
_ORDER = {"complete": 0, "pruned": 1, "failed": 2, "killed": 3, "running": 4}


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


@dataclass(frozen=True)
class _Plan:
    """A sweep ready to run: its stored options, where it lives, the stage."""

    name: str
    folder: Path
    stage: Stage
    specs: tuple[ParamSpec, ...]
    metric: str
    direction: Direction
    sampler: Sampler
    seed: int | None
    prune: bool
    startup_trials: int
    trials: int  # the sweep's total
    params: tuple[str, ...]  # KEY=SPEC as given


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise MissingExtra("sweep", module="optuna") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def sweeps_folder(lab: Lab) -> Path:
    return lab.path / "sweeps"


def run_sweep(
    lab: Lab,
    pipeline: Pipeline,
    config: SweepConfig,
    *,
    on_trial: Callable[[TrialResult], None] | None = None,
    on_output: Callable[[str, str], None] | None = None,
) -> SweepReport:
    """Run (or resume) the sweep ``config`` describes, until it holds ``trials`` trials.

    Raises:
        InvalidSweepParam: a ``--param`` spec or key is wrong.
        InvalidSweep: options that cannot work (no params, no metric, too few GPUs...).
        SweepNotFound: ``resume`` names no stored sweep.
        StageFailed: an upstream stage failed.
        MissingExtra: optuna is not installed.
        KeyboardInterrupt: Ctrl-C or SIGTERM; running trials were stopped and recorded as
            killed, and the sweep can be resumed.
    """
    optuna = _import_optuna()
    if config.jobs < 1:
        raise InvalidSweep(f"--jobs must be at least 1, got {config.jobs}", hint="--jobs 2")
    if config.trials is not None and config.trials < 1:
        raise InvalidSweep(f"--trials must be at least 1, got {config.trials}", hint="--trials 20")
    plan = _load_plan(lab, pipeline, config) if config.resume else _new_plan(lab, pipeline, config)
    slots = trial_slots(plan.stage, config.jobs, _gpus(config.gpus))
    study = _study(optuna, plan, len(slots))
    _enqueue_grid(plan, study)
    _requeue_killed(optuna, study)
    remaining = plan.trials - _counted(optuna, study)
    if remaining > 0:
        _run_upstream(lab, pipeline, plan.stage, on_output)
        ctx = _Context(lab, pipeline, plan, optuna, study, on_output)
        _drive(ctx, remaining, slots, on_trial or (lambda _t: None))
    return _report(optuna, plan, study)


def _default_trials(sampler: str, specs: tuple[ParamSpec, ...]) -> int:
    if sampler != "grid":
        return DEFAULT_TRIALS
    size = 1
    for spec in specs:
        size *= len(spec.grid())
    return size


# -- the plan: new, or stored --------------------------------------------------------------


def _new_plan(lab: Lab, pipeline: Pipeline, config: SweepConfig) -> _Plan:
    stage = _stage(pipeline, config.stage)
    if not config.params:
        raise InvalidSweep("nothing to sweep", hint="--param train.lr=0.001:0.1:log")
    if not config.metric:
        raise InvalidSweep("no metric to optimise", hint="--metric val/auc --direction max")
    if config.sampler not in ("grid", "random", "tpe"):
        raise InvalidSweep(f"unknown sampler {config.sampler!r}", hint="grid, random or tpe")
    if config.direction not in ("min", "max"):
        raise InvalidSweep(f"unknown direction {config.direction!r}", hint="min or max")
    specs = tuple(parse_param(p) for p in config.params)
    check_keys(list(specs), stage)
    if config.sampler == "grid":
        for spec in specs:
            spec.grid()
    name = config.name or _default_name(stage.name)
    if not re.fullmatch(r"[\w.@-]+", name):
        raise InvalidSweep(f"sweep name {name!r}", hint="letters, digits, . _ - @ only")
    folder = sweeps_folder(lab) / name
    if (folder / "sweep.json").exists():
        raise InvalidSweep(
            f"a sweep named {name!r} exists already", hint=f"continue it: --resume {name}"
        )
    trials = config.trials or _default_trials(config.sampler, specs)
    plan = _Plan(
        name, folder, stage, specs, config.metric, config.direction, config.sampler,
        config.seed, config.prune, config.startup_trials, trials, config.params,
    )  # fmt: skip
    _store_plan(plan)
    return plan


def _default_name(stage: str) -> str:
    return re.sub(r"[^\w.-]+", "_", stage) + time.strftime("-%Y%m%d-%H%M%S")


def _store_plan(plan: _Plan) -> None:
    from rigml._output import write_output

    meta = {
        "name": plan.name,
        "stage": plan.stage.name,
        "params": list(plan.params),
        "metric": plan.metric,
        "direction": plan.direction,
        "sampler": plan.sampler,
        "seed": plan.seed,
        "prune": plan.prune,
        "startup_trials": plan.startup_trials,
        "trials": plan.trials,
    }
    write_output(plan.folder / "sweep.json", json.dumps(meta, indent=2) + "\n", parents=True)


def _load_plan(lab: Lab, pipeline: Pipeline, config: SweepConfig) -> _Plan:
    name = config.name or ""
    folder = sweeps_folder(lab) / name
    try:
        meta = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SweepNotFound(name, list_sweeps(lab)) from None
    stage = _stage(pipeline, str(meta["stage"]))
    _check_same(name, meta, config)
    specs = tuple(parse_param(p) for p in meta["params"])
    check_keys(list(specs), stage)
    stored = int(meta.get("trials") or _default_trials(meta["sampler"], specs))
    plan = _Plan(
        name, folder, stage, specs, meta["metric"], meta["direction"], meta["sampler"],
        meta["seed"], bool(meta["prune"]), int(meta["startup_trials"]), config.trials or stored,
        tuple(meta["params"]),
    )  # fmt: skip
    if plan.trials != stored:  # --trials on resume: the sweep's new total
        _store_plan(plan)
    return plan


def _check_same(name: str, meta: dict[str, Any], config: SweepConfig) -> None:
    """Options given with ``--resume`` must be those the sweep was started with."""
    given = {
        "stage": config.stage or None,
        "params": list(config.params) or None,
        "metric": config.metric,
    }
    for key, value in given.items():
        if value is not None and value != meta[key]:
            raise InvalidSweep(
                f"sweep {name!r} was started with {key} {meta[key]!r}, not {value!r}",
                hint=f"`rig sweep --resume {name}` alone keeps its options; or start a new sweep",
            )


def list_sweeps(lab: Lab) -> list[str]:
    """The names of the sweeps stored in ``lab``."""
    folder = sweeps_folder(lab)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "sweep.json").is_file())


def _stage(pipeline: Pipeline, name: str) -> Stage:
    from rigml.errors import UnknownStage

    if name not in pipeline.stages:
        raise UnknownStage(name, list(pipeline.stages))
    return pipeline.stages[name]


# -- resources ------------------------------------------------------------------------------


def _gpus(given: tuple[int, ...] | None) -> tuple[int, ...]:
    if given is not None:
        return given
    from rigml.machine.readings import read_gpus

    reading = read_gpus(live=False)
    return tuple(g.index for g in reading.gpus) if reading.available else ()


def trial_slots(stage: Stage, jobs: int, gpus: tuple[int, ...]) -> list[tuple[int, ...] | None]:
    """One entry per concurrent trial: the GPUs it gets (None: GPUs left as they are).

    A stage that says ``resources: {gpus: N}`` gets N GPUs a trial; one that says nothing
    gets one GPU a trial when the machine has GPUs. ``cpus`` caps trials at the CPU count.

    Raises:
        InvalidSweep: the stage needs more GPUs than there are.
    """
    res = stage.resources or {}
    declared = res.get("gpus")
    need = int(declared) if declared is not None else (1 if gpus else 0)
    if need > len(gpus):
        raise InvalidSweep(
            f"stage {stage.name!r} needs {need} GPU(s) a trial; this machine has {len(gpus)}",
            hint="lower `resources: gpus` in rig.yaml",
        )
    count = jobs if need == 0 else min(jobs, len(gpus) // need)
    cpus = res.get("cpus")
    if cpus:
        count = max(1, min(count, int((os.cpu_count() or 1) // float(cpus))))
    if need == 0:
        return [() if declared == 0 else None for _ in range(count)]
    return [gpus[i * need : (i + 1) * need] for i in range(count)]


# -- the study ------------------------------------------------------------------------------


def _study(optuna: Any, plan: _Plan, parallel: int) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    plan.folder.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(plan.folder / "study.journal")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant_liar and friends are "experimental"
        study = optuna.create_study(
            study_name=plan.name,
            storage=storage,
            direction="maximize" if plan.direction == "max" else "minimize",
            sampler=_sampler(optuna, plan, parallel),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=plan.startup_trials)
            if plan.prune
            else optuna.pruners.NopPruner(),
            load_if_exists=True,
        )
        done = len(study.get_trials(deepcopy=False))
        if done and plan.seed is not None:  # a resumed seeded sweep must not repeat itself
            study.sampler = _sampler(optuna, replace(plan, seed=plan.seed + done), parallel)
    return study


def _sampler(optuna: Any, plan: _Plan, parallel: int) -> Any:
    seed = plan.seed
    if plan.sampler in ("grid", "random"):  # a grid is enqueued: see _enqueue_grid
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=plan.startup_trials, constant_liar=parallel > 1
    )


def _enqueue_grid(plan: _Plan, study: Any) -> None:
    """A new grid sweep: every point enqueued once, in order (Optuna's GridSampler would
    call ``study.stop()``, which only works inside ``study.optimize``)."""
    import itertools

    if plan.sampler != "grid" or study.get_trials(deepcopy=False):
        return
    keys = [s.key for s in plan.specs]
    for values in itertools.product(*(s.grid() for s in plan.specs)):
        study.enqueue_trial(dict(zip(keys, values, strict=True)), skip_if_exists=False)


def _killed(optuna: Any, t: Any) -> bool:
    """A trial stopped by Ctrl-C (``rig.state`` killed), or left running by a crash."""
    failed = t.state == optuna.trial.TrialState.FAIL
    return bool(failed and t.user_attrs.get("rig.state", "killed") == "killed")


def _counted(optuna: Any, study: Any) -> int:
    """Trials that count toward ``trials``: all that ended, except those killed."""
    trials = study.get_trials(deepcopy=False)
    return sum(1 for t in trials if t.state.is_finished() and not _killed(optuna, t))


def _requeue_killed(optuna: Any, study: Any) -> None:
    """On resume: a trial a crash left running is failed; killed trials are enqueued again."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        later = [u.params for u in trials if u.number > t.number]
        if _killed(optuna, t) and t.params and t.params not in later:
            study.enqueue_trial(t.params, skip_if_exists=False)


# -- running trials -------------------------------------------------------------------------


@dataclass
class _Context:
    lab: Lab
    pipeline: Pipeline
    plan: _Plan
    optuna: Any
    study: Any
    on_output: Callable[[str, str], None] | None
    cancel: threading.Event = field(default_factory=threading.Event)
    executors: set[_TrialExecutor] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class _Done:
    state: TrialState
    value: float | None
    run_id: str | None
    note: str | None = None


def _run_upstream(
    lab: Lab, pipeline: Pipeline, stage: Stage, on_output: Callable[[str, str], None] | None
) -> None:
    from rigml.pipeline._graph import build_graph
    from rigml.pipeline._runner import run_pipeline

    ups = build_graph(pipeline.stages).upstream[stage.name]
    if ups:
        run_pipeline(lab, pipeline, targets=sorted(ups), on_output=on_output)


def _drive(
    ctx: _Context,
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


def _stop_all(ctx: _Context, running: dict[Future[_Done], tuple[Any, int]]) -> None:
    ctx.cancel.set()
    with ctx.lock:
        executors = list(ctx.executors)
    for executor in executors:
        executor.stop()
    wait(list(running))
    for future, (trial, _slot) in running.items():
        done = _outcome(future)
        _tell(ctx, trial, replace(done, state="killed", note=done.note or "interrupted"))


def _tell(ctx: _Context, trial: Any, done: _Done) -> TrialResult:
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


def _trial(ctx: _Context, trial: Any, slot: int, gpus: tuple[int, ...] | None) -> _Done:
    """Run one trial: its slot folder, its params, the stage, then its objective."""
    from rigml.pipeline._stage import Session, execute_stage

    plan, root = ctx.plan, ctx.pipeline.root
    folder = _prepare_slot(ctx, slot, dict(trial.params))
    env = {"RIG_SWEEP": plan.name, "RIG_TRIAL": str(trial.number)}
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
    executor = _TrialExecutor(ctx, trial)
    with ctx.lock:
        ctx.executors.add(executor)
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
    try:
        result = execute_stage(session, plan.stage)
    finally:
        with ctx.lock:
            ctx.executors.discard(executor)
    if executor.pruned:
        return _Done("pruned", executor.last, result.run_id, executor.note)
    if result.action == "killed" or (result.action == "not run" and ctx.cancel.is_set()):
        return _Done("killed", None, result.run_id, "interrupted")
    if result.action != "ran":
        tail = "\n".join(result.tail[-3:])
        return _Done("failed", None, result.run_id, f"exit code {result.exit_code}: {tail}")
    return _objective(ctx, folder, result.run_id)


def _prepare_slot(ctx: _Context, slot: int, values: dict[str, Any]) -> Path:
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


def _objective(ctx: _Context, folder: Path, run_id: str | None) -> _Done:
    """The metric from the stage's metrics files, else the last value its run logged."""
    from rigml.pipeline._params import flatten
    from rigml.pipeline._stage import _read_metrics

    metric = ctx.plan.metric
    for rel in ctx.plan.stage.metrics:
        with contextlib.suppress(OSError, ValueError):
            data = _read_metrics(folder / rel)
            value = flatten(data).get(metric, data.get(metric) if isinstance(data, dict) else None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return _Done("complete", float(value), run_id)
    if run_id:
        from rigml.track.queries import get_run

        value = get_run(ctx.lab, run_id).metrics.get(metric)
        if value is not None:
            return _Done("complete", float(value), run_id)
    return _Done("failed", None, run_id, f"the stage reported no metric {metric!r}")


class _TrialExecutor:
    """A local executor for one trial that reports intermediate values and prunes."""

    name = "local"

    def __init__(self, ctx: _Context, trial: Any) -> None:
        from rigml.pipeline._executor import LocalExecutor

        self.ctx, self.trial = ctx, trial
        self.inner = LocalExecutor()
        self.pruned = False
        self.last: float | None = None
        self.note: str | None = None
        self._seen = -1

    def run(self, job: Job) -> Outcome:
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
        self.inner.stop()

    def _watch(self, run_id: str, finished: threading.Event) -> None:
        while not finished.wait(POLL_S):
            with contextlib.suppress(Exception):  # a read that fails is tried again
                if self._report(run_id):
                    self.pruned = True
                    self.note = f"pruned at step {self._seen}"
                    self.inner.stop()
                    return

    def _report(self, run_id: str) -> bool:
        from rigml.track.queries import load_history

        history = load_history(self.ctx.lab, run_id, self.ctx.plan.metric)
        new = False
        for step, value in zip(history.steps.tolist(), history.values.tolist(), strict=True):
            if step > self._seen:
                self.trial.report(float(value), int(step))
                self._seen, self.last, new = int(step), float(value), True
        return new and bool(self.trial.should_prune())


# -- the result ------------------------------------------------------------------------------


def sweep_report(lab: Lab, pipeline: Pipeline, name: str) -> SweepReport:
    """The trials of the stored sweep ``name``, best first.

    Raises:
        SweepNotFound: no such sweep.
    """
    optuna = _import_optuna()
    plan = _load_plan(lab, pipeline, SweepConfig(stage="", name=name, resume=True))
    return _report(optuna, plan, _study(optuna, plan, 1))


def _report(optuna: Any, plan: _Plan, study: Any) -> SweepReport:
    rows = [_row(optuna, t) for t in study.get_trials(deepcopy=False)]
    sign = -1.0 if plan.direction == "max" else 1.0

    def key(t: TrialResult) -> tuple[int, float, int]:
        value = sign * t.value if t.state == "complete" and t.value is not None else 0.0
        return _ORDER[t.state], value, t.number

    rows.sort(key=key)
    logs = tuple(s.key for s in plan.specs if s.kind == "log")
    return SweepReport(plan.name, plan.stage.name, plan.metric, plan.direction, tuple(rows), logs)


def _row(optuna: Any, t: Any) -> TrialResult:
    attrs = t.user_attrs
    state: TrialState = "running"
    if t.state != optuna.trial.TrialState.RUNNING:
        state = "killed" if _killed(optuna, t) else attrs.get("rig.state", "failed")
    value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
    if state == "pruned" and t.intermediate_values:
        value = t.intermediate_values[max(t.intermediate_values)]
    return TrialResult(t.number, dict(t.params), value, state, attrs.get("rig.run_id"),
                       attrs.get("rig.note"))  # fmt: skip
