"""The processor: model, counts, clocks and the instruction sets ML code cares about."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTRUCTION_SETS: dict[str, str] = {
    "avx": "AVX",
    "avx2": "AVX2",
    "fma": "FMA",
    "f16c": "F16C",
    "avx_vnni": "AVX-VNNI",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "avx512_fp16": "AVX-512 FP16",
    "amx_tile": "AMX",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
    "asimd": "NEON",
    "asimdhp": "NEON FP16",
    "asimddp": "NEON dot product",
    "sve": "SVE",
    "sve2": "SVE2",
    "bf16": "BF16",
    "i8mm": "INT8 matmul",
}
"""CPU flags (as ``/proc/cpuinfo`` names them) that change ML speed on the CPU, and labels.

x86: AVX2/FMA for vectorised NumPy and data loading, AVX-512 and VNNI for int8 inference,
AMX for bf16/int8 matrix units (Sapphire Rapids and later). ARM: NEON, SVE, BF16, I8MM.
"""

_PROC_CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class Cpu:
    """The processor: model, counts, clocks, and the instruction sets ML code cares about."""

    model: str | None
    vendor: str | None
    arch: str
    sockets: int | None
    physical_cores: int | None
    logical_cores: int | None
    freq_current_mhz: float | None
    freq_min_mhz: float | None
    freq_max_mhz: float | None
    instruction_sets: list[str]
    flags: list[str] | None


def _mhz(value: Any) -> float | None:
    return round(float(value), 1) if value else None


def _cpuinfo() -> tuple[dict[str, str], int | None] | None:
    """The first processor's key/value pairs and the number of sockets; None when unreadable."""
    first: dict[str, str] = {}
    sockets: set[str] = set()
    try:
        with _PROC_CPUINFO.open(encoding="utf-8", errors="replace") as f:
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


def _read_cpu(notes: list[str]) -> tuple[Cpu, list[str] | None]:
    import psutil

    info = _cpuinfo()
    block, sockets = info if info is not None else ({}, None)
    model = block.get("model name") or block.get("Model") or block.get("Hardware")
    if not model:
        model = platform.processor() or None
    vendor = block.get("vendor_id") or block.get("CPU implementer")
    raw = block.get("flags") or block.get("Features")
    all_flags = raw.split() if raw is not None else None
    if all_flags is None:
        notes.append("CPU instruction sets unknown: /proc/cpuinfo is not readable on this system")
    present = set(all_flags or ())
    flags = [f for f in INSTRUCTION_SETS if f in present] if all_flags is not None else None
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, RuntimeError):
        freq = None
    if freq is None:
        notes.append("CPU frequencies unknown: the system does not report them")
    cpu = Cpu(
        model=model,
        vendor=vendor or None,
        arch=platform.machine(),
        sockets=sockets,
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
        freq_current_mhz=_mhz(freq.current) if freq else None,
        freq_min_mhz=_mhz(freq.min) if freq else None,
        freq_max_mhz=_mhz(freq.max) if freq else None,
        instruction_sets=[INSTRUCTION_SETS[f] for f in flags or ()],
        flags=flags,
    )
    return cpu, all_flags
