"""Placement: local or cloud, what it costs, its carbon, and the staged upgrade plan.

Each function has one name, the same here and in its module (``tco_report`` lives in
``rigml.plan.tco``, ``usage_report`` in ``rigml.plan.usage``), so no name is shadowed by a
submodule once that is imported. Names load lazily (PEP 562): importing ``rigml.plan``
costs nothing until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml._lazy import attach as _attach

if TYPE_CHECKING:
    from rigml.plan.carbon import GridIntensity, intensity, known_regions
    from rigml.plan.prices import PriceCatalogue, load_prices
    from rigml.plan.rules import Outcome
    from rigml.plan.staged import Plan, PlanInputs, Stage, WorkloadPlan, make_plan
    from rigml.plan.tco import MonthlyCosts, TcoInputs, TcoReport, monthly_costs, tco_report
    from rigml.plan.usage import RunCost, UsageInputs, UsageReport, parse_since, usage_report
    from rigml.plan.workloads import Workload, load_workloads, parse_flag, workload

__all__ = [
    "GridIntensity",
    "MonthlyCosts",
    "Outcome",
    "Plan",
    "PlanInputs",
    "PriceCatalogue",
    "RunCost",
    "Stage",
    "TcoInputs",
    "TcoReport",
    "UsageInputs",
    "UsageReport",
    "Workload",
    "WorkloadPlan",
    "intensity",
    "known_regions",
    "load_prices",
    "load_workloads",
    "make_plan",
    "monthly_costs",
    "parse_flag",
    "parse_since",
    "tco_report",
    "usage_report",
    "workload",
]

# public name -> the module that defines it under that same name
_LAZY = {
    "GridIntensity": "carbon",
    "MonthlyCosts": "tco",
    "Outcome": "rules",
    "Plan": "staged",
    "PlanInputs": "staged",
    "PriceCatalogue": "prices",
    "RunCost": "usage",
    "Stage": "staged",
    "TcoInputs": "tco",
    "TcoReport": "tco",
    "UsageInputs": "usage",
    "UsageReport": "usage",
    "Workload": "workloads",
    "WorkloadPlan": "staged",
    "intensity": "carbon",
    "known_regions": "carbon",
    "load_prices": "prices",
    "load_workloads": "workloads",
    "make_plan": "staged",
    "monthly_costs": "tco",
    "parse_flag": "workloads",
    "parse_since": "usage",
    "tco_report": "tco",
    "usage_report": "usage",
    "workload": "workloads",
}

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
