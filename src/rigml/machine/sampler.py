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


_UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1


def _read_int(path: str) -> int | None:
    try:
        with open(path, "rb") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    if not text or text == b"max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_keyed(path: str, keys: frozenset[str]) -> dict[str, int]:
    """``key value`` lines of a cgroup file (memory.stat, memory.events), only ``keys``."""
    found: dict[str, int] = {}
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key in keys:
                    with contextlib.suppress(ValueError):
                        found[key] = int(value)
    except OSError:
        pass
    return found


class _CgroupMemory:
    """The memory cgroup of one process: where it is mounted, its usage, limit and OOM kills.

    Works with cgroup v2 (``memory.current``, ``memory.max``, ``memory.events``) and v1
    (``memory.usage_in_bytes``, ``memory.limit_in_bytes``, ``memory.oom_control``). The
    group is looked up again at every read, since a process can be moved; when the process
    has gone, the last group found is read, so an OOM kill still shows up afterwards.
    """

    _STAT_KEYS = frozenset({"inactive_file", "total_inactive_file"})
    _OOM_KEYS = frozenset({"oom_kill"})

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.dir: str | None = None
        self.version = 0
        self._top = ""
        self._mounts = self._find_mounts()

    @staticmethod
    def _find_mounts() -> dict[str, tuple[str, str]]:
        """``{"v1"|"v2": (mount point, mount root)}`` from /proc/self/mountinfo."""
        mounts: dict[str, tuple[str, str]] = {}
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    left, _, right = line.partition(" - ")
                    parts, fs = left.split(), right.split()
                    if len(parts) < 5 or len(fs) < 3:
                        continue
                    if fs[0] == "cgroup2":
                        mounts.setdefault("v2", (parts[4], parts[3]))
                    elif fs[0] == "cgroup" and "memory" in fs[2].split(","):
                        mounts.setdefault("v1", (parts[4], parts[3]))
        except OSError:
            pass
        return mounts

    def _locate(self) -> None:
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as fh:
                if fh.read().rpartition(b")")[2].split()[:1] in ([b"Z"], [b"X"]):
                    return  # a zombie has left its cgroup already: keep the last group
            with open(f"/proc/{self.pid}/cgroup", encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return  # gone: keep the last group
        v1 = v2 = None
        for line in lines:
            hier, _, rest = line.partition(":")
            controllers, _, path = rest.partition(":")
            if hier == "0" and controllers == "":
                v2 = path
            elif "memory" in controllers.split(","):
                v1 = path
        for version, path in ((1, v1), (2, v2)):
            mount = self._mounts.get(f"v{version}")
            if path is None or mount is None:
                continue
            if path == "/" and self.dir is not None:
                return  # an exiting process is moved to the root group: keep the last one
            point, root = mount
            rel = path[len(root) :] if root != "/" and path.startswith(root) else path
            folder = os.path.join(point, rel.lstrip("/"))
            probe = "memory.usage_in_bytes" if version == 1 else "memory.current"
            if os.path.exists(os.path.join(folder, probe)):
                self.dir, self.version, self._top = folder, version, point
                return

    def read(self) -> tuple[float, float, int] | None:
        """Used bytes, limit bytes and OOM kills so far; ``None`` without a limit."""
        self._locate()
        if self.dir is None:
            return None
        v1 = self.version == 1
        limit: int | None = None
        folder = self.dir
        while True:  # the tightest limit among the group and its parents
            value = _read_int(os.path.join(folder, "memory.limit_in_bytes" if v1 else "memory.max"))
            if value is not None and value < _UNLIMITED and (limit is None or value < limit):
                limit = value
            if os.path.normpath(folder) == os.path.normpath(self._top):
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        if limit is None:
            return None
        used = _read_int(
            os.path.join(self.dir, "memory.usage_in_bytes" if v1 else "memory.current")
        )
        if used is None:
            return None
        stat = _read_keyed(os.path.join(self.dir, "memory.stat"), self._STAT_KEYS)
        inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
        events = _read_keyed(
            os.path.join(self.dir, "memory.oom_control" if v1 else "memory.events"),
            self._OOM_KEYS,
        )
        return float(max(0, used - inactive)), float(limit), events.get("oom_kill", 0)


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
        self._cgroup = _CgroupMemory(cgroup_pid) if cgroup_pid is not None else None
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
        psutil = self._psutil
        wall = time.time()
        now = self._counters()
        last, self._last = self._last, now
        dt = now["t"] - last["t"]
        v: dict[str, float] = {}

        pairs = [
            (_busy_total(t1), _busy_total(t0))
            for t0, t1 in zip(last["cpus"], now["cpus"], strict=False)
        ]
        whole = _percent(
            sum(b1 - b0 for (b1, _), (b0, _) in pairs),
            sum(t1 - t0 for (_, t1), (_, t0) in pairs),
        )
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
        if last["cpus"] and hasattr(last["cpus"][0], "iowait"):
            iowait = _percent(
                sum(
                    t1.iowait - t0.iowait for t0, t1 in zip(last["cpus"], now["cpus"], strict=False)
                ),
                sum(t1 - t0 for (_, t1), (_, t0) in pairs),
            )
            if iowait is not None:
                v["cpu_iowait_percent"] = iowait

        mem = psutil.virtual_memory()
        used = mem.total - mem.available  # what programs hold; page cache is free to take
        v["ram_used_gb"] = used / GIB
        v["ram_percent"] = 100.0 * used / mem.total if mem.total else 0.0

        if now["swap"] is not None:
            v["swap_used_gb"] = now["swap"][2] / GIB
            if last["swap"] is not None and dt > 0:
                v["swap_in_mb_s"] = max(0.0, now["swap"][0] - last["swap"][0]) / MIB / dt
                v["swap_out_mb_s"] = max(0.0, now["swap"][1] - last["swap"][1]) / MIB / dt
        if now["disk"] is not None and last["disk"] is not None and dt > 0:
            v["disk_read_mb_s"] = max(0.0, now["disk"][0] - last["disk"][0]) / MIB / dt
            v["disk_write_mb_s"] = max(0.0, now["disk"][1] - last["disk"][1]) / MIB / dt
        with contextlib.suppress(OSError):  # the folder went away; the rest still counts
            v["disk_free_gb"] = psutil.disk_usage(self.disk_path).free / GIB

        if self.pids:
            cpu_now, rss = now["proc"]
            cpu_last = last.get("proc", ({}, 0.0))[0]
            v["proc_rss_gb"] = rss / GIB
            if dt > 0:
                # A process born since the last sample counts from zero: all its time is new.
                spent = sum(max(0.0, s - cpu_last.get(k, 0.0)) for k, s in cpu_now.items())
                v["proc_cpu_percent"] = 100.0 * spent / dt

        if self._cgroup is not None:
            with contextlib.suppress(OSError, ValueError):
                cg = self._cgroup.read()
                if cg is not None:
                    used, limit, kills = cg
                    v["cgroup_mem_used_gb"] = used / GIB
                    v["cgroup_mem_limit_gb"] = limit / GIB
                    v["cgroup_mem_percent"] = 100.0 * used / limit if limit else 0.0
                    v["cgroup_oom_kills"] = float(kills)

        extra: dict[str, Any] = {}
        if self.gpu is not None:
            try:
                self._gpu_values(v, extra)
            except Exception as exc:  # a failing driver must not cost the other metrics
                if self.gpu_error is None:
                    log.warning("reading the GPUs failed (later failures are silent): %r", exc)
                self.gpu_error = f"reading the GPUs failed: {type(exc).__name__}: {exc}"
        return Sample(time=wall, values=v, extra=extra)

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
