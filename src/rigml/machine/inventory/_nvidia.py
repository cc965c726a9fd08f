"""NVIDIA GPUs as the inventory reports them (read by :func:`rigml.machine.read_gpus`)."""

from __future__ import annotations

from dataclasses import dataclass

from rigml.machine.gpu import GpuInfo, GpuSource
from rigml.machine.readings import GpusReading, read_gpus


@dataclass(frozen=True)
class NvidiaGpu:
    """One NVIDIA GPU as NVML reports it; ``None`` where the GPU or driver does not say."""

    index: int
    name: str
    uuid: str | None
    memory_total_bytes: int | None
    memory_used_bytes: int | None
    memory_free_bytes: int | None
    driver_version: str | None
    cuda_driver_version: str | None
    compute_capability: str | None
    pcie_gen_current: int | None
    pcie_gen_max: int | None
    pcie_width_current: int | None
    pcie_width_max: int | None
    power_limit_w: float | None
    power_default_limit_w: float | None
    power_w: float | None
    temperature_c: float | None
    utilization_percent: float | None


def _read_nvidia(gpu: GpuSource | None) -> tuple[list[NvidiaGpu], str | None]:
    reading = read_gpus(gpu)
    if not reading.available:
        return [], reading.reason
    return [_nvidia_gpu(info, reading) for info in reading.gpus], None


def _nvidia_gpu(info: GpuInfo, reading: GpusReading) -> NvidiaGpu:
    r = reading.reading(info.index)
    total = reading.memory_total(info)
    used = r.memory_used if r else None
    return NvidiaGpu(
        index=info.index,
        name=info.name,
        uuid=info.uuid,
        memory_total_bytes=total,
        memory_used_bytes=used,
        memory_free_bytes=max(0, total - used) if total is not None and used is not None else None,
        driver_version=info.driver_version,
        cuda_driver_version=info.cuda_driver_version,
        compute_capability=info.compute_capability,
        pcie_gen_current=info.pcie_gen_current,
        pcie_gen_max=info.pcie_gen_max,
        pcie_width_current=info.pcie_width_current,
        pcie_width_max=info.pcie_width_max,
        power_limit_w=info.power_limit_w,
        power_default_limit_w=info.power_default_limit_w,
        power_w=r.power_w if r else None,
        temperature_c=r.temperature_c if r else None,
        utilization_percent=r.utilization_percent if r else None,
    )
