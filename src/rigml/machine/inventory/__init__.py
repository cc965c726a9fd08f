"""What this machine is: the inventory behind ``rig machine``.

:func:`inventory` reads the operating system, the chassis, the CPU, memory, every local
filesystem, NVIDIA GPUs (through a :class:`~rigml.machine.gpu.GpuSource`, NVML by default),
AMD GPUs (through ``rocm-smi`` when it is installed) and the ML software around them. It is
built to answer in well under a second: files under ``/proc`` and ``/sys``, psutil, NVML,
``importlib.metadata``, and a few ``--version`` subprocesses run in parallel threads with a
short timeout. torch is never imported; its CUDA build is read from its ``version.py``.

Linux comes first. Elsewhere every field that cannot be read is ``None`` (or an empty
list) and :attr:`Inventory.notes` says what was missing and why; nothing raises because a
part of the machine is unreadable.

The JSON form (:meth:`Inventory.to_dict`, printed by ``rig machine --json``) is versioned by
:data:`SCHEMA_VERSION` and documented field by field, with units and when each is null, in
``schema.md`` in the ``rigml.machine`` package (``src/rigml/machine/schema.md``).

CPU, memory, disks, NVIDIA and AMD GPUs, torch and the ML packages are read through the
reading layer (:mod:`rigml.machine.readings`), which the fingerprint, the doctor and env
capture share; the private modules here shape those readings into the sections of the
schema (``_cpu``, ``_memory``, ``_disks``, ``_nvidia``, ``_software``) and read what only
the inventory needs: ``_system`` (OS, host, Python), ``_chassis`` (DMI, battery, VM,
container) and the CUDA toolkit and container runtimes.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from rigml.machine.gpu import GpuSource
from rigml.machine.inventory._chassis import CHASSIS_TYPES, Chassis, _read_chassis, chassis_kind
from rigml.machine.inventory._cpu import INSTRUCTION_SETS, Cpu, _read_cpu
from rigml.machine.inventory._disks import Disk, _read_disks
from rigml.machine.inventory._memory import Memory, _read_memory
from rigml.machine.inventory._nvidia import NvidiaGpu, _read_nvidia
from rigml.machine.inventory._software import (
    CONTAINER_RUNTIMES,
    ML_PACKAGES,
    ContainerRuntime,
    Software,
    _cuda_toolkit,
    _ml_packages,
    _runtime_version,
    _torch,
    _version_output,
)
from rigml.machine.inventory._system import SystemInfo, _read_system
from rigml.machine.readings import AmdGpu, AmdGpusReading, parse_rocm_smi, read_amd_gpus

__all__ = [
    "CHASSIS_TYPES",
    "CONTAINER_RUNTIMES",
    "INSTRUCTION_SETS",
    "ML_PACKAGES",
    "SCHEMA_VERSION",
    "AmdGpu",
    "Chassis",
    "ContainerRuntime",
    "Cpu",
    "Disk",
    "Gpus",
    "Inventory",
    "Memory",
    "NvidiaGpu",
    "Software",
    "SystemInfo",
    "chassis_kind",
    "inventory",
    "parse_rocm_smi",
]

SCHEMA_VERSION = 1
"""Version of :meth:`Inventory.to_dict`'s shape; raised whenever a field changes meaning."""


@dataclass(frozen=True)
class Gpus:
    """GPUs by vendor; a ``*_note`` says why a list is empty (``None`` when nothing to say)."""

    nvidia: list[NvidiaGpu]
    nvidia_note: str | None
    amd: list[AmdGpu]
    amd_note: str | None


@dataclass(frozen=True)
class Inventory:
    """Everything ``rig machine`` knows about this machine.

    ``notes`` lists what could not be read, one plain sentence each.
    """

    captured_at: float
    system: SystemInfo
    chassis: Chassis
    cpu: Cpu
    memory: Memory
    disks: list[Disk]
    gpus: Gpus
    software: Software
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON form documented in ``schema.md``, ``schema_version`` first."""
        data = asdict(self)
        return {"schema_version": data.pop("schema_version"), **data}


def inventory(*, gpu: GpuSource | None = None) -> Inventory:
    """Read this machine.

    Args:
        gpu: Where NVIDIA GPUs are read from; :func:`rigml.machine.gpu.default_source`
            (NVML, or the recording named by ``RIG_GPU_RECORDING``) by default.

    Returns:
        An :class:`Inventory`; see ``schema.md`` for its JSON form. Never raises for a part
        of the machine it cannot read: the field is ``None`` and ``notes`` says why.
    """
    notes: list[str] = []
    runtimes = {name: path for name in CONTAINER_RUNTIMES if (path := shutil.which(name))}
    nvcc = shutil.which("nvcc")
    jobs: dict[str, Callable[[], Any]] = {
        f"runtime:{name}": functools.partial(_runtime_version, path)
        for name, path in runtimes.items()
    }
    jobs["amd"] = read_amd_gpus  # rocm-smi, when it is installed
    if nvcc:
        jobs["nvcc"] = functools.partial(_version_output, nvcc)

    # The subprocesses run while this thread reads everything else.
    with ThreadPoolExecutor(max_workers=max(1, len(jobs)), thread_name_prefix="rig-inv") as pool:
        futures: dict[str, Future[Any]] = {k: pool.submit(fn) for k, fn in jobs.items()}
        captured_at = time.time()
        system = _read_system()
        cpu, all_flags = _read_cpu(notes)
        chassis = _read_chassis(all_flags, notes)
        memory = _read_memory(notes)
        disks = _read_disks(notes)
        nvidia, nvidia_note = _read_nvidia(gpu)
        torch = _torch()
        packages = _ml_packages()
        results = {k: f.result() for k, f in futures.items()}
        toolkit = _cuda_toolkit(nvcc, results.get("nvcc"))

    amd: AmdGpusReading = results["amd"]
    software = Software(
        torch=torch,
        cuda_toolkit=toolkit,
        container_runtimes=[
            ContainerRuntime(name=name, path=path, version=results[f"runtime:{name}"])
            for name, path in runtimes.items()
        ],
        ml_packages=packages,
    )
    return Inventory(
        captured_at=captured_at,
        system=system,
        chassis=chassis,
        cpu=cpu,
        memory=memory,
        disks=disks,
        gpus=Gpus(nvidia=nvidia, nvidia_note=nvidia_note, amd=list(amd.gpus), amd_note=amd.note),
        software=software,
        notes=notes,
    )
