"""What the placement rules read about one workload: this machine, fit reports, prices.

:func:`assess` fills an :class:`Assessment` once (fit each model here, name the bottlenecks,
find the upgrade cards and the cloud instance); :mod:`rigml.plan.rules` then judges it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.plan._constants import system_power_w
from rigml.plan.workloads import Workload

if TYPE_CHECKING:
    from rigml.fit.catalogue import Gpu
    from rigml.fit.planner import FitReport, Target
    from rigml.lab import Lab
    from rigml.machine.findings import RecordedFinding
    from rigml.machine.profile import MachineProfile
    from rigml.plan.prices import CloudOffer, HardwarePrice, PriceCatalogue
    from rigml.plan.tco import MonthlyCosts

__all__ = ["GIB", "REPEATED", "Assessment", "Bottleneck", "MachineFacts", "assess", "machine_facts"]

GIB = float(2**30)
REPEATED = 2  # a constraint seen in this many watch sessions is a repeated bottleneck


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

    @property
    def largest_gpu(self) -> Target | None:
        """The GPU target here with the most memory (``None`` without a GPU)."""
        return max(self.gpus, key=lambda t: t.capacity_bytes, default=None)

    @property
    def installed(self) -> Gpu | None:
        """The largest GPU here as the fit catalogue knows it (``None`` if unknown or none)."""
        t = self.largest_gpu
        return t.gpu if t is not None else None

    @property
    def installed_power_w(self) -> float:
        """This machine under load: its largest GPU's board power + the rest of the system."""
        from rigml.plan._constants import REST_OF_SYSTEM_W, UNKNOWN_GPU_W

        if self.largest_gpu is None:
            return REST_OF_SYSTEM_W
        if self.installed is None:
            return UNKNOWN_GPU_W + REST_OF_SYSTEM_W
        return system_power_w(self.installed)

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
    fitting: list[tuple[Gpu, HardwarePrice]] = field(default_factory=list)
    storage_gb: float = 200.0
    egress_gb: float = 50.0

    @property
    def first(self) -> Bottleneck | None:
        return self.bottlenecks[0] if self.bottlenecks else None

    @property
    def second(self) -> Bottleneck | None:
        return self.bottlenecks[1] if len(self.bottlenecks) > 1 else None

    def costs(self, purchase: float, power_w: float) -> MonthlyCosts:
        """This workload's month, local against :attr:`offer` (see ``tco.monthly_costs``)."""
        from rigml.plan.tco import monthly_costs

        return monthly_costs(
            self.offer,
            self.workload.hours_per_month,
            purchase,
            power_w,
            self.prices,
            self.storage_gb,
            self.egress_gb,
        )

    @property
    def cloud_monthly(self) -> float | None:
        """Compute, storage and egress a month on :attr:`offer`, as ``rig cost`` counts them."""
        if self.offer is None:
            return None
        return self.costs(0.0, 0.0).cloud

    def break_even_months(self, purchase: float, power_w: float) -> float | None:
        """Months until buying ``purchase`` beats renting :attr:`offer` at these hours."""
        if self.offer is None:
            return None
        return self.costs(purchase, power_w).break_even

    def upgrade_for(self, constraint: str) -> tuple[Gpu, HardwarePrice] | None:
        """The cheapest card every model fits on that beats the installed GPU where
        ``constraint`` binds: more memory for vram, more bf16 TFLOPS for compute, more
        bandwidth for memory-bandwidth. Without a GPU here, the cheapest card that fits."""
        target = self.machine.largest_gpu
        here = self.machine.installed
        # NVML reports a little less than the spec sheet: take the larger of the two
        have = max(target.capacity_bytes, here.vram_bytes if here else 0) if target else 0
        for g, hw in self.fitting:
            if target is None:
                return g, hw
            if constraint == "vram" and g.vram_bytes > have:
                return g, hw
            if here is None:  # an unknown card: only memory can be compared
                continue
            if constraint == "compute" and (g.bf16_tflops or 0) > (here.bf16_tflops or 0):
                return g, hw
            if constraint == "memory-bandwidth" and (g.bandwidth_gbs or 0) > (
                here.bandwidth_gbs or 0
            ):
                return g, hw
        return None

    @property
    def upgrade_power_w(self) -> float:
        return system_power_w(self.upgrade_gpu)


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
        return True, f"{name}: {r.verdict.label} on {r.target.name}, needs {need}"
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
    w: Workload,
    facts: MachineFacts,
    prices: PriceCatalogue,
    *,
    years: float = 3.0,
    storage_gb: float | None = None,
    egress_gb: float | None = None,
) -> Assessment:
    """Fit each model of ``w`` here, find its bottlenecks, the upgrade and cloud options.

    ``storage_gb`` and ``egress_gb`` are the cloud side's monthly storage and egress, as in
    ``rig cost`` (default the same figures, so the two agree).
    """
    from rigml.fit import catalogue
    from rigml.fit.request import FitRequest
    from rigml.fit.sources import load_model
    from rigml.plan.tco import DEFAULT_EGRESS_GB, DEFAULT_STORAGE_GB, fits_on

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
    a.storage_gb = DEFAULT_STORAGE_GB if storage_gb is None else storage_gb
    a.egress_gb = DEFAULT_EGRESS_GB if egress_gb is None else egress_gb
    if not w.models:
        return a
    specs = [(load_model(m), FitRequest(**opts)) for m, opts in w.models]
    for hw in sorted(prices.hardware, key=lambda h: h.price):
        g = catalogue.gpu(hw.gpu)
        if all(fits_on(s, r, g) for s, r in specs):
            a.fitting.append((g, hw))
    if a.fitting:
        a.upgrade_gpu, a.upgrade_usd = a.fitting[0][0], a.fitting[0][1].price
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
