"""Local filesystems, their usage and the block devices under them (psutil and ``/sys``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from rigml.machine.readings._files import read_small as _read

DiskKind = Literal["nvme", "ssd", "hdd", "virtual", "unknown"]

PSEUDO_FS = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fuse.gvfsd-fuse",
        "fuse.portal",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nsfs",
        "overlay",
        "proc",
        "pstore",
        "ramfs",
        "securityfs",
        "squashfs",
        "sysfs",
        "tmpfs",
        "tracefs",
    }
)

_SYS_BLOCK = Path("/sys/class/block")

NOTE_NO_KINDS = "disk kinds unknown: /sys/class/block is Linux only"


@dataclass(frozen=True)
class Disk:
    """One local filesystem and the block device under it."""

    device: str
    mountpoint: str
    fstype: str
    total_bytes: int
    free_bytes: int
    kind: DiskKind
    parent: str | None = None
    model: str | None = None
    removable: bool | None = None
    also_mounted_at: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DisksReading:
    """The local filesystems, one per device, sorted by mount point; ``notes`` says what
    could not be read."""

    disks: tuple[Disk, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Partition:
    """A mounted filesystem that holds files (pseudo filesystems such as ``proc`` left out)."""

    device: str
    mountpoint: str
    fstype: str


@dataclass(frozen=True)
class DiskUsage:
    """Usage of the filesystem holding ``path``; sizes in bytes, ``device`` is ``st_dev``."""

    path: str
    total: int
    used: int
    free: int
    percent: float
    device: int | None = None


def disk_usage(path: str) -> DiskUsage:
    """How full the filesystem holding ``path`` is.

    Raises:
        OSError: ``path`` does not exist or cannot be looked into.
    """
    import psutil

    usage = psutil.disk_usage(path)
    try:
        device: int | None = os.stat(path).st_dev
    except OSError:
        device = None
    return DiskUsage(path, usage.total, usage.used, usage.free, float(usage.percent), device)


def read_partitions() -> list[Partition]:
    """Mounted local filesystems that hold files, in the system's order.

    Raises:
        OSError: The system will not list its mounts.
    """
    import psutil

    try:
        parts = psutil.disk_partitions(all=False)
    except RuntimeError as exc:
        raise OSError(str(exc)) from exc
    return [Partition(p.device, p.mountpoint, p.fstype) for p in parts if p.fstype not in PSEUDO_FS]


def _block_name(device: str) -> str | None:
    """The kernel's name for ``device`` (``/dev/mapper/root`` -> ``dm-0``), if it has one."""
    if not device.startswith("/dev/"):
        return None
    name = os.path.basename(os.path.realpath(device))
    return name if (_SYS_BLOCK / name).exists() else None


def _parent_device(name: str, depth: int = 0) -> str:
    """The whole disk under a partition, device-mapper or md device (``nvme0n1p2`` -> ``nvme0n1``).

    Partitions point at their disk through their sysfs folder; ``dm-*`` and ``md*`` list the
    devices they are built on under ``slaves/`` (the first one is taken).
    """
    node = _SYS_BLOCK / name
    if (node / "partition").exists():
        return Path(os.path.realpath(node)).parent.name
    if depth < 8:
        try:
            slaves = sorted(os.listdir(node / "slaves"))
        except OSError:
            slaves = []
        if slaves:
            return _parent_device(slaves[0], depth + 1)
    return name


def _disk_kind(parent: str) -> DiskKind:
    if parent.startswith("nvme"):
        return "nvme"
    # virtio/Xen disks and loop/zram devices: the rotational flag is the hypervisor's default,
    # not the medium, so the honest answer is "virtual".
    if parent.startswith(("vd", "xvd", "loop", "zram", "ram")):
        return "virtual"
    rotational = _read(_SYS_BLOCK / parent / "queue" / "rotational")
    if rotational == "0":
        return "ssd"
    if rotational == "1":
        return "hdd"
    return "unknown"


def _describe(p: Partition, total: int, free: int, linux: bool) -> Disk:
    """A filesystem with the kind, model and removability of the disk under it."""
    name = _block_name(p.device) if linux else None
    parent = _parent_device(name) if name else None
    removable = _read(_SYS_BLOCK / parent / "removable") if parent else None
    model = _read(_SYS_BLOCK / parent / "device" / "model") if parent else None
    return Disk(
        device=p.device,
        mountpoint=p.mountpoint,
        fstype=p.fstype,
        total_bytes=total,
        free_bytes=free,
        kind=_disk_kind(parent) if parent else "unknown",
        parent=parent,
        model=model or None,
        removable=None if removable is None else removable == "1",
    )


def read_disks() -> DisksReading:
    """Every local filesystem, one entry per device (bind mounts and btrfs subvolumes of
    one filesystem are folded into ``also_mounted_at``); never raises."""
    import psutil

    try:
        partitions = read_partitions()
    except OSError as exc:
        return DisksReading((), (f"filesystems unknown: {exc}",))
    linux = _SYS_BLOCK.is_dir()
    notes = () if linux else (NOTE_NO_KINDS,)
    found: dict[str, Disk] = {}
    for p in partitions:
        if not p.device or p.device.startswith("/dev/loop"):
            continue
        try:
            usage = psutil.disk_usage(p.mountpoint)
        except OSError:
            continue  # a mount this user may not look into
        previous = found.get(p.device)
        if previous is not None:
            mounts = sorted([previous.mountpoint, *previous.also_mounted_at, p.mountpoint], key=len)
            found[p.device] = replace(previous, mountpoint=mounts[0], also_mounted_at=mounts[1:])
            continue
        found[p.device] = _describe(p, int(usage.total), int(usage.free), linux)
    return DisksReading(tuple(sorted(found.values(), key=lambda d: d.mountpoint)), notes)
