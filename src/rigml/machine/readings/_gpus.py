"""GPUs, read through a :class:`~rigml.machine.gpu.GpuSource` (NVML, or a recording).

A new GPU vendor, or a fix to how a failing driver is reported, lands here: every caller
(inventory, fingerprint, doctor, env capture, the fit planner, energy estimates) reads GPUs
through :func:`read_gpus` and never calls a source itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rigml.errors import RigError
from rigml.machine.gpu import GpuInfo, GpuReading, GpuSource


@dataclass(frozen=True)
class GpusReading:
    """What the GPU source says: the GPUs and (when read live) one reading each.

    ``available`` is False when there is no GPU to read; ``reason`` then says why in a plain
    sentence (no driver, a bad ``RIG_GPU_RECORDING``, a broken driver).
    """

    available: bool
    reason: str | None
    gpus: tuple[GpuInfo, ...] = ()
    readings: tuple[GpuReading, ...] = ()

    def reading(self, index: int) -> GpuReading | None:
        """The reading of the GPU with NVML index ``index``, if there is one."""
        return next((r for r in self.readings if r.index == index), None)

    def memory_total(self, info: GpuInfo) -> int | None:
        """A GPU's memory size: its inventory's, else its reading's."""
        if info.memory_total:
            return info.memory_total
        r = self.reading(info.index)
        return r.memory_total if r is not None else None


def read_gpus(source: GpuSource | None = None, *, live: bool = True) -> GpusReading:
    """The GPUs, and with ``live`` one reading of each (a recording advances one frame).

    Args:
        source: Where GPUs are read from; :func:`rigml.machine.gpu.default_source` (NVML,
            or the recording named by ``RIG_GPU_RECORDING``) by default.
        live: Also take one reading (utilisation, memory in use, power, clocks). Callers
            that only need what the GPUs are (fingerprint, env capture) pass False.

    Never raises: a missing or broken driver and an invalid recording come back as
    ``available=False`` with the reason.
    """
    try:
        if source is None:
            from rigml.machine.gpu import default_source

            source = default_source()
        infos = tuple(source.inventory())
        if not infos:
            return GpusReading(False, source.why_unavailable() or "NVML lists no GPU")
        readings = tuple(source.read()) if live else ()
    except RigError as exc:  # a bad RIG_GPU_RECORDING says what is wrong with it
        return GpusReading(False, exc.message)
    except Exception as exc:  # a broken driver is reported, never fatal to the caller
        return GpusReading(False, f"reading the NVIDIA GPUs failed: {type(exc).__name__}: {exc}")
    return GpusReading(True, None, infos, readings)


def nvidia_device_node() -> bool:
    """Whether ``/dev/nvidia0`` exists: the kernel driver made a GPU device, whatever NVML
    says (a container may have the node without the library, or the other way round)."""
    return os.path.exists("/dev/nvidia0")
