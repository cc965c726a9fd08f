"""The staged plan: now, after a month of evidence, at the first repeated bottleneck.

:func:`make_plan` runs the decision rules for every workload and turns the result into
three stages, each with the rule that decides it and the measurement that would change
it, so the plan can be revisited with numbers rather than rewritten. :meth:`Plan.markdown`
is the file ``rig plan -o plan.md`` writes.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.plan.decide import (
    DECISIONS,
    RULES,
    Assessment,
    MachineFacts,
    Outcome,
    assess,
    decide,
    machine_facts,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rigml.lab import Lab
    from rigml.plan.prices import PriceCatalogue
    from rigml.plan.workloads import Workload

__all__ = ["Plan", "Stage", "WorkloadPlan", "make_plan"]

# What fixes each constraint once it repeats; the figure that shows it is the finding itself.
FIXES = {
    "vram": "a GPU with more memory (the card the plan names), or the cheapest mitigation "
    "`rig fit` lists",
    "compute": "a GPU (the card the plan names), or cloud bursts for the long runs",
    "memory-bandwidth": "a GPU with more bandwidth, or a smaller quantisation",
    "ram": "more RAM (the RAM upgrade in the price catalogue)",
    "swap": "more RAM: swapping while the GPU waits costs more than any other fix",
    "storage": "an NVMe drive for data and checkpoints; prune caches first (`rig doctor`)",
    "cpu": "more data-loader workers or vectorised transforms first; a faster CPU last",
    "starved_gpu": "more data-loader workers, pinned memory; a faster CPU last",
    "thermal": "airflow and fan curves, not new hardware",
    "power": "raise the power limit or a bigger PSU, not a new GPU",
    "network": "nothing local: caching and batching API calls",
}


@dataclass(frozen=True)
class WorkloadPlan:
    """One workload: its assessment, the deciding rule, and every rule's outcome."""

    assessment: Assessment
    outcome: Outcome
    trail: list[Outcome]

    @property
    def decision(self) -> str:
        return str(self.outcome.decision)

    def to_dict(self) -> dict[str, Any]:
        a = self.assessment
        return {
            "workload": a.workload.to_dict(),
            "can_do_now": a.doable,
            "how": a.how,
            "first_bottleneck": a.first.to_dict() if a.first else None,
            "second_bottleneck": a.second.to_dict() if a.second else None,
            "decision": self.outcome.decision,
            "decision_label": DECISIONS[self.decision],
            "action": self.outcome.action,
            "rule": self.outcome.rule,
            "trail": [o.to_dict() for o in self.trail],
            "upgrade_gpu": a.upgrade_gpu.name if a.upgrade_gpu else None,
            "upgrade_usd": a.upgrade_usd,
            "cloud_offer": a.offer.to_dict() if a.offer else None,
            "cloud_monthly_usd": a.cloud_monthly,
        }


@dataclass(frozen=True)
class Stage:
    """One step of the plan: what to do, the rule behind it, what would change it."""

    name: str
    do: list[str]
    rule: str
    measure: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "do": self.do, "rule": self.rule, "measure": self.measure}


