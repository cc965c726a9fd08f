"""Memory rules: GPU memory exhausted, RAM pressure, swap thrashing."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rigml._units import GIB, format_bytes
from rigml.machine.diagnosis._helpers import (
    _Clock,
    _enough,
    _finite,
    _gpu_name,
    _interval,
    _np,
    _rate_per_min,
    _runs,
)
from rigml.machine.diagnosis._model import Finding

if TYPE_CHECKING:
    from rigml.machine.diagnosis._model import Context, Severity, Thresholds
    from rigml.machine.timeline import Timeline


def _gib(gb: float) -> str:
    """A size the metrics give in GiB, written as rigml writes every size."""
    return format_bytes(gb * GIB)


_VRAM_FIX = (
    "Halve the per-GPU batch size and keep the effective batch with gradient accumulation; "
    "then activation checkpointing or bf16 weights and optimizer states "
    "(`rig fit` estimates what fits)."
)


def _vram_exhausted(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    if ctx.cuda_oom_at is not None:
        return [_vram_oom(tl, ctx, ctx.cuda_oom_at)]
    found = []
    for i in tl.gpu_indices():
        full = _vram_full(tl, ctx, th, i)
        if full is not None:
            found.append(full)
    return found


def _fullest_gpu_before(tl: Timeline, until: float) -> tuple[float, int, int] | None:
    """``(memory %, gpu, sample)`` of the fullest GPU memory seen up to ``until``."""
    np = _np()
    t = tl.times
    best: tuple[float, int, int] | None = None
    for i in tl.gpu_indices():
        mem = tl.get(f"gpu{i}/mem_percent")
        if mem is None:
            continue
        upto = _finite(mem) & (t <= until)
        if not upto.any():
            upto = _finite(mem)
        if not upto.any():
            continue
        j = int(np.flatnonzero(upto)[np.argmax(mem[upto])])
        if best is None or mem[j] > best[0]:
            best = (float(mem[j]), i, j)
    return best


def _vram_oom(tl: Timeline, ctx: Context, oom_at: float) -> Finding:
    """The workload printed a CUDA out-of-memory error: tie it to the fullest GPU."""
    clock = _Clock(tl)
    t = tl.times
    evidence: list[str] = []
    numbers: dict[str, float] = {"oom_at_s": clock.offset(oom_at)}
    best = _fullest_gpu_before(tl, oom_at + _interval(tl))
    if best is not None:
        peak, i, j = best
        used = tl.get(f"gpu{i}/mem_used_gb")
        of = ""
        if used is not None and math.isfinite(used[j]) and peak > 0:
            of = f" ({used[j]:.2f} of {used[j] * 100 / peak:.2f} GiB)"
            numbers["mem_used_gb"] = round(float(used[j]), 3)
        evidence.append(
            f"{_gpu_name(ctx, i)} memory {peak:.1f}%{of} at {clock.at(float(t[j]))}, "
            f"the CUDA out-of-memory error at {clock.at(oom_at)}"
        )
        numbers.update({"gpu": float(i), "mem_percent": round(peak, 2)})
    else:
        evidence.append(f"CUDA out-of-memory error at {clock.at(oom_at)}")
    line = (ctx.cuda_oom_line or "").strip()
    asked = re.search(r"Tried to allocate ([\d.]+) ?(GiB|MiB|KiB)", line)
    if asked:
        scale = {"GiB": 1.0, "MiB": 1 / 1024, "KiB": 1 / 2**20}[asked.group(2)]
        numbers["tried_to_allocate_gb"] = round(float(asked.group(1)) * scale, 4)
    if line:
        evidence.append(f"the workload printed: {line[:200]!r}")
    return Finding(
        id="vram_exhausted",
        constraint="vram",
        title="GPU memory ran out (CUDA out of memory)",
        evidence=evidence,
        numbers=numbers,
        first_fix=_VRAM_FIX,
        severity="critical",
    )


def _vram_full(tl: Timeline, ctx: Context, th: Thresholds, i: int) -> Finding | None:
    """No OOM, but GPU ``i``'s memory stayed nearly full: no headroom is left."""
    np = _np()
    mem = tl.get(f"gpu{i}/mem_percent")
    valid = _finite(mem)
    if mem is None or not _enough(tl, th, valid):
        return None
    full = valid & (mem >= th.vram_full_percent)
    share = full.sum() / valid.sum()
    if share < th.vram_full_share:
        return None
    clock = _Clock(tl)
    t = tl.times
    j = int(np.nanargmax(mem))
    idx = np.flatnonzero(full)
    used = tl.get(f"gpu{i}/mem_used_gb")
    of = ""
    if used is not None and math.isfinite(used[j]) and mem[j] > 0:
        of = f" ({used[j]:.2f} of {used[j] * 100 / mem[j]:.2f} GiB)"
    return Finding(
        id="vram_exhausted",
        constraint="vram",
        title=f"gpu{i} memory is nearly full: no headroom left",
        evidence=[
            f"{_gpu_name(ctx, i)} memory ≥ {th.vram_full_percent:.0f}% in "
            f"{int(full.sum())} of {int(valid.sum())} samples "
            f"({clock.span(float(t[idx[0]]), float(t[idx[-1]]))})",
            f"peak {mem[j]:.1f}%{of} at {clock.at(float(t[j]))}",
            "a larger batch or a longer sequence will fail with CUDA out of memory "
            "(serving engines such as vLLM reserve this much on purpose)",
        ],
        numbers={
            "gpu": float(i),
            "mem_percent_peak": round(float(mem[j]), 2),
            "full_share": round(float(share), 3),
        },
        first_fix=(
            "Leave headroom: lower the batch size or sequence length, or cap the "
            "engine's reservation (e.g. vLLM gpu_memory_utilization=0.85); "
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True curbs fragmentation."
        ),
        severity="warning",
    )


