"""Machine telemetry, one flat sample at a time, shared by run tracking and ``rig watch``.

:class:`SystemSampler` reads the whole machine, optionally a process tree, and the GPUs.
Rates (``cpu_percent``, ``*_mb_s``, ``proc_cpu_percent``) are averages since the previous
:meth:`~SystemSampler.sample`; the counters are primed when the sampler is built, so even the
first sample has them (averaged since construction). A rate is left out when no time has
passed or its counter cannot be read on this system.

Units: sizes named ``_gb`` are GiB (2**30 bytes) and rates named ``_mb_s`` are MiB (2**20
bytes) per second, matching what ``free -g`` and ``nvidia-smi`` show. ``proc_cpu_percent``
counts one fully busy core as 100, so a process tree can exceed 100.

Metric names (they become ``sys/<name>`` metrics of a run)::

    cpu_percent  cpu_max_core_percent  cpu_iowait_percent  ram_used_gb  ram_percent
    swap_used_gb  swap_in_mb_s  swap_out_mb_s  disk_read_mb_s  disk_write_mb_s  disk_free_gb
    proc_rss_gb  proc_cpu_percent                       (only when pids are given)
    cpu{i}_percent                                      (only with per_core=True)
    cgroup_mem_used_gb  cgroup_mem_limit_gb  cgroup_mem_percent  cgroup_oom_kills
                                  (only with cgroup_pid, when that process's cgroup has a limit)
    gpu{i}/util_percent  gpu{i}/mem_used_gb  gpu{i}/mem_percent  gpu{i}/temp_c
    gpu{i}/power_w  gpu{i}/sm_clock_mhz  gpu{i}/mem_clock_mhz  gpu{i}/throttled
                                                        (each only when the GPU reports it)

Values that are not numbers go to :attr:`Sample.extra`: ``gpu{i}/throttle_reasons`` holds
the NVML reason names (a tuple of str, empty when nothing holds the clocks down).

``cpu_iowait_percent`` is the share of all CPU time spent idle while waiting for I/O (Linux
only). The cgroup figures are those of the memory cgroup (v1 or v2) that holds
``cgroup_pid`` at each sample, so a process that moves itself into a limited group is
followed; used memory is the group's usage less its inactive page cache, and the limit is
the tightest one among the group and its parents.

One sample is a handful of psutil reads and no subprocess: well under 1% of a core at 1 Hz
(measured by ``bench/sampler_overhead.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rigml.machine._cgroup import CgroupMemory
from rigml.machine.gpu import GpuSource, is_throttled

__all__ = ["GIB", "MIB", "Sample", "SampleSource", "SamplerThread", "SystemSampler"]

GIB = float(2**30)
MIB = float(2**20)

log = logging.getLogger(__name__)


class SampleSource(Protocol):
    """Anything :class:`SamplerThread` can drive: a :class:`SystemSampler` or a stand-in."""

    def sample(self) -> Sample: ...


@dataclass
class Sample:
    """One reading of the machine: epoch seconds and flat metric names to values.

    ``extra`` holds what is not a number, such as ``gpu0/throttle_reasons``.
    """

    time: float
    values: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _busy_total(t: Any) -> tuple[float, float]:
    """Busy and total CPU seconds from one psutil cpu_times entry.

    Guest time is already inside user time on Linux, so it is not added twice; iowait is
    idle (the core could run something else).
    """
    total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return total - idle, total


def _percent(busy: float, total: float) -> float | None:
    if total <= 0:
        return None
    return min(100.0, max(0.0, 100.0 * busy / total))


class SystemSampler:
    """Reads CPU, memory, swap, disk, a process tree and GPUs into one :class:`Sample`.

    Args:
        gpu: Where GPU readings come from; no GPU metrics when ``None``. Pass
            :func:`rigml.machine.gpu.default_source` to read the real GPUs.
        pids: Processes whose tree (them and all their descendants, re-listed at every
            sample) is measured as ``proc_*``.
        disk_path: The filesystem whose free space is reported; the current folder's by
            default.
        per_core: Also report each core's busy share as ``cpu{i}_percent``.
        cgroup_pid: Report the memory cgroup of this process (``cgroup_mem_*``) when it
            has a limit: a container's or a systemd slice's, where the kernel's OOM killer
            acts long before the machine's RAM is full.

    A GPU source that raises is caught: the sample goes on without GPU metrics and
    :attr:`gpu_error` says why.

    Not thread-safe: give each thread its own sampler. CPU rates come from this sampler's
    own counters, not psutil's module-wide ones, so two samplers do not disturb each other.
    """

    def __init__(
        self,
        *,
        gpu: GpuSource | None = None,
        pids: Sequence[int] | None = None,
        disk_path: str | None = None,
        per_core: bool = False,
        cgroup_pid: int | None = None,
    ) -> None:
        import psutil

        self._psutil = psutil
        self.gpu = gpu
        self.pids = list(pids) if pids else []
        self.disk_path = disk_path or os.getcwd()
        self.per_core = per_core
        self._cgroup = CgroupMemory(cgroup_pid) if cgroup_pid is not None else None
        self.gpu_error: str | None = None
        """Why the last GPU read failed, if one did; the sample then has no GPU metrics."""
        self._procs: dict[int, Any] = {}
        self._last = self._counters()

    # -- counters behind the rates

    def _counters(self) -> dict[str, Any]:
        psutil = self._psutil
        now = time.monotonic()
        counters: dict[str, Any] = {"t": now, "cpus": psutil.cpu_times(percpu=True)}
        try:
            swap = psutil.swap_memory()
            counters["swap"] = (swap.sin, swap.sout, swap.used)
        except (OSError, RuntimeError):
            counters["swap"] = None
        try:
            disk = psutil.disk_io_counters(perdisk=False)
        except (OSError, RuntimeError):
            disk = None
        counters["disk"] = (disk.read_bytes, disk.write_bytes) if disk is not None else None
        if self.pids:
            counters["proc"] = self._tree_usage()
        return counters

    def _tree(self) -> list[Any]:
        """The watched processes and all their descendants that are alive now."""
        psutil = self._psutil
        seen: dict[int, Any] = {}
        for pid in self.pids:
            proc = self._procs.get(pid)
            try:
                if proc is None or not proc.is_running():
                    proc = psutil.Process(pid)
                    self._procs[pid] = proc
                seen[proc.pid] = proc
                for child in proc.children(recursive=True):
                    seen.setdefault(child.pid, child)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return list(seen.values())

    def _tree_usage(self) -> tuple[dict[tuple[int, float], float], float]:
        """CPU seconds per process (keyed by pid and start time, so reused pids never mix)
        and the tree's total resident memory in bytes."""
        psutil = self._psutil
        cpu: dict[tuple[int, float], float] = {}
        rss = 0.0
        for proc in self._tree():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    cpu[(proc.pid, proc.create_time())] = times.user + times.system
                    rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return cpu, rss

    # -- the sample

    def sample(self) -> Sample:
        """Read everything once; rates cover the time since the previous call.

        Returns:
            A :class:`Sample` holding the metric names listed in the module docstring.
        """
        wall = time.time()
        now = self._counters()
        last, self._last = self._last, now
        dt = now["t"] - last["t"]
        v: dict[str, float] = {}
        self._cpu_values(v, last["cpus"], now["cpus"])
        self._memory_values(v)
        _io_values(v, last, now, dt)
        with contextlib.suppress(OSError):  # the folder went away; the rest still counts
            v["disk_free_gb"] = self._psutil.disk_usage(self.disk_path).free / GIB
        if self.pids:
            _tree_values(v, last.get("proc", ({}, 0.0))[0], now["proc"], dt)
        if self._cgroup is not None:
            with contextlib.suppress(OSError, ValueError):
                _cgroup_values(v, self._cgroup)
        extra: dict[str, Any] = {}
        if self.gpu is not None:
            try:
                self._gpu_values(v, extra)
            except Exception as exc:  # a failing driver must not cost the other metrics
                if self.gpu_error is None:
                    log.warning("reading the GPUs failed (later failures are silent): %r", exc)
                self.gpu_error = f"reading the GPUs failed: {type(exc).__name__}: {exc}"
        return Sample(time=wall, values=v, extra=extra)

    def _cpu_values(self, v: dict[str, float], last: list[Any], now: list[Any]) -> None:
        """Machine, busiest-core, per-core and I/O-wait shares from two cpu_times lists."""
        pairs = [(_busy_total(t1), _busy_total(t0)) for t0, t1 in zip(last, now, strict=False)]
        total = sum(t1 - t0 for (_, t1), (_, t0) in pairs)
        whole = _percent(sum(b1 - b0 for (b1, _), (b0, _) in pairs), total)
        if whole is not None:
            v["cpu_percent"] = whole
        cores = [_percent(b1 - b0, t1 - t0) for (b1, t1), (b0, t0) in pairs]
        known = [c for c in cores if c is not None]
        if known:
            v["cpu_max_core_percent"] = max(known)
        if self.per_core:
            for i, c in enumerate(cores):
                if c is not None:
                    v[f"cpu{i}_percent"] = c
        if last and hasattr(last[0], "iowait"):
            waited = sum(t1.iowait - t0.iowait for t0, t1 in zip(last, now, strict=False))
            iowait = _percent(waited, total)
            if iowait is not None:
                v["cpu_iowait_percent"] = iowait

    def _memory_values(self, v: dict[str, float]) -> None:
        mem = self._psutil.virtual_memory()
        used = mem.total - mem.available  # what programs hold; page cache is free to take
        v["ram_used_gb"] = used / GIB
        v["ram_percent"] = 100.0 * used / mem.total if mem.total else 0.0

    def _gpu_values(self, v: dict[str, float], extra: dict[str, Any]) -> None:
        assert self.gpu is not None
        for r in self.gpu.read():
            p = f"gpu{r.index}/"
            if r.utilization_percent is not None:
                v[p + "util_percent"] = float(r.utilization_percent)
            if r.memory_used is not None:
                v[p + "mem_used_gb"] = r.memory_used / GIB
                if r.memory_total:
                    v[p + "mem_percent"] = 100.0 * r.memory_used / r.memory_total
            if r.temperature_c is not None:
                v[p + "temp_c"] = float(r.temperature_c)
            if r.power_w is not None:
                v[p + "power_w"] = float(r.power_w)
            if r.sm_clock_mhz is not None:
                v[p + "sm_clock_mhz"] = float(r.sm_clock_mhz)
            if r.mem_clock_mhz is not None:
                v[p + "mem_clock_mhz"] = float(r.mem_clock_mhz)
            if r.throttle_reasons is not None:
                v[p + "throttled"] = 1.0 if is_throttled(r.throttle_reasons) else 0.0
                extra[p + "throttle_reasons"] = tuple(r.throttle_reasons)


