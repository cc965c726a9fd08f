"""Read the facts from this machine: disks, memory, GPUs, torch on disk, Python, file limits.

Each reader takes the :class:`~rigml.machine.doctor.DoctorContext` asking and returns one
fact; psutil is imported inside the readers that need it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
from typing import TYPE_CHECKING

from rigml.errors import RigError
from rigml.machine.doctor._errors import FactUnavailable
from rigml.machine.doctor._facts import (
    GIB,
    DiskFacts,
    FdLimits,
    GpuFacts,
    MemoryFacts,
    PythonFacts,
    TorchFacts,
)
from rigml.machine.inventory._disks import PSEUDO_FS

if TYPE_CHECKING:
    from rigml.machine.doctor._context import DoctorContext


def _disk(path: str) -> DiskFacts:
    import psutil

    usage = psutil.disk_usage(path)
    try:
        device: int | None = os.stat(path).st_dev
    except OSError:
        device = None
    return DiskFacts(path, usage.total, usage.used, usage.free, float(usage.percent), device)


def _root() -> str:
    return os.path.abspath(os.sep)


def _read_disks(ctx: DoctorContext) -> list[DiskFacts]:
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


def _read_data_disks(ctx: DoctorContext) -> list[DiskFacts]:
    import psutil

    root = ctx.get_disks()[0]
    seen = {root.device}
    found: list[DiskFacts] = []
    try:
        partitions = psutil.disk_partitions(all=False)
    except OSError:
        return []
    for part in partitions:
        if part.fstype in PSEUDO_FS or part.mountpoint.startswith(("/boot", "/snap", "/proc")):
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


def _read_psi() -> tuple[float | None, float | None]:
    try:
        with open("/proc/pressure/memory", encoding="ascii") as f:
            text = f.read()
    except OSError:
        return None, None
    values: dict[str, float] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        m = re.search(r"avg60=([0-9.]+)", rest)
        if m:
            values[kind] = float(m.group(1))
    return values.get("some"), values.get("full")


def _read_memory(ctx: DoctorContext) -> MemoryFacts:
    import psutil

    try:
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
    except (OSError, RuntimeError) as exc:
        raise FactUnavailable(f"cannot read memory figures on {ctx.system}: {exc}") from None
    some, full = _read_psi() if ctx.system == "Linux" else (None, None)
    return MemoryFacts(int(vm.total), int(vm.available), int(sw.total), int(sw.used), some, full)


def _read_gpu(ctx: DoctorContext) -> GpuFacts:
    node = os.path.exists("/dev/nvidia0")
    try:
        if ctx.gpu_source is None:
            from rigml.machine.gpu import default_source

            ctx.gpu_source = default_source()
        source = ctx.gpu_source
        gpus = tuple(source.inventory())
        if not gpus:
            reason = source.why_unavailable() or "NVML lists no GPU"
            return GpuFacts(False, reason, device_node=node)
        return GpuFacts(True, None, gpus, tuple(source.read()), node)
    except RigError as exc:  # a bad RIG_GPU_RECORDING
        return GpuFacts(False, exc.message, device_node=node)


def _read_torch(ctx: DoctorContext) -> TorchFacts:
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    from rigml.machine.env import parse_torch_version_file

    try:
        spec = find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    try:
        dist_version: str | None = version("torch")
    except PackageNotFoundError:
        dist_version = None
    if spec is None or not spec.submodule_search_locations:
        return TorchFacts(dist_version is not None, dist_version)
    for folder in spec.submodule_search_locations:
        try:
            with open(os.path.join(folder, "version.py"), encoding="utf-8") as f:
                info = parse_torch_version_file(f.read())
        except OSError:
            continue
        return TorchFacts(
            True, info["version"] or dist_version, info["cuda"], info["hip"], str(folder)
        )
    return TorchFacts(True, dist_version)


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
