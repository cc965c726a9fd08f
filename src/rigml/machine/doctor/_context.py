"""The context a doctor run reads its facts from, each gathered at most once, on first use."""

from __future__ import annotations

import os
import platform
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from rigml.machine.doctor._caches import _read_caches
from rigml.machine.doctor._errors import FactUnavailable
from rigml.machine.doctor._facts import (
    CacheFacts,
    FdLimits,
    GpuFacts,
    MemoryFacts,
    PipCheck,
    PythonFacts,
    TorchFacts,
    TorchProbe,
)
from rigml.machine.doctor._probes import _probe_torch, _run_pip_check
from rigml.machine.doctor._readers import (
    _read_data_disks,
    _read_disks,
    _read_fd_limits,
    _read_gpu,
    _read_memory,
    _read_python,
    _read_torch,
)
from rigml.machine.doctor._thresholds import Thresholds
from rigml.machine.gpu import GpuSource
from rigml.machine.readings import DiskUsage

T = TypeVar("T")


@dataclass
class DoctorContext:
    """The facts checks read, each gathered at most once, on first use.

    Every fact field left ``None`` is read from this machine when a check first asks for it;
    set it to a value to use that instead (tests do). Reading is thread-safe, so checks can
    run in parallel.

    Args:
        environ: Environment variables (cache locations, ``CUDA_VISIBLE_DEVICES``, conda).
        home: The user's home folder (default cache locations).
        system: ``platform.system()``: ``"Linux"``, ``"Darwin"``, ``"Windows"``.
        python_executable: The interpreter whose torch and packages are checked.
        thresholds: The limits the checks apply.
        gpu_source: Where GPU facts come from when ``gpu`` is not given; the process's
            :func:`~rigml.machine.gpu.default_source` by default.
    """

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: str = field(default_factory=lambda: os.path.expanduser("~"))
    system: str = field(default_factory=platform.system)
    python_executable: str = field(default_factory=lambda: sys.executable)
    thresholds: Thresholds = field(default_factory=Thresholds)
    gpu_source: GpuSource | None = None
    disks: Sequence[DiskUsage] | None = None
    data_disks: Sequence[DiskUsage] | None = None
    caches: Sequence[CacheFacts] | None = None
    memory: MemoryFacts | None = None
    gpu: GpuFacts | None = None
    torch: TorchFacts | None = None
    torch_probe: TorchProbe | None = None
    pip_check: PipCheck | None = None
    python: PythonFacts | None = None
    fd_limits: FdLimits | None = None
    _locks: dict[str, threading.Lock] = field(default_factory=dict, init=False, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _fact(self, name: str, reader: Callable[[DoctorContext], T]) -> T:
        value = getattr(self, name)
        if value is not None:
            return value  # type: ignore[no-any-return]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            value = getattr(self, name)
            if value is None:
                value = reader(self)
                setattr(self, name, value)
            return value  # type: ignore[no-any-return]

    def get_disks(self) -> Sequence[DiskUsage]:
        """The system disk ("/") first, then the home folder's disk when it is another one."""
        return self._fact("disks", _read_disks)

    def get_data_disks(self) -> Sequence[DiskUsage]:
        """Other large local filesystems a cache could move to, most free space first."""
        return self._fact("data_disks", _read_data_disks)

    def get_caches(self) -> Sequence[CacheFacts]:
        """Model, dataset and package caches, sized within the budget."""
        return self._fact("caches", _read_caches)

    def get_memory(self) -> MemoryFacts:
        return self._fact("memory", _read_memory)

    def get_gpu(self) -> GpuFacts:
        return self._fact("gpu", _read_gpu)

    def get_torch(self) -> TorchFacts:
        return self._fact("torch", _read_torch)

    def get_torch_probe(self) -> TorchProbe:
        """Ask a subprocess whether torch sees CUDA: seconds, so only the check that needs it."""
        return self._fact("torch_probe", _probe_torch)

    def get_pip_check(self) -> PipCheck:
        return self._fact("pip_check", _run_pip_check)

    def get_python(self) -> PythonFacts:
        return self._fact("python", _read_python)

    def get_fd_limits(self) -> FdLimits:
        return self._fact("fd_limits", _read_fd_limits)


def _need_gpus(ctx: DoctorContext) -> GpuFacts:
    """The GPU facts, for a check that has nothing to judge without an NVIDIA GPU."""
    facts = ctx.get_gpu()
    if not facts.available or not facts.gpus:
        raise FactUnavailable(f"no NVIDIA GPU to check: {facts.reason or 'NVML lists none'}")
    return facts
