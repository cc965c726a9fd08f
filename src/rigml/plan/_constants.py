"""Figures every part of the placement package shares: the month, the power fallbacks.

One place for each, so a plan, ``rig cost`` and ``rig cost usage`` cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigml.fit.catalogue import Gpu

HOURS_PER_MONTH = 730.0
"""8,760 hours a year / 12."""
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
REST_OF_SYSTEM_W = 100.0
"""CPU, RAM, board, fans and PSU losses of a desktop while its GPU works: a typical
figure, used when RAPL cannot be read."""
UNKNOWN_GPU_W = 300.0
"""A GPU whose board power the table does not give."""


def board_power_w(gpu: Gpu | None) -> float:
    """The catalogue board power of ``gpu`` (an upper bound under load), 300 W when the
    table gives none, 0 without a GPU."""
    if gpu is None:
        return 0.0
    return float(gpu.tdp_w or UNKNOWN_GPU_W)


def system_power_w(gpu: Gpu | None) -> float:
    """A desktop with ``gpu`` under load: board power + :data:`REST_OF_SYSTEM_W`."""
    return board_power_w(gpu) + REST_OF_SYSTEM_W
