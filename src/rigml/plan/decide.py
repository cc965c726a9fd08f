"""The placement decision: an explicit, ordered list of rules, each a named function.

For each workload the rules run in order until one decides; each returns its decision (or
``None`` to pass on) and the evidence it looked at, so ``rig plan --explain`` can show the
whole chain. The order is the framework itself: workload first, then the constraint it
hits first, then the cheapest sound move.

1. ``fits_now``: can the current machine do it, with no repeated bottleneck recorded?
2. ``first_bottleneck``: which constraint does it hit first and second, and is it repeated?
3. ``targeted_upgrade``: does one upgrade (RAM, NVMe, one GPU) fix it, and pay back?
4. ``cloud_burst``: is renting by the hour cheaper or cleaner than any local option?
5. ``always_on_server``: does it need to be up all day on a machine that is not?
6. ``bigger_machine``: only then, a single-GPU desktop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rigml.plan.workloads import Workload

if TYPE_CHECKING:
    from rigml.fit.catalogue import Gpu
    from rigml.fit.planner import FitReport, Target
    from rigml.lab import Lab
    from rigml.machine.findings import RecordedFinding
    from rigml.machine.profile import MachineProfile
    from rigml.plan.prices import CloudOffer, PriceCatalogue

__all__ = [
    "DECISIONS",
    "RULES",
    "Assessment",
    "Bottleneck",
    "Decision",
    "MachineFacts",
    "Outcome",
    "Rule",
    "assess",
    "decide",
    "machine_facts",
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
GIB = float(2**30)
REPEATED = 2  # a constraint seen in this many watch sessions is a repeated bottleneck
ALWAYS_ON_HOURS = 150.0  # hours a month from which a service wants a machine that stays up
LOW_USE_HOURS = 20.0  # below this a month, renting beats owning almost always
_GPU_CONSTRAINTS = {"vram", "compute", "memory-bandwidth", "thermal", "power", "starved_gpu"}


@dataclass(frozen=True)
class MachineFacts:
    """What the rules know about this machine: profile, fit targets, recorded findings."""

    profile: MachineProfile
    targets: list[Target]
    findings: list[RecordedFinding]
    ram_gib: float
    sessions: int

    @property
    def gpus(self) -> list[Target]:
        return [t for t in self.targets if t.kind == "gpu"]

    def repeated(self) -> dict[str, int]:
        """Constraint -> number of distinct watch sessions that recorded it."""
        seen: dict[str, set[str]] = {}
        for f in self.findings:
            seen.setdefault(f.constraint, set()).add(f.session_id)
        return {c: len(s) for c, s in seen.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "archetype": self.profile.archetype,
            "reason": self.profile.reason,
            "ram_gib": self.ram_gib,
            "vram_band": self.profile.vram.band,
            "ram_band": self.profile.ram.band,
            "storage_band": self.profile.storage.band,
            "targets": [t.to_dict() for t in self.targets],
            "watch_sessions": self.sessions,
            "findings_by_constraint": self.repeated(),
        }


def machine_facts(lab: Lab | None = None, *, inv: Any = None) -> MachineFacts:
    """This machine (``rig machine``) and the findings ``rig watch`` recorded in ``lab``."""
    from rigml.fit.planner import machine_targets
    from rigml.machine.inventory import inventory
    from rigml.machine.profile import classify

    inv = inv if inv is not None else inventory()
    findings: list[RecordedFinding] = []
    sessions = 0
    if lab is not None:
        from rigml.machine.findings import list_findings, list_watch_sessions

        findings = list_findings(lab)
        sessions = len(list_watch_sessions(lab))
    return MachineFacts(
        profile=classify(inv),
        targets=machine_targets(),
        findings=findings,
        ram_gib=inv.memory.total_bytes / GIB,
        sessions=sessions,
    )


@dataclass(frozen=True)
class Bottleneck:
    """A constraint the workload hits, the figures behind it, and who said so."""

    constraint: str
    evidence: str
    source: str  # fit planner | rig watch | rig machine | family default
    repeated: int = 0  # watch sessions that recorded it

    def to_dict(self) -> dict[str, Any]:
        return {
            "constraint": self.constraint,
            "evidence": self.evidence,
            "source": self.source,
            "repeated_sessions": self.repeated,
        }


@dataclass
class Assessment:
    """Everything the rules read about one workload; filled once, then judged."""

    workload: Workload
    machine: MachineFacts
    prices: PriceCatalogue
    years: float
    reports: list[FitReport]
    doable: bool
    how: list[str]
    bottlenecks: list[Bottleneck]
    upgrade_gpu: Gpu | None = None
    upgrade_usd: float | None = None
    offer: CloudOffer | None = None
    local_models: list[str] = field(default_factory=list)
    cloud_models: list[str] = field(default_factory=list)

    @property
    def first(self) -> Bottleneck | None:
        return self.bottlenecks[0] if self.bottlenecks else None

    @property
    def second(self) -> Bottleneck | None:
        return self.bottlenecks[1] if len(self.bottlenecks) > 1 else None

    @property
    def cloud_monthly(self) -> float | None:
        if self.offer is None:
            return None
        return self.offer.usd_per_hour * self.workload.hours_per_month

    def break_even_months(self, purchase: float, power_w: float) -> float | None:
        """Months until buying ``purchase`` beats renting :attr:`offer` at these hours."""
        if self.offer is None:
            return None
        hours = self.workload.hours_per_month
        energy = power_w / 1000 * hours * self.prices.electricity.value
        saving = self.offer.usd_per_hour * hours - energy
        return purchase / saving if saving > 0 else None


@dataclass(frozen=True)
class Outcome:
    """What one rule concluded: a decision, or ``None`` to pass to the next rule."""

    rule: str
    decision: Decision | None
    evidence: list[str]
    action: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "decision": self.decision,
            "evidence": self.evidence,
            "action": self.action,
        }


@dataclass(frozen=True)
class Rule:
    name: str
    question: str
    check: Callable[[Assessment], Outcome]

    @property
    def explanation(self) -> str:
        return (self.check.__doc__ or "").strip()


# ---------------------------------------------------------------------------- assessment


def _fit_reports(w: Workload, facts: MachineFacts) -> list[FitReport]:
    from rigml.fit.planner import plan_fit
    from rigml.fit.request import FitRequest

    return [plan_fit(model, FitRequest(**opts), targets=facts.targets) for model, opts in w.models]


def _model_fits(report: FitReport, facts: MachineFacts) -> tuple[bool, str]:
    """Whether a model runs here acceptably, and how (verdict or cheap mitigation)."""
    r = report.primary
    name = f"{report.model.name} ({report.request.task})"
    need = f"{report.estimate.total / GIB:.1f} GiB of {r.target.capacity_bytes / GIB:.1f} GiB"
    if r.target.kind == "ram":
        if report.request.training:
            return False, f"{name}: no GPU here, and fine-tuning on the CPU is impractically slow"
        return False, (
            f"{name}: no GPU here; on the CPU it {r.verdict.label} in RAM ({need}) but "
            "generates a few tokens a second at best"
        )
    if r.verdict.status in ("comfortable", "tight"):
        where = "on the CPU (slow)" if r.target.kind == "ram" else f"on {r.target.name}"
        return True, f"{name}: {r.verdict.label} {where}, needs {need}"
    cheap = next(
        (m for m in report.mitigations if m.status == "comfortable" and m.quality_cost <= 1),
        None,
    )
    if cheap is not None:
        return True, f"{name}: fits with {cheap.action} ({cheap.cost}); as asked needs {need}"
    return False, f"{name}: {r.verdict.label} on {r.target.name}, needs {need}"


_RELEVANT = {
    "api-first": {"storage", "cpu", "ram"},
    "notebook-data": {"ram", "swap", "cpu", "storage"},
    "embeddings-rag": {"ram", "swap", "storage", "vram", "cpu"},
}


def _bottlenecks(w: Workload, facts: MachineFacts, reports: list[FitReport]) -> list[Bottleneck]:
    found: list[Bottleneck] = []
    repeated = facts.repeated()
    for rep in reports:
        r = rep.primary
        need = f"{rep.model.name} needs {rep.estimate.total / GIB:.1f} GiB"
        if r.target.kind == "ram" and w.family.gpu:
            found.append(
                Bottleneck(
                    "compute",
                    f"no GPU: {rep.model.name} would run on the CPU, far too slowly for "
                    f"{w.family.title} ({facts.profile.reason})",
                    "rig machine",
                    repeated.get("compute", 0),
                )
            )
            found.append(
                Bottleneck(
                    "vram",
                    f"{need} of GPU memory; this machine has no GPU",
                    "fit planner",
                    repeated.get("vram", 0),
                )
            )
        elif r.verdict.status != "comfortable":
            kind = "vram" if r.target.kind == "gpu" else "ram"
            found.append(
                Bottleneck(
                    kind,
                    f"{need}, {r.target.name} has {r.target.capacity_bytes / GIB:.1f} GiB "
                    f"({r.verdict.label})",
                    "fit planner",
                    repeated.get(kind, 0),
                )
            )
    relevant = _RELEVANT.get(w.family.name, set(repeated))
    by_count = Counter({c: n for c, n in repeated.items() if c in relevant})
    for constraint, n in by_count.most_common():
        f = next(x for x in facts.findings if x.constraint == constraint)
        ev = f.evidence[0] if f.evidence else f.title
        found.append(
            Bottleneck(
                constraint,
                f"{f.title}: {ev} (recorded in {n} watch session{'s' if n > 1 else ''})",
                "rig watch",
                n,
            )
        )
    if w.family.name in ("notebook-data", "embeddings-rag") and facts.profile.ram.band == "entry":
        found.append(Bottleneck("ram", facts.profile.ram.reason, "rig machine"))
    if facts.profile.storage.band == "entry" and w.family.name != "api-first":
        found.append(Bottleneck("storage", facts.profile.storage.reason, "rig machine"))
    for c in w.family.bottlenecks:
        found.append(Bottleneck(c, f"typical for {w.family.title}: {w.family.why}", "family"))
    out: list[Bottleneck] = []
    for b in found:
        if all(b.constraint != o.constraint for o in out):
            out.append(b)
    return out


def assess(
    w: Workload, facts: MachineFacts, prices: PriceCatalogue, *, years: float = 3.0
) -> Assessment:
    """Fit each model of ``w`` here, find its bottlenecks, the upgrade and cloud options."""
    from rigml.fit import catalogue
    from rigml.fit.request import FitRequest
    from rigml.fit.sources import load_model
    from rigml.plan.tco import fits_on

    reports = _fit_reports(w, facts)
    how: list[str] = []
    doable = True
    for rep in reports:
        ok, text = _model_fits(rep, facts)
        doable = doable and ok
        how.append(text)
    if not reports:
        how.append(f"{w.family.title} needs no local model: {w.family.why}")
    a = Assessment(w, facts, prices, years, reports, doable, how, _bottlenecks(w, facts, reports))
    if not w.models:
        return a
    specs = [(load_model(m), FitRequest(**opts)) for m, opts in w.models]
    for hw in sorted(prices.hardware, key=lambda h: h.usd):
        g = catalogue.gpu(hw.gpu)
        if all(fits_on(s, r, g) for s, r in specs):
            a.upgrade_gpu, a.upgrade_usd = g, hw.usd
            break
    for (model, _), (s, r) in zip(w.models, specs, strict=True):
        if any(fits_on(s, r, catalogue.gpu(hw.gpu)) for hw in prices.hardware):
            a.local_models.append(model)
        else:
            a.cloud_models.append(model)
    from rigml.plan.tco import smallest_offer

    offers = [smallest_offer(prices, s, r) for s, r in specs]
    if all(o is not None for o in offers):
        a.offer = max(offers, key=lambda o: o.usd_per_hour if o else 0.0)
    return a


# ---------------------------------------------------------------------------- the rules


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


def _power(gpu: Gpu | None) -> float:
    from rigml.plan.energy import REST_OF_SYSTEM_W

    return float((gpu.tdp_w or 300.0) if gpu else 0.0) + REST_OF_SYSTEM_W


def targeted_upgrade(a: Assessment) -> Outcome:
    """One upgrade when it fixes the first bottleneck on a machine that can take it: RAM or
    an NVMe drive for ram/swap/storage on a desktop; one GPU for vram/compute on a desktop
    when the cheapest card that fits every model pays back against the cloud within the
    depreciation period (at the workload's hours). Laptops take no upgrade."""
    b = a.first
    arch = a.machine.profile.archetype
    if b is None:
        return Outcome("targeted_upgrade", None, ["no bottleneck to fix"])
    if arch == "laptop-first":
        return Outcome(
            "targeted_upgrade",
            None,
            [f"{b.constraint}: a laptop takes no GPU, RAM is often soldered"],
        )
    if b.constraint in ("ram", "swap", "storage"):
        part = a.prices.part("storage" if b.constraint == "storage" else "ram")
        if part is None:
            return Outcome("targeted_upgrade", None, ["the price file lists no such part"])
        return Outcome(
            "targeted_upgrade",
            "targeted-upgrade",
            [
                f"{b.constraint} is the first bottleneck: {b.evidence}",
                f"{part.what}: ${part.usd:,.0f} ({part.kind}, {part.as_of.isoformat()})",
            ],
            f"add {part.what} (~${part.usd:,.0f})",
        )
    if b.constraint in _GPU_CONSTRAINTS and a.workload.models:
        if a.upgrade_gpu is None or a.upgrade_usd is None:
            return Outcome(
                "targeted_upgrade",
                None,
                ["no single workstation GPU in the price catalogue fits every model"],
            )
        g, usd = a.upgrade_gpu, a.upgrade_usd
        horizon = a.years * 12
        be = a.break_even_months(usd, _power(g))
        ev = [
            f"{b.constraint} is the first bottleneck: {b.evidence}",
            f"{g.name} (${usd:,.0f}) is the cheapest card every model fits on",
        ]
        if a.offer is not None:
            ev.append(
                f"cloud: {a.offer.provider} {a.offer.instance} at ${a.offer.usd_per_hour:g}/h x "
                f"{a.workload.hours_per_month:,.0f} h = ${a.cloud_monthly:,.0f}/month"
            )
        if be is not None and be <= horizon:
            ev.append(f"the card pays back after {be:.1f} months (< {horizon:.0f})")
            return Outcome("targeted_upgrade", "targeted-upgrade", ev, f"add or swap in a {g.name}")
        ev.append(
            "the card does not pay back within the depreciation period"
            if be is None
            else f"the card would pay back only after {be:.1f} months (> {horizon:.0f})"
        )
        return Outcome("targeted_upgrade", None, ev)
    return Outcome(
        "targeted_upgrade", None, [f"{b.constraint}: no part fixes it; tune the workload first"]
    )


def cloud_burst(a: Assessment) -> Outcome:
    """Rent by the hour when no local option fits (no single card in the catalogue holds the
    model), when the workload runs under 20 hours a month, or when the cheapest local
    option (a card, plus a desktop base on a laptop or CPU-only machine) does not pay back
    within the depreciation period. Hybrid when some models fit locally and others not."""
    if not a.workload.models or a.offer is None:
        return Outcome("cloud_burst", None, ["not a GPU workload, or no instance fits"])
    o = a.offer
    ev = [
        f"smallest instance that fits: {o.provider} {o.instance} ({o.gpus} x {o.gpu}) at "
        f"${o.usd_per_hour:g}/h, ${a.cloud_monthly:,.0f}/month at "
        f"{a.workload.hours_per_month:,.0f} h"
    ]
    action = f"rent {o.provider} {o.instance} when needed"
    if a.cloud_models and a.local_models:
        ev.append(
            f"{', '.join(a.local_models)} fit a workstation card; "
            f"{', '.join(a.cloud_models)} do not"
        )
        return Outcome("cloud_burst", "hybrid", ev, action + " for " + ", ".join(a.cloud_models))
    if a.upgrade_gpu is None:
        ev.append("no single workstation GPU in the price catalogue fits: cloud only")
        return Outcome("cloud_burst", "cloud-burst", ev, action)
    if a.workload.hours_per_month < LOW_USE_HOURS:
        ev.append(
            f"{a.workload.hours_per_month:.0f} h a month is under {LOW_USE_HOURS:.0f} h: "
            "hardware would mostly idle"
        )
        return Outcome("cloud_burst", "cloud-burst", ev, action)
    purchase = a.upgrade_usd or 0.0
    if a.machine.profile.archetype in ("laptop-first", "cpu-only-desktop"):
        base = a.prices.part("server" if a.workload.family.duty == "service" else "platform")
        purchase += base.usd if base else 0.0
    be = a.break_even_months(purchase, _power(a.upgrade_gpu))
    horizon = a.years * 12
    if be is None or be > horizon:
        ev.append(
            f"the cheapest local option (${purchase:,.0f}) "
            + ("never pays back" if be is None else f"pays back only after {be:.1f} months")
            + f", beyond {horizon:.0f}"
        )
        return Outcome("cloud_burst", "cloud-burst", ev, action)
    ev.append(f"a local ${purchase:,.0f} option pays back after {be:.1f} months: buy instead")
    return Outcome("cloud_burst", None, ev)


def always_on_server(a: Assessment) -> Outcome:
    """A small always-on server when a service workload (coding assistant, RAG) runs 150
    hours a month or more and this machine is a laptop or has no GPU: a server stays up
    while the laptop sleeps and travels."""
    w = a.workload
    arch = a.machine.profile.archetype
    if (
        w.family.duty == "service"
        and w.hours_per_month >= ALWAYS_ON_HOURS
        and arch
        in (
            "laptop-first",
            "cpu-only-desktop",
        )
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
        )
    return Outcome(
        "always_on_server",
        None,
        [f"{w.family.duty} work, {w.hours_per_month:,.0f} h a month on a {arch}"],
    )


def bigger_machine(a: Assessment) -> Outcome:
    """Only when nothing above decided: a single-GPU desktop with the cheapest card every
    model fits on (or, without a model, the desktop base alone)."""
    base = a.prices.part("platform")
    cost = (base.usd if base else 0.0) + (a.upgrade_usd or 0.0)
    card = f" with a {a.upgrade_gpu.name}" if a.upgrade_gpu else ""
    return Outcome(
        "bigger_machine",
        "single-gpu-desktop",
        [f"nothing cheaper fixes {a.first.constraint if a.first else 'it'}"],
        f"a single-GPU desktop{card}, about ${cost:,.0f}",
    )


RULES: list[Rule] = [
    Rule("fits_now", "Can the current machine do it?", fits_now),
    Rule(
        "first_bottleneck",
        "Which bottleneck does it hit first, and is it repeated?",
        first_bottleneck,
    ),
    Rule("targeted_upgrade", "Does one targeted upgrade fix it?", targeted_upgrade),
    Rule("cloud_burst", "Is a cloud burst cheaper or cleaner?", cloud_burst),
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
