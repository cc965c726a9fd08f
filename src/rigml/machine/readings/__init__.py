"""One place that reads this machine: CPU, memory, disks, GPUs, power, ML frameworks.

Everything in rigml that needs a fact about the machine it runs on reads it here (the
inventory behind ``rig machine``, a run's fingerprint, ``rig doctor``, environment capture,
the fit planner's local targets, energy estimates), so a new GPU vendor or a fix to how a
figure is read lands in one module. Each resource has one function returning one small
frozen dataclass:

===========================  ==========================  ====================================
function                     returns                     reads
===========================  ==========================  ====================================
:func:`read_os`              :class:`OsReading`          ``platform``, ``/etc/os-release``
:func:`read_cpu`             :class:`CpuReading`         ``/proc/cpuinfo`` (cached), psutil
:func:`read_memory`          :class:`MemoryReading`      psutil, ``/proc/pressure/memory``
:func:`read_disks`           :class:`DisksReading`       psutil, ``/sys/class/block``
:func:`disk_usage`           :class:`DiskUsage`          psutil, ``os.stat``
:func:`read_partitions`      list of :class:`Partition`  psutil
:func:`read_gpus`            :class:`GpusReading`        a :class:`~rigml.machine.gpu.GpuSource`
:func:`read_amd_gpus`        :class:`AmdGpusReading`     ``rocm-smi``
:func:`read_power`           :class:`PowerReading`       RAPL (``/sys/class/powercap``), NVML
:func:`read_frameworks`      :class:`FrameworksReading`  ``torch/version.py``, package metadata
===========================  ==========================  ====================================

Readers never raise because a part of the machine is unreadable (a field is ``None`` and
``notes`` or ``reason`` says why), except :func:`read_memory`, :func:`disk_usage` and
:func:`read_partitions`, which raise ``OSError`` when the system refuses outright. GPUs come
from NVML, or from the recording named by ``RIG_GPU_RECORDING`` (see
:mod:`rigml.machine.gpu`), so everything above also works, and is tested, without a GPU.
Heavy modules (psutil, pynvml) are imported inside the readers.
"""

from __future__ import annotations

from rigml.machine.readings._amd import AmdGpu, AmdGpusReading, parse_rocm_smi, read_amd_gpus
from rigml.machine.readings._cpu import CpuReading, read_cpu
from rigml.machine.readings._disks import (
    PSEUDO_FS,
    Disk,
    DiskKind,
    DisksReading,
    DiskUsage,
    Partition,
    disk_usage,
    read_disks,
    read_partitions,
)
from rigml.machine.readings._frameworks import (
    ML_PACKAGES,
    FrameworksReading,
    TorchBuild,
    parse_torch_version_file,
    read_frameworks,
    read_packages,
    read_torch,
)
from rigml.machine.readings._gpus import GpusReading, nvidia_device_node, read_gpus
from rigml.machine.readings._memory import MemoryReading, read_memory, read_pressure
from rigml.machine.readings._power import (
    POWERCAP,
    GpuPower,
    PowerReading,
    RaplReading,
    rapl_power,
    read_gpu_power,
    read_power,
)
from rigml.machine.readings._system import OsReading, os_pretty_name, read_os

__all__ = [
    "ML_PACKAGES",
    "POWERCAP",
    "PSEUDO_FS",
    "AmdGpu",
    "AmdGpusReading",
    "CpuReading",
    "Disk",
    "DiskKind",
    "DiskUsage",
    "DisksReading",
    "FrameworksReading",
    "GpuPower",
    "GpusReading",
    "MemoryReading",
    "OsReading",
    "Partition",
    "PowerReading",
    "RaplReading",
    "TorchBuild",
    "disk_usage",
    "nvidia_device_node",
    "os_pretty_name",
    "parse_rocm_smi",
    "parse_torch_version_file",
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