@dataclass(frozen=True)
class Plan:
    """The whole answer of ``rig plan``; ``--json`` is :meth:`to_dict`."""

    created: float
    horizon_months: int
    machine: MachineFacts
    workloads: list[WorkloadPlan]
    decision: str
    stages: list[Stage]
    prices_line: str
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "horizon_months": self.horizon_months,
            "machine": self.machine.to_dict(),
            "decision": self.decision,
            "decision_label": DECISIONS[self.decision],
            "workloads": [w.to_dict() for w in self.workloads],
            "stages": [s.to_dict() for s in self.stages],
            "rules": [{"name": r.name, "question": r.question} for r in RULES],
            "prices": self.prices_line,
            "assumptions": self.assumptions,
            "is_estimate": True,
        }

    def markdown(self) -> str:
        """The plan as a Markdown document a user can keep next to their notes."""
        m = self.machine
        day = dt.datetime.fromtimestamp(self.created).strftime("%Y-%m-%d")
        lines = [
            f"# Placement plan ({day}, next {self.horizon_months} months)",
            "",
            f"**Decision: {DECISIONS[self.decision]}.**",
            "",
            f"Machine: {m.profile.archetype} ({m.profile.reason}); RAM {m.ram_gib:.0f} GiB "
            f"({m.profile.ram.band}), VRAM band {m.profile.vram.band}, storage band "
            f"{m.profile.storage.band}; {m.sessions} recorded `rig watch` session(s), "
            f"{len(m.findings)} finding(s).",
            "",
            "## Workloads",
            "",
            "| workload | h/month | can do now | first bottleneck | second | decision | rule |",
            "| --- | ---: | --- | --- | --- | --- | --- |",
        ]
        for w in self.workloads:
            a = w.assessment
            lines.append(
                f"| {a.workload.label} | {a.workload.hours_per_month:,.0f} | "
                f"{'yes' if a.doable else 'no'} | {a.first.constraint if a.first else '-'} | "
                f"{a.second.constraint if a.second else '-'} | {DECISIONS[w.decision]} | "
                f"`{w.outcome.rule}` |"
            )
        for w in self.workloads:
            a = w.assessment
            lines += ["", f"### {a.workload.label}: {a.workload.family.title}", ""]
            lines += [f"- {h}" for h in a.how]
            for label, b in (("First bottleneck", a.first), ("Second bottleneck", a.second)):
                if b is not None:
                    lines.append(f"- {label}: **{b.constraint}** ({b.source}): {b.evidence}")
            lines.append(f"- Decision: **{DECISIONS[w.decision]}**: {w.outcome.action}")
            lines.append(f"- Rule `{w.outcome.rule}`:")
            lines += [f"  - {e}" for e in w.outcome.evidence]
        lines += ["", "## Staged plan", ""]
        for s in self.stages:
            lines += [f"### {s.name}", ""]
            lines += [f"- {d}" for d in s.do]
            lines += [
                f"- Decision rule: {s.rule}",
                f"- Measurement that changes it: {s.measure}",
                "",
            ]
        lines += ["## Decision rules (`rig plan --explain`)", ""]
        for i, r in enumerate(RULES, 1):
            lines.append(f"{i}. **{r.name}**: {r.question} {' '.join(r.explanation.split())}")
        lines += ["", "## Assumptions", ""]
        lines += [f"- {x}" for x in self.assumptions]
        lines += [f"- {self.prices_line}", ""]
        return "\n".join(lines)


def _overall(plans: list[WorkloadPlan]) -> str:
    decisions = {p.decision for p in plans}
    if decisions == {"keep"}:
        return "keep"
    cloud = {"cloud-burst", "hybrid"}
    local = decisions - cloud - {"keep"}
    if "hybrid" in decisions or (decisions & cloud and decisions - cloud):
        return "hybrid"
    if decisions <= cloud | {"keep"}:
        return "cloud-burst"
    for d in ("single-gpu-desktop", "always-on-server", "targeted-upgrade"):
        if d in local:
            return d
    return "keep"


def _break_even_hours(a: Assessment) -> float | None:
    """GPU hours a month above which the upgrade card pays back within the period."""
    if a.offer is None or a.upgrade_usd is None or a.upgrade_gpu is None:
        return None
    from rigml.plan.energy import REST_OF_SYSTEM_W

    watts = (a.upgrade_gpu.tdp_w or 300.0) + REST_OF_SYSTEM_W
    per_hour = a.offer.usd_per_hour - watts / 1000 * a.prices.electricity.value
    if per_hour <= 0:
        return None
    return a.upgrade_usd / (a.years * 12) / per_hour


