"""The processor as the inventory reports it: the reading plus the ML instruction sets."""

from __future__ import annotations

from dataclasses import dataclass

from rigml.machine.readings import read_cpu

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


def _read_cpu(notes: list[str]) -> tuple[Cpu, list[str] | None]:
    """The inventory's CPU section and every flag of the processor (``None``: unreadable)."""
    cpu = read_cpu()
    notes.extend(cpu.notes)
    all_flags = list(cpu.flags) if cpu.flags is not None else None
    present = set(all_flags or ())
    flags = [f for f in INSTRUCTION_SETS if f in present] if all_flags is not None else None
    return (
        Cpu(
            model=cpu.model,
            vendor=cpu.vendor,
            arch=cpu.arch,
            sockets=cpu.sockets,
            physical_cores=cpu.physical_cores,
            logical_cores=cpu.logical_cores,
            freq_current_mhz=cpu.freq_current_mhz,
            freq_min_mhz=cpu.freq_min_mhz,
            freq_max_mhz=cpu.freq_max_mhz,
            instruction_sets=[INSTRUCTION_SETS[f] for f in flags or ()],
            flags=flags,
        ),
        all_flags,
    )
