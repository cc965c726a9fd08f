"""RAM and swap."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Memory:
    """RAM and swap, in bytes."""

    total_bytes: int
    available_bytes: int
    swap_total_bytes: int | None
    swap_used_bytes: int | None


def _read_memory(notes: list[str]) -> Memory:
    import psutil

    vm = psutil.virtual_memory()
    try:
        swap = psutil.swap_memory()
        swap_total, swap_used = int(swap.total), int(swap.used)
    except (OSError, RuntimeError):
        swap_total = swap_used = None
        notes.append("swap unknown: the system does not report it")
    return Memory(
        total_bytes=int(vm.total),
        available_bytes=int(vm.available),
        swap_total_bytes=swap_total,
        swap_used_bytes=swap_used,
    )
