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

from rigml.plan._assess import REPEATED, Assessment, MachineFacts, assess, machine_facts
from rigml.plan.rules import DECISIONS, FIXES, RULES, Outcome, decide

if TYPE_CHECKING:
    from pathlib import Path

    from rigml.lab import Lab
    from rigml.plan.prices import Figure, PriceCatalogue
    from rigml.plan.workloads import Workload

__all__ = ["Plan", "PlanInputs", "Stage", "WorkloadPlan", "make_plan"]


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
            "purchase_usd": self.outcome.purchase_usd,
            "break_even_hours": _break_even_hours(self),
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


def _break_even_hours(p: WorkloadPlan) -> float | None:
    """GPU hours a month above which the purchase the deciding rule weighed pays back.

    Only for cloud-burst and targeted-upgrade decisions that weighed a card (with, where the
    rule added one, a desktop base): the same amount and the same arithmetic
    (``tco.break_even_hours``) as the decision, so the two cannot disagree.
    """
    from rigml.fit import catalogue
    from rigml.plan._constants import system_power_w
    from rigml.plan.tco import break_even_hours

    o, a = p.outcome, p.assessment
    if o.decision not in ("cloud-burst", "targeted-upgrade") or o.purchase_usd is None:
        return None
    if o.card is None or a.offer is None:
        return None
    return break_even_hours(
        a.offer,
        o.purchase_usd,
        system_power_w(catalogue.gpu(o.card)),
        a.prices,
        a.years * 12,
        a.storage_gb,
        a.egress_gb,
    )


def _now_stage(plans: list[WorkloadPlan], decision: str) -> Stage:
    do = [
        f"{p.assessment.workload.label}: {DECISIONS[p.decision]}"
        + (f": {p.outcome.action}" if p.outcome.action else "")
        for p in plans
    ]
    return Stage(
        "Now",
        do,
        f"overall {DECISIONS[decision]}: each workload takes the first rule that decides "
        "(fits_now, first_bottleneck, targeted_upgrade, cloud_burst, always_on_server, "
        "bigger_machine)",
        "`rig watch -- <your command>` on each workload: a finding that names a different "
        "constraint changes the first bottleneck and with it the rule that decides",
    )


def _month_line(p: WorkloadPlan) -> str:
    """What a month of tracked hours would confirm or change for one workload."""
    h = _break_even_hours(p)
    w, o = p.assessment.workload, p.outcome
    if h is None:
        return (
            f"{w.label}: keep the decision unless tracked hours differ from the "
            f"planned {w.hours_per_month:,.0f} h by half or more"
        )
    base = "" if o.purchase_usd == p.assessment.upgrade_usd else " with a desktop base"
    what = f"${o.purchase_usd:,.0f} ({o.card}{base})"
    months = p.assessment.years * 12
    planned = f"(planned {w.hours_per_month:,.0f} h)"
    if h == 0:
        return (
            f"{w.label}: buying {what} pays back within {months:.0f} months at any use: "
            "the cloud's storage and egress alone cost more a month than the purchase's "
            f"depreciation {planned}; check those figures"
        )
    if o.decision == "cloud-burst":
        return (
            f"{w.label}: keep renting; buying {what} would pay back within "
            f"{months:.0f} months only if tracked GPU time exceeds {h:,.0f} h a month {planned}"
        )
    return (
        f"{w.label}: the upgrade ({what}) pays back within {months:.0f} months "
        f"while tracked GPU time stays above {h:,.0f} h a month {planned}; below that, rent"
    )


def _month_stage(plans: list[WorkloadPlan], tracked: tuple[float, int] | None) -> Stage:
    do: list[str] = []
    if tracked is not None:
        do.append(
            f"this lab tracked {tracked[0]:,.1f} h of runs in the last 30 days ({tracked[1]} "
            "runs): compare that figure with the planned hours below"
        )
    do += [_month_line(p) for p in plans]
    return Stage(
        "After a month of evidence",
        do,
        "buy when measured use passes the break-even hours: the hours a month at which the "
        "purchase the decision weighed, divided by the depreciation months, equals the "
        "cloud bill (compute, storage, egress) minus local electricity; otherwise rent",
        "`rig cost usage --since 30d`: tracked run hours, measured energy, and what they "
        "cost locally and would have cost in the cloud",
    )


