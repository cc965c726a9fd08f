"""What the lab's tracked work cost: ``rig cost usage --since 30d``.

From each run's real duration and its measured energy (:mod:`rigml.plan.energy`), the local
cost, what the same hours would have cost on the smallest comparable cloud instance (equal
speed assumed), and the emissions at the region's grid intensity (:mod:`rigml.plan.carbon`).

Local cost is electricity plus, for a GPU being paid off, its depreciation over the
*calendar window* (price / (years x 12) per month of the window, whether the GPU ran or
idled), spread over the runs by their hours. As in ``rig cost``, this machine's own GPU
counts as already owned (no depreciation) unless ``purchase_usd`` is given; a GPU named
with ``gpu`` is priced at the catalogue's street price.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, UnknownRegion
from rigml.plan._constants import HOURS_PER_MONTH, REST_OF_SYSTEM_W, board_power_w
from rigml.plan.carbon import GridIntensity, emissions_g, intensity, known_regions
from rigml.plan.energy import RunEnergy, machine_gpus, run_energies
from rigml.plan.prices import CloudOffer, PriceCatalogue, load_prices
from rigml.plan.tco import EQUAL_SPEED, check_positive, check_years, smallest_offer

if TYPE_CHECKING:
    from pathlib import Path

    from rigml.fit.catalogue import Gpu
    from rigml.lab import Lab
    from rigml.machine.gpu import GpuSource
    from rigml.track.queries import RunInfo

__all__ = ["RunCost", "UsageInputs", "UsageReport", "parse_since", "usage_report"]

WORLD = "WORLD"
"""The grid region used when none is given, or when the one given is not known."""


def parse_since(text: str, *, now: float | None = None) -> float:
    """Epoch seconds for a span ago (``30d``, ``12h``, ``2w``, ``1w 2d``: see
    :func:`rigml._units.parse_duration`) or a date ``2025-06-01``.

    Units are case-insensitive (``30D`` is ``30d``); a bare number needs a unit.

    Raises:
        InvalidInput: unreadable, or in the future.
    """
    from rigml._units import parse_duration

    now = time.time() if now is None else now
    hint = "write 30d, 12h, 2w or a date 2025-06-01"
    try:
        float(text)
    except ValueError:
        pass
    else:
        raise InvalidInput(f"--since {text!r} has no unit", hint=f"{hint} (d for days)")
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        day = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"cannot read --since {text!r}", hint=hint) from None
    if day.timestamp() > now:
        raise InvalidInput(
            f"--since {text!r} is in the future: no run can have started since then",
            hint="give a past date, or a span such as 30d",
        )
    return day.timestamp()


@dataclass(frozen=True)
class RunCost:
    """One run: hours, energy and how it was measured, local and cloud cost, emissions."""

    run_id: str
    name: str
    experiment: str
    status: str
    hours: float
    energy: RunEnergy
    local_usd: float
    cloud_usd: float | None
    co2e_g: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["energy"] = self.energy.to_dict()
        out["kwh"] = self.energy.kwh
        out["energy_source"] = self.energy.source
        return out


@dataclass(frozen=True)
class UsageReport:
    """Totals and per-run figures; ``--json`` is :meth:`to_dict`."""

    since: float
    until: float
    runs: list[RunCost]
    local_gpu: str | None
    offer: CloudOffer | None
    grid: GridIntensity
    electricity_usd_per_kwh: float
    hours: float
    kwh: float
    measured_runs: int
    fallback_runs: int
    local_usd: float
    cloud_usd: float | None
    co2e_g: float
    notes: list[str] = field(default_factory=list)
    prices_line: str = ""
    depreciation_usd: float = 0.0
    owned: bool = False
    region_asked: str = WORLD
    region_fallback: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "local_gpu": self.local_gpu,
            "offer": self.offer.to_dict() if self.offer else None,
            "grid": self.grid.to_dict(),
            "electricity_usd_per_kwh": self.electricity_usd_per_kwh,
            "totals": {
                "runs": len(self.runs),
                "hours": self.hours,
                "kwh": self.kwh,
                "measured_runs": self.measured_runs,
                "fallback_runs": self.fallback_runs,
                "local_usd": self.local_usd,
                "cloud_usd": self.cloud_usd,
                "co2e_g": self.co2e_g,
                "depreciation_usd": self.depreciation_usd,
            },
            "owned": self.owned,
            "region_asked": self.region_asked,
            "region_fallback": self.region_fallback,
            "runs": [r.to_dict() for r in self.runs],
            "notes": self.notes,
            "prices": self.prices_line,
            "is_estimate": True,
        }


@dataclass(frozen=True)
class UsageInputs:
    """What ``rig cost usage`` prices: which runs, on which GPU, at which prices and grid.

    Attributes:
        since: A span (``30d``) or a date; runs that started since then count.
        gpu: The GPU the runs used, for the catalogue fallback and the cloud comparison;
            default this machine's (NVML).
        region: Where the electricity came from, for its grid intensity; an unknown region
            falls back to the world average, and the report says so.
        purchase_usd: The local GPU's price, to add its depreciation over the window;
            default the catalogue's.
        offer: Force a cloud instance (catalogue id) for the comparison.
    """

    since: str = "30d"
    gpu: str | None = None
    region: str = WORLD
    electricity_usd_per_kwh: float | None = None
    purchase_usd: float | None = None
    years: float = 3.0
    offer: str | None = None
    prices_path: str | Path | None = None
    grid_path: str | Path | None = None


def _grid(i: UsageInputs, notes: list[str]) -> tuple[GridIntensity, bool]:
    """The region's grid intensity, else the world average, labelled as a fallback."""
    if i.region.strip().upper() == WORLD:
        notes.append("carbon at the world average grid intensity; pass --region for yours")
        return intensity(WORLD, path=i.grid_path), False
    try:
        return intensity(i.region, path=i.grid_path), False
    except UnknownRegion as exc:
        world = intensity(WORLD, path=i.grid_path)
        close = f" (did you mean {', '.join(exc.close)}?)" if exc.close else ""
        codes = ", ".join(g.code for g in known_regions(i.grid_path) if g.code != WORLD)
        notes.append(
            f"no grid intensity for region {i.region!r}{close}: carbon at the world average "
            f"instead ({world.g_per_kwh:g} gCO2e/kWh, {world.name}); known regions: {codes}; "
            "`rig cost grid` lists them with their sources, --grid FILE adds yours"
        )
        return world, True


