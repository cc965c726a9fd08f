"""What machine ran this: a JSON-ready description recorded with every tracked run.

It is captured for every run, so it reads only cheap sources through the reading layer
(:mod:`rigml.machine.readings`: ``/proc``, ``/etc/os-release``, psutil, NVML's inventory)
and no subprocess: well under 100 ms without a GPU. On systems
without ``/proc`` the fields it cannot read are ``None`` and ``notes`` says which.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from rigml.machine.gpu import GpuSource
from rigml.machine.readings import read_cpu, read_gpus, read_memory, read_os

__all__ = ["CPU_FLAGS_OF_INTEREST", "fingerprint_id", "machine_fingerprint"]

CPU_FLAGS_OF_INTEREST = (
    "avx",
    "avx2",
    "avx512f",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "fma",
    "f16c",
)
"""Instruction-set flags that change how fast CPU inference and data loading run."""


def _cpu(notes: list[str]) -> dict[str, Any]:
    cpu = read_cpu()
    flags: list[str] | None = None
    if cpu.flags is not None:
        present = set(cpu.flags)
        flags = [f for f in CPU_FLAGS_OF_INTEREST if f in present]
    else:
        notes.append("CPU flags unknown: /proc/cpuinfo is not readable on this system")
    return {
        "model": cpu.model or cpu.arch or None,
        "physical_cores": cpu.physical_cores,
        "logical_cores": cpu.logical_cores,
        "max_freq_mhz": cpu.freq_max_mhz,
        "flags": flags,
    }


def _memory(notes: list[str]) -> dict[str, Any]:
    mem = read_memory()
    if mem.swap_total_bytes is None:
        notes.append("swap size unknown")
    return {"total_bytes": mem.total_bytes, "swap_total_bytes": mem.swap_total_bytes}


def machine_fingerprint(gpu: GpuSource | None = None) -> dict[str, Any]:
    """Describe this machine: host, OS, CPU, memory and GPUs.

    Args:
        gpu: Where to read GPUs from; :func:`rigml.machine.gpu.default_source` by default.

    Returns:
        A JSON-serialisable dict. ``gpus`` holds one :class:`~rigml.machine.gpu.GpuInfo`
        dict per GPU; ``gpu_note`` says why there are none when the source is unavailable;
        ``notes`` lists anything else that could not be read.
    """
    notes: list[str] = []
    # No live reading: a fingerprint says what the GPUs are, and must not advance a replay.
    readout = read_gpus(gpu, live=False)
    gpus = [asdict(g) for g in readout.gpus]
    first = gpus[0] if gpus else {}
    host = read_os()
    return {
        "hostname": host.hostname,
        "os": {
            "system": host.system,
            "release": host.release,
            "version": host.version,
            "distro": host.distro,
        },
        "kernel": host.release or None,
        "arch": host.arch,
        "cpu": _cpu(notes),
        "memory": _memory(notes),
        "gpus": gpus,
        "gpu_note": readout.reason,
        "driver_version": first.get("driver_version"),
        "cuda_driver_version": first.get("cuda_driver_version"),
        "notes": notes,
    }


def fingerprint_id(fp: dict[str, Any]) -> str:
    """A short stable id of the hardware in a fingerprint, shared by runs on the same machine.

    Only hardware counts (CPU model and core counts, memory, GPU names and UUIDs): the
    hostname, OS, driver and clocks can change without the machine changing. Memory is
    rounded to whole GiB because the kernel's reported total moves by a few MiB between
    kernel versions.
    """
    cpu = fp.get("cpu") or {}
    mem = (fp.get("memory") or {}).get("total_bytes")
    key = {
        "cpu_model": cpu.get("model"),
        "physical_cores": cpu.get("physical_cores"),
        "logical_cores": cpu.get("logical_cores"),
        "memory_gib": round(mem / 2**30) if mem else None,
        "gpus": [[g.get("name"), g.get("uuid")] for g in fp.get("gpus") or []],
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return digest[:16]
