"""The facts a doctor run gathers, as plain dataclasses (sizes in bytes), and how to show sizes."""

from __future__ import annotations

from dataclasses import dataclass

from rigml.machine.gpu import GpuInfo, GpuReading

GIB = float(2**30)


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


@dataclass(frozen=True)
class FolderSize:
    """Bytes and files under a folder, possibly a lower bound when the budget ran out."""

    bytes: int
    files: int
    complete: bool
    entries: int = 0
    unreadable: int = 0

    def describe(self) -> str:
        size = _gib(self.bytes) if self.bytes >= GIB else f"{self.bytes / 2**20:.0f} MiB"
        if self.complete:
            return size
        return f"≥ {size} (partial, stopped after {self.files} files)"


@dataclass(frozen=True)
class CacheFacts:
    """One model, dataset or package cache: where it is, what set it, and how big it is."""

    name: str
    path: str
    set_by: str
    exists: bool
    on_system_disk: bool | None = None
    size: FolderSize | None = None


@dataclass(frozen=True)
class MemoryFacts:
    """RAM and swap in bytes, and Linux pressure-stall figures (``None`` where not read)."""

    total: int
    available: int
    swap_total: int
    swap_used: int
    psi_some_avg60: float | None = None
    psi_full_avg60: float | None = None


@dataclass(frozen=True)
class GpuFacts:
    """What NVML (or a recording) says about the GPUs, and whether ``/dev/nvidia0`` exists."""

    available: bool
    reason: str | None
    gpus: tuple[GpuInfo, ...] = ()
    readings: tuple[GpuReading, ...] = ()
    device_node: bool = False


@dataclass(frozen=True)
class TorchFacts:
    """torch as found on disk, without importing it."""

    installed: bool
    version: str | None = None
    cuda: str | None = None
    hip: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class TorchProbe:
    """What ``import torch`` in a subprocess said about CUDA."""

    cuda_available: bool | None
    device_count: int | None
    error: str | None = None
    timed_out: bool = False
    stderr_tail: str = ""


@dataclass(frozen=True)
class PipCheck:
    """``python -m pip check``: its problems, parsed, or why it could not run."""

    returncode: int | None
    problems: tuple[dict[str, str], ...] = ()
    output: str = ""
    error: str | None = None


@dataclass(frozen=True)
class PythonFacts:
    """The interpreter running rig, and the environments the shell says are active."""

    executable: str
    version: str
    prefix: str
    base_prefix: str
    virtual_env: str | None = None
    conda_prefix: str | None = None
    conda_env: str | None = None


@dataclass(frozen=True)
class FdLimits:
    """The open-files limits of this process; ``None`` means unlimited."""

    soft: int | None
    hard: int | None
