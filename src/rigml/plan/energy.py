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
    readable: an *idle* reading of the machine while ``rig cost`` itself runs, labelled so.
    Both are read through :func:`rigml.machine.read_power` (``RaplReading`` and
    ``rapl_power`` are re-exported from there);
catalogue
    the GPU table's board power (``tdp_w``), an upper bound under full load.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rigml.machine.readings import (
    POWERCAP,
    PowerReading,
    RaplReading,
    rapl_power,
    read_gpu_power,
    read_power,
)
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


@dataclass(frozen=True)
class _Part:
    """One side of a power draw: watts, where they came from, and the note saying so."""

    watts: float
    source: Source
    note: str | None


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
    CPU share when readable, else :data:`REST_OF_SYSTEM_W`. Both are read through
    :func:`rigml.machine.read_power`.
    """
    power = read_power(source, live=False, powercap=powercap or POWERCAP)
    gpu_part = _gpu_draw(gpu, count, lab, _catalogue_gpus(power), override_w)
    rest_part = _rest_draw(power.rapl)
    notes = [p.note for p in (gpu_part, rest_part) if p.note]
    return PowerDraw(gpu_part.watts, rest_part.watts, gpu_part.source, rest_part.source, notes)


def _gpu_draw(
    gpu: Gpu | None,
    count: int,
    lab: Lab | None,
    here: list[tuple[str, float | None]],
    override_w: float | None,
) -> _Part:
    """The GPU side: as given, measured by the lab's runs, NVML's limit, or the catalogue."""
    if override_w is not None:
        return _Part(float(override_w), "measured", f"GPU power {override_w:g} W as given")
    if gpu is None:
        return _Part(0.0, "assumed", None)
    is_here = any(name == gpu.name for name, _ in here)
    if lab is not None and is_here and (m := _measured_gpu_w(lab)) is not None:
        note = f"GPU power {m[0]:.0f} W: mean of {m[1]} tracked runs' NVML samples"
        return _Part(m[0], "measured", note)
    limits = [lim for name, lim in here if name == gpu.name and lim]
    if limits:
        note = (
            f"GPU power {limits[0]:.0f} W x {count}: NVML's enforced power limit (no "
            "tracked run logged sys/gpu*/power_w yet)"
        )
        return _Part(limits[0] * count, "nvml-limit", note)
    if gpu.tdp_w:
        note = (
            f"GPU power {gpu.tdp_w:.0f} W x {count}: catalogue board power of {gpu.name} "
            "(not measured here; an upper bound)"
        )
        return _Part(gpu.tdp_w * count, "catalogue", note)
    w = board_power_w(gpu)
    note = f"GPU power assumed {w:.0f} W x {count}: the table gives no board power"
    return _Part(w * count, "assumed", note)


def _rest_draw(rapl: RaplReading | None) -> _Part:
    """The rest of the system: RAPL's idle reading plus RAM, board and fans, or assumed."""
    if rapl is None:
        note = (
            f"rest of the system {REST_OF_SYSTEM_W:.0f} W assumed (RAPL counters not readable "
            "here: root only since Linux 5.10, or not an Intel/AMD RAPL CPU)"
        )
        return _Part(REST_OF_SYSTEM_W, "assumed", note)
    rest_w = rapl.total_w + REST_OF_SYSTEM_W / 2
    zone = "platform (psys)" if "psys" in rapl.zones else "CPU package"
    note = (
        f"rest of the system {rest_w:.0f} W: RAPL {zone} {rapl.total_w:.0f} W (idle, "
        f"measured now over {rapl.interval_s:.2f} s while rig itself ran, so a lower "
        f"bound under load) plus {REST_OF_SYSTEM_W / 2:.0f} W for RAM, board, fans and "
        "PSU losses"
    )
    return _Part(rest_w, "measured-idle", note)


def _catalogue_gpus(power: PowerReading) -> list[tuple[str, float | None]]:
    """The GPUs in a power reading that the catalogue knows, as (catalogue name, limit W)."""
    from rigml.fit import catalogue

    out = []
    for g in power.gpus:
        found = catalogue.find_gpu(g.name)
        if found is not None:
            out.append((found.name, g.limit_w))
    return out


