"""The placement decision: an explicit, ordered list of rules, each a named function.

For each workload the rules run in order until one decides; each returns its decision (or
``None`` to pass on) and the evidence it looked at, so ``rig plan --explain`` can show the
whole chain. The order is the framework itself: workload first, then the constraint it
hits first, then the cheapest sound move.

1. ``fits_now``: can the current machine do it, with no repeated bottleneck recorded?
2. ``first_bottleneck``: which constraint does it hit first and second, and is it repeated?
3. ``targeted_upgrade``: does one upgrade (RAM, NVMe, one GPU) fix it, and pay back? A
   constraint no part fixes (thermal, power, cpu...) is tuned, not bought away.
4. ``cloud_burst``: is renting by the hour cheaper than any local option?
5. ``always_on_server``: does it need to be up all day on a machine that is not?
6. ``bigger_machine``: only then, and only a machine that actually holds the workload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rigml.plan._assess import REPEATED, Assessment, Bottleneck
from rigml.plan._constants import system_power_w

__all__ = [
    "ALWAYS_ON_HOURS",
    "DECISIONS",
    "FIXES",
    "LOW_USE_HOURS",
    "RULES",
    "Decision",
    "Outcome",
    "Rule",
    "decide",
]

Decision = Literal[
    "keep", "targeted-upgrade", "single-gpu-desktop", "always-on-server", "cloud-burst", "hybrid"
]
DECISIONS: dict[str, str] = {
    "keep": "keep this machine as it is",
    "targeted-upgrade": "one targeted upgrade",
    "single-gpu-desktop": "a single-GPU desktop",
    "always-on-server": "a small always-on server",
    "cloud-burst": "cloud bursts",
    "hybrid": "hybrid: local for what fits, cloud bursts for the rest",
}
ALWAYS_ON_HOURS = 150.0  # hours a month from which a service wants a machine that stays up
LOW_USE_HOURS = 20.0  # below this a month, renting beats buying almost always
_GPU_CONSTRAINTS = {"vram", "compute", "memory-bandwidth"}
"""Constraints a different GPU fixes. Thermal, power and a starved GPU are not among them:
their fix (``FIXES``) is airflow, a power limit or a faster input pipeline."""
_PART_CONSTRAINTS = {"ram", "swap", "storage"}

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
"""What fixes each constraint once it repeats; the figure that shows it is the finding."""

_NO_FIT = "cloud (multi-GPU) or change the method — see `rig fit` mitigations"


@dataclass(frozen=True)
class Outcome:
    """What one rule concluded: a decision, or ``None`` to pass to the next rule.

    ``purchase_usd`` and ``card`` are what the deciding rule weighed against the cloud (a
    card, or a card plus a desktop base), so the staged plan's break-even hours use the
    same amount the decision did.
    """

    rule: str
    decision: Decision | None
    evidence: list[str]
    action: str = ""
    purchase_usd: float | None = None
    card: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "decision": self.decision,
            "evidence": self.evidence,
            "action": self.action,
            "purchase_usd": self.purchase_usd,
            "card": self.card,
        }


@dataclass(frozen=True)
class Rule:
    name: str
    question: str
    check: Callable[[Assessment], Outcome]

    @property
    def explanation(self) -> str:
        return (self.check.__doc__ or "").strip()


def _tune(constraint: str) -> str:
    return f"keep it and tune: {FIXES.get(constraint, 'see the finding')}"


def _cloud_line(a: Assessment) -> str:
    o = a.offer
    assert o is not None
    c = a.costs(0.0, 0.0)
    return (
        f"cloud: {o.provider} {o.instance} at ${o.usd_per_hour:g}/h x "
        f"{a.workload.hours_per_month:,.0f} h = ${c.compute:,.0f} + storage ${c.storage:,.0f} + "
        f"egress ${c.egress:,.0f} = ${c.cloud:,.0f}/month"
    )


def fits_now(a: Assessment) -> Outcome:
    """Keep the machine when every model of the workload runs here (comfortably, tight, or
    with a mitigation that costs little quality) and no constraint it depends on was
    recorded by `rig watch` in two or more sessions."""
    ev = list(a.how)
    repeated = [b for b in a.bottlenecks if b.repeated >= REPEATED]
    if a.doable and not repeated:
        ev.append(f"no repeated bottleneck among {a.machine.sessions} recorded watch session(s)")
        return Outcome("fits_now", "keep", ev, "keep it; measure with `rig watch`")
    if a.doable:
        ev.append(
            f"fits on paper, but `rig watch` recorded {repeated[0].constraint} "
            f"{repeated[0].repeated} times"
        )
    return Outcome("fits_now", None, ev)


def first_bottleneck(a: Assessment) -> Outcome:
    """Name the first and second constraint the workload hits, with their evidence: the fit
    planner's memory verdict, then findings `rig watch` recorded (repeated ones count
    most), then this machine's bands, then what is typical for the family. Never decides
    by itself: the next rules act on the first bottleneck."""
    ev = []
    for label, b in (("first", a.first), ("second", a.second)):
        if b is not None:
            ev.append(f"{label}: {b.constraint} ({b.source}): {b.evidence}")
    return Outcome("first_bottleneck", None, ev)


def _part_upgrade(a: Assessment, b: Bottleneck) -> Outcome:
    """RAM or an NVMe drive for a ram, swap or storage bottleneck, at the catalogue price."""
    part = a.prices.part("storage" if b.constraint == "storage" else "ram")
    if part is None:
        return Outcome("targeted_upgrade", None, ["the price file lists no such part"])
    return Outcome(
        "targeted_upgrade",
        "targeted-upgrade",
        [
            f"{b.constraint} is the first bottleneck: {b.evidence}",
            f"{part.what}: ${part.usd:,.0f} ({part.label})",
        ],
        f"add {part.what} (~${part.usd:,.0f})",
    )


def _gpu_upgrade(a: Assessment, b: Bottleneck) -> Outcome:
    """The cheapest card that fits every model and beats the installed one where the
    constraint binds, when it pays back within the depreciation period."""
    here = a.machine.largest_gpu
    pick = a.upgrade_for(b.constraint)
    if pick is None:
        why = (
            f"no priced workstation card that every model fits on beats the installed "
            f"{here.name} on {b.constraint}"
            if here is not None
            else "no single workstation GPU in the price catalogue fits every model"
        )
        return Outcome("targeted_upgrade", None, [why])
    g, hw = pick
    usd = hw.price
    horizon = a.years * 12
    be = a.break_even_months(usd, system_power_w(g))
    than = f", more than the installed {here.name}" if here is not None else ""
    ev = [
        f"{b.constraint} is the first bottleneck: {b.evidence}",
        f"{g.name} (${usd:,.0f}, {hw.label}) is the cheapest card every model fits on{than}",
    ]
    if a.offer is not None:
        ev.append(_cloud_line(a))
    if be is not None and be <= horizon:
        ev.append(f"the card pays back after {be:.1f} months (< {horizon:.0f})")
        return Outcome(
            "targeted_upgrade",
            "targeted-upgrade",
            ev,
            f"add or swap in a {g.name}",
            purchase_usd=usd,
            card=g.name,
        )
    ev.append(
        "the card does not pay back within the depreciation period"
        if be is None
        else f"the card would pay back only after {be:.1f} months (> {horizon:.0f})"
    )
    return Outcome("targeted_upgrade", None, ev)


def targeted_upgrade(a: Assessment) -> Outcome:
    """One upgrade when it fixes the first bottleneck on a machine that can take it: RAM or
    an NVMe drive for ram/swap/storage on a desktop; one GPU for vram/compute/bandwidth on a
    desktop when the cheapest card that fits every model and beats the installed GPU where
    the constraint binds (more memory, more TFLOPS, more bandwidth) pays back against the
    cloud within the depreciation period. A constraint no part fixes (thermal, power, cpu,
    a starved GPU) on a machine that runs the workload: keep it and tune. Laptops take no
    upgrade."""
    b = a.first
    if b is None:
        return Outcome("targeted_upgrade", None, ["no bottleneck to fix"])
    fixable = b.constraint in _PART_CONSTRAINTS or (
        b.constraint in _GPU_CONSTRAINTS and bool(a.workload.models)
    )
    if not fixable and a.doable:
        return Outcome(
            "targeted_upgrade",
            "keep",
            [
                f"{b.constraint} is the first bottleneck: {b.evidence}",
                f"no part fixes {b.constraint}: {FIXES.get(b.constraint, 'see the finding')}",
            ],
            _tune(b.constraint),
        )
    if not fixable:
        return Outcome(
            "targeted_upgrade", None, [f"{b.constraint}: no part fixes it; tune the workload first"]
        )
    if a.machine.profile.archetype == "laptop-first":
        return Outcome(
            "targeted_upgrade",
            None,
            [f"{b.constraint}: a laptop takes no GPU, RAM is often soldered"],
        )
    if b.constraint in _PART_CONSTRAINTS:
        return _part_upgrade(a, b)
    return _gpu_upgrade(a, b)


def _cheapest_local(a: Assessment) -> tuple[float, str]:
    """The cheapest local option: the upgrade card, plus a desktop or server base on a
    laptop or a machine without a GPU; its price and what it is."""
    assert a.upgrade_gpu is not None
    purchase = a.upgrade_usd or 0.0
    what = a.upgrade_gpu.name
    if a.machine.profile.archetype in ("laptop-first", "cpu-only-desktop"):
        base = a.prices.part("server" if a.workload.family.duty == "service" else "platform")
        if base is not None:
            purchase += base.usd
            what += f" + {base.what.split(':')[0]}"
    return purchase, what


def _burst_when_it_runs_here(a: Assessment, ev: list[str], action: str) -> Outcome:
    """A machine that runs the workload costs only electricity: burst only when even that
    costs more than renting."""
    costs = a.costs(0.0, a.machine.installed_power_w)
    if costs.cloud > costs.local:
        ev.append(
            f"this machine already runs it: local costs only electricity "
            f"(${costs.local:,.0f}/month) against ${costs.cloud:,.0f}/month in the cloud"
        )
        return Outcome("cloud_burst", None, ev)
    ev.append(
        f"even on this machine, its electricity (${costs.local:,.0f}/month) costs more "
        f"than renting (${costs.cloud:,.0f}/month)"
    )
    return Outcome("cloud_burst", "cloud-burst", ev, action)


def cloud_burst(a: Assessment) -> Outcome:
    """Rent by the hour when no local option fits (no single card in the catalogue holds the
    model), when the workload runs under 20 hours a month on a machine that cannot run it,
    or when the cheapest local option (a card, plus a desktop base on a laptop or CPU-only
    machine) does not pay back within the depreciation period. A machine that already runs
    the workload costs only electricity: it is not sent to the cloud for a constraint no
    purchase fixes. Hybrid when some models fit locally and others not."""
    if not a.workload.models or a.offer is None:
        return Outcome("cloud_burst", None, ["not a GPU workload, or no instance fits"])
    o = a.offer
    ev = [f"smallest instance that fits: {o.provider} {o.instance} ({o.gpus} x {o.gpu}); "]
    ev[0] += _cloud_line(a)
    action = f"rent {o.provider} {o.instance} when needed"
    if a.cloud_models and a.local_models:
        ev.append(
            f"{', '.join(a.local_models)} fit a workstation card; "
            f"{', '.join(a.cloud_models)} do not"
        )
        return Outcome("cloud_burst", "hybrid", ev, action + " for " + ", ".join(a.cloud_models))
    if a.doable:
        return _burst_when_it_runs_here(a, ev, action)
    if a.upgrade_gpu is None:
        ev.append("no single workstation GPU in the price catalogue fits: cloud only")
        return Outcome("cloud_burst", "cloud-burst", ev, action)
    purchase, what = _cheapest_local(a)
    card, horizon = a.upgrade_gpu.name, a.years * 12
    be = a.break_even_months(purchase, a.upgrade_power_w)
    if a.workload.hours_per_month < LOW_USE_HOURS:
        ev.append(
            f"{a.workload.hours_per_month:.0f} h a month is under {LOW_USE_HOURS:.0f} h: "
            "hardware would mostly idle"
        )
        return Outcome("cloud_burst", "cloud-burst", ev, action, purchase_usd=purchase, card=card)
    if be is None or be > horizon:
        ev.append(
            f"the cheapest local option ({what}, ${purchase:,.0f}) "
            + ("never pays back" if be is None else f"pays back only after {be:.1f} months")
            + f", beyond {horizon:.0f}"
        )
        return Outcome("cloud_burst", "cloud-burst", ev, action, purchase_usd=purchase, card=card)
    ev.append(f"a local ${purchase:,.0f} option pays back after {be:.1f} months: buy instead")
    return Outcome("cloud_burst", None, ev)


def always_on_server(a: Assessment) -> Outcome:
    """A small always-on server when a service workload (coding assistant, RAG) runs 150
    hours a month or more and this machine is a laptop or has no GPU: a server stays up
    while the laptop sleeps and travels."""
    w = a.workload
    arch = a.machine.profile.archetype
    fits = not w.models or a.upgrade_gpu is not None
    if (
        w.family.duty == "service"
        and w.hours_per_month >= ALWAYS_ON_HOURS
        and arch in ("laptop-first", "cpu-only-desktop")
        and fits
    ):
        base = a.prices.part("server")
        card = f" with a {a.upgrade_gpu.name} (${a.upgrade_usd:,.0f})" if a.upgrade_gpu else ""
        cost = (base.usd if base else 0.0) + (a.upgrade_usd or 0.0)
        return Outcome(
            "always_on_server",
            "always-on-server",
            [
                f"{w.family.title} is a service used {w.hours_per_month:,.0f} h a month",
                f"this machine is {arch}: {a.machine.profile.reason}",
            ],
            f"a small server{card}, about ${cost:,.0f}",
            purchase_usd=cost,
            card=a.upgrade_gpu.name if a.upgrade_gpu else None,
        )
    return Outcome(
        "always_on_server",
        None,
        [f"{w.family.duty} work, {w.hours_per_month:,.0f} h a month on a {arch}"],
    )


def bigger_machine(a: Assessment) -> Outcome:
    """Only when nothing above decided, and only a machine that holds the workload: a
    single-GPU desktop with the cheapest card every model fits on (or, without a model,
    the desktop base alone) for a laptop or a machine without a GPU. A desktop that already
    runs the workload is kept and tuned; a workload no card nor instance holds goes to a
    multi-GPU cloud or a different method (`rig fit` mitigations)."""
    first = a.first.constraint if a.first else "it"
    if a.workload.models and a.upgrade_gpu is None:
        return Outcome(
            "bigger_machine",
            "cloud-burst",
            [
                "no single workstation GPU in the catalogue fits every model"
                + ("" if a.offer is not None else ", and no catalogue cloud instance does"),
            ],
            _NO_FIT,
        )
    if a.doable:
        return Outcome(
            "bigger_machine",
            "keep",
            [f"this machine runs the workload; no purchase pays back against {first}"],
            _tune(first),
        )
    arch = a.machine.profile.archetype
    if a.upgrade_gpu is not None and arch not in ("laptop-first", "cpu-only-desktop"):
        return Outcome(
            "bigger_machine",
            "targeted-upgrade",
            [f"this {arch} can take the card: {a.upgrade_gpu.name} holds every model"],
            f"add or swap in a {a.upgrade_gpu.name}",
            purchase_usd=a.upgrade_usd,
            card=a.upgrade_gpu.name,
        )
    base = a.prices.part("platform")
    cost = (base.usd if base else 0.0) + (a.upgrade_usd or 0.0)
    card = f" with a {a.upgrade_gpu.name}" if a.upgrade_gpu else ""
    return Outcome(
        "bigger_machine",
        "single-gpu-desktop",
        [f"nothing cheaper fixes {first}"],
        f"a single-GPU desktop{card}, about ${cost:,.0f}",
        purchase_usd=cost,
        card=a.upgrade_gpu.name if a.upgrade_gpu else None,
    )


RULES: list[Rule] = [
    Rule("fits_now", "Can the current machine do it?", fits_now),
    Rule(
        "first_bottleneck",
        "Which bottleneck does it hit first, and is it repeated?",
        first_bottleneck,
    ),
    Rule("targeted_upgrade", "Does one targeted upgrade fix it?", targeted_upgrade),
    Rule("cloud_burst", "Is a cloud burst cheaper?", cloud_burst),
    Rule("always_on_server", "Does it need a machine that stays up?", always_on_server),
    Rule("bigger_machine", "Only then: a bigger machine.", bigger_machine),
]


def decide(a: Assessment, rules: list[Rule] | None = None) -> tuple[Outcome, list[Outcome]]:
    """Run the rules in order; return the deciding outcome and every outcome seen."""
    trail: list[Outcome] = []
    for rule in rules or RULES:
        out = rule.check(a)
        trail.append(out)
        if out.decision is not None:
            return out, trail
    raise AssertionError("the last rule always decides")  # bigger_machine never passes
