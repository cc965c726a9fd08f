"""The Optuna study of a sweep: an Optuna journal file in the lab, its sampler and pruner,
and the trials read back as :class:`~rigml.pipeline._sweep.TrialResult` rows.

optuna is imported only here and in the trial runner, through :func:`import_optuna`.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rigml.errors import MissingExtra

if TYPE_CHECKING:
    from rigml.pipeline._sweep import SweepReport, TrialResult, TrialState
    from rigml.pipeline._sweep_plan import Plan

_ORDER = {"complete": 0, "pruned": 1, "failed": 2, "killed": 3, "running": 4}


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise MissingExtra("sweep", module="optuna") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(optuna: Any, plan: Plan, parallel: int) -> Any:
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


def _sampler(optuna: Any, plan: Plan, parallel: int) -> Any:
    seed = plan.seed
    if plan.sampler in ("grid", "random"):  # a grid is enqueued: see enqueue_grid
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=plan.startup_trials, constant_liar=parallel > 1
    )


def enqueue_grid(plan: Plan, study: Any) -> None:
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


def counted(optuna: Any, study: Any) -> int:
    """Trials that count toward ``trials``: all that ended, except those killed."""
    trials = study.get_trials(deepcopy=False)
    return sum(1 for t in trials if t.state.is_finished() and not _killed(optuna, t))


def requeue_killed(optuna: Any, study: Any) -> None:
    """On resume: a trial a crash left running is failed; killed trials are enqueued again."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        later = [u.params for u in trials if u.number > t.number]
        if _killed(optuna, t) and t.params and t.params not in later:
            study.enqueue_trial(t.params, skip_if_exists=False)


def report_of(optuna: Any, plan: Plan, study: Any) -> SweepReport:
    from rigml.pipeline._sweep import SweepReport

    rows = [_row(optuna, t) for t in study.get_trials(deepcopy=False)]
    sign = -1.0 if plan.direction == "max" else 1.0

    def key(t: TrialResult) -> tuple[int, float, int]:
        value = sign * t.value if t.state == "complete" and t.value is not None else 0.0
        return _ORDER[t.state], value, t.number

    rows.sort(key=key)
    logs = tuple(s.key for s in plan.specs if s.kind == "log")
    return SweepReport(plan.name, plan.stage.name, plan.metric, plan.direction, tuple(rows), logs)


def _row(optuna: Any, t: Any) -> TrialResult:
    from rigml.pipeline._sweep import TrialResult

    attrs = t.user_attrs
    state: TrialState = "running"
    if t.state != optuna.trial.TrialState.RUNNING:
        state = "killed" if _killed(optuna, t) else attrs.get("rig.state", "failed")
    value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
    if state == "pruned" and t.intermediate_values:
        value = t.intermediate_values[max(t.intermediate_values)]
    return TrialResult(t.number, dict(t.params), value, state, attrs.get("rig.run_id"),
                       attrs.get("rig.note"))  # fmt: skip
