"""System rules: a filling disk, a CPU-bound machine, I/O-bound storage."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rigml.machine.diagnosis._helpers import (
    _Clock,
    _core_matrix,
    _duration,
    _enough,
    _finite,
    _gpu_name,
    _np,
    _size,
)
from rigml.machine.diagnosis._model import Finding

if TYPE_CHECKING:
    from rigml.machine.diagnosis._model import Context, Thresholds
    from rigml.machine.timeline import Timeline


def _disk_filling(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    free = tl.get("disk_free_gb")
    clock = _Clock(tl)
    where = ctx.disk_path or tl.meta.get("disk_path") or "the watched disk"
    total = ctx.disk_total_gb or tl.meta.get("disk_total_gb")
    if free is None or not _enough(tl, th, _finite(free)):
        return []
    valid = np.flatnonzero(_finite(free))
    t = tl.times[valid]
    f = free[valid]
    hi = int(np.argmax(f))
    lo_value = float(np.min(f[hi:]))
    eps = max(1e-4, 0.005 * (float(f[hi]) - lo_value))
    lo = hi + int(np.flatnonzero(f[hi:] <= lo_value + eps)[0])  # first time at the low
    if lo - hi + 1 < 3:
        return []
    x = (t[hi : lo + 1] - t[hi]) / 60.0
    y = f[hi : lo + 1]
    slope, intercept = np.polyfit(x, y, 1)
    fitted = slope * x + intercept
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - fitted) ** 2)) / ss_tot if ss_tot > 0 else 0.0
    fall = float(f[hi] - f[lo])
    last = float(f[-1])
    full_at = (total or 0) * th.disk_full_share if total else 0.01
    is_full = last <= full_at
    minutes = last / -slope if slope < 0 else math.inf
    steady = (
        slope < 0
        and r2 >= th.disk_fit_r2
        and fall >= max(th.disk_min_fall_gb, th.disk_min_fall_share * (total or 0))
    )
    if not ((steady and (minutes <= th.disk_horizon_min or is_full)) or ctx.no_space_at):
        return []
    of = f" ({_size(float(total))} in all)" if total else ""
    evidence = [
        f"free space on {where}{of} fell from {_size(float(f[hi]))} at {clock.at(float(t[hi]))} "
        f"to {_size(float(f[lo]))} at {clock.at(float(t[lo]))}: "
        f"{_size(-slope)}/min by a linear fit over {lo - hi + 1} samples (r² {r2:.2f})"
    ]
    if is_full:
        evidence.append(
            f"it was full ({_size(last)} free) from {clock.at(float(t[lo]))}; "
            f"it took {_duration(float(t[lo] - t[hi]))} to fill"
        )
        minutes = 0.0
    elif math.isfinite(minutes):
        when = f"{minutes:.1f} min" if minutes >= 1 else f"{minutes * 60:.0f} s ({minutes:.2f} min)"
        evidence.append(f"at that rate it is full in {when} ({_size(last)} free)")
    if ctx.no_space_at is not None:
        line = (ctx.no_space_line or "").strip()[:160]
        evidence.append(
            f"the workload reported 'No space left on device' at {clock.at(ctx.no_space_at)}"
            + (f": {line!r}" if line else "")
        )
    numbers = {
        "rate_gb_per_min": round(float(-slope), 4),
        "minutes_to_full": round(minutes, 2) if math.isfinite(minutes) else -1.0,
        "free_start_gb": round(float(f[hi]), 4),
        "free_end_gb": round(last, 4),
        "fit_r2": round(r2, 3),
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
                else f"the disk at {where} is filling at {_size(-slope)}/min"
            ),
            evidence=evidence,
            numbers=numbers,
            first_fix=(
                f"Free space on {where} or write elsewhere: keep only the last few checkpoints, "
                "point checkpoints and caches at a bigger disk (HF_HOME, TORCH_HOME), and "
                "clear old caches (`rig doctor` lists them)."
            ),
            severity="critical" if is_full or minutes <= 10 else "warning",
        )
    ]


def _cpu_bound(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    clock = _Clock(tl)
    t = tl.times
    cores = _core_matrix(tl)
    if cores is not None:
        k = cores.shape[1]
        valid = np.isfinite(cores).all(axis=1)
        low = np.where(valid, np.nanmin(np.where(valid[:, None], cores, 0.0), axis=1), np.nan)
        busy = valid & (low >= th.cpu_busy_percent)
    else:
        cpu = tl.get("cpu_percent")
        if cpu is None:
            return []
        k = ctx.cores or 0
        valid = _finite(cpu)
        busy = valid & (cpu >= th.cpu_busy_percent)
    if not _enough(tl, th, valid):
        return []
    share = float(busy.sum() / valid.sum())
    if share < th.most_of_run:
        return []
    idx = np.flatnonzero(busy)
    cores_text = f"all {k} cores" if k else "the CPU"
    cpu = tl.get("cpu_percent")
    mean_cpu = float(np.nanmean(cpu[valid])) if cpu is not None else math.nan
    evidence = [
        f"{cores_text} ≥ {th.cpu_busy_percent:.0f}% busy in {int(busy.sum())} of "
        f"{int(valid.sum())} samples ({clock.span(float(t[idx[0]]), float(t[idx[-1]]))}); "
        f"the machine averaged {mean_cpu:.1f}% CPU"
    ]
    numbers = {
        "busy_share": round(share, 3),
        "cpu_percent_mean": round(mean_cpu, 2),
    }
    if k:
        numbers["cores"] = float(k)
    own = tl.get("proc_cpu_percent")
    others_dominate = False
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
