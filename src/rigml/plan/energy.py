"""Power and energy from what this machine and the lab measured, with catalogue fallbacks.

Three sources, best first, and every result names the one it used:

measured per run
    the ``sys/gpu<N>/power_w`` points the run sampler logged (NVML), integrated over time
    with the trapezoid rule per GPU; a gap longer than three times the series' median
    sampling interval (at least :data:`MAX_GAP_S`) is not bridged, and the part of the run
    a GPU's samples do not cover is filled at that GPU's own measured mean power. A run
    with samples too sparse to integrate (one sample, or only long gaps) counts the mean
    of its samples over its whole duration, and says so;
measured now
    NVML's enforced power limit, and the RAPL energy counters
    (``/sys/class/powercap/intel-rapl:*/energy_uj``) sampled twice over 0.25 s when
    readable: an *idle* reading of the machine while ``rig cost`` itself runs, labelled so;
catalogue
    the GPU table's board power (``tdp_w``), an upper bound under full load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rigml.plan._constants import REST_OF_SYSTEM_W, board_power_w

if TYPE_CHECKING:
    from rigml.fit.catalogue import Gpu
    from rigml.lab import Lab
    from rigml.machine.gpu import GpuSource
    from rigml.track.queries import RunInfo

__all__ = [
    "CPU_ONLY_W",
    "MAX_GAP_S",
    "POWERCAP",
    "REST_OF_SYSTEM_W",
    "PowerDraw",
    "RaplReading",
    "RunEnergy",
    "machine_gpus",
    "max_gap_s",
    "power_draw",
    "rapl_power",
    "run_energies",
]

POWERCAP = Path("/sys/class/powercap")
MAX_GAP_S = 60.0
"""The shortest gap that may count as a hole: a gap between two power samples longer than
``max(MAX_GAP_S, 3 x the median interval)`` (a paused or suspended run) is not integrated:
the power in between is unknown."""
CPU_ONLY_W = 65.0
"""A desktop CPU package under load (a common TDP class), for runs on a machine without a
GPU and without power samples; scaled by the run's mean ``sys/cpu_percent`` when logged."""
_CHUNK = 500

Source = Literal["measured", "measured-idle", "nvml-limit", "catalogue", "assumed"]


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


