"""What this machine is and what it is doing: one layer that reads it, and what builds on it.

The public surface is the reading layer (:mod:`rigml.machine.readings`) and the GPU sources
it reads through (:mod:`rigml.machine.gpu`); every name below is loaded on first use
(PEP 562), so ``import rigml.machine`` costs nothing and imports neither psutil nor NVML::

    from rigml.machine import read_gpus, read_memory

    mem = read_memory()
    gpus = read_gpus()              # NVML, or the recording named by RIG_GPU_RECORDING
    if not gpus.available:
        print(gpus.reason)

Readers, each returning a small frozen dataclass: :func:`read_os`, :func:`read_cpu`,
:func:`read_memory`, :func:`read_pressure`, :func:`read_disks`, :func:`disk_usage`,
:func:`read_partitions`, :func:`read_gpus`, :func:`read_amd_gpus`, :func:`read_power`,
:func:`read_gpu_power`, :func:`rapl_power`, :func:`read_frameworks`, :func:`read_torch`,
:func:`read_packages`; and :func:`nvidia_device_node` (whether ``/dev/nvidia0`` exists).
GPU sources: :class:`GpuSource`, :class:`NvmlSource`, :class:`RecordedSource`,
:func:`default_source`.

Built on them, imported from their modules: the inventory behind ``rig machine``
(:mod:`rigml.machine.inventory`), a run's fingerprint (:mod:`rigml.machine.fingerprint`),
``rig doctor`` (:mod:`rigml.machine.doctor`), environment locks (:mod:`rigml.machine.env`),
the sampler and ``rig watch``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.machine.gpu import (
        RECORDING_ENV,
        GpuInfo,
        GpuReading,
        GpuSource,
        InvalidRecording,
        NvmlSource,
        RecordedSource,
        RecordingNotFound,
        default_source,
    )
    from rigml.machine.readings import (
        ML_PACKAGES,
        POWERCAP,
        AmdGpu,
        AmdGpusReading,
        CpuReading,
        Disk,
        DisksReading,
        DiskUsage,
        FrameworksReading,
        GpuPower,
        GpusReading,
        MemoryReading,
        OsReading,
        Partition,
        PowerReading,
        RaplReading,
        TorchBuild,
        disk_usage,
        nvidia_device_node,
        rapl_power,
        read_amd_gpus,
        read_cpu,
        read_disks,
        read_frameworks,
        read_gpu_power,
        read_gpus,
        read_memory,
        read_os,
        read_packages,
        read_partitions,
        read_power,
        read_pressure,
        read_torch,
    )

__all__ = [
    "ML_PACKAGES",
    "POWERCAP",
    "RECORDING_ENV",
    "AmdGpu",
    "AmdGpusReading",
    "CpuReading",
    "Disk",
    "DiskUsage",
    "DisksReading",
    "FrameworksReading",
    "GpuInfo",
    "GpuPower",
    "GpuReading",
    "GpuSource",
    "GpusReading",
    "InvalidRecording",
    "MemoryReading",
    "NvmlSource",
    "OsReading",
    "Partition",
    "PowerReading",
    "RaplReading",
    "RecordedSource",
    "RecordingNotFound",
    "TorchBuild",
    "default_source",
    "disk_usage",
    "nvidia_device_node",
    "rapl_power",
    "read_amd_gpus",
    "read_cpu",
    "read_disks",
    "read_frameworks",
    "read_gpu_power",
    "read_gpus",
    "read_memory",
    "read_os",
    "read_packages",
    "read_partitions",
    "read_power",
    "read_pressure",
    "read_torch",
]

_GPU = "rigml.machine.gpu"
_READINGS = "rigml.machine.readings"
_GPU_NAMES = frozenset(
    {
        "RECORDING_ENV",
        "GpuInfo",
        "GpuReading",
        "GpuSource",
        "InvalidRecording",
        "NvmlSource",
        "RecordedSource",
        "RecordingNotFound",
        "default_source",
    }
)
_MODULE_OF: dict[str, str] = {name: _GPU if name in _GPU_NAMES else _READINGS for name in __all__}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
