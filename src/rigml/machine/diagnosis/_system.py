"""System rules: a filling disk, a CPU-bound machine, I/O-bound storage."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rigml._units import format_duration
from rigml.machine.diagnosis._helpers import (
    _Clock,
    _core_matrix,
    _enough,
    _finite,
    _gpu_name,
    _np,
    _size,
)
from rigml.machine.diagnosis._model import Finding

if TYPE_CHECKING:
    import numpy as np

    from rigml.machine.diagnosis._model import Context, Thresholds
    from rigml.machine.timeline import Timeline


@dataclass(frozen=True, eq=False)
class _DiskFall:
    """Free space from its high to the first time at its low, and a straight line through it."""

    t: np.ndarray
    free: np.ndarray
    hi: int
    lo: int
    slope: float  # GiB per minute (negative while filling)
    r2: float

    @property
    def last(self) -> float:
        return float(self.free[-1])


def _disk_fall(tl: Timeline, th: Thresholds) -> _DiskFall | None:
    """The fall of free space, fitted; ``None`` with too few samples to judge a trend."""
    np = _np()
    free = tl.get("disk_free_gb")
    if free is None or not _enough(tl, th, _finite(free)):
        return None
    valid = np.flatnonzero(_finite(free))
    t = tl.times[valid]
    f = free[valid]
    hi = int(np.argmax(f))
    lo_value = float(np.min(f[hi:]))
    eps = max(1e-4, 0.005 * (float(f[hi]) - lo_value))
    lo = hi + int(np.flatnonzero(f[hi:] <= lo_value + eps)[0])  # first time at the low
    if lo - hi + 1 < 3:
        return None
    x = (t[hi : lo + 1] - t[hi]) / 60.0
    y = f[hi : lo + 1]
    slope, intercept = np.polyfit(x, y, 1)
    fitted = slope * x + intercept
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - fitted) ** 2)) / ss_tot if ss_tot > 0 else 0.0
    return _DiskFall(t=t, free=f, hi=hi, lo=lo, slope=float(slope), r2=r2)


def _disk_filling(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    where = ctx.disk_path or tl.meta.get("disk_path") or "the watched disk"
    total = ctx.disk_total_gb or tl.meta.get("disk_total_gb")
    d = _disk_fall(tl, th)
    if d is None:
        return []
    fall = float(d.free[d.hi] - d.free[d.lo])
    full_at = (total or 0) * th.disk_full_share if total else 0.01
    is_full = d.last <= full_at
    minutes = d.last / -d.slope if d.slope < 0 else math.inf
    steady = (
        d.slope < 0
        and d.r2 >= th.disk_fit_r2
        and fall >= max(th.disk_min_fall_gb, th.disk_min_fall_share * (total or 0))
    )
    if not ((steady and (minutes <= th.disk_horizon_min or is_full)) or ctx.no_space_at):
        return []
    if is_full:
        minutes = 0.0
    numbers = {
        "rate_gb_per_min": round(-d.slope, 4),
        "minutes_to_full": round(minutes, 2) if math.isfinite(minutes) else -1.0,
        "free_start_gb": round(float(d.free[d.hi]), 4),
        "free_end_gb": round(d.last, 4),
        "fit_r2": round(d.r2, 3),
    }
    if total:
        numbers["total_gb"] = round(float(total), 6)
    return [
        Finding(
            id="disk_filling",
            constraint="storage",
            title=(
                f"the disk at {where} filled up"
                if is_full
                else f"the disk at {where} is filling at {_size(-d.slope)}/min"
            ),
            evidence=_disk_evidence(tl, ctx, d, where, total, minutes, is_full),
            numbers=numbers,
            first_fix=(
                f"Free space on {where} or write elsewhere: keep only the last few checkpoints, "
                "point checkpoints and caches at a bigger disk (HF_HOME, TORCH_HOME), and "
                "clear old caches (`rig doctor` lists them)."
            ),
            severity="critical" if is_full or minutes <= 10 else "warning",
        )
    ]


def _disk_evidence(
    tl: Timeline,
    ctx: Context,
    d: _DiskFall,
    where: str,
    total: float | None,
    minutes: float,
    is_full: bool,
) -> list[str]:
    clock = _Clock(tl)
    t, f, hi, lo = d.t, d.free, d.hi, d.lo
    of = f" ({_size(float(total))} in all)" if total else ""
    evidence = [
        f"free space on {where}{of} fell from {_size(float(f[hi]))} at {clock.at(float(t[hi]))} "
        f"to {_size(float(f[lo]))} at {clock.at(float(t[lo]))}: "
        f"{_size(-d.slope)}/min by a linear fit over {lo - hi + 1} samples (r² {d.r2:.2f})"
    ]
    if is_full:
        evidence.append(
            f"it was full ({_size(d.last)} free) from {clock.at(float(t[lo]))}; "
            f"it took {format_duration(float(t[lo] - t[hi]))} to fill"
        )
    elif math.isfinite(minutes):
        when = f"{minutes:.1f} min" if minutes >= 1 else f"{minutes * 60:.0f} s ({minutes:.2f} min)"
        evidence.append(f"at that rate it is full in {when} ({_size(d.last)} free)")
    if ctx.no_space_at is not None:
        line = (ctx.no_space_line or "").strip()[:160]
        evidence.append(
            f"the workload reported 'No space left on device' at {clock.at(ctx.no_space_at)}"
            + (f": {line!r}" if line else "")
        )
    return evidence


def _busy_samples(
    tl: Timeline, ctx: Context, th: Thresholds
) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Cores known, samples with a reading, samples with every core busy."""
    np = _np()
    cores = _core_matrix(tl)
    if cores is not None:
        valid = np.isfinite(cores).all(axis=1)
        low = np.where(valid, np.nanmin(np.where(valid[:, None], cores, 0.0), axis=1), np.nan)
        return int(cores.shape[1]), valid, valid & (low >= th.cpu_busy_percent)
    cpu = tl.get("cpu_percent")
    if cpu is None:
        return None
    valid = _finite(cpu)
    return ctx.cores or 0, valid, valid & (cpu >= th.cpu_busy_percent)


