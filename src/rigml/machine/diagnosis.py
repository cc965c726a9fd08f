"""Name what held a workload back, from a timeline of machine samples and a little context.

:func:`diagnose` runs every rule over a :class:`~rigml.machine.timeline.Timeline` and returns
:class:`Finding` objects. Each names the constraint, gives its evidence as sentences with
the values and the times they were seen (``t+42 s`` counts from the start of the watch),
keeps the same figures in ``numbers``, and says the first fix to try. A rule claims nothing
without those numbers, and the rules that judge a trend need at least ``min_samples``
samples over ``min_seconds`` seconds.

Thresholds (:class:`Thresholds`; pass your own to :func:`diagnose` to change them):

======================== ======= ==========================================================
name                     default meaning
======================== ======= ==========================================================
min_samples              5       samples a trend rule needs before it may claim anything
min_seconds              3.0     seconds those samples must span
most_of_run              0.6     share of samples that is "most of the run"
vram_full_percent        95      GPU memory this full counts as exhausted
vram_full_share          0.5     share of samples that full, without an OOM, to warn
ram_full_percent         95      machine RAM this full counts as pressure
cgroup_near_percent      90      share of a cgroup's memory limit that counts as near it
swap_in_mib_per_min      100     swap-in this fast counts as thrashing...
swap_min_seconds         10      ...when it lasts at least this long
gpu_busy_percent         50      GPU utilisation from which clocks should be high
clock_drop_fraction      0.10    fall of the SM clock from its peak that counts as throttled
temp_rise_c              5       temperature rise that ties a clock fall to heat
power_near_limit         0.97    share of the power limit that counts as at the limit
reason_min_samples       2       samples with an NVML throttle reason needed to report it...
reason_min_share         0.10    ...and the share of busy samples they must be
starved_gpu_percent      30      GPU utilisation under this is a GPU waiting for work
pegged_core_percent      90      a core this busy is pegged
idle_cores_percent       50      the other cores averaging under this are idle
cpu_busy_percent         90      every core this busy is a CPU-bound machine
iowait_percent           20      CPU time waiting for I/O from which storage is the limit
disk_horizon_min         120     minutes to full within which a filling disk is reported
disk_min_fall_gb         0.03    free space must fall at least this much (GiB)...
disk_min_fall_share      0.01    ...and at least this share of the disk
disk_fit_r2              0.6     how straight the fall must be (r² of the linear fit)
disk_full_share          0.02    free space under this share of the disk is full
======================== ======= ==========================================================

Sizes are GiB (2**30 bytes) and rates MiB (2**20 bytes), as in :mod:`rigml.machine.sampler`.
"""

from __future__ import annotations

import math
import re
import time as _time
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from rigml.machine.timeline import Timeline

__all__ = [
    "CONSTRAINTS",
    "RULES",
    "Constraint",
    "Context",
    "Finding",
    "MetricSummary",
    "Severity",
    "Thresholds",
    "diagnose",
    "scan_output",
    "summarise",
]

Constraint = Literal["vram", "ram", "swap", "storage", "thermal", "power", "starved_gpu", "cpu"]
Severity = Literal["critical", "warning", "info"]
CONSTRAINTS: tuple[Constraint, ...] = (
    "vram",
    "ram",
    "swap",
    "storage",
    "thermal",
    "power",
    "starved_gpu",
    "cpu",
)
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Thresholds:
    """The figures the rules compare against; see the table in the module docstring."""

    min_samples: int = 5
    min_seconds: float = 3.0
    most_of_run: float = 0.6
    vram_full_percent: float = 95.0
    vram_full_share: float = 0.5
    ram_full_percent: float = 95.0
    cgroup_near_percent: float = 90.0
    swap_in_mib_per_min: float = 100.0
    swap_min_seconds: float = 10.0
    gpu_busy_percent: float = 50.0
    clock_drop_fraction: float = 0.10
    temp_rise_c: float = 5.0
    power_near_limit: float = 0.97
    reason_min_samples: int = 2
    reason_min_share: float = 0.10
    starved_gpu_percent: float = 30.0
    pegged_core_percent: float = 90.0
    idle_cores_percent: float = 50.0
    cpu_busy_percent: float = 90.0
    iowait_percent: float = 20.0
    disk_horizon_min: float = 120.0
    disk_min_fall_gb: float = 0.03
    disk_min_fall_share: float = 0.01
    disk_fit_r2: float = 0.6
    disk_full_share: float = 0.02