def machine_gpus(source: GpuSource | None) -> list[tuple[str, float | None]]:
    """This machine's NVIDIA GPUs as (catalogue name, NVML power limit W); ``[]`` without
    a driver or with a broken one."""
    return _catalogue_gpus(read_gpu_power(source, live=False))


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
    runs = list(runs)
    now = time.time() if now is None else now
    ids = [r.id for r in runs]
    series = _power_series(lab, ids)
    cpu = _cpu_means(lab, [i for i in ids if i not in series]) if fallback_gpu is None else {}
    out: dict[str, RunEnergy] = {}
    for r in runs:
        seconds = max(0.0, (r.end_time if r.end_time is not None else now) - r.start_time)
        keys = series.get(r.id)
        if keys:
            out[r.id] = _measured_energy(r.id, keys, seconds, rest_w)
        elif fallback_gpu is not None:
            out[r.id] = _catalogue_energy(r.id, fallback_gpu, seconds, rest_w)
        else:
            out[r.id] = _assumed_energy(r.id, cpu.get(r.id), seconds, rest_w)
    return out


@dataclass(frozen=True)
class _GpuSeries:
    """One GPU's samples over a run, integrated: joules including the uncovered part."""

    joules: float
    covered_s: float
    points: int
    sparse: bool


def _gpu_series(parts: list[tuple[Any, Any]], seconds: float) -> _GpuSeries:
    """Integrate one GPU's power segments; the part of the run they do not cover ran at
    the GPU's own mean (the samples' mean when they are too sparse to integrate)."""
    import numpy as np

    t = np.concatenate([p[0] for p in parts])
    v = np.concatenate([p[1] for p in parts])
    finite = v[np.isfinite(v)]
    j, c = _integrate(t, v)
    sparse = False
    if c > 0:
        mean_w = j / c
    elif len(finite):  # too sparse to integrate: the samples' mean
        mean_w, sparse = float(np.mean(finite)), True
    else:
        mean_w = 0.0
    covered = min(c, seconds) if seconds > 0 else c
    return _GpuSeries(j + mean_w * max(0.0, seconds - c), covered, len(v), sparse)


def _measured_energy(
    run_id: str, keys: dict[str, list[tuple[Any, Any]]], seconds: float, rest_w: float
) -> RunEnergy:
    """A run with ``sys/gpu*/power_w`` samples: each GPU's series integrated and summed."""
    gpus = [_gpu_series(parts, seconds) for parts in keys.values()]
    joules = sum(g.joules for g in gpus)
    points = sum(g.points for g in gpus)
    sparse = sum(g.sparse for g in gpus)
    n = len(gpus)
    covered = sum(g.covered_s for g in gpus)
    coverage = min(1.0, covered / (n * seconds)) if seconds > 0 else 1.0
    note = f"NVML samples over {coverage:.0%} of the run"
    if sparse:
        note = (
            f"only {points} NVML sample(s), too sparse to integrate on {sparse} of {n} "
            "GPU(s): the mean of their samples over the whole run"
        )
    elif coverage < 0.999:
        note += "; the rest at each GPU's measured mean"
    mean_total = joules / seconds if seconds > 0 else 0.0
    rest_kwh = rest_w * seconds / 3.6e6
    return RunEnergy(
        run_id, seconds, joules / 3.6e6, rest_kwh, "measured", coverage, mean_total, points, note
    )


def _catalogue_energy(run_id: str, gpu: Gpu, seconds: float, rest_w: float) -> RunEnergy:
    """A run without samples on a known GPU: its board power for the whole run."""
    w = board_power_w(gpu)
    note = (
        f"no power samples: {gpu.name} board power {w:.0f} W from the "
        "catalogue for the whole run (an upper bound)"
    )
    rest_kwh = rest_w * seconds / 3.6e6
    return RunEnergy(run_id, seconds, w * seconds / 3.6e6, rest_kwh, "catalogue", 0.0, w, 0, note)


def _assumed_energy(run_id: str, load: float | None, seconds: float, rest_w: float) -> RunEnergy:
    """A run without samples nor GPU: a typical CPU at its logged load, plus the rest."""
    w = CPU_ONLY_W * (load / 100 if load is not None else 1.0)
    how = f"at its logged CPU load {load:.0f}%" if load is not None else "at full load"
    note = (
        f"no GPU and no power samples: a {CPU_ONLY_W:.0f} W CPU {how} plus "
        f"{rest_w / 2:.0f} W for the rest (assumed)"
    )
    rest_kwh = (w + rest_w / 2) * seconds / 3.6e6
    return RunEnergy(run_id, seconds, 0.0, rest_kwh, "assumed", 0.0, 0.0, 0, note)