def _cpu_bound(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    found = _busy_samples(tl, ctx, th)
    if found is None:
        return []
    k, valid, busy = found
    if not _enough(tl, th, valid):
        return []
    share = float(busy.sum() / valid.sum())
    if share < th.most_of_run:
        return []
    clock = _Clock(tl)
    t = tl.times
    idx = np.flatnonzero(busy)
    cores_text = f"all {k} cores" if k else "the CPU"
    cpu = tl.get("cpu_percent")
    mean_cpu = float(np.nanmean(cpu[valid])) if cpu is not None else math.nan
    evidence = [
        f"{cores_text} ≥ {th.cpu_busy_percent:.0f}% busy in {int(busy.sum())} of "
        f"{int(valid.sum())} samples ({clock.span(float(t[idx[0]]), float(t[idx[-1]]))}); "
        f"the machine averaged {mean_cpu:.1f}% CPU"
    ]
    numbers = {"busy_share": round(share, 3), "cpu_percent_mean": round(mean_cpu, 2)}
    if k:
        numbers["cores"] = float(k)
    others_dominate = _who_used_the_cpu(tl, ctx, busy, k, mean_cpu, evidence, numbers)
    fix = (
        "Other processes take most of the CPU: stop or renice them (`top` shows which) or "
        "give the workload its own cores (taskset)."
        if others_dominate
        else "Make the CPU work cheaper or move it: profile the hot code (py-spy top --pid "
        "<pid>), vectorise it (NumPy, PyTorch), move preprocessing to the GPU, or use a "
        "machine with more cores."
    )
    return [
        Finding(
            id="cpu_bound",
            constraint="cpu",
            title="the CPU is the limit: every core is busy",
            evidence=evidence,
            numbers=numbers,
            first_fix=fix,
            severity="warning",
        )
    ]


def _who_used_the_cpu(
    tl: Timeline,
    ctx: Context,
    busy: np.ndarray,
    k: int,
    mean_cpu: float,
    evidence: list[str],
    numbers: dict[str, float],
) -> bool:
    """The workload's own share of the busy CPU, and the GPUs meanwhile; whether others
    took most of it."""
    np = _np()
    others_dominate = False
    own = tl.get("proc_cpu_percent")
    if own is not None and _finite(own[busy]).any():
        used = float(np.nanmean(own[busy])) / 100.0
        numbers["workload_cores_mean"] = round(used, 2)
        evidence.append(f"the watched process tree used {used:.2f} cores on average meanwhile")
        if k and used < 0.5 * k * mean_cpu / 100.0:
            others_dominate = True
            evidence.append("other processes used the rest")
    for g in tl.gpu_indices():
        util = tl.get(f"gpu{g}/util_percent")
        if util is not None and _finite(util[busy]).any():
            u = float(np.nanmean(util[busy]))
            evidence.append(f"{_gpu_name(ctx, g)} utilisation averaged {u:.0f}% meanwhile")
            numbers[f"gpu{g}_util_mean"] = round(u, 1)
    return others_dominate


def _io_bound(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    iow = tl.get("cpu_iowait_percent")
    if iow is None:
        return []
    valid = _finite(iow)
    if not _enough(tl, th, valid):
        return []
    waiting = valid & (iow >= th.iowait_percent)
    share = float(waiting.sum() / valid.sum())
    if share < th.most_of_run:
        return []
    clock = _Clock(tl)
    t = tl.times
    idx = np.flatnonzero(waiting)
    evidence = [
        f"the CPUs spent ≥ {th.iowait_percent:.0f}% of their time waiting for I/O in "
        f"{int(waiting.sum())} of {int(valid.sum())} samples "
        f"({clock.span(float(t[idx[0]]), float(t[idx[-1]]))}; mean {np.mean(iow[waiting]):.0f}%)"
    ]
    numbers = {"iowait_mean": round(float(np.mean(iow[waiting])), 2), "share": round(share, 3)}
    for name, label in (("disk_read_mb_s", "read"), ("disk_write_mb_s", "write")):
        col = tl.get(name)
        if col is not None and _finite(col[waiting]).any():
            mean = float(np.nanmean(col[waiting]))
            evidence.append(f"disks {label} {mean:.1f} MiB/s on average meanwhile")
            numbers[f"{label}_mib_s_mean"] = round(mean, 2)
    return [
        Finding(
            id="io_bound",
            constraint="storage",
            title="storage is the limit: the CPUs wait for the disks",
            evidence=evidence,
            numbers=numbers,
            first_fix=(
                "Feed from faster storage: put the dataset on a local NVMe SSD or in RAM "
                "(/dev/shm), read large sequential shards (WebDataset, Parquet) instead of many "
                "small files, and prefetch with more loader workers."
            ),
            severity="warning",
        )
    ]
