"""A stage's ``resources`` (cpus, gpus, memory) against what a machine or a Ray node has.

One rule for every executor: :func:`fits` says whether a need fits what a place has
(``CPU``, ``GPU``, ``memory`` in bytes, Ray's names), and :func:`describe` words both. The
Ray executor asks it of each node; the local scheduler of ``rig run`` asks it of this
machine (:class:`Budget`), before anything runs (a stage no machine could ever run) and
before each start (what the running stages leave free). GPUs are handed out as devices
by :func:`take_gpus`, for stages and sweep trials alike, and reach a command through
``CUDA_VISIBLE_DEVICES`` (:func:`gpu_env`).

A stage that declares no ``cpus`` or ``memory`` takes none of the budget (``--jobs`` alone
limits it, as before); one that declares no ``gpus`` keeps ``CUDA_VISIBLE_DEVICES`` as it
is, and ``gpus: 0`` hides every GPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput

if TYPE_CHECKING:
    from rigml.pipeline._spec import Stage


@dataclass(frozen=True)
class Need:
    """What a stage declares: ``gpus`` None when it says nothing about GPUs."""

    cpus: float = 0.0
    gpus: int | None = None
    memory: int = 0

    def as_ray(self) -> dict[str, float]:
        return {"CPU": self.cpus, "GPU": float(self.gpus or 0), "memory": float(self.memory)}


@dataclass(frozen=True)
class Budget:
    """What stages may use at once: cores, GPU devices, bytes of memory (None: no limit)."""

    cpus: float
    gpus: tuple[int, ...] = ()
    memory: int | None = None

    def as_ray(self) -> dict[str, float]:
        have = {"CPU": self.cpus, "GPU": float(len(self.gpus))}
        if self.memory is not None:
            have["memory"] = float(self.memory)
        return have


def stage_need(stage: Stage) -> Need:
    """The stage's ``resources`` as numbers.

    Raises:
        InvalidInput: ``memory`` is not a size.
    """
    from rigml.pipeline._ray import memory_bytes

    res: Mapping[str, Any] = stage.resources or {}
    memory = res.get("memory")
    gpus = res.get("gpus")
    return Need(
        cpus=float(res.get("cpus") or 0),
        gpus=None if gpus is None else int(gpus),
        memory=0 if memory is None else memory_bytes(memory),
    )


def fits(need: Mapping[str, float], have: Mapping[str, float]) -> bool:
    """Whether every resource ``need`` asks for (above 0) is there in ``have``."""
    return all(have.get(k, 0.0) >= v for k, v in need.items() if v)


def describe(resources: Mapping[str, float]) -> str:
    """``cpus 4, gpus 1, memory 16.0 GiB`` (Ray's names in, rig.yaml's words out)."""
    from rigml._units import format_bytes

    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    parts = ([f"cpus {cpus:g}"] if cpus else []) + ([f"gpus {gpus:g}"] if gpus else [])
    if resources.get("memory"):
        parts.append(f"memory {format_bytes(resources['memory'])}")
    return ", ".join(parts) or "cpus 0"


def check_feasible(stages: Sequence[Stage], budget: Budget) -> None:
    """Refuse, before anything runs, a stage that needs more than the whole budget.

    Raises:
        InvalidInput: the first such stage, what it needs and what this machine has.
    """
    have = budget.as_ray()
    for stage in stages:
        need = stage_need(stage).as_ray()
        if not fits(need, have):
            raise InvalidInput(
                f"stage {stage.name!r} needs {describe(need)}; this machine has {describe(have)}",
                hint="lower the stage's resources in rig.yaml, or run it on a Ray cluster "
                "that has them (--executor ray)",
            )


def take_gpus(free: list[int], count: int) -> tuple[int, ...]:
    """Take ``count`` devices off the front of ``free`` (the caller checked there are)."""
    taken = tuple(free[:count])
    del free[:count]
    return taken


def gpu_env(devices: tuple[int, ...] | None) -> dict[str, str]:
    """``CUDA_VISIBLE_DEVICES`` for ``devices``; nothing for None (left as it is)."""
    if devices is None:
        return {}
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(d) for d in devices)}


def machine_gpus(given: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """This machine's GPU indices, as ``CUDA_VISIBLE_DEVICES`` (when set) leaves them."""
    if given is not None:
        return given
    from rigml.machine.readings import read_gpus

    reading = read_gpus(live=False)
    gpus = reading.gpus if reading.available else ()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return tuple(g.index for g in gpus)
    chosen: list[int] = []
    for item in (v.strip() for v in visible.split(",")):
        match = next((g.index for g in gpus if item in (str(g.index), g.uuid)), None)
        if match is None:
            break  # CUDA stops at the first device it does not know
        chosen.append(match)
    return tuple(chosen)


def machine_budget() -> Budget:
    """This machine: its logical cores, its visible GPUs, the memory available now."""
    from rigml.machine.readings import read_cpu, read_memory

    cpus = read_cpu().logical_cores or os.cpu_count() or 1
    try:
        memory: int | None = read_memory().available_bytes
    except (OSError, ValueError):
        memory = None
    return Budget(float(cpus), machine_gpus(), memory)


@dataclass(frozen=True)
class Grant:
    """What one running stage holds: its need, and its GPU devices (None: left as they are)."""

    need: Need
    devices: tuple[int, ...] | None


class Ledger:
    """What the running stages hold of a :class:`Budget`; used from the scheduler's thread."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.held: list[Grant] = []

    def take(self, need: Need) -> Grant | None:
        """A grant of ``need`` from what is free now, or None: it must wait."""
        budget, held = self.budget, self.held
        free = [g for g in budget.gpus if not any(g in (h.devices or ()) for h in held)]
        have = {"CPU": budget.cpus - sum(h.need.cpus for h in held), "GPU": float(len(free))}
        if budget.memory is not None:
            have["memory"] = float(budget.memory - sum(h.need.memory for h in held))
        if not fits(need.as_ray(), have):
            return None
        grant = Grant(need, None if need.gpus is None else take_gpus(free, need.gpus))
        held.append(grant)
        return grant

    def give(self, grant: Grant) -> None:
        self.held.remove(grant)