def _read_uj(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


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
    first: dict[Path, int] = {}
    for z in zones:
        v = _read_uj(z / "energy_uj")
        if v is not None:
            first[z] = v
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
        name = (z / "name").read_text().strip() if (z / "name").is_file() else z.name
        out[name] = (b - a) / 1e6 / elapsed
    return RaplReading(out, elapsed) if out else None


@dataclass(frozen=True)
class PowerDraw:
    """The draw of a local machine under load that a cost estimate uses, and from where."""

    gpu_w: float
    rest_w: float
    gpu_source: Source
    rest_source: Source
    notes: list[str] = field(default_factory=list)

    @property
    def total_w(self) -> float:
        return self.gpu_w + self.rest_w

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_w": self.total_w, "is_estimate": True}


def _measured_gpu_w(lab: Lab, limit: int = 200) -> tuple[float, int] | None:
    """Mean summed GPU power of the lab's recent runs that logged it (runs, mean W)."""
    from rigml.track.queries import list_runs

    runs = [r for r in list_runs(lab, limit=limit, details=False) if r.end_time is not None]
    energies = run_energies(lab, runs)
    measured = [
        e for e in energies.values() if e.source == "measured" and e.seconds > 0 and e.points
    ]
    if not measured:
        return None
    joules = sum(e.gpu_kwh * 3.6e6 for e in measured)
    seconds = sum(e.seconds for e in measured)
    return joules / seconds, len(measured)


def power_draw(
    gpu: Gpu | None,
    *,
    count: int = 1,
    lab: Lab | None = None,
    source: GpuSource | None = None,
    powercap: Path | None = None,
    override_w: float | None = None,
) -> PowerDraw:
    """The power a local machine with ``count`` x ``gpu`` draws while a workload runs.

    GPU: ``override_w``, else the mean measured over this lab's runs (when ``gpu`` is this
    machine's GPU), else NVML's enforced power limit, else the catalogue's board power.
    The rest: RAPL package power measured now plus :data:`REST_OF_SYSTEM_W` minus a typical
    CPU share when readable, else :data:`REST_OF_SYSTEM_W`.
    """
    notes: list[str] = []
    gpu_w: float | None = None
    gpu_source: Source = "assumed"
    here = machine_gpus(source)
    is_here = gpu is not None and any(name == gpu.name for name, _ in here)
    if override_w is not None:
        gpu_w, gpu_source = override_w, "measured"
        notes.append(f"GPU power {override_w:g} W as given")
    elif lab is not None and is_here and (m := _measured_gpu_w(lab)) is not None:
        gpu_w, gpu_source = m[0], "measured"
        notes.append(f"GPU power {m[0]:.0f} W: mean of {m[1]} tracked runs' NVML samples")
    elif is_here and gpu is not None:
        limits = [lim for name, lim in here if name == gpu.name and lim]
        if limits:
            gpu_w, gpu_source = limits[0] * count, "nvml-limit"
            notes.append(
                f"GPU power {limits[0]:.0f} W x {count}: NVML's enforced power limit (no "
                "tracked run logged sys/gpu*/power_w yet)"
            )
    if gpu_w is None:
        if gpu is not None and gpu.tdp_w:
            gpu_w, gpu_source = gpu.tdp_w * count, "catalogue"
            notes.append(
                f"GPU power {gpu.tdp_w:.0f} W x {count}: catalogue board power of {gpu.name} "
                "(not measured here; an upper bound)"
            )
        elif gpu is not None:
            gpu_w = board_power_w(gpu) * count
            notes.append(
                f"GPU power assumed {board_power_w(gpu):.0f} W x {count}: the table gives no "
                "board power"
            )
        else:
            gpu_w = 0.0
    rapl = rapl_power(root=powercap or POWERCAP)
    if rapl is not None:
        rest_w, rest_source = rapl.total_w + REST_OF_SYSTEM_W / 2, "measured-idle"
        zone = "platform (psys)" if "psys" in rapl.zones else "CPU package"
        notes.append(
            f"rest of the system {rest_w:.0f} W: RAPL {zone} {rapl.total_w:.0f} W (idle, "
            f"measured now over {rapl.interval_s:.2f} s while rig itself ran, so a lower "
            f"bound under load) plus {REST_OF_SYSTEM_W / 2:.0f} W for RAM, board, fans and "
            "PSU losses"
        )
    else:
        rest_w, rest_source = REST_OF_SYSTEM_W, "assumed"
        notes.append(
            f"rest of the system {REST_OF_SYSTEM_W:.0f} W assumed (RAPL counters not readable "
            "here: root only since Linux 5.10, or not an Intel/AMD RAPL CPU)"
        )
    return PowerDraw(float(gpu_w), float(rest_w), gpu_source, rest_source, notes)


def machine_gpus(source: GpuSource | None) -> list[tuple[str, float | None]]:
    """This machine's NVIDIA GPUs as (catalogue name, NVML power limit W)."""
    from rigml.fit import catalogue

    try:
        if source is None:
            from rigml.machine.gpu import default_source

            source = default_source()
        if not source.available():
            return []
        out = []
        for info in source.inventory():
            g = catalogue.find_gpu(info.name)
            if g is not None:
                out.append((g.name, info.power_limit_w))
        return out
    except Exception:  # no driver or a broken one: nothing measured here
        return []


# ---------------------------------------------------------------------------- per run


@dataclass(frozen=True)
class RunEnergy:
    """Energy of one run: GPU and rest of system, and how it was obtained."""

    run_id: str
    seconds: float
    gpu_kwh: float
    rest_kwh: float
    source: Source  # of the GPU part
    coverage: float  # share of the run's duration that power samples cover
    mean_gpu_w: float
    points: int
    note: str

    @property
    def kwh(self) -> float:
        return self.gpu_kwh + self.rest_kwh

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kwh": self.kwh, "is_estimate": self.source != "measured"}


def max_gap_s(times: Any) -> float:
    """The longest gap bridged in a series: 3 x its median sampling interval, at least
    :data:`MAX_GAP_S`, so a run sampled every 61 s is integrated, not zeroed."""
    import numpy as np

    dt_ = np.diff(np.sort(times))
    dt_ = dt_[dt_ > 0]
    if not len(dt_):
        return MAX_GAP_S
    return max(MAX_GAP_S, 3.0 * float(np.median(dt_)))


def _integrate(times: Any, values: Any) -> tuple[float, float]:
    """Joules and covered seconds of one power series, not bridging long gaps."""
    import numpy as np

    if len(times) < 2:
        return 0.0, 0.0
    order = np.argsort(times, kind="stable")
    t, v = times[order], values[order]
    dt_ = np.diff(t)
    limit = max_gap_s(t)
    ok = (dt_ > 0) & (dt_ <= limit) & np.isfinite(v[1:]) & np.isfinite(v[:-1])
    joules = float(np.sum(((v[1:] + v[:-1]) / 2 * dt_)[ok]))
    return joules, float(np.sum(dt_[ok]))


def _power_series(lab: Lab, run_ids: Sequence[str]) -> dict[str, dict[str, list[tuple[Any, Any]]]]:
    """run id -> power key -> [(times, values)] for every ``sys/gpu*/power_w`` segment."""
    import numpy as np
    from sqlalchemy import select

    from rigml.store.schema import metric_segments as ms

    out: dict[str, dict[str, list[tuple[Any, Any]]]] = {}
    with lab.store.read() as conn:
        for i in range(0, len(run_ids), _CHUNK):
            chunk = list(run_ids[i : i + _CHUNK])
            rows = conn.execute(
                select(ms.c.run_id, ms.c.key, ms.c.times, ms.c["values"])
                .where(ms.c.run_id.in_(chunk), ms.c.key.like("sys/gpu%/power_w"))
                .order_by(ms.c.id)
            )
            for run_id, key, t, v in rows:
                series = (np.frombuffer(t, dtype="<f8"), np.frombuffer(v, dtype="<f8"))
                out.setdefault(run_id, {}).setdefault(key, []).append(series)
    return out


def _cpu_means(lab: Lab, run_ids: Sequence[str]) -> dict[str, float]:
    """Latest logged ``sys/cpu_percent`` per run, a proxy for its CPU load."""
    from sqlalchemy import select

    from rigml.store.schema import latest_metrics as lm

    out: dict[str, float] = {}
    with lab.store.read() as conn:
        for i in range(0, len(run_ids), _CHUNK):
            chunk = list(run_ids[i : i + _CHUNK])
            rows = conn.execute(
                select(lm.c.run_id, lm.c.value).where(
                    lm.c.run_id.in_(chunk), lm.c.key == "sys/cpu_percent"
                )
            )
            out.update({r: float(v) for r, v in rows if v is not None and v == v})
    return out


def run_energies(
    lab: Lab,
    runs: Iterable[RunInfo],
    *,
    fallback_gpu: Gpu | None = None,
    rest_w: float = REST_OF_SYSTEM_W,
    now: float | None = None,
) -> dict[str, RunEnergy]:
    """Energy of each run, from its logged GPU power where it has any.

    A run without power samples falls back to ``fallback_gpu``'s catalogue board power for
    its whole duration (an upper bound, and the result says so); without a GPU, to
    :data:`CPU_ONLY_W` scaled by its logged CPU load. Still-running runs count up to
    ``now``. Segments are read in chunks of runs, so thousands of runs cost a few queries.
    """
    import numpy as np

    runs = list(runs)
    now = time.time() if now is None else now
    ids = [r.id for r in runs]
    series = _power_series(lab, ids)
    cpu = _cpu_means(lab, [i for i in ids if i not in series]) if fallback_gpu is None else {}
    out: dict[str, RunEnergy] = {}
    for r in runs:
        seconds = max(0.0, (r.end_time if r.end_time is not None else now) - r.start_time)
        rest_kwh = rest_w * seconds / 3.6e6
        keys = series.get(r.id)
        if keys:
            joules = covered_sum = 0.0
            points = 0
            sparse = 0
            for parts in keys.values():
                t = np.concatenate([p[0] for p in parts])
                v = np.concatenate([p[1] for p in parts])
                finite = v[np.isfinite(v)]
                points += len(v)
                j, c = _integrate(t, v)
                if c > 0:
                    mean_w = j / c
                elif len(finite):  # too sparse to integrate: the samples' mean
                    mean_w, sparse = float(np.mean(finite)), sparse + 1
                else:
                    mean_w = 0.0
                # the part of the run this GPU's samples do not cover ran at its own mean
                joules += j + mean_w * max(0.0, seconds - c)
                covered_sum += min(c, seconds) if seconds > 0 else c
            n = len(keys)
            coverage = min(1.0, covered_sum / (n * seconds)) if seconds > 0 else 1.0
            note = f"NVML samples over {coverage:.0%} of the run"
            if sparse:
                note = (
                    f"only {points} NVML sample(s), too sparse to integrate on {sparse} of {n} "
                    "GPU(s): the mean of their samples over the whole run"
                )
            elif coverage < 0.999:
                note += "; the rest at each GPU's measured mean"
            mean_total = joules / seconds if seconds > 0 else 0.0
            out[r.id] = RunEnergy(
                r.id,
                seconds,
                joules / 3.6e6,
                rest_kwh,
                "measured",
                coverage,
                mean_total,
                points,
                note,
            )
        elif fallback_gpu is not None:
            w = board_power_w(fallback_gpu)
            out[r.id] = RunEnergy(
                r.id,
                seconds,
                w * seconds / 3.6e6,
                rest_kwh,
                "catalogue",
                0.0,
                w,
                0,
                f"no power samples: {fallback_gpu.name} board power {w:.0f} W from the "
                "catalogue for the whole run (an upper bound)",
            )
        else:
            load = cpu.get(r.id)
            w = CPU_ONLY_W * (load / 100 if load is not None else 1.0)
            how = f"at its logged CPU load {load:.0f}%" if load is not None else "at full load"
            out[r.id] = RunEnergy(
                r.id,
                seconds,
                0.0,
                (w + rest_w / 2) * seconds / 3.6e6,
                "assumed",
                0.0,
                0.0,
                0,
                f"no GPU and no power samples: a {CPU_ONLY_W:.0f} W CPU {how} plus "
                f"{rest_w / 2:.0f} W for the rest (assumed)",
            )
    return out