def _stages(plans: list[WorkloadPlan], decision: str) -> list[Stage]:
    now = [
        f"{p.assessment.workload.label}: {DECISIONS[p.decision]}"
        + (f": {p.outcome.action}" if p.outcome.action else "")
        for p in plans
    ]
    now_rule = (
        f"overall {DECISIONS[decision]}: each workload takes the first rule that decides "
        "(fits_now, first_bottleneck, targeted_upgrade, cloud_burst, always_on_server, "
        "bigger_machine)"
    )
    month: list[str] = []
    for p in plans:
        h = _break_even_hours(p.assessment)
        w = p.assessment.workload
        if h is not None and p.assessment.upgrade_gpu is not None:
            month.append(
                f"{w.label}: buy a {p.assessment.upgrade_gpu.name} if tracked GPU time exceeds "
                f"{h:,.0f} h a month (planned {w.hours_per_month:,.0f} h); below that, rent"
            )
        else:
            month.append(
                f"{w.label}: keep the decision unless tracked hours differ from the "
                f"planned {w.hours_per_month:,.0f} h by half or more"
            )
    repeated_do = []
    for p in plans:
        a = p.assessment
        b = a.first
        if b is not None:
            repeated_do.append(
                f"{a.workload.label}: when {b.constraint} repeats, "
                + FIXES.get(b.constraint, "see the finding")
            )
    return [
        Stage(
            "Now",
            now,
            now_rule,
            "`rig watch -- <your command>` on each workload: a finding that names a different "
            "constraint changes the first bottleneck and with it the rule that decides",
        ),
        Stage(
            "After a month of evidence",
            month,
            "buy when measured use passes the break-even hours (card price / depreciation "
            "months / (cloud hourly price - local energy per hour)); otherwise rent",
            "`rig cost usage --since 30d`: tracked run hours, measured energy, and what they "
            "cost locally and would have cost in the cloud",
        ),
        Stage(
            "At the first repeated bottleneck",
            repeated_do,
            f"a constraint recorded in {2} or more `rig watch` sessions is repeated: fix that "
            "constraint with the cheapest move that addresses it, nothing else",
            "the findings table (`rig watch` records each finding with its numbers); a new "
            "constraint repeating moves the plan to its fix",
        ),
    ]


def make_plan(
    workloads: list[Workload],
    *,
    lab: Lab | None = None,
    facts: MachineFacts | None = None,
    prices: PriceCatalogue | None = None,
    prices_path: str | Path | None = None,
    horizon_months: int = 6,
    years: float = 3.0,
    today: dt.date | None = None,
) -> Plan:
    """Decide each workload with :data:`~rigml.plan.decide.RULES` and stage the plan.

    Raises:
        InvalidAssumption: ``years`` is not positive.
        UnknownModel, InvalidInput: a workload's model or fit settings are invalid.
    """
    from rigml.plan.prices import load_prices
    from rigml.plan.tco import check_positive

    check_positive("depreciation years", years)
    prices = prices or load_prices(prices_path)
    facts = facts or machine_facts(lab)
    plans = []
    for w in workloads:
        a = assess(w, facts, prices, years=years)
        outcome, trail = decide(a)
        plans.append(WorkloadPlan(a, outcome, trail))
    decision = _overall(plans) if plans else "keep"
    assumptions = [
        "memory figures are the fit planner's estimates (rig fit), not measurements",
        f"GPU cards are compared at catalogue prices and board power over {years:g} years "
        "of depreciation; local power = board power + 100 W for the rest of the system",
        "cloud = on-demand price of the cheapest catalogue instance the fit planner says "
        "fits, for the workload's hours only",
    ]
    if facts.sessions == 0:
        assumptions.append(
            "no `rig watch` session is recorded in this lab: bottlenecks come from the fit "
            "planner, the machine profile and what is typical for each family"
        )
    return Plan(
        created=time.time(),
        horizon_months=horizon_months,
        machine=facts,
        workloads=plans,
        decision=decision,
        stages=_stages(plans, decision),
        prices_line=prices.age_line(today),
        assumptions=assumptions,
    )