@dataclass
class _Pressure:
    """What the RAM rule has gathered so far: sentences, figures, how bad it is."""

    evidence: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)
    severity: Severity = "warning"
    near_end: bool = False  # memory was high in the last samples before the end
    limit_gb: float | None = None

    def critical(self) -> None:
        self.severity = "critical"


def _ram_pressure(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    clock = _Clock(tl)
    p = _Pressure(limit_gb=ctx.cgroup_mem_limit_gb)
    _machine_ram(tl, th, clock, p)
    _cgroup_memory(tl, ctx, th, clock, p)
    if p.limit_gb:
        p.numbers["cgroup_limit_gb"] = round(p.limit_gb, 4)
    _how_it_ended(tl, ctx, clock, p)
    if not p.evidence or not p.numbers:
        return []
    title = (
        "the workload ran out of memory and was killed"
        if p.severity == "critical"
        else "memory is nearly full"
    )
    return [
        Finding(
            id="ram_pressure",
            constraint="ram",
            title=title,
            evidence=p.evidence,
            numbers=p.numbers,
            first_fix=_ram_fix(p),
            severity=p.severity,
        )
    ]


def _machine_ram(tl: Timeline, th: Thresholds, clock: _Clock, p: _Pressure) -> None:
    """The machine's RAM nearly full in enough samples."""
    np = _np()
    ram = tl.get("ram_percent")
    if ram is None:
        return
    t = tl.times
    high = _finite(ram) & (ram >= th.ram_full_percent)
    if int(high.sum()) >= th.min_samples:
        j = int(np.nanargmax(ram))
        used = tl.get("ram_used_gb")
        of = ""
        if used is not None and math.isfinite(used[j]) and ram[j] > 0:
            of = f" ({used[j]:.2f} of {used[j] * 100 / ram[j]:.2f} GiB)"
        idx = np.flatnonzero(high)
        p.evidence.append(
            f"RAM ≥ {th.ram_full_percent:.0f}% used in {int(high.sum())} samples "
            f"({clock.span(float(t[idx[0]]), float(t[idx[-1]]))}); "
            f"peak {ram[j]:.1f}%{of} at {clock.at(float(t[j]))}"
        )
        p.numbers.update({"ram_percent_peak": round(float(ram[j]), 2)})
    tail = ram[_finite(ram)][-3:]
    p.near_end |= bool(len(tail) and tail.max() >= th.cgroup_near_percent)


def _cgroup_memory(tl: Timeline, ctx: Context, th: Thresholds, clock: _Clock, p: _Pressure) -> None:
    """The workload's cgroup near its limit, and OOM kills counted in that cgroup."""
    np = _np()
    cg = tl.get("cgroup_mem_percent")
    if cg is None:
        return
    valid = _finite(cg)
    lim = tl.get("cgroup_mem_limit_gb")
    if lim is not None and _finite(lim).any():
        p.limit_gb = float(lim[_finite(lim)][-1])
    if not valid.any():
        return
    j = int(np.nanargmax(cg))
    near = valid & (cg >= th.cgroup_near_percent)
    p.near_end |= bool(cg[valid][-3:].max() >= th.cgroup_near_percent)
    kills_col = tl.get("cgroup_oom_kills")
    kills, first_kills, last_kills = 0, 0, 0
    if kills_col is not None and _finite(kills_col).any():
        k = kills_col[_finite(kills_col)]
        first_kills, last_kills = int(k[0]), int(k.max())
        kills = int(k.max() - k[0])
    if int(near.sum()) >= 2 or (near.any() and (kills or ctx.oom_kills)):
        used = tl.get("cgroup_mem_used_gb")
        used_text = ""
        if used is not None and math.isfinite(used[j]):
            used_text = f" ({_gib(float(used[j]))})"
        p.evidence.append(
            f"the workload's cgroup used {cg[j]:.1f}% of its {_gib(p.limit_gb or 0)} "
            f"memory limit{used_text} at {clock.at(float(tl.times[j]))}"
        )
        p.numbers["cgroup_mem_percent_peak"] = round(float(cg[j]), 2)
    if kills:
        p.evidence.append(
            f"the kernel's OOM killer killed {kills} process(es) in that cgroup "
            f"(its oom_kill count went from {first_kills} to {last_kills})"
        )
        p.numbers["oom_kills"] = float(kills)
        p.critical()


def _how_it_ended(tl: Timeline, ctx: Context, clock: _Clock, p: _Pressure) -> None:
    """Machine-wide OOM kills, a SIGKILL near full memory, a Python MemoryError."""
    np = _np()
    if ctx.oom_kills and "oom_kills" not in p.numbers:
        p.evidence.append(f"the kernel's OOM killer killed {ctx.oom_kills} process(es) meanwhile")
        p.numbers["oom_kills"] = float(ctx.oom_kills)
        p.critical()
    killed = ctx.signal == 9 or ctx.exit_code == 137
    if killed and (p.numbers.get("oom_kills") or p.near_end or ctx.killed_at is not None):
        when = clock.at(ctx.ended_at) if ctx.ended_at else "the end"
        p.evidence.append(f"the workload was killed by SIGKILL (exit code 137) at {when}")
        p.numbers["exit_code"] = 137.0
        p.critical()
    if ctx.memory_error_at is not None:
        rss = tl.get("proc_rss_gb")
        peak = ""
        if rss is not None and _finite(rss).any():
            peak = f"; its process tree held {_gib(float(np.nanmax(rss)))} at peak"
            p.numbers["proc_rss_gb_peak"] = round(float(np.nanmax(rss)), 4)
        p.evidence.append(f"Python raised MemoryError at {clock.at(ctx.memory_error_at)}{peak}")
        p.critical()


def _ram_fix(p: _Pressure) -> str:
    if p.limit_gb and ("cgroup_mem_percent_peak" in p.numbers or "oom_kills" in p.numbers):
        return (
            f"The workload needs more memory than its cgroup allows ({_gib(p.limit_gb)}): "
            "raise the limit (docker run --memory, systemd MemoryMax=) or cut peak memory: "
            "stream or memory-map the data, fewer DataLoader workers, smaller batches."
        )
    return (
        "Cut peak memory: stream or memory-map the dataset instead of loading it whole, "
        "use fewer DataLoader workers (each holds its own copy), smaller batches; "
        "or add RAM."
    )


def _swap_thrashing(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    sin = tl.get("swap_in_mb_s")
    if sin is None or not _enough(tl, th, _finite(sin)):
        return []
    clock = _Clock(tl)
    t = tl.times
    dt = _interval(tl)
    mask = _finite(sin) & (sin >= th.swap_in_mib_per_min / 60.0)
    best: tuple[float, int, int] | None = None
    for i0, i1 in _runs(mask):
        seconds = float(t[i1] - t[i0]) + dt  # a rate covers the interval before its sample
        if seconds >= th.swap_min_seconds and (best is None or seconds > best[0]):
            best = (seconds, i0, i1)
    if best is None:
        return []
    seconds, i0, i1 = best
    window = slice(i0, i1 + 1)
    mean = float(np.mean(sin[window]))
    j = i0 + int(np.argmax(sin[window]))
    evidence = [
        f"swap-in averaged {_rate_per_min(mean)} ({mean:.1f} MiB/s) for {seconds:.0f} s "
        f"{clock.span(float(t[i0]), float(t[i1]))}; peak {sin[j]:.1f} MiB/s at "
        f"{clock.at(float(t[j]))}"
    ]
    numbers = {
        "swap_in_mib_per_min": round(mean * 60, 2),
        "seconds": round(seconds, 1),
    }
    used = tl.get("swap_used_gb")
    if used is not None and _finite(used[window]).any():
        peak = float(np.nanmax(used[window]))
        evidence.append(f"swap in use peaked at {_gib(peak)}")
        numbers["swap_used_gb_peak"] = round(peak, 3)
    ram = tl.get("ram_percent")
    if ram is not None and _finite(ram[window]).any():
        evidence.append(f"RAM averaged {np.nanmean(ram[window]):.1f}% used meanwhile")
    idle = _gpus_while_swapping(tl, ctx, th, window, evidence, numbers)
    return [
        Finding(
            id="swap_thrashing",
            constraint="swap",
            title="the workload is swapping" + (" while the GPU sits idle" if idle else ""),
            evidence=evidence,
            numbers=numbers,
            first_fix=(
                "Stop the swapping: cut what the process holds in RAM (memory-map or stream "
                "the dataset, fewer DataLoader workers, smaller batches) or add RAM; swapped "
                "memory runs at disk speed."
            ),
            severity="critical" if idle or seconds >= 60 else "warning",
        )
    ]


def _gpus_while_swapping(
    tl: Timeline,
    ctx: Context,
    th: Thresholds,
    window: slice,
    evidence: list[str],
    numbers: dict[str, float],
) -> bool:
    """Each GPU's utilisation during the swapping; whether one of them sat idle."""
    np = _np()
    idle = False
    for g in tl.gpu_indices():
        util = tl.get(f"gpu{g}/util_percent")
        if util is None or not _finite(util[window]).any():
            continue
        u = float(np.nanmean(util[window]))
        numbers[f"gpu{g}_util_mean"] = round(u, 1)
        if u < th.starved_gpu_percent:
            idle = True
            evidence.append(
                f"{_gpu_name(ctx, g)} utilisation averaged {u:.0f}% meanwhile: "
                "it sat idle while the process waited on pages read back from swap"
            )
        else:
            evidence.append(f"{_gpu_name(ctx, g)} utilisation averaged {u:.0f}% meanwhile")
    return idle
