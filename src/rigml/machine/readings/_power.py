"""Power: the CPU side from RAPL energy counters, the GPUs' limits and draw from NVML."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rigml.machine.gpu import GpuSource
from rigml.machine.readings._gpus import read_gpus

POWERCAP = Path("/sys/class/powercap")
"""Where Linux exposes the RAPL energy counters (``intel-rapl:N/energy_uj``)."""


@dataclass(frozen=True)
class RaplReading:
    """Average package power over a short interval, from the RAPL energy counters."""

    zones: dict[str, float]  # zone name (package-0...) -> watts
    interval_s: float

    @property
    def total_w(self) -> float:
        """The CPU side's power: the ``psys`` (platform) zone alone where there is one, since
        it already contains the packages; else the sum of the package zones."""
        if "psys" in self.zones:
            return self.zones["psys"]
        return sum(self.zones.values())


@dataclass(frozen=True)
class GpuPower:
    """One GPU's power: NVML's enforced and default limits, and its draw when read live."""

    index: int
    name: str
    limit_w: float | None
    default_limit_w: float | None
    draw_w: float | None = None


@dataclass(frozen=True)
class PowerReading:
    """The machine's power figures now; ``gpu_note`` says why ``gpus`` is empty."""

    rapl: RaplReading | None
    gpus: tuple[GpuPower, ...]
    gpu_note: str | None = None

    @property
    def gpu_draw_w(self) -> float | None:
        """The GPUs' summed draw, or ``None`` when no GPU reported one."""
        draws = [g.draw_w for g in self.gpus if g.draw_w is not None]
        return sum(draws) if draws else None


def _read_uj(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _zone_name(zone: Path) -> str:
    name = zone / "name"
    try:
        return name.read_text().strip() if name.is_file() else zone.name
    except OSError:
        return zone.name


def rapl_power(
    *,
    root: Path = POWERCAP,
    interval_s: float = 0.25,
    sleep: Callable[[float], None] = time.sleep,
) -> RaplReading | None:
    """CPU package power from RAPL, or ``None`` where the counters are absent or unreadable.

    Since Linux 5.10 ``energy_uj`` is readable by root only (a side channel), so on most
    machines a normal user gets ``None`` and the caller falls back to an assumption.
    Only top-level zones (``intel-rapl:N``) are summed: sub-zones are parts of them.
    """
    zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    first = {z: v for z in zones if (v := _read_uj(z / "energy_uj")) is not None}
    if not first:
        return None
    t0 = time.monotonic()
    sleep(interval_s)
    elapsed = max(time.monotonic() - t0, interval_s, 1e-6)
    out: dict[str, float] = {}
    for z, a in first.items():
        b = _read_uj(z / "energy_uj")
        if b is None:
            continue
        if b < a:  # the counter wrapped
            wrap = _read_uj(z / "max_energy_range_uj")
            if not wrap:
                continue
            b += wrap
        out[_zone_name(z)] = (b - a) / 1e6 / elapsed
    return RaplReading(out, elapsed) if out else None


def read_gpu_power(source: GpuSource | None = None, *, live: bool = True) -> PowerReading:
    """The GPUs' power limits (and draw with ``live``), without sampling RAPL."""
    gpus = read_gpus(source, live=live)
    out = []
    for info in gpus.gpus:
        r = gpus.reading(info.index)
        out.append(
            GpuPower(
                index=info.index,
                name=info.name,
                limit_w=info.power_limit_w,
                default_limit_w=info.power_default_limit_w,
                draw_w=r.power_w if r is not None else None,
            )
        )
    return PowerReading(None, tuple(out), gpus.reason)


def read_power(
    source: GpuSource | None = None,
    *,
    live: bool = True,
    powercap: Path = POWERCAP,
    interval_s: float = 0.25,
    sleep: Callable[[float], None] = time.sleep,
) -> PowerReading:
    """The machine's power now: RAPL sampled over ``interval_s`` and the GPUs' limits and
    draw (``live``), through :func:`read_gpus`. Never raises."""
    gpus = read_gpu_power(source, live=live)
    rapl = rapl_power(root=powercap, interval_s=interval_s, sleep=sleep)
    return PowerReading(rapl, gpus.gpus, gpus.gpu_note)