def _local_gpu(i: UsageInputs, source: GpuSource | None) -> tuple[Gpu | None, bool]:
    """The GPU named, else this machine's (owned unless a price is given), else none."""
    from rigml.fit import catalogue

    if i.gpu is not None:
        return catalogue.gpu(i.gpu), False
    here = machine_gpus(source)
    local = catalogue.gpu(here[0][0]) if here else None
    return local, local is not None and i.purchase_usd is None


def _kwh_price(i: UsageInputs, prices: PriceCatalogue, notes: list[str]) -> float:
    if i.electricity_usd_per_kwh is not None:
        return i.electricity_usd_per_kwh
    e = prices.electricity
    notes.append(
        f"electricity ${e.value:g}/kWh: {e.what} ({e.source}); pass --electricity for yours"
    )
    return e.value


def _depreciation(
    i: UsageInputs,
    local: Gpu | None,
    owned: bool,
    prices: PriceCatalogue,
    window_months: float,
    notes: list[str],
    used: list[dt.date],
) -> float:
    """The local GPU's depreciation over the calendar window; 0 for this machine's own."""
    if local is None:
        return 0.0
    if owned:
        notes.append(
            f"{local.name} is this machine's own GPU: already owned, so no depreciation is "
            "charged (as in `rig cost`); pass --price to charge it"
        )
        return 0.0
    hw = prices.hardware_for(local.name)
    if i.purchase_usd is not None:
        price, how = i.purchase_usd, "given"
    elif hw is not None:
        price, how = hw.price, hw.label
        used.append(hw.price_as_of)
    else:
        return 0.0
    if not price:
        return 0.0
    monthly = price / (i.years * 12)
    depreciation = monthly * window_months
    notes.append(
        f"local cost includes {local.name} depreciation over the window: ${price:,.0f} "
        f"({how}) over {i.years:g} years = ${monthly:,.2f} a month x "
        f"{window_months:.2f} months = ${depreciation:,.2f}, whether it ran or idled; "
        "spread over the runs by their hours"
    )
    return depreciation


def _offer(
    i: UsageInputs, prices: PriceCatalogue, local: Gpu | None, notes: list[str]
) -> CloudOffer | None:
    """The instance to compare with: the one named, else the cheapest with the local
    GPU's memory; none without a GPU."""
    if i.offer is not None:
        return prices.offer(i.offer)
    if local is not None:
        return smallest_offer(prices, None, None, min_vram_bytes=local.vram_bytes)
    notes.append(
        "no GPU known for these runs (none here, no --gpu): no cloud comparison; pass "
        "--gpu or --offer"
    )
    return None