THRESHOLDS = Thresholds()


@dataclass
class Context:
    """What the timeline alone cannot say: how the workload ended and what it printed.

    Times are epoch seconds. ``exit_code`` is shell style (``137`` for SIGKILL), and
    ``signal`` the signal that ended the workload, if one did. ``oom_kills`` counts the
    kernel's OOM kills seen during the watch (in the workload's cgroup or machine-wide).
    """

    exit_code: int | None = None
    signal: int | None = None
    ended_at: float | None = None
    cuda_oom_at: float | None = None
    cuda_oom_line: str | None = None
    killed_at: float | None = None
    memory_error_at: float | None = None
    no_space_at: float | None = None
    no_space_line: str | None = None
    oom_kills: int = 0
    disk_path: str | None = None
    disk_total_gb: float | None = None
    disk_free_gb: float | None = None
    cores: int | None = None
    ram_total_gb: float | None = None
    cgroup_mem_limit_gb: float | None = None
    gpu_names: dict[int, str] = field(default_factory=dict)
    gpu_power_limit_w: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Context:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("gpu_names", "gpu_power_limit_w"):
            if isinstance(values.get(key), dict):
                values[key] = {int(k): v for k, v in values[key].items()}
        return cls(**values)


@dataclass(frozen=True)
class Finding:
    """One diagnosed bottleneck: what limited the workload, the evidence, the first fix."""

    id: str
    constraint: Constraint
    title: str
    evidence: list[str]
    numbers: dict[str, float]
    first_fix: str
    severity: Severity = "warning"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "constraint": self.constraint,
            "severity": self.severity,
            "title": self.title,
            "evidence": list(self.evidence),
            "numbers": dict(self.numbers),
            "first_fix": self.first_fix,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            id=data["id"],
            constraint=data["constraint"],
            title=data["title"],
            evidence=list(data.get("evidence") or []),
            numbers={k: float(v) for k, v in (data.get("numbers") or {}).items()},
            first_fix=data.get("first_fix", ""),
            severity=data.get("severity", "warning"),
        )


@dataclass(frozen=True)
class MetricSummary:
    """Peak, mean, low and last value of one metric, and when the peak was."""

    peak: float
    peak_at_s: float
    mean: float
    min: float
    last: float
    count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- output