def _repeated_stage(plans: list[WorkloadPlan]) -> Stage:
    do = [
        f"{p.assessment.workload.label}: when {b.constraint} repeats, "
        + FIXES.get(b.constraint, "see the finding")
        for p in plans
        if (b := p.assessment.first) is not None
    ]
    return Stage(
        "At the first repeated bottleneck",
        do,
        f"a constraint recorded in {REPEATED} or more `rig watch` sessions is repeated: fix "
        "that constraint with the cheapest move that addresses it, nothing else",
        "the findings table (`rig watch` records each finding with its numbers); a new "
        "constraint repeating moves the plan to its fix",
    )


def _stages(
    plans: list[WorkloadPlan], decision: str, tracked: tuple[float, int] | None = None
) -> list[Stage]:
    """Now, after a month of evidence, at the first repeated bottleneck."""
    return [_now_stage(plans, decision), _month_stage(plans, tracked), _repeated_stage(plans)]


def _tracked(lab: Lab, now: float) -> tuple[float, int] | None:
    """Hours and number of the lab's runs that started in the last 30 days."""
    from rigml.track.queries import list_runs

    cutoff = now - 30 * 86400
    runs = list_runs(lab, where=f"start_time >= {cutoff!r}", details=False)
    if not runs:
        return None
    hours = sum(max(0.0, (r.end_time or now) - r.start_time) for r in runs) / 3600
    return hours, len(runs)


@dataclass(frozen=True)
class PlanInputs:
    """The settings of a plan, as ``rig plan``'s flags give them.

    Attributes:
        horizon_months: Months the plan covers (1 to 36).
        years: Depreciation period of hardware (above 0, at most 15).
        electricity_usd_per_kwh: Your price, instead of the catalogue's.
        storage_gb / egress_gb: Cloud storage kept and egress a month, as ``rig cost``
            (``--storage-gb``, ``--egress-gb``); default the same figures.
        prices_path: A price file on top of the shipped catalogue.
    """

    horizon_months: int = 6
    years: float = 3.0
    electricity_usd_per_kwh: float | None = None
    storage_gb: float | None = None
    egress_gb: float | None = None
    prices_path: str | Path | None = None


def _checked(i: PlanInputs) -> tuple[float, float]:
    """Refuse impossible settings; return the storage and egress figures to use.

    Raises:
        InvalidAssumption: ``years`` not above 0 and at most 15, a negative price or size,
            a horizon outside 1 to 36 months.
    """
    from rigml.errors import InvalidAssumption
    from rigml.plan.tco import DEFAULT_EGRESS_GB, DEFAULT_STORAGE_GB, check_positive, check_years

    check_years(i.years)
    check_positive("electricity price", i.electricity_usd_per_kwh, zero=True)
    check_positive("storage", i.storage_gb, zero=True)
    check_positive("egress", i.egress_gb, zero=True)
    h = i.horizon_months
    if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 36:
        raise InvalidAssumption("months", h, "a whole number from 1 to 36")
    storage = DEFAULT_STORAGE_GB if i.storage_gb is None else i.storage_gb
    egress = DEFAULT_EGRESS_GB if i.egress_gb is None else i.egress_gb
    return storage, egress


def _catalogue(
    i: PlanInputs, prices: PriceCatalogue | None, today: dt.date | None
) -> PriceCatalogue:
    """The catalogue in force, with the given electricity price in place of its own."""
    from dataclasses import replace

    from rigml.plan.prices import Figure, load_prices

    prices = prices or load_prices(i.prices_path)
    if i.electricity_usd_per_kwh is None:
        return prices
    given = Figure(
        i.electricity_usd_per_kwh,
        "USD/kWh",
        "given with --electricity",
        "given",
        today or dt.date.today(),
    )
    return replace(prices, electricity=given)


