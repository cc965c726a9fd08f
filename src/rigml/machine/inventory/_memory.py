"""RAM and swap, as the inventory reports them (read by :func:`rigml.machine.read_memory`)."""

from __future__ import annotations

from dataclasses import dataclass

from rigml.machine.readings import read_memory


@dataclass(frozen=True)
class Memory:
    """RAM and swap, in bytes."""

    total_bytes: int
    available_bytes: int
    swap_total_bytes: int | None
    swap_used_bytes: int | None


def _read_memory(notes: list[str]) -> Memory:
    mem = read_memory()
    notes.extend(mem.notes)
    return Memory(
        total_bytes=mem.total_bytes,
        available_bytes=mem.available_bytes,
        swap_total_bytes=mem.swap_total_bytes,
        swap_used_bytes=mem.swap_used_bytes,
    )