def _run_costs(
    runs: list[RunInfo],
    energies: dict[str, RunEnergy],
    kwh_price: float,
    depreciation: float,
    chosen: CloudOffer | None,
    grid: GridIntensity,
) -> list[RunCost]:
    """Each run's cost: its energy at the kWh price plus its share (by hours) of the
    depreciation; the cloud at the same hours; its emissions."""
    total_hours = sum(energies[r.id].seconds for r in runs) / 3600
    costs: list[RunCost] = []
    for r in runs:
        e = energies[r.id]
        hours = e.seconds / 3600
        share = hours / total_hours if total_hours > 0 else 1 / len(runs)
        costs.append(
            RunCost(
                run_id=r.id,
                name=r.name,
                experiment=r.experiment,
                status=r.status,
                hours=hours,
                energy=e,
                local_usd=e.kwh * kwh_price + depreciation * share,
                cloud_usd=chosen.usd_per_hour * hours if chosen else None,
                co2e_g=emissions_g(e.kwh, grid),
            )
        )
    return costs


def _energy_notes(costs: list[RunCost], local: Gpu | None, notes: list[str]) -> int:
    """Say how the energy of runs without power readings was estimated; return how many
    runs were measured."""
    measured = sum(1 for c in costs if c.energy.source == "measured")
    fallback = len(costs) - measured
    if fallback:
        what = (
            f"{local.name}'s catalogue board power ({board_power_w(local):.0f} W)"
            if local
            else "an assumed CPU power"
        )
        notes.append(
            f"{fallback} of {len(costs)} runs logged no GPU power (sys/gpu*/power_w): their "
            f"energy uses {what} for their whole duration, not a measurement"
        )
    notes.append(f"rest of the system {REST_OF_SYSTEM_W:.0f} W while a run is going (assumed)")
    return measured


def usage_report(
    lab: Lab,
    inputs: UsageInputs | None = None,
    *,
    prices: PriceCatalogue | None = None,
    source: GpuSource | None = None,
    now: float | None = None,
) -> UsageReport:
    """Cost and emissions of the runs that started since ``inputs.since``.

    Raises:
        InvalidInput: bad ``since``; InvalidAssumption: a negative price or years.
        UnknownGpu, UnknownOffer: with close matches in the hint. An unknown region is
            no error: the report falls back to the world average and says so.
    """
    from rigml.track.queries import list_runs

    i = inputs or UsageInputs()
    check_positive("electricity price", i.electricity_usd_per_kwh, zero=True)
    check_positive("purchase price", i.purchase_usd, zero=True)
    check_years(i.years)
    now = time.time() if now is None else now
    cutoff = parse_since(i.since, now=now)
    prices = prices or load_prices(i.prices_path)
    notes: list[str] = []
    grid, fallback = _grid(i, notes)
    local, owned = _local_gpu(i, source)
    kwh_price = _kwh_price(i, prices, notes)
    used = [prices.electricity.as_of]
    window_months = max(0.0, now - cutoff) / 3600 / HOURS_PER_MONTH
    depreciation = _depreciation(i, local, owned, prices, window_months, notes, used)
    chosen = _offer(i, prices, local, notes)
    runs = list_runs(lab, where=f"start_time >= {cutoff!r}", details=False)
    energies = run_energies(lab, runs, fallback_gpu=local, rest_w=REST_OF_SYSTEM_W, now=now)
    costs = _run_costs(runs, energies, kwh_price, depreciation, chosen, grid)
    measured = _energy_notes(costs, local, notes)
    if chosen is not None:
        used.append(chosen.as_of)
        notes.append(EQUAL_SPEED)
    return UsageReport(
        since=cutoff,
        until=now,
        runs=sorted(costs, key=lambda c: -c.local_usd),
        local_gpu=local.name if local else None,
        offer=chosen,
        grid=grid,
        electricity_usd_per_kwh=kwh_price,
        hours=sum(c.hours for c in costs),
        kwh=sum(c.energy.kwh for c in costs),
        measured_runs=measured,
        fallback_runs=len(costs) - measured,
        local_usd=sum(c.local_usd for c in costs) if costs else depreciation,
        cloud_usd=sum(c.cloud_usd or 0.0 for c in costs) if chosen else None,
        co2e_g=sum(c.co2e_g for c in costs),
        notes=notes,
        prices_line=prices.age_line(used=used),
        depreciation_usd=depreciation,
        owned=owned,
        region_asked=i.region,
        region_fallback=fallback,
    )