def _assumptions(
    i: PlanInputs,
    kwh: Figure,
    storage: float,
    egress: float,
    facts: MachineFacts,
    lab: Lab | None,
    tracked: tuple[float, int] | None,
) -> list[str]:
    """What every figure of the plan rests on, for its Assumptions section."""
    from rigml.plan.tco import EQUAL_SPEED

    out = [
        "memory figures are the fit planner's estimates (rig fit), not measurements",
        f"GPU cards are priced at their street price where the catalogue has one (else the "
        f"list price) over {i.years:g} years of depreciation; local power = board power + "
        "100 W for the rest of the system",
        f"electricity ${kwh.value:g}/kWh ({kwh.what})",
        "cloud = on-demand price of the cheapest catalogue instance the fit planner says "
        f"fits, for the workload's hours, plus {storage:g} GB of storage kept all month and "
        f"{egress:g} GB of egress a month at that provider's prices (as `rig cost` counts "
        "them; change with --storage-gb/--egress-gb)",
        EQUAL_SPEED,
        "a GPU this machine already has costs only electricity: a workload it runs is never "
        "weighed against buying it again",
    ]
    if facts.sessions == 0:
        out.append(
            "no `rig watch` session is recorded in this lab: bottlenecks come from the fit "
            "planner, the machine profile and what is typical for each family"
        )
    if lab is not None:
        out.append(
            "tracked use: "
            + (
                f"{tracked[0]:,.1f} h over {tracked[1]} runs in the last 30 days (this lab)"
                if tracked
                else "this lab has no runs in the last 30 days yet"
            )
        )
    return out


def _dates_used(plans: list[WorkloadPlan], prices: PriceCatalogue) -> list[dt.date]:
    """The dates of the figures the decisions rest on, for the prices' age line."""
    used = [prices.electricity.as_of]
    for p in plans:
        if p.assessment.offer is not None:
            used.append(p.assessment.offer.as_of)
        if p.outcome.card is not None and (hw := prices.hardware_for(p.outcome.card)):
            used.append(hw.price_as_of)
    return used


def make_plan(
    workloads: list[Workload],
    inputs: PlanInputs | None = None,
    *,
    lab: Lab | None = None,
    facts: MachineFacts | None = None,
    prices: PriceCatalogue | None = None,
    today: dt.date | None = None,
) -> Plan:
    """Decide each workload with :data:`~rigml.plan.rules.RULES` and stage the plan.

    ``facts`` (default: this machine and ``lab``'s findings) and ``prices`` (default: the
    catalogue ``inputs.prices_path`` gives) replace what would be measured or loaded.

    Raises:
        InvalidAssumption: ``years`` not above 0 and at most 15, a negative price.
        UnknownModel, InvalidInput: a workload's model or fit settings are invalid.
    """
    i = inputs or PlanInputs()
    storage, egress = _checked(i)
    prices = _catalogue(i, prices, today)
    facts = facts or machine_facts(lab)
    plans = []
    for w in workloads:
        a = assess(w, facts, prices, years=i.years, storage_gb=storage, egress_gb=egress)
        outcome, trail = decide(a)
        plans.append(WorkloadPlan(a, outcome, trail))
    decision = _overall(plans) if plans else "keep"
    tracked = _tracked(lab, time.time()) if lab is not None else None
    return Plan(
        created=time.time(),
        horizon_months=i.horizon_months,
        machine=facts,
        workloads=plans,
        decision=decision,
        stages=_stages(plans, decision, tracked),
        prices_line=prices.age_line(today, _dates_used(plans, prices)),
        assumptions=_assumptions(i, prices.electricity, storage, egress, facts, lab, tracked),
    )
