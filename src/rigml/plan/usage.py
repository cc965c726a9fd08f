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
import re
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput
from rigml.plan._constants import HOURS_PER_MONTH, REST_OF_SYSTEM_W, board_power_w
from rigml.plan.carbon import GridIntensity, emissions_g, intensity
from rigml.plan.energy import RunEnergy, machine_gpus, run_energies
from rigml.plan.prices import CloudOffer, PriceCatalogue, load_prices
from rigml.plan.tco import EQUAL_SPEED, check_positive, check_years, smallest_offer

if TYPE_CHECKING:
    from pathlib import Path

    from rigml.lab import Lab
    from rigml.machine.gpu import GpuSource

__all__ = ["RunCost", "UsageReport", "parse_since", "usage"]

_SPAN = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, *, now: float | None = None) -> float:
    """Epoch seconds for ``30d``, ``12h``, ``2w`` ago, or a date ``2025-06-01``.

    Units are case-insensitive (``30D`` is ``30d``).

    Raises:
        InvalidInput: unreadable, or in the future.
    """
    now = time.time() if now is None else now
    m = _SPAN.match(text)
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2).lower()]
    try:
        day = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"cannot read --since {text!r}", hint="write 30d, 12h, 2w or a date 2025-06-01"
        ) from None
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
            "runs": [r.to_dict() for r in self.runs],
            "notes": self.notes,
            "prices": self.prices_line,
            "is_estimate": True,
        }


def usage(
    lab: Lab,
    *,
    since: str = "30d",
    gpu: str | None = None,
    region: str = "WORLD",
    electricity_usd_per_kwh: float | None = None,
    purchase_usd: float | None = None,
    years: float = 3.0,
    offer: str | None = None,
    prices: PriceCatalogue | None = None,
    prices_path: str | Path | None = None,
    grid_path: str | Path | None = None,
    source: GpuSource | None = None,
    now: float | None = None,
) -> UsageReport:
    """Cost and emissions of the runs that started since ``since``.

    Args:
        gpu: The GPU the runs used, for the catalogue fallback and the cloud comparison;
            default this machine's (NVML).
        region: Where the electricity came from, for its grid intensity.
        purchase_usd: The local GPU's price, to add its depreciation per hour used;
            default the catalogue's.

    Raises:
        InvalidInput: bad ``since``; InvalidAssumption: a negative price or years.
        UnknownGpu, UnknownOffer, UnknownRegion: with close matches in the hint.
    """
    from rigml.fit import catalogue
    from rigml.track.queries import list_runs

    check_positive("electricity price", electricity_usd_per_kwh, zero=True)
    check_positive("purchase price", purchase_usd, zero=True)
    check_years(years)
    now = time.time() if now is None else now
    cutoff = parse_since(since, now=now)
    prices = prices or load_prices(prices_path)
    grid = intensity(region, path=grid_path)
    notes: list[str] = []
    owned = False
    if gpu is not None:
        local = catalogue.gpu(gpu)
    else:
        here = machine_gpus(source)
        local = catalogue.gpu(here[0][0]) if here else None
        owned = local is not None and purchase_usd is None
    kwh_price = (
        prices.electricity.value if electricity_usd_per_kwh is None else electricity_usd_per_kwh
    )
    if electricity_usd_per_kwh is None:
        notes.append(
            f"electricity ${kwh_price:g}/kWh: {prices.electricity.what} "
            f"({prices.electricity.source}); pass --electricity for yours"
        )
    if region.upper() == "WORLD":
        notes.append("carbon at the world average grid intensity; pass --region for yours")
    window_months = max(0.0, now - cutoff) / 3600 / HOURS_PER_MONTH
    depreciation = 0.0
    used = [prices.electricity.as_of]
    if local is not None and owned:
        notes.append(
            f"{local.name} is this machine's own GPU: already owned, so no depreciation is "
            "charged (as in `rig cost`); pass --price to charge it"
        )
    elif local is not None:
        hw = prices.hardware_for(local.name)
        price = purchase_usd if purchase_usd is not None else (hw.price if hw else None)
        if price:
            depreciation = price / (years * 12) * window_months
            how = "given" if purchase_usd is not None else hw.label  # type: ignore[union-attr]
            if purchase_usd is None and hw is not None:
                used.append(hw.price_as_of)
            notes.append(
                f"local cost includes {local.name} depreciation over the window: ${price:,.0f} "
                f"({how}) over {years:g} years = ${price / (years * 12):,.2f} a month x "
                f"{window_months:.2f} months = ${depreciation:,.2f}, whether it ran or idled; "
                "spread over the runs by their hours"
            )
    chosen: CloudOffer | None
    if offer is not None:
        chosen = prices.offer(offer)
    elif local is not None:
        chosen = smallest_offer(prices, None, None, min_vram_bytes=local.vram_bytes)
    else:
        chosen = None
        notes.append(
            "no GPU known for these runs (none here, no --gpu): no cloud comparison; pass "
            "--gpu or --offer"
        )
    runs = list_runs(lab, where=f"start_time >= {cutoff!r}", details=False)
    energies = run_energies(lab, runs, fallback_gpu=local, rest_w=REST_OF_SYSTEM_W, now=now)
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
    if chosen is not None:
        used.append(chosen.as_of)
        notes.append(EQUAL_SPEED)
    cloud_total = sum(c.cloud_usd or 0.0 for c in costs) if chosen else None
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
        fallback_runs=fallback,
        local_usd=sum(c.local_usd for c in costs) if costs else depreciation,
        cloud_usd=cloud_total,
        co2e_g=sum(c.co2e_g for c in costs),
        notes=notes,
        prices_line=prices.age_line(used=used),
        depreciation_usd=depreciation,
        owned=owned,
    )
