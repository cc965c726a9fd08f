"""What machine ran this: a JSON-ready description recorded with every tracked run.

It is captured for every run, so it reads only cheap sources (``/proc``, ``/etc/os-release``,
psutil, NVML's inventory) and no subprocess: well under 100 ms without a GPU. On systems
without ``/proc`` the fields it cannot read are ``None`` and ``notes`` says which.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rigml.errors import RigError
from rigml.machine.gpu import GpuSource, default_source

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

_CPUINFO = Path("/proc/cpuinfo")
_OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))


def _first_cpu_block() -> dict[str, str]:
    """Key/value pairs of the first processor in /proc/cpuinfo.

    Every core repeats the same model and flags, so reading one block keeps this fast on
    machines with hundreds of cores.
    """
    block: dict[str, str] = {}
    try:
        with _CPUINFO.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    if block:
                        break
                    continue
                key, sep, value = line.partition(":")
                if sep:
                    block.setdefault(key.strip(), value.strip())
    except OSError:
        return {}
    return block


def _os_pretty_name() -> str | None:
    for path in _OS_RELEASE:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "PRETTY_NAME":
                return value.strip().strip("\"'") or None
    return None


def _cpu(notes: list[str]) -> dict[str, Any]:
    import psutil

    block = _first_cpu_block()
    # x86 says "model name"; some ARM kernels only say "Hardware" or "Model".
    model = block.get("model name") or block.get("Model") or block.get("Hardware")
    if not model:
        model = platform.processor() or platform.machine() or None
    flags: list[str] | None = None
    raw_flags = block.get("flags") or block.get("Features")
    if raw_flags is not None:
        present = set(raw_flags.split())
        flags = [f for f in CPU_FLAGS_OF_INTEREST if f in present]
    else:
        notes.append("CPU flags unknown: /proc/cpuinfo is not readable on this system")
    max_freq: float | None = None
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, RuntimeError):
        freq = None
    if freq is not None and freq.max:
        max_freq = round(float(freq.max), 1)
    return {
        "model": model,
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": os.cpu_count(),
        "max_freq_mhz": max_freq,
        "flags": flags,
    }


def machine_fingerprint(gpu: GpuSource | None = None) -> dict[str, Any]:
    """Describe this machine: host, OS, CPU, memory and GPUs.

    Args:
        gpu: Where to read GPUs from; :func:`rigml.machine.gpu.default_source` by default.

    Returns:
        A JSON-serialisable dict. ``gpus`` holds one :class:`~rigml.machine.gpu.GpuInfo`
        dict per GPU; ``gpu_note`` says why there are none when the source is unavailable;
        ``notes`` lists anything else that could not be read.
    """
    import psutil

    notes: list[str] = []
    gpu_note: str | None
    try:
        source = gpu if gpu is not None else default_source()
        gpus = [asdict(g) for g in source.inventory()]
        gpu_note = source.why_unavailable()
    except RigError as exc:  # a bad RIG_GPU_RECORDING must not stop a run from starting
        gpus, gpu_note = [], exc.message
    first = gpus[0] if gpus else {}
    uname = platform.uname()
    try:
        swap_total: int | None = int(psutil.swap_memory().total)
    except (OSError, RuntimeError):
        swap_total = None
        notes.append("swap size unknown")
    return {
        "hostname": socket.gethostname(),
        "os": {
            "system": uname.system,
            "release": uname.release,
            "version": uname.version,
            "distro": _os_pretty_name(),
        },
        "kernel": uname.release or None,
        "arch": uname.machine,
        "cpu": _cpu(notes),
        "memory": {
            "total_bytes": int(psutil.virtual_memory().total),
            "swap_total_bytes": swap_total,
        },
        "gpus": gpus,
        "gpu_note": gpu_note,
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
