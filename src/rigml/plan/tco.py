"""Total cost of ownership: a local GPU against the smallest cloud instance that fits.

Local: the purchase price at month 0, then electricity for the hours the workload runs
(the machine's power under load times the price of a kWh). Cloud: the on-demand hourly
price of the cheapest catalogue instance on which the fit planner says the workload fits
comfortably, for the same hours (equal speed assumed), plus storage kept all month and
egress at that provider's prices. The break-even month is where the cumulative cloud bill
passes the local one. :func:`monthly_costs` is the one implementation of that arithmetic:
``rig plan`` uses it too, so the two commands agree. Everything is an estimate;
:attr:`TcoReport.assumptions` lists what it rests on.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidAssumption
from rigml.plan._constants import HOURS_PER_MONTH
from rigml.plan.energy import PowerDraw, power_draw
from rigml.plan.prices import CloudOffer, PriceCatalogue, load_prices

if TYPE_CHECKING:
    from pathlib import Path

    from rigml.fit.architecture import ModelSpec
    from rigml.fit.catalogue import Gpu
    from rigml.fit.request import FitRequest
    from rigml.lab import Lab
    from rigml.machine.gpu import GpuSource

__all__ = [
    "DEFAULT_EGRESS_GB",
    "DEFAULT_STORAGE_GB",
    "HOURS_PER_MONTH",
    "MAX_YEARS",
    "MonthlyCosts",
    "TcoInputs",
    "TcoReport",
    "break_even_hours",
    "check_positive",
    "check_years",
    "fits_on",
    "local_gpu_for",
    "monthly_costs",
    "smallest_offer",
    "tco_report",
]

DEFAULT_STORAGE_GB = 200.0
"""Cloud storage kept all month for data, checkpoints and the environment."""
DEFAULT_EGRESS_GB = 50.0
"""Data brought back from the cloud each month (checkpoints, results)."""
MAX_YEARS = 15.0
"""No GPU is depreciated over longer than this."""
EQUAL_SPEED = (
    "equal speed assumed: the cloud instance is billed for the same hours the local GPU "
    "runs (a faster instance would need fewer)"
)


@dataclass(frozen=True)
class MonthlyCosts:
    """One month of a workload, local against cloud, and where the purchase pays back."""

    local: float  # electricity for the hours the workload runs
    compute: float
    storage: float
    egress: float
    break_even: float | None  # months; None when the cloud stays cheaper

    @property
    def cloud(self) -> float:
        return self.compute + self.storage + self.egress


def monthly_costs(
    offer: CloudOffer | None,
    hours: float,
    purchase: float,
    power_w: float,
    prices: PriceCatalogue,
    storage_gb: float = DEFAULT_STORAGE_GB,
    egress_gb: float = DEFAULT_EGRESS_GB,
    *,
    kwh_price: float | None = None,
) -> MonthlyCosts:
    """Monthly local and cloud cost at ``hours`` a month, and the break-even month.

    Pure arithmetic, no measurement: local = ``power_w`` for ``hours`` at the electricity
    price; cloud = ``offer``'s hourly price for the same hours plus ``storage_gb`` kept
    all month and ``egress_gb`` out, at that provider's storage and egress prices. The
    purchase pays back after ``purchase / (cloud - local)`` months (``None`` when the cloud
    costs no more than the electricity, or there is no offer).
    """
    kwh = prices.electricity.value if kwh_price is None else kwh_price
    local = power_w / 1000 * hours * kwh
    if offer is None:
        return MonthlyCosts(local, 0.0, 0.0, 0.0, None)
    compute = offer.usd_per_hour * hours
    storage = storage_gb * prices.storage_for(offer.provider).value
    egress = egress_gb * prices.egress_for(offer.provider).value
    saving = compute + storage + egress - local
    be = purchase / saving if saving > 0 else None
    return MonthlyCosts(local, compute, storage, egress, be)


def break_even_hours(
    offer: CloudOffer | None,
    purchase: float,
    power_w: float,
    prices: PriceCatalogue,
    months: float,
    storage_gb: float = DEFAULT_STORAGE_GB,
    egress_gb: float = DEFAULT_EGRESS_GB,
    *,
    kwh_price: float | None = None,
) -> float | None:
    """Hours a month above which ``purchase`` pays back within ``months``.

    The inverse of :func:`monthly_costs`: the ``h`` where ``purchase / (cloud(h) -
    local(h)) == months``. ``0`` when it pays back at any use, ``None`` when it never does
    within a month of hours.
    """
    if offer is None:
        return None
    zero = monthly_costs(
        offer, 0.0, purchase, power_w, prices, storage_gb, egress_gb, kwh_price=kwh_price
    )
    one = monthly_costs(
        offer, 1.0, purchase, power_w, prices, storage_gb, egress_gb, kwh_price=kwh_price
    )
    fixed = zero.cloud - zero.local
    per_hour = (one.cloud - one.local) - fixed
    need = purchase / months - fixed
    if need <= 0:
        return 0.0
    if per_hour <= 0:
        return None
    h = need / per_hour
    return h if h <= HOURS_PER_MONTH else None


def check_years(years: float) -> float:
    """``years`` of depreciation, above 0 and at most :data:`MAX_YEARS`.

    Raises:
        InvalidAssumption: out of range, NaN or infinite.
    """
    if not (isinstance(years, int | float) and math.isfinite(years) and 0 < years <= MAX_YEARS):
        raise InvalidAssumption("years", years, f"above 0 and at most {MAX_YEARS:g}")
    return float(years)


def check_positive(name: str, value: float | None, *, zero: bool = False) -> float | None:
    """``value`` if it is a finite number above 0 (or at least 0 with ``zero``).

    Raises:
        InvalidAssumption: negative, zero (unless allowed), NaN or infinite.
    """
    if value is None:
        return None
    ok = math.isfinite(value) and (value >= 0 if zero else value > 0)
    if not ok:
        raise InvalidAssumption(name, value, "at least 0" if zero else "above 0")
    return float(value)


def fits_on(spec: ModelSpec, req: FitRequest, gpu: Gpu, count: int = 1) -> bool:
    """Whether the fit planner judges ``req`` comfortable on ``count`` x ``gpu``."""
    from rigml.fit.memory import estimate
    from rigml.fit.planner import judge

    r = replace(req, gpus=max(1, count)).resolved(spec.max_context)
    return judge(estimate(spec, r), gpu.vram_bytes).status == "comfortable"


def smallest_offer(
    prices: PriceCatalogue,
    spec: ModelSpec | None,
    req: FitRequest | None,
    *,
    min_vram_bytes: int = 0,
) -> CloudOffer | None:
    """The cheapest instance per hour on which the workload fits comfortably."""
    from rigml.fit import catalogue

    for offer in sorted(prices.cloud, key=lambda o: o.usd_per_hour):
        g = catalogue.gpu(offer.gpu)
        if g.vram_bytes < min_vram_bytes:
            continue
        if spec is None or req is None or fits_on(spec, req, g, offer.gpus):
            return offer
    return None


def local_gpu_for(
    prices: PriceCatalogue, spec: ModelSpec | None, req: FitRequest | None
) -> Gpu | None:
    """The cheapest priced workstation GPU on which the workload fits on one card."""
    from rigml.fit import catalogue

    for hw in sorted(prices.hardware, key=lambda h: h.usd):
        g = catalogue.gpu(hw.gpu)
        if spec is None or req is None or fits_on(spec, req, g):
            return g
    return None


@dataclass(frozen=True)
class TcoInputs:
    """What ``rig cost`` compares: the workload, the local GPU, how much it runs, the prices.

    Attributes:
        model: Catalogue name, path or spec of the workload's model; ``None`` compares a
            GPU with the cheapest instance of at least its memory.
        request: The workload for the fit planner (task, quantisation, context).
        gpu: The local GPU to own or buy; default this machine's (NVML), else the cheapest
            priced GPU on which the workload fits.
        purchase_usd: Its price; default the catalogue's (0 with ``owned``: already paid).
        years: Depreciation period; the chart's horizon.
        hours_per_month / utilisation: How much the workload runs (one of them; default
            25% of the month).
        electricity_usd_per_kwh: Default the catalogue figure.
        power_w: Measured GPU power under load, instead of the lab's or NVML's.
        offer: Force a cloud instance (catalogue id) instead of the smallest that fits.
        extra_usd: Other purchases with the GPU (a desktop base, a PSU).
        prices_path: A price file on top of the shipped catalogue.
    """

    model: str | ModelSpec | None = None
    request: FitRequest | None = None
    gpu: str | None = None
    purchase_usd: float | None = None
    owned: bool = False
    years: float = 3.0
    hours_per_month: float | None = None
    utilisation: float | None = None
    electricity_usd_per_kwh: float | None = None
    power_w: float | None = None
    storage_gb: float = DEFAULT_STORAGE_GB
    egress_gb_month: float = DEFAULT_EGRESS_GB
    offer: str | None = None
    extra_usd: float = 0.0
    prices_path: str | Path | None = None


@dataclass(frozen=True)
class TcoReport:
    """Local against cloud, month by month; ``--json`` is :meth:`to_dict`."""

    workload: str
    local_gpu: str | None
    purchase_usd: float | None
    purchase_source: str
    years: float
    hours_per_month: float
    electricity_usd_per_kwh: float
    electricity_source: str
    power: PowerDraw | None
    local_energy_monthly_usd: float
    local_amortised_monthly_usd: float | None
    offer: CloudOffer | None
    cloud_compute_monthly_usd: float
    cloud_storage_monthly_usd: float
    cloud_egress_monthly_usd: float
    months: list[int]
    local_cumulative: list[float]
    cloud_cumulative: list[float]
    break_even_month: float | None
    conclusion: str
    assumptions: list[str] = field(default_factory=list)
    prices_line: str = ""

    @property
    def cloud_monthly_usd(self) -> float:
        return (
            self.cloud_compute_monthly_usd
            + self.cloud_storage_monthly_usd
            + self.cloud_egress_monthly_usd
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["offer"] = self.offer.to_dict() if self.offer else None
        data["power"] = self.power.to_dict() if self.power else None
        data["cloud_monthly_usd"] = self.cloud_monthly_usd
        data["is_estimate"] = True
        return data


@dataclass
class _Local:
    """The local side as the steps settle it: which GPU, owned or bought, at what price."""

    gpu: Gpu | None = None
    owned: bool = False
    misfit: bool = False
    purchase: float | None = None
    purchase_source: str = "none"


def _checked_hours(i: TcoInputs) -> float:
    """Refuse impossible inputs; return the hours a month the workload runs.

    Raises:
        InvalidAssumption: a negative price, zero or more than full utilisation, ...
    """
    check_years(i.years)
    check_positive("purchase price", i.purchase_usd, zero=True)
    if i.owned and i.purchase_usd is not None:
        raise InvalidAssumption(
            "purchase price",
            i.purchase_usd,
            "left out with --owned",
            hint="an owned GPU is already paid for: drop --price, or drop --owned to price a "
            "purchase",
        )
    check_positive("electricity price", i.electricity_usd_per_kwh, zero=True)
    check_positive("power", i.power_w)
    check_positive("storage", i.storage_gb, zero=True)
    check_positive("egress", i.egress_gb_month, zero=True)
    check_positive("extra purchases", i.extra_usd, zero=True)
    if i.hours_per_month is not None and i.utilisation is not None:
        raise InvalidAssumption("usage", "both", "given as hours per month or utilisation")
    if i.utilisation is not None:
        if not (math.isfinite(i.utilisation) and 0 < i.utilisation <= 1):
            raise InvalidAssumption("utilisation", i.utilisation, "above 0 and at most 1")
        return i.utilisation * HOURS_PER_MONTH
    if i.hours_per_month is not None:
        if not (math.isfinite(i.hours_per_month) and 0 < i.hours_per_month <= HOURS_PER_MONTH):
            raise InvalidAssumption(
                "hours per month", i.hours_per_month, f"above 0 and at most {HOURS_PER_MONTH:g}"
            )
        return i.hours_per_month
    return 0.25 * HOURS_PER_MONTH


def _workload(i: TcoInputs) -> tuple[ModelSpec | None, FitRequest | None, str]:
    """The model and fit request of the workload, and how outputs name it."""
    if i.model is None:
        return None, None, "GPU time"
    from rigml.fit.request import FitRequest
    from rigml.fit.sources import load_model

    spec = i.model if not isinstance(i.model, str) else load_model(i.model)
    req = (i.request or FitRequest()).resolved(spec.max_context)
    quant = f" {req.quant}" if req.quant else ""
    return spec, req, f"{spec.name} {req.task}{quant}, context {req.context}"


def _local_gpu(
    i: TcoInputs,
    prices: PriceCatalogue,
    spec: ModelSpec | None,
    req: FitRequest | None,
    source: GpuSource | None,
    notes: list[str],
) -> _Local:
    """The GPU to compare: the one named, else this machine's (owned), else the cheapest
    priced card the workload fits on; and whether the workload fits on it at all."""
    from rigml.fit import catalogue

    local = _Local(owned=i.owned)
    if i.gpu is not None:
        local.gpu = catalogue.gpu(i.gpu)
    else:
        from rigml.plan.energy import machine_gpus

        here = machine_gpus(source)
        if here:
            local.gpu = catalogue.gpu(here[0][0])
            local.owned = i.owned or i.purchase_usd is None
            notes.append(f"local GPU: this machine's {local.gpu.name} (NVML)")
        else:
            local.gpu = local_gpu_for(prices, spec, req)
            if local.gpu is not None:
                notes.append(
                    f"local GPU: {local.gpu.name}, the cheapest priced card the workload fits on"
                )
    g = local.gpu
    if g is not None and spec is not None and req is not None and not fits_on(spec, req, g):
        local.misfit = True
        notes.append(
            f"the workload as asked does not fit comfortably on one {g.name} (rig fit says "
            "so): no local option to compare"
        )
    return local


def _price_local(
    i: TcoInputs, local: _Local, prices: PriceCatalogue, notes: list[str], dates: list[dt.date]
) -> None:
    """What the local GPU costs up front: given, owned (0), or the catalogue's price.

    Raises:
        InvalidAssumption: the catalogue has no price for it and none was given.
    """
    g = local.gpu
    if g is None:
        return
    if i.purchase_usd is not None:
        purchase, local.purchase_source = i.purchase_usd, "given"
    elif local.owned:
        purchase, local.purchase_source = 0.0, "already owned (sunk cost)"
    else:
        hw = prices.hardware_for(g.name)
        if hw is None:
            raise InvalidAssumption(
                f"purchase price of {g.name}",
                None,
                "a number of USD",
                hint=f"the catalogue has no purchase price for the {g.name} "
                f"({g.segment} card): pass --price USD, or --owned if you have one",
            )
        purchase, local.purchase_source = hw.price, hw.label
        dates.append(hw.price_as_of)
        notes.append(f"{g.name} purchase: {hw.label}")
    local.purchase = purchase + i.extra_usd


def _electricity(i: TcoInputs, prices: PriceCatalogue) -> tuple[float, str]:
    """The price of a kWh and where it comes from."""
    if i.electricity_usd_per_kwh is not None:
        return i.electricity_usd_per_kwh, "given"
    e = prices.electricity
    return e.value, f"{e.what} ({e.source}, {e.as_of.isoformat()})"


def _power(
    i: TcoInputs,
    gpu: Gpu | None,
    hours: float,
    lab: Lab | None,
    source: GpuSource | None,
    notes: list[str],
) -> PowerDraw | None:
    """The local machine's power under load (given, measured, or the catalogue's)."""
    power = power_draw(gpu, lab=lab, source=source, override_w=i.power_w) if gpu else None
    if power:
        notes.extend(power.notes)
    notes.append(
        f"the workload runs {hours:,.0f} h a month ({hours / HOURS_PER_MONTH:.0%}); the machine "
        "is off or asleep the rest of the time"
    )
    return power


def _cloud_offer(
    i: TcoInputs,
    prices: PriceCatalogue,
    spec: ModelSpec | None,
    req: FitRequest | None,
    gpu: Gpu | None,
    notes: list[str],
) -> CloudOffer | None:
    """The instance named with ``offer``, else the cheapest that fits (or that has at least
    the local GPU's memory, without a model).

    Raises:
        UnknownOffer: ``offer`` is not in the catalogue.
    """
    if i.offer is not None:
        return prices.offer(i.offer)
    min_vram = gpu.vram_bytes if (gpu is not None and spec is None) else 0
    chosen = smallest_offer(prices, spec, req, min_vram_bytes=min_vram)
    if chosen is not None:
        why = (
            "the cheapest instance the fit planner says the workload fits on"
            if spec is not None
            else f"the cheapest instance with at least {gpu.name}'s memory"
            if gpu is not None
            else "the cheapest instance"
        )
        notes.append(f"cloud: {chosen.provider} {chosen.instance}, {why}")
    return chosen


def _cloud_notes(
    i: TcoInputs,
    prices: PriceCatalogue,
    chosen: CloudOffer,
    notes: list[str],
    dates: list[dt.date],
) -> None:
    st, eg = prices.storage_for(chosen.provider), prices.egress_for(chosen.provider)
    dates += [chosen.as_of, st.as_of, eg.as_of]
    notes.append(
        f"cloud storage {i.storage_gb:g} GB kept all month at ${st.value:g}/GB-month, egress "
        f"{i.egress_gb_month:g} GB a month at ${eg.value:g}/GB ({chosen.provider}: {st.what}); "
        "on-demand prices, no reserved or spot discounts"
    )
    notes.append(EQUAL_SPEED)


def _break_even_text(
    break_even: float | None, horizon: int, local_monthly: float, cloud_monthly: float
) -> str:
    if break_even is None:
        return (
            f"the cloud stays cheaper: at these hours it costs ${cloud_monthly:,.0f} a month, "
            f"no more than local electricity (${local_monthly:,.0f}), so the purchase never "
            "pays back"
        )
    if break_even <= horizon:
        return (
            f"buying pays off after {break_even:.1f} months, inside the {horizon}-month "
            "depreciation period"
        )
    return (
        f"the cloud is cheaper over the hardware's life: buying would pay off only after "
        f"{break_even:.1f} months, beyond the {horizon}-month depreciation period"
    )


def _conclusion(
    i: TcoInputs,
    local: _Local,
    chosen: CloudOffer | None,
    costs: MonthlyCosts,
    break_even: float | None,
    horizon: int,
) -> str:
    """One sentence: which side wins, or why there is nothing to compare."""
    g, energy, cloud = local.gpu, costs.local if local.gpu else 0.0, costs.cloud
    if g is None and chosen is None:
        return (
            "neither fits: no single workstation GPU in the catalogue and no catalogue cloud "
            "instance holds this workload as asked; see `rig fit` for mitigations "
            "(quantisation, LoRA/QLoRA, offload, a shorter context)"
        )
    if g is None:
        return "no single workstation GPU in the catalogue fits this workload: cloud only"
    if local.misfit and chosen is not None:
        return (
            f"cloud only (does not fit this GPU): the workload as asked does not fit on one "
            f"{g.name}; `rig fit` lists mitigations that might make it fit"
        )
    if local.misfit:
        return (
            f"neither fits: the workload as asked does not fit on one {g.name} nor on any "
            "catalogue cloud instance; see `rig fit` for mitigations"
        )
    if chosen is None:
        return "no cloud instance in the catalogue fits this workload: local only"
    if local.owned and i.purchase_usd is None and not i.extra_usd:
        if cloud > energy:
            return (
                f"already owned: local costs only electricity (${energy:,.2f} a month) "
                f"against ${cloud:,.0f} a month in the cloud"
            )
        return (
            f"already owned, yet the cloud (${cloud:,.2f} a month) costs less "
            f"than the local electricity (${energy:,.2f})"
        )
    return _break_even_text(break_even, horizon, energy, cloud)


def tco_report(
    inputs: TcoInputs | None = None,
    *,
    prices: PriceCatalogue | None = None,
    lab: Lab | None = None,
    source: GpuSource | None = None,
    today: dt.date | None = None,
) -> TcoReport:
    """Cumulative cost of a local GPU against the cloud, and the break-even month.

    ``prices`` replaces the catalogue ``inputs.prices_path`` would load; ``lab`` and
    ``source`` are where measured power comes from (the lab's runs, NVML).

    Raises:
        InvalidAssumption: a negative price, zero or more than full utilisation, ...
        UnknownGpu, UnknownOffer, UnknownModel: with close matches in the hint.
    """
    i = inputs or TcoInputs()
    hours = _checked_hours(i)
    prices = prices or load_prices(i.prices_path)
    spec, req, label = _workload(i)
    notes: list[str] = []
    dates = [prices.electricity.as_of]
    local = _local_gpu(i, prices, spec, req, source, notes)
    _price_local(i, local, prices, notes, dates)
    kwh_price, kwh_source = _electricity(i, prices)
    g = local.gpu
    power = _power(i, g, hours, lab, source, notes)
    chosen = _cloud_offer(i, prices, spec, req, g, notes)
    base = local.purchase or 0.0
    costs = monthly_costs(
        chosen,
        hours,
        base,
        power.total_w if power else 0.0,
        prices,
        i.storage_gb,
        i.egress_gb_month,
        kwh_price=kwh_price,
    )
    if chosen is not None:
        _cloud_notes(i, prices, chosen, notes, dates)
    energy = costs.local if g is not None else 0.0
    horizon = max(1, round(i.years * 12))
    months = list(range(horizon + 1))
    break_even = costs.break_even if (g is not None and not local.misfit) else None
    return TcoReport(
        workload=label,
        local_gpu=g.name if g else None,
        purchase_usd=local.purchase,
        purchase_source=local.purchase_source,
        years=i.years,
        hours_per_month=hours,
        electricity_usd_per_kwh=kwh_price,
        electricity_source=kwh_source,
        power=power,
        local_energy_monthly_usd=energy,
        local_amortised_monthly_usd=base / horizon + energy if g is not None else None,
        offer=chosen,
        cloud_compute_monthly_usd=costs.compute,
        cloud_storage_monthly_usd=costs.storage,
        cloud_egress_monthly_usd=costs.egress,
        months=months,
        local_cumulative=[base + energy * m for m in months],
        cloud_cumulative=[costs.cloud * m for m in months],
        break_even_month=break_even,
        conclusion=_conclusion(i, local, chosen, costs, break_even, horizon),
        assumptions=notes,
        prices_line=prices.age_line(today, dates),
    )