def _io_values(v: dict[str, float], last: dict[str, Any], now: dict[str, Any], dt: float) -> None:
    """Swap in use, and swap and disk rates since the last counters."""
    if now["swap"] is not None:
        v["swap_used_gb"] = now["swap"][2] / GIB
        if last["swap"] is not None and dt > 0:
            v["swap_in_mb_s"] = max(0.0, now["swap"][0] - last["swap"][0]) / MIB / dt
            v["swap_out_mb_s"] = max(0.0, now["swap"][1] - last["swap"][1]) / MIB / dt
    if now["disk"] is not None and last["disk"] is not None and dt > 0:
        v["disk_read_mb_s"] = max(0.0, now["disk"][0] - last["disk"][0]) / MIB / dt
        v["disk_write_mb_s"] = max(0.0, now["disk"][1] - last["disk"][1]) / MIB / dt


def _tree_values(
    v: dict[str, float],
    cpu_last: dict[tuple[int, float], float],
    usage: tuple[dict[tuple[int, float], float], float],
    dt: float,
) -> None:
    """The watched process tree's resident memory and CPU use since the last sample."""
    cpu_now, rss = usage
    v["proc_rss_gb"] = rss / GIB
    if dt > 0:
        # A process born since the last sample counts from zero: all its time is new.
        spent = sum(max(0.0, s - cpu_last.get(k, 0.0)) for k, s in cpu_now.items())
        v["proc_cpu_percent"] = 100.0 * spent / dt