_OUTPUT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "cuda_oom",
        re.compile(
            r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|"
            r"CUBLAS_STATUS_ALLOC_FAILED|cudaErrorMemoryAllocation|"
            r"RESOURCE_EXHAUSTED: Out of memory|HIP out of memory",
            re.IGNORECASE,
        ),
    ),
    ("no_space", re.compile(r"No space left on device|ENOSPC|Disk quota exceeded")),
    ("memory_error", re.compile(r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc")),
    ("killed", re.compile(r"^\s*(?:\S+: line \d+: +\d+ )?Killed\b|\bKilled process \d+")),
)


def scan_output(line: str) -> str | None:
    """What a line of a workload's output tells about its end, if anything.

    Returns:
        ``"cuda_oom"``, ``"no_space"``, ``"memory_error"``, ``"killed"`` or ``None``.
    """
    for kind, pattern in _OUTPUT_PATTERNS:
        if pattern.search(line):
            return kind
    return None


# --------------------------------------------------------------------------- helpers


def _np() -> Any:
    import numpy as np

    return np


def _rel(seconds: float) -> str:
    if abs(seconds) < 10:
        return f"t+{seconds:.1f} s"
    if abs(seconds) < 600:
        return f"t+{seconds:.0f} s"
    return f"t+{seconds / 60:.1f} min"


class _Clock:
    """Formats times as the wall clock and the offset from the start of the timeline."""

    def __init__(self, tl: Timeline) -> None:
        self.start = tl.start if len(tl) else _time.time()

    def at(self, t: float) -> str:
        clock = _time.strftime("%H:%M:%S", _time.localtime(t))
        return f"{clock} ({_rel(t - self.start)})"

    def span(self, t0: float, t1: float) -> str:
        a = _time.strftime("%H:%M:%S", _time.localtime(t0))
        b = _time.strftime("%H:%M:%S", _time.localtime(t1))
        return f"from {a} to {b}, {_rel(t0 - self.start)} to {_rel(t1 - self.start)}"

    def offset(self, t: float) -> float:
        return round(t - self.start, 3)


def _size(gb: float) -> str:
    if round(abs(gb), 2) >= 1:
        return f"{gb:.2f} GiB"
    return f"{gb * 1024:.1f} MiB"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _rate_per_min(mib_s: float) -> str:
    per_min = mib_s * 60
    return f"{per_min / 1024:.2f} GiB/min" if per_min >= 1024 else f"{per_min:.0f} MiB/min"


def _interval(tl: Timeline) -> float:
    meta = tl.meta.get("interval")
    if isinstance(meta, int | float) and meta > 0:
        return float(meta)
    t = tl.times
    if len(t) >= 2:
        return float(_np().median(_np().diff(t)))
    return 1.0


def _enough(tl: Timeline, th: Thresholds, mask: np.ndarray | None = None) -> bool:
    """Whether a trend may be judged: enough samples over enough seconds."""
    t = tl.times if mask is None else tl.times[mask]
    if len(t) < th.min_samples:
        return False
    return float(t[-1] - t[0]) + _interval(tl) >= th.min_seconds


def _finite(a: np.ndarray | None) -> np.ndarray:
    np = _np()
    if a is None:
        return np.zeros(0, dtype=bool)
    return np.isfinite(a)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive index ranges of consecutive True values."""
    out: list[tuple[int, int]] = []
    start = None
    for i, m in enumerate(mask.tolist()):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(mask) - 1))
    return out


def _reasons(tl: Timeline, gpu: int) -> list[set[str]]:
    return [
        {r for r in (text or "").split(",") if r}
        for text in tl.labels(f"gpu{gpu}/throttle_reasons")
    ]


def _gpu_name(ctx: Context, i: int) -> str:
    name = ctx.gpu_names.get(i)
    return f"gpu{i} ({name})" if name else f"gpu{i}"


# --------------------------------------------------------------------------- rules


def _vram_exhausted(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    clock = _Clock(tl)
    t = tl.times
    fix = (
        "Halve the per-GPU batch size and keep the effective batch with gradient accumulation; "
        "then activation checkpointing or bf16 weights and optimizer states "
        "(`rig fit` estimates what fits)."
    )
    if ctx.cuda_oom_at is not None:
        evidence: list[str] = []
        numbers: dict[str, float] = {"oom_at_s": clock.offset(ctx.cuda_oom_at)}
        best: tuple[float, int, int] | None = None
        for i in tl.gpu_indices():
            mem = tl.get(f"gpu{i}/mem_percent")
            if mem is None:
                continue
            upto = _finite(mem) & (t <= ctx.cuda_oom_at + _interval(tl))
            if not upto.any():
                upto = _finite(mem)
            if not upto.any():
                continue
            j = int(np.flatnonzero(upto)[np.argmax(mem[upto])])
            if best is None or mem[j] > best[0]:
                best = (float(mem[j]), i, j)
        if best is not None:
            peak, i, j = best
            used = tl.get(f"gpu{i}/mem_used_gb")
            of = ""
            if used is not None and math.isfinite(used[j]) and peak > 0:
                of = f" ({used[j]:.2f} of {used[j] * 100 / peak:.2f} GiB)"
                numbers["mem_used_gb"] = round(float(used[j]), 3)
            evidence.append(
                f"{_gpu_name(ctx, i)} memory {peak:.1f}%{of} at {clock.at(float(t[j]))}, "
                f"the CUDA out-of-memory error at {clock.at(ctx.cuda_oom_at)}"
            )
            numbers.update({"gpu": float(i), "mem_percent": round(peak, 2)})
        else:
            evidence.append(f"CUDA out-of-memory error at {clock.at(ctx.cuda_oom_at)}")
        line = (ctx.cuda_oom_line or "").strip()
        asked = re.search(r"Tried to allocate ([\d.]+) ?(GiB|MiB|KiB)", line)
        if asked:
            scale = {"GiB": 1.0, "MiB": 1 / 1024, "KiB": 1 / 2**20}[asked.group(2)]
            numbers["tried_to_allocate_gb"] = round(float(asked.group(1)) * scale, 4)
        if line:
            evidence.append(f"the workload printed: {line[:200]!r}")
        return [
            Finding(
                id="vram_exhausted",
                constraint="vram",
                title="GPU memory ran out (CUDA out of memory)",
                evidence=evidence,
                numbers=numbers,
                first_fix=fix,
                severity="critical",
            )
        ]
    found = []
    for i in tl.gpu_indices():
        mem = tl.get(f"gpu{i}/mem_percent")
        valid = _finite(mem)
        if mem is None or not _enough(tl, th, valid):
            continue
        full = valid & (mem >= th.vram_full_percent)
        share = full.sum() / valid.sum()
        if share < th.vram_full_share:
            continue
        j = int(np.nanargmax(mem))
        idx = np.flatnonzero(full)
        used = tl.get(f"gpu{i}/mem_used_gb")
        of = ""
        if used is not None and math.isfinite(used[j]) and mem[j] > 0:
            of = f" ({used[j]:.2f} of {used[j] * 100 / mem[j]:.2f} GiB)"
        found.append(
            Finding(
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
        )
    return found


def _ram_pressure(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    clock = _Clock(tl)
    t = tl.times
    evidence: list[str] = []
    numbers: dict[str, float] = {}
    severity: Severity = "warning"
    near_end = False  # memory was high in the last samples before the end

    ram = tl.get("ram_percent")
    if ram is not None:
        high = _finite(ram) & (ram >= th.ram_full_percent)
        if int(high.sum()) >= th.min_samples:
            j = int(np.nanargmax(ram))
            used = tl.get("ram_used_gb")
            of = ""
            if used is not None and math.isfinite(used[j]) and ram[j] > 0:
                of = f" ({used[j]:.2f} of {used[j] * 100 / ram[j]:.2f} GiB)"
            idx = np.flatnonzero(high)
            evidence.append(
                f"RAM ≥ {th.ram_full_percent:.0f}% used in {int(high.sum())} samples "
                f"({clock.span(float(t[idx[0]]), float(t[idx[-1]]))}); "
                f"peak {ram[j]:.1f}%{of} at {clock.at(float(t[j]))}"
            )
            numbers.update({"ram_percent_peak": round(float(ram[j]), 2)})
        tail = ram[_finite(ram)][-3:]
        near_end |= bool(len(tail) and tail.max() >= th.cgroup_near_percent)

    cg = tl.get("cgroup_mem_percent")
    limit_gb = ctx.cgroup_mem_limit_gb
    if cg is not None:
        valid = _finite(cg)
        lim = tl.get("cgroup_mem_limit_gb")
        if lim is not None and _finite(lim).any():
            limit_gb = float(lim[_finite(lim)][-1])
        if valid.any():
            j = int(np.nanargmax(cg))
            near = valid & (cg >= th.cgroup_near_percent)
            tail = cg[valid][-3:]
            near_end |= bool(tail.max() >= th.cgroup_near_percent)
            kills_col = tl.get("cgroup_oom_kills")
            kills = 0
            if kills_col is not None and _finite(kills_col).any():
                k = kills_col[_finite(kills_col)]
                kills = int(k.max() - k[0])
            if int(near.sum()) >= 2 or (near.any() and (kills or ctx.oom_kills)):
                used = tl.get("cgroup_mem_used_gb")
                used_text = ""
                if used is not None and math.isfinite(used[j]):
                    used_text = f" ({_size(float(used[j]))})"
                evidence.append(
                    f"the workload's cgroup used {cg[j]:.1f}% of its {_size(limit_gb or 0)} "
                    f"memory limit{used_text} at {clock.at(float(t[j]))}"
                )
                numbers["cgroup_mem_percent_peak"] = round(float(cg[j]), 2)
            if kills:
                evidence.append(
                    f"the kernel's OOM killer killed {kills} process(es) in that cgroup "
                    f"(its oom_kill count went from {int(k[0])} to {int(k.max())})"
                )
                numbers["oom_kills"] = float(kills)
                severity = "critical"
    if limit_gb:
        numbers["cgroup_limit_gb"] = round(limit_gb, 4)

    if ctx.oom_kills and "oom_kills" not in numbers:
        evidence.append(f"the kernel's OOM killer killed {ctx.oom_kills} process(es) meanwhile")
        numbers["oom_kills"] = float(ctx.oom_kills)
        severity = "critical"
    killed = ctx.signal == 9 or ctx.exit_code == 137
    if killed and (numbers.get("oom_kills") or near_end or ctx.killed_at is not None):
        when = clock.at(ctx.ended_at) if ctx.ended_at else "the end"
        evidence.append(f"the workload was killed by SIGKILL (exit code 137) at {when}")
        numbers["exit_code"] = 137.0
        severity = "critical"
    if ctx.memory_error_at is not None:
        rss = tl.get("proc_rss_gb")
        peak = ""
        if rss is not None and _finite(rss).any():
            peak = f"; its process tree held {_size(float(np.nanmax(rss)))} at peak"
            numbers["proc_rss_gb_peak"] = round(float(np.nanmax(rss)), 4)
        evidence.append(f"Python raised MemoryError at {clock.at(ctx.memory_error_at)}{peak}")
        severity = "critical"

    if not evidence or not numbers:
        return []
    if limit_gb and ("cgroup_mem_percent_peak" in numbers or "oom_kills" in numbers):
        fix = (
            f"The workload needs more memory than its cgroup allows ({_size(limit_gb)}): raise "
            "the limit (docker run --memory, systemd MemoryMax=) or cut peak memory: stream or "
            "memory-map the data, fewer DataLoader workers, smaller batches."
        )
    else:
        fix = (
            "Cut peak memory: stream or memory-map the dataset instead of loading it whole, "
            "use fewer DataLoader workers (each holds its own copy), smaller batches; "
            "or add RAM."
        )
    title = (
        "the workload ran out of memory and was killed"
        if severity == "critical"
        else "memory is nearly full"
    )
    return [
        Finding(
            id="ram_pressure",
            constraint="ram",
            title=title,
            evidence=evidence,
            numbers=numbers,
            first_fix=fix,
            severity=severity,
        )
    ]


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
        evidence.append(f"swap in use peaked at {_size(peak)}")
        numbers["swap_used_gb_peak"] = round(peak, 3)
    ram = tl.get("ram_percent")
    if ram is not None and _finite(ram[window]).any():
        evidence.append(f"RAM averaged {np.nanmean(ram[window]):.1f}% used meanwhile")
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


_THERMAL = frozenset({"sw_thermal", "hw_thermal"})
_POWER = frozenset({"sw_power_cap", "hw_power_brake"})


def _throttling(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    clock = _Clock(tl)
    t = tl.times
    found: list[Finding] = []
    for g in tl.gpu_indices():
        clk = tl.get(f"gpu{g}/sm_clock_mhz")
        if clk is None:
            continue
        util = tl.get(f"gpu{g}/util_percent")
        busy = _finite(clk)
        if util is not None:
            busy &= _finite(util) & (util >= th.gpu_busy_percent)
        if not _enough(tl, th, busy):
            continue  # an idle GPU's low clocks are not throttling
        temp = tl.get(f"gpu{g}/temp_c")
        power = tl.get(f"gpu{g}/power_w")
        reasons = _reasons(tl, g)
        idx = np.flatnonzero(busy)
        ip = int(idx[np.argmax(clk[idx])])
        after = idx[idx >= ip]
        il = int(after[np.argmin(clk[after])])
        drop = float((clk[ip] - clk[il]) / clk[ip]) if clk[ip] > 0 else 0.0
        rise = (
            float(temp[il] - temp[ip])
            if temp is not None and math.isfinite(temp[il]) and math.isfinite(temp[ip])
            else math.nan
        )
        busy_n = len(idx)
        need = max(th.reason_min_samples, math.ceil(th.reason_min_share * busy_n))

        name = _gpu_name(ctx, g)
        clock_text = (
            f"{name} SM clock fell from {clk[ip]:.0f} MHz at {clock.at(float(t[ip]))} to "
            f"{clk[il]:.0f} MHz at {clock.at(float(t[il]))} ({-100 * drop:.1f}%)"
        )
        numbers_base = {
            "gpu": float(g),
            "clock_peak_mhz": float(clk[ip]),
            "clock_low_mhz": float(clk[il]),
            "clock_drop_percent": round(100 * drop, 2),
        }
        dropped = drop >= th.clock_drop_fraction

        thermal_n = _with_any(reasons, idx, _THERMAL)
        slowdown = _reason_counts(reasons, idx, frozenset({"hw_slowdown"}))
        if (dropped and rise >= th.temp_rise_c) or thermal_n >= need:
            evidence = [clock_text]
            numbers = dict(numbers_base)
            if temp is not None and math.isfinite(rise):
                evidence[0] += (
                    f" while its temperature rose from {temp[ip]:.0f} °C to {temp[il]:.0f} °C"
                )
                numbers.update(
                    {
                        "temp_start_c": float(temp[ip]),
                        "temp_end_c": float(temp[il]),
                        "temp_peak_c": float(max(temp[ip], temp[il], np.nanmax(temp))),
                    }
                )
            counts = _reason_counts(reasons, idx, _THERMAL | {"hw_slowdown"})
            if counts:
                evidence.append(_reason_text(counts, busy_n, clock, t))
                numbers["thermal_reason_samples"] = float(thermal_n)
            hard = "hw_thermal" in counts or bool(slowdown)
            found.append(
                Finding(
                    id="thermal_throttling",
                    constraint="thermal",
                    title=f"gpu{g} is slowing down because it runs hot",
                    evidence=evidence,
                    numbers=numbers,
                    first_fix=(
                        "Cool the GPU: check that its fans spin and the chassis breathes "
                        "(clean dust filters, add intake airflow, space the cards); meanwhile a "
                        "lower power limit (sudo nvidia-smi -pl <watts>) trades a little peak "
                        "speed for steady clocks."
                    ),
                    severity="critical" if hard or drop >= 0.2 else "warning",
                )
            )

        power_n = _with_any(reasons, idx, _POWER)
        limit = ctx.gpu_power_limit_w.get(g)
        at_limit = False
        if power is not None and limit and _finite(power[idx]).any():
            at_limit = bool(np.nanmax(power[idx]) >= th.power_near_limit * limit)
        by_trend = dropped and not (rise >= th.temp_rise_c) and at_limit
        if power_n >= need or by_trend:
            numbers = dict(numbers_base)
            capped = np.asarray([k for k in idx.tolist() if reasons[k] & _POWER], dtype=int)
            if by_trend or not len(capped):
                evidence = [clock_text]
            else:
                evidence = [_clock_range(name, clk, capped, "while the power cap was reported")]
            counts = _reason_counts(reasons, idx, _POWER)
            if counts:
                evidence.append(_reason_text(counts, busy_n, clock, t))
                numbers["power_cap_samples"] = float(power_n)
            if power is not None and _finite(power[idx]).any():
                jp = int(idx[np.nanargmax(power[idx])])
                against = f" against its {limit:.0f} W limit" if limit else ""
                evidence.append(
                    f"power peaked at {power[jp]:.1f} W at {clock.at(float(t[jp]))}{against}"
                )
                numbers["power_peak_w"] = float(power[jp])
                if limit:
                    numbers["power_limit_w"] = float(limit)
            fix = (
                "The GPU is held at its power limit: raise the limit if the PSU and cooling "
                "allow (sudo nvidia-smi -pl <max watts>), else this is its speed"
            )
            if "hw_power_brake" in counts:
                fix += "; hw_power_brake means the PSU or its cables cannot deliver: check them"
            found.append(
                Finding(
                    id="power_throttling",
                    constraint="power",
                    title=f"gpu{g} is capped by its power limit",
                    evidence=evidence,
                    numbers=numbers,
                    first_fix=fix + ".",
                    severity="warning" if by_trend or "hw_power_brake" in counts else "info",
                )
            )
    return found


def _reason_counts(
    reasons: list[set[str]], idx: np.ndarray, names: frozenset[str]
) -> dict[str, tuple[int, int]]:
    """Per reason name among ``names``: in how many samples of ``idx``, and the first one."""
    out: dict[str, tuple[int, int]] = {}
    for k in idx.tolist():
        for r in sorted(reasons[k] & names):
            n, first = out.get(r, (0, k))
            out[r] = (n + 1, first)
    return out


def _with_any(reasons: list[set[str]], idx: np.ndarray, names: frozenset[str]) -> int:
    return sum(1 for k in idx.tolist() if reasons[k] & names)


def _reason_text(
    counts: dict[str, tuple[int, int]], busy_n: int, clock: _Clock, t: np.ndarray
) -> str:
    parts = [
        f"{r} in {n} of {busy_n} busy samples (first at {clock.at(float(t[first]))})"
        for r, (n, first) in sorted(counts.items(), key=lambda kv: -kv[1][0])
    ]
    return "NVML throttle reasons: " + "; ".join(parts)


def _clock_range(name: str, clk: np.ndarray, idx: np.ndarray, when: str) -> str:
    np = _np()
    return (
        f"{name} SM clock was between {np.min(clk[idx]):.0f} and {np.max(clk[idx]):.0f} MHz "
        f"{when} ({len(idx)} samples)"
    )


def _core_matrix(tl: Timeline) -> np.ndarray | None:
    cores = tl.core_names()
    if not cores:
        return None
    return _np().vstack([tl.column(c) for c in cores]).T


def _others_mean(cores: np.ndarray) -> np.ndarray:
    """Per sample, the mean of every core but the busiest (NaN where under two are known)."""
    np = _np()
    finite = np.isfinite(cores)
    known = finite.sum(axis=1)
    total = np.where(finite, cores, 0.0).sum(axis=1)
    top = np.where(finite, cores, -np.inf).max(axis=1)
    out = np.full(len(cores), np.nan)
    many = known >= 2
    out[many] = (total[many] - top[many]) / (known[many] - 1)
    out[known == 1] = 0.0
    return out


def _starved_gpu(tl: Timeline, ctx: Context, th: Thresholds) -> list[Finding]:
    np = _np()
    top = tl.get("cpu_max_core_percent")
    if top is None or not tl.gpu_indices():
        return []
    clock = _Clock(tl)
    t = tl.times
    cores = _core_matrix(tl)
    if cores is not None:
        k = cores.shape[1]
        others = _others_mean(cores)
    else:
        cpu = tl.get("cpu_percent")
        k = ctx.cores or 0
        if cpu is None or k < 1:
            return []
        others = (cpu * k - top) / (k - 1) if k > 1 else np.zeros(len(t))
    found = []
    for g in tl.gpu_indices():
        util = tl.get(f"gpu{g}/util_percent")
        if util is None:
            continue
        valid = _finite(util) & _finite(top) & np.isfinite(others)
        if not _enough(tl, th, valid):
            continue
        low = valid & (util < th.starved_gpu_percent)
        starved = low & (top >= th.pegged_core_percent) & (others < th.idle_cores_percent)
        share = float(starved.sum() / valid.sum())
        if share < th.most_of_run:
            continue
        idx = np.flatnonzero(starved)
        evidence = [
            f"{_gpu_name(ctx, g)} utilisation under {th.starved_gpu_percent:.0f}% in "
            f"{int(low.sum())} of {int(valid.sum())} samples (mean {np.nanmean(util[valid]):.0f}%)",
            f"in {int(starved.sum())} of them ({clock.span(float(t[idx[0]]), float(t[idx[-1]]))}) "
            f"the busiest core averaged {np.mean(top[starved]):.0f}% while the other "
            f"{max(k - 1, 0)} core(s) averaged {np.mean(others[starved]):.0f}%: one thread "
            "prepares the data the GPU waits for",
        ]
        found.append(
            Finding(
                id="starved_gpu",
                constraint="starved_gpu",
                title=f"gpu{g} waits for data: one CPU core is pegged, the rest idle",
                evidence=evidence,
                numbers={
                    "gpu": float(g),
                    "gpu_util_mean": round(float(np.nanmean(util[valid])), 2),
                    "busiest_core_mean": round(float(np.mean(top[starved])), 2),
                    "other_cores_mean": round(float(np.mean(others[starved])), 2),
                    "starved_share": round(share, 3),
                },
                first_fix=(
                    "Load data on more cores: DataLoader(num_workers=<cores - 1>, "
                    "pin_memory=True, persistent_workers=True), or decode and augment once and "
                    "cache the result (or do it on the GPU)."
                ),
                severity="warning",
            )
        )
    return found


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


if TYPE_CHECKING:
    Rule = Callable[[Timeline, Context, Thresholds], list[Finding]]

RULES: dict[str, Rule] = {
    "vram_exhausted": _vram_exhausted,
    "ram_pressure": _ram_pressure,
    "swap_thrashing": _swap_thrashing,
    "throttling": _throttling,
    "starved_gpu": _starved_gpu,
    "disk_filling": _disk_filling,
    "cpu_bound": _cpu_bound,
    "io_bound": _io_bound,
}
"""Every rule by name; ``throttling`` yields ``thermal_throttling`` and ``power_throttling``."""


def diagnose(
    timeline: Timeline,
    context: Context | None = None,
    *,
    thresholds: Thresholds | None = None,
) -> list[Finding]:
    """Run every rule over ``timeline``; the most severe findings first.

    Args:
        timeline: The samples, e.g. from :func:`rigml.machine.watch.watch`.
        context: How the workload ended and what it printed; empty by default.
        thresholds: The figures the rules use; :data:`THRESHOLDS` by default.

    Returns:
        The findings, each with its evidence; an empty list when nothing held the
        workload back (or there were too few samples to tell).
    """
    ctx = context or Context()
    th = thresholds or THRESHOLDS
    found: list[Finding] = []
    for rule in RULES.values():
        found.extend(rule(timeline, ctx, th))
    order = {c: i for i, c in enumerate(CONSTRAINTS)}
    return sorted(found, key=lambda f: (_SEVERITY_ORDER[f.severity], order[f.constraint]))


def summarise(timeline: Timeline) -> dict[str, MetricSummary]:
    """Peak (and when), mean, low and last value of every metric that has a value."""
    np = _np()
    out: dict[str, MetricSummary] = {}
    elapsed = timeline.elapsed
    for name in timeline.names:
        col = timeline.column(name)
        valid = np.isfinite(col)
        if not valid.any():
            continue
        values = col[valid]
        j = int(np.argmax(values))
        out[name] = MetricSummary(
            peak=float(values[j]),
            peak_at_s=round(float(elapsed[valid][j]), 3),
            mean=float(values.mean()),
            min=float(values.min()),
            last=float(values[-1]),
            count=int(valid.sum()),
        )
    return out
