"""RAM, swap and (on Linux) memory pressure, from psutil and /proc/pressure/memory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_PSI_MEMORY = Path("/proc/pressure/memory")

NOTE_NO_SWAP = "swap unknown: the system does not report it"


@dataclass(frozen=True)
class MemoryReading:
    """RAM and swap in bytes (swap ``None`` where the system does not report it), and the
    pressure-stall averages over 60 s when asked for and readable."""

    total_bytes: int
    available_bytes: int
    swap_total_bytes: int | None
    swap_used_bytes: int | None
    psi_some_avg60: float | None = None
    psi_full_avg60: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def used_bytes(self) -> int:
        """RAM not available to new programs."""
        return self.total_bytes - self.available_bytes


def read_pressure(path: Path = _PSI_MEMORY) -> tuple[float | None, float | None]:
    """``some`` and ``full`` avg60 from Linux's pressure-stall file; ``None`` when unreadable."""
    try:
        text = path.read_text(encoding="ascii")
    except OSError:
        return None, None
    values: dict[str, float] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        m = re.search(r"avg60=([0-9.]+)", rest)
        if m:
            values[kind] = float(m.group(1))
    return values.get("some"), values.get("full")


def read_memory(*, pressure: bool = False) -> MemoryReading:
    """RAM and swap now; with ``pressure`` also the Linux pressure-stall figures.

    Raises:
        OSError: The system does not report RAM at all (psutil's own error).
    """
    import psutil

    vm = psutil.virtual_memory()
    notes: list[str] = []
    swap_total: int | None
    swap_used: int | None
    try:
        swap = psutil.swap_memory()
        swap_total, swap_used = int(swap.total), int(swap.used)
    except (OSError, RuntimeError):
        swap_total = swap_used = None
        notes.append(NOTE_NO_SWAP)
    some, full = read_pressure() if pressure else (None, None)
    return MemoryReading(
        total_bytes=int(vm.total),
        available_bytes=int(vm.available),
        swap_total_bytes=swap_total,
        swap_used_bytes=swap_used,
        psi_some_avg60=some,
        psi_full_avg60=full,
        notes=tuple(notes),
    )