def _cgroup_values(v: dict[str, float], cgroup: CgroupMemory) -> None:
    cg = cgroup.read()
    if cg is None:
        return
    v["cgroup_mem_used_gb"] = cg.used / GIB
    v["cgroup_mem_limit_gb"] = cg.limit / GIB
    v["cgroup_mem_percent"] = 100.0 * cg.used / cg.limit if cg.limit else 0.0
    v["cgroup_oom_kills"] = float(cg.oom_kills)


class SamplerThread:
    """Calls ``sampler.sample()`` every ``interval`` seconds on a daemon thread.

    Each :class:`Sample` goes to ``callback``. An exception in either is caught, counted in
    :attr:`errors` and kept in :attr:`last_error` (the first one is also logged), and the
    thread keeps going: telemetry must never take a training run down.

    Args:
        sampler: What to call; anything with a ``sample() -> Sample`` method.
        callback: Receives every sample, on the sampler thread.
        interval: Seconds between samples. Ticks are scheduled on a fixed grid, so a slow
            callback delays one sample rather than shifting all later ones.
        name: The thread's name, shown in debuggers and ``py-spy``.
    """

    def __init__(
        self,
        sampler: SampleSource,
        callback: Callable[[Sample], object],
        *,
        interval: float = 1.0,
        name: str = "rig-sampler",
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive seconds, got {interval!r}")
        self.sampler = sampler
        self.callback = callback
        self.interval = interval
        self.samples = 0
        self.errors = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> SamplerThread:
        """Start sampling; returns ``self`` so it can be chained or used with ``with``."""
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Ask the thread to stop and wait up to ``timeout`` seconds.

        Returns:
            Whether the thread has ended (False only if a sample or callback is stuck).
        """
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread.is_alive()

    def __enter__(self) -> SamplerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, exc: Exception) -> None:
        self.errors += 1
        self.last_error = exc
        if self.errors == 1:
            log.warning("telemetry sampling failed (later failures are only counted): %r", exc)

    def _run(self) -> None:
        next_tick = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_tick - time.monotonic())):
            next_tick += self.interval
            now = time.monotonic()
            if next_tick < now:  # fell behind (suspend, slow callback): skip the missed ticks
                next_tick = now + self.interval
            try:
                sample = self.sampler.sample()
            except Exception as exc:
                self._record(exc)
                continue
            self.samples += 1
            try:
                self.callback(sample)
            except Exception as exc:
                self._record(exc)
