"""Local filesystems, as the inventory reports them (read by :func:`rigml.machine.read_disks`)."""

from __future__ import annotations

from rigml.machine.readings import PSEUDO_FS, Disk, DiskKind, read_disks

__all__ = ["PSEUDO_FS", "Disk", "DiskKind", "_read_disks"]


def _read_disks(notes: list[str]) -> list[Disk]:
    reading = read_disks()
    notes.extend(reading.notes)
    return list(reading.disks)
