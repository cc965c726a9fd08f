"""The processor: model, vendor, counts, clocks and flags, from /proc/cpuinfo and psutil."""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PROC_CPUINFO = Path("/proc/cpuinfo")

NOTE_NO_FLAGS = "CPU instruction sets unknown: /proc/cpuinfo is not readable on this system"
NOTE_NO_FREQ = "CPU frequencies unknown: the system does not report them"


@dataclass(frozen=True)
class CpuReading:
    """The processor. ``flags`` is every flag of the first processor (``None`` when
    /proc/cpuinfo is unreadable); ``notes`` says what could not be read."""

    model: str | None
    vendor: str | None
    arch: str
    sockets: int | None
    physical_cores: int | None
    logical_cores: int | None
    freq_current_mhz: float | None
    freq_min_mhz: float | None
    freq_max_mhz: float | None
    flags: tuple[str, ...] | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _StaticCpu:
    model: str | None
    vendor: str | None
    arch: str
    sockets: int | None
    physical_cores: int | None
    logical_cores: int | None
    flags: tuple[str, ...] | None


def _mhz(value: Any) -> float | None:
    return round(float(value), 1) if value else None


def _cpuinfo(path: Path) -> tuple[dict[str, str], int | None] | None:
    """The first processor's key/value pairs and the number of sockets; None when unreadable.

    Every core repeats the same model and flags, so only the first block is kept.
    """
    first: dict[str, str] = {}
    sockets: set[str] = set()
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            in_first = True
            for line in f:
                if not line.strip():
                    if first:
                        in_first = False
                    continue
                key, sep, value = line.partition(":")
                if not sep:
                    continue
                key = key.strip()
                if key == "physical id":
                    sockets.add(value.strip())
                if in_first:
                    first.setdefault(key, value.strip())
    except OSError:
        return None
    return first, (len(sockets) or None)


@functools.cache
def _static_cpu(path: Path = _PROC_CPUINFO) -> _StaticCpu:
    """What does not change while the machine runs, read once per process."""
    import psutil

    info = _cpuinfo(path)
    block, sockets = info if info is not None else ({}, None)
    # x86 says "model name"; some ARM kernels only say "Hardware" or "Model".
    model = block.get("model name") or block.get("Model") or block.get("Hardware")
    raw = block.get("flags") or block.get("Features")
    return _StaticCpu(
        model=model or platform.processor() or None,
        vendor=block.get("vendor_id") or block.get("CPU implementer") or None,
        arch=platform.machine(),
        sockets=sockets,
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
        flags=tuple(raw.split()) if raw is not None else None,
    )


def read_cpu() -> CpuReading:
    """The processor now: model, counts and flags (cached per process) and current clocks."""
    import psutil

    static = _static_cpu()
    notes = [] if static.flags is not None else [NOTE_NO_FLAGS]
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, RuntimeError):
        freq = None
    if freq is None:
        notes.append(NOTE_NO_FREQ)
    return CpuReading(
        model=static.model,
        vendor=static.vendor,
        arch=static.arch,
        sockets=static.sockets,
        physical_cores=static.physical_cores,
        logical_cores=static.logical_cores,
        freq_current_mhz=_mhz(freq.current) if freq else None,
        freq_min_mhz=_mhz(freq.min) if freq else None,
        freq_max_mhz=_mhz(freq.max) if freq else None,
        flags=static.flags,
        notes=tuple(notes),
    )
