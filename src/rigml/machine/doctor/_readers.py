"""Read the facts from this machine: disks, memory, GPUs, torch on disk, Python, file limits.

Each reader takes the :class:`~rigml.machine.doctor.DoctorContext` asking and returns one
fact, read through the reading layer (:mod:`rigml.machine.readings`) that the inventory,
the fingerprint and env capture share; what only the doctor asks (the interpreter, file
limits) is read here.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from typing import TYPE_CHECKING

from rigml.machine.doctor._errors import FactUnavailable
from rigml.machine.doctor._facts import (
    GIB,
    FdLimits,
    GpuFacts,
    MemoryFacts,
    PythonFacts,
    TorchFacts,
)
from rigml.machine.readings import (
    DiskUsage,
    disk_usage,
    nvidia_device_node,
    read_gpus,
    read_memory,
    read_partitions,
    read_torch,
)

if TYPE_CHECKING:
    from rigml.machine.doctor._context import DoctorContext


def _disk(path: str) -> DiskUsage:
    return disk_usage(path)


def _root() -> str:
    return os.path.abspath(os.sep)


def _read_disks(ctx: DoctorContext) -> list[DiskUsage]:
    try:
        disks = [_disk(_root())]
    except OSError as exc:
        raise FactUnavailable(f"cannot read the system disk's usage: {exc}") from None
    if os.path.isdir(ctx.home):
        with contextlib.suppress(OSError):
            home = _disk(ctx.home)
            if home.device is not None and home.device != disks[0].device:
                disks.append(home)
    return disks


def _read_data_disks(ctx: DoctorContext) -> list[DiskUsage]:
    root = ctx.get_disks()[0]
    seen = {root.device}
    found: list[DiskUsage] = []
    try:
        partitions = read_partitions()
    except OSError:
        return []
    for part in partitions:
        if part.mountpoint.startswith(("/boot", "/snap", "/proc")):
            continue
        try:
            disk = _disk(part.mountpoint)
        except OSError:
            continue
        if disk.device in seen or disk.total < 20 * GIB:
            continue
        seen.add(disk.device)
        found.append(disk)
    return sorted(found, key=lambda d: -d.free)


def _read_memory(ctx: DoctorContext) -> MemoryFacts:
    try:
        mem = read_memory(pressure=ctx.system == "Linux")
    except (OSError, RuntimeError) as exc:
        raise FactUnavailable(f"cannot read memory figures on {ctx.system}: {exc}") from None
    if mem.swap_total_bytes is None or mem.swap_used_bytes is None:
        raise FactUnavailable(f"cannot read swap figures on {ctx.system}")
    return MemoryFacts(
        mem.total_bytes,
        mem.available_bytes,
        mem.swap_total_bytes,
        mem.swap_used_bytes,
        mem.psi_some_avg60,
        mem.psi_full_avg60,
    )


def _read_gpu(ctx: DoctorContext) -> GpuFacts:
    gpus = read_gpus(ctx.gpu_source)  # the process's default source when None
    return GpuFacts(gpus.available, gpus.reason, gpus.gpus, gpus.readings, nvidia_device_node())


def _read_torch(ctx: DoctorContext) -> TorchFacts:
    torch = read_torch()
    return TorchFacts(torch.installed, torch.version, torch.cuda, torch.hip, torch.location)


def _read_python(ctx: DoctorContext) -> PythonFacts:
    return PythonFacts(
        executable=ctx.python_executable,
        version=platform.python_version(),
        prefix=sys.prefix,
        base_prefix=sys.base_prefix,
        virtual_env=ctx.environ.get("VIRTUAL_ENV") or None,
        conda_prefix=ctx.environ.get("CONDA_PREFIX") or None,
        conda_env=ctx.environ.get("CONDA_DEFAULT_ENV") or None,
    )


def _read_fd_limits(ctx: DoctorContext) -> FdLimits:
    try:
        import resource
    except ImportError:
        raise FactUnavailable(
            f"{ctx.system} has no POSIX open-files limit (RLIMIT_NOFILE) to read"
        ) from None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    return FdLimits(None if soft == inf else int(soft), None if hard == inf else int(hard))
