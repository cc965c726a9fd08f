"""A sweep's plan: its space and options, stored as ``<lab>/sweeps/NAME/sweep.json``, and
the concurrent trials the stage's resources and this machine's GPUs allow."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidSweep, SweepNotFound
from rigml.pipeline._resources import take_gpus
from rigml.pipeline._sweep_space import ParamSpec, check_keys, parse_param

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.pipeline._spec import Pipeline, Stage
    from rigml.pipeline._sweep import Direction, Sampler, SweepConfig

DEFAULT_TRIALS = 20


@dataclass(frozen=True)
class Plan:
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


def sweeps_folder(lab: Lab) -> Path:
    return lab.path / "sweeps"


def list_sweeps(lab: Lab) -> list[str]:
    """The names of the sweeps stored in ``lab``."""
    folder = sweeps_folder(lab)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "sweep.json").is_file())


def new_plan(lab: Lab, pipeline: Pipeline, config: SweepConfig) -> Plan:
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
    trials = config.trials or default_trials(config.sampler, specs)
    plan = Plan(
        name, folder, stage, specs, config.metric, config.direction, config.sampler,
        config.seed, config.prune, config.startup_trials, trials, config.params,
    )  # fmt: skip
    _store_plan(plan)
    return plan


def default_trials(sampler: str, specs: tuple[ParamSpec, ...]) -> int:
    if sampler != "grid":
        return DEFAULT_TRIALS
    size = 1
    for spec in specs:
        size *= len(spec.grid())
    return size


def _default_name(stage: str) -> str:
    return re.sub(r"[^\w.-]+", "_", stage) + time.strftime("-%Y%m%d-%H%M%S")


def _store_plan(plan: Plan) -> None:
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


def load_plan(lab: Lab, pipeline: Pipeline, config: SweepConfig) -> Plan:
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
    stored = int(meta.get("trials") or default_trials(meta["sampler"], specs))
    plan = Plan(
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


def _stage(pipeline: Pipeline, name: str) -> Stage:
    from rigml.errors import UnknownStage

    if name not in pipeline.stages:
        raise UnknownStage(name, list(pipeline.stages))
    return pipeline.stages[name]


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
    free = list(gpus)
    return [take_gpus(free, need) for _ in range(count)]
