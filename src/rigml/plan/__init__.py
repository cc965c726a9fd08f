"""Placement: local or cloud, what it costs, its carbon, and the staged upgrade plan.

Names load lazily (PEP 562): importing ``rigml.plan`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.plan.carbon import intensity
    from rigml.plan.prices import load_prices
    from rigml.plan.staged import make_plan
    from rigml.plan.tco import monthly_costs
    from rigml.plan.tco import tco as tco_report
    from rigml.plan.usage import usage as usage_report
    from rigml.plan.workloads import load_workloads, parse_flag, workload

__all__ = [
    "intensity",
    "load_prices",
    "load_workloads",
    "make_plan",
    "monthly_costs",
    "parse_flag",
    "tco_report",
    "usage_report",
    "workload",
]

# public name -> (module, attribute); tco and usage are renamed so that they do not clash
# with their modules (rigml.plan.tco, rigml.plan.usage) once those are imported
_LAZY = {
    "intensity": ("carbon", "intensity"),
    "load_prices": ("prices", "load_prices"),
    "load_workloads": ("workloads", "load_workloads"),
    "make_plan": ("staged", "make_plan"),
    "monthly_costs": ("tco", "monthly_costs"),
    "parse_flag": ("workloads", "parse_flag"),
    "tco_report": ("tco", "tco"),
    "usage_report": ("usage", "usage"),
    "workload": ("workloads", "workload"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'rigml.plan' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rigml.plan.{target[0]}"), target[1])


def __dir__() -> list[str]:
    return sorted(__all__)
