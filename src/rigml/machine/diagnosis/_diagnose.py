"""Every rule by name, and :func:`diagnose`, which runs them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml.machine.diagnosis._gpu import _starved_gpu, _throttling
from rigml.machine.diagnosis._memory import _ram_pressure, _swap_thrashing, _vram_exhausted
from rigml.machine.diagnosis._model import _SEVERITY_ORDER, CONSTRAINTS, THRESHOLDS, Context
from rigml.machine.diagnosis._system import _cpu_bound, _disk_filling, _io_bound

if TYPE_CHECKING:
    from collections.abc import Callable

    from rigml.machine.diagnosis._model import Finding, Thresholds
    from rigml.machine.timeline import Timeline

if TYPE_CHECKING:
    Rule = Callable[[Timeline, Context, Thresholds], list[Finding]]

RULES: dict[str, Rule] = {
    "vram_exhausted": _vram_exhausted,
    "ram_pressure": _ram_pressure,
    "swap_thrashing": _swap_thrashing,
    "throttling": _throttling,
    "starved_gpu": _starved_gpu,
    "disk_filling": _disk_filling,
    "cpu_bound": _cpu_bound,
    "io_bound": _io_bound,
}
"""Every rule by name; ``throttling`` yields ``thermal_throttling`` and ``power_throttling``."""


def diagnose(
    timeline: Timeline,
    context: Context | None = None,
    *,
    thresholds: Thresholds | None = None,
) -> list[Finding]:
    """Run every rule over ``timeline``; the most severe findings first.

    Args:
        timeline: The samples, e.g. from :func:`rigml.machine.watch.watch`.
        context: How the workload ended and what it printed; empty by default.
        thresholds: The figures the rules use; :data:`THRESHOLDS` by default.

    Returns:
        The findings, each with its evidence; an empty list when nothing held the
        workload back (or there were too few samples to tell).
    """
    ctx = context or Context()
    th = thresholds or THRESHOLDS
    found: list[Finding] = []
    for rule in RULES.values():
        found.extend(rule(timeline, ctx, th))
    order = {c: i for i, c in enumerate(CONSTRAINTS)}
    return sorted(found, key=lambda f: (_SEVERITY_ORDER[f.severity], order[f.constraint]))
