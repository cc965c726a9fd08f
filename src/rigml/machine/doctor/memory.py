"""``memory.*`` checks: swap, and how much RAM is available and how often tasks stall on it."""

from __future__ import annotations

from rigml.machine.doctor._context import DoctorContext
from rigml.machine.doctor._facts import GIB, _gib
from rigml.machine.doctor._registry import _check
from rigml.machine.doctor._results import Outcome


@_check("memory.swap", "Swap")
def check_swap(ctx: DoctorContext) -> Outcome:
    """Whether the machine has swap, and how much of it is in use.

    Why: with no swap, the moment RAM runs out the kernel's OOM killer ends the largest
    process, usually the training job or the notebook holding the data, without a word.
    A little swap absorbs short spikes (a data loader warming up, a checkpoint being
    written). Swap *in use* means pages of running programs wait on disk: data loading and
    tensors on those pages stall, and a GPU waits for them.

    Thresholds: warn when there is no swap at all, or when {swap_warn_used_gib:g} GiB or more
    of it is in use. Never fails (pressure that hurts fails `memory.pressure`).

    Fix: no swap: add a swap file (`sudo fallocate -l 16G /swapfile && sudo chmod 600
    /swapfile && sudo mkswap /swapfile && sudo swapon /swapfile`, plus a line in /etc/fstab).
    Swap in use: find who holds it (`grep VmSwap /proc/*/status | sort -k2 -n | tail`), lower
    batch size or DataLoader workers; once RAM is free again, `sudo swapoff -a && sudo swapon
    -a` brings the pages back.
    """
    mem = ctx.get_memory()
    t = ctx.thresholds
    evidence = {
        "swap_total": mem.swap_total,
        "swap_used": mem.swap_used,
        "ram_total": mem.total,
        "ram_available": mem.available,
    }
    if mem.swap_total <= 0:
        return Outcome(
            "warn",
            f"no swap ({_gib(mem.total)} of RAM): running out of memory kills a process at once",
            evidence,
            "add a swap file: `sudo fallocate -l 16G /swapfile && sudo chmod 600 /swapfile && "
            "sudo mkswap /swapfile && sudo swapon /swapfile` (and a line in /etc/fstab)",
        )
    used_pct = 100.0 * mem.swap_used / mem.swap_total
    summary = f"{_gib(mem.swap_used)} of {_gib(mem.swap_total)} swap in use ({used_pct:.0f}%)"
    if mem.swap_used >= t.swap_warn_used_gib * GIB:
        return Outcome(
            "warn",
            summary,
            evidence,
            "find who is swapped out: `grep VmSwap /proc/*/status | sort -k2 -n | tail`; free "
            "RAM (fewer DataLoader workers, smaller batches, close idle notebooks), then "
            "`sudo swapoff -a && sudo swapon -a` brings the pages back",
        )
    return Outcome("pass", summary, evidence)


@_check("memory.pressure", "Memory pressure")
def check_memory_pressure(ctx: DoctorContext) -> Outcome:
    """How much RAM is available now and, on Linux, how often tasks stall waiting for memory.

    Reads psutil's "available" (what can be given to programs without swapping) and the
    kernel's pressure-stall information (/proc/pressure/memory, avg60: the share of the last
    minute in which some / all tasks were stalled on memory).

    Why: training and data loading slow to a crawl long before the OOM killer acts: the
    kernel evicts file cache (dataset reads go to disk again) and reclaims pages on every
    allocation.

    Thresholds: warn under {memory_warn_available_percent:g}% of RAM available or when some
    tasks stalled {memory_warn_psi_some_avg60:g}% of the last minute; fail under
    {memory_fail_available_percent:g}% available or when all tasks stalled
    {memory_fail_psi_full_avg60:g}% of it.

    Fix: see what holds memory (`ps aux --sort=-rss | head`), stop idle notebooks and
    kernels, lower batch size or DataLoader workers (each worker may copy a dataset held in
    Python lists), and read datasets memory-mapped (Arrow, `np.memmap`).
    """
    mem = ctx.get_memory()
    t = ctx.thresholds
    avail_pct = 100.0 * mem.available / mem.total if mem.total else 0.0
    evidence = {
        "ram_total": mem.total,
        "ram_available": mem.available,
        "available_percent": round(avail_pct, 1),
        "psi_some_avg60": mem.psi_some_avg60,
        "psi_full_avg60": mem.psi_full_avg60,
    }
    summary = f"{_gib(mem.available)} of {_gib(mem.total)} RAM available ({avail_pct:.0f}%)"
    if mem.psi_some_avg60 is not None:
        summary += f"; stalled on memory {mem.psi_some_avg60:g}% of the last minute"
    fix = (
        "see what holds memory: `ps aux --sort=-rss | head`; stop idle notebooks, lower batch "
        "size or DataLoader workers, read datasets memory-mapped"
    )
    full = mem.psi_full_avg60 or 0.0
    some = mem.psi_some_avg60 or 0.0
    if avail_pct < t.memory_fail_available_percent or full >= t.memory_fail_psi_full_avg60:
        return Outcome("fail", summary, evidence, fix)
    if avail_pct < t.memory_warn_available_percent or some >= t.memory_warn_psi_some_avg60:
        return Outcome("warn", summary, evidence, fix)
    return Outcome("pass", summary, evidence)
