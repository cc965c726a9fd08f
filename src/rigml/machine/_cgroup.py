"""The memory cgroup of one process: its usage, its tightest limit and its OOM kills.

A container's or a systemd slice's memory limit is where the kernel's OOM killer acts long
before the machine's RAM is full, so :class:`~rigml.machine.sampler.SystemSampler` reads it
through :class:`CgroupMemory`. Works with cgroup v2 (``memory.current``, ``memory.max``,
``memory.events``) and v1 (``memory.usage_in_bytes``, ``memory.limit_in_bytes``,
``memory.oom_control``). Only files are read: no subprocess, no privileges.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

__all__ = ["CgroupMemory", "CgroupReading", "parse_mountinfo", "parse_proc_cgroup"]

_UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1
_STAT_KEYS = frozenset({"inactive_file", "total_inactive_file"})
_OOM_KEYS = frozenset({"oom_kill"})

Mounts = dict[str, tuple[str, str]]
"""``{"v1"|"v2": (mount point, mount root)}`` of the cgroup filesystems that hold memory."""


@dataclass(frozen=True)
class CgroupReading:
    """One read of a limited memory cgroup, in bytes; ``oom_kills`` counts since boot."""

    used: float
    limit: float
    oom_kills: int


def _read_int(path: str) -> int | None:
    try:
        with open(path, "rb") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    if not text or text == b"max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_keyed(path: str, keys: frozenset[str]) -> dict[str, int]:
    """``key value`` lines of a cgroup file (memory.stat, memory.events), only ``keys``."""
    found: dict[str, int] = {}
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(" ")
                if key in keys:
                    with contextlib.suppress(ValueError):
                        found[key] = int(value)
    except OSError:
        pass
    return found


def parse_mountinfo(text: str) -> Mounts:
    """The cgroup v2 mount and the v1 memory controller's mount in ``/proc/*/mountinfo``."""
    mounts: Mounts = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        parts, fs = left.split(), right.split()
        if len(parts) < 5 or len(fs) < 3:
            continue
        if fs[0] == "cgroup2":
            mounts.setdefault("v2", (parts[4], parts[3]))
        elif fs[0] == "cgroup" and "memory" in fs[2].split(","):
            mounts.setdefault("v1", (parts[4], parts[3]))
    return mounts


def parse_proc_cgroup(text: str) -> dict[int, str]:
    """The process's group path per version (``{1: ..., 2: ...}``) in ``/proc/<pid>/cgroup``."""
    paths: dict[int, str] = {}
    for line in text.splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hier == "0" and controllers == "":
            paths[2] = path
        elif "memory" in controllers.split(","):
            paths[1] = path
    return paths


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[:1] in ([b"Z"], [b"X"])
    except OSError:
        return True  # gone: treated as a zombie, its last group is kept


class CgroupMemory:
    """The memory cgroup of one process, looked up again at every read.

    A process can be moved between groups, so the group is found anew each time; when the
    process has gone (or is a zombie, or was moved to the root group on its way out), the
    last group found is read, so an OOM kill still shows up afterwards.
    """

    def __init__(self, pid: int, *, mounts: Mounts | None = None) -> None:
        self.pid = pid
        self.dir: str | None = None
        self.version = 0
        self._top = ""
        if mounts is None:
            mounts = parse_mountinfo(_read_text("/proc/self/mountinfo") or "")
        self._mounts = mounts

    def _locate(self) -> None:
        if _is_zombie(self.pid):
            return  # a zombie has left its cgroup already: keep the last group
        text = _read_text(f"/proc/{self.pid}/cgroup")
        if text is None:
            return  # gone: keep the last group
        paths = parse_proc_cgroup(text)
        for version in (1, 2):
            path = paths.get(version)
            mount = self._mounts.get(f"v{version}")
            if path is None or mount is None:
                continue
            if path == "/" and self.dir is not None:
                return  # an exiting process is moved to the root group: keep the last one
            point, root = mount
            rel = path[len(root) :] if root != "/" and path.startswith(root) else path
            folder = os.path.join(point, rel.lstrip("/"))
            probe = "memory.usage_in_bytes" if version == 1 else "memory.current"
            if os.path.exists(os.path.join(folder, probe)):
                self.dir, self.version, self._top = folder, version, point
                return

    def _limit(self, folder: str) -> int | None:
        """The tightest limit among ``folder`` and its parents up to the mount point."""
        name = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
        limit: int | None = None
        while True:
            value = _read_int(os.path.join(folder, name))
            if value is not None and value < _UNLIMITED and (limit is None or value < limit):
                limit = value
            if os.path.normpath(folder) == os.path.normpath(self._top):
                return limit
            parent = os.path.dirname(folder)
            if parent == folder:
                return limit
            folder = parent

    def read(self) -> CgroupReading | None:
        """Used memory (less inactive page cache), limit and OOM kills; ``None`` without a limit."""
        self._locate()
        if self.dir is None:
            return None
        v1 = self.version == 1
        limit = self._limit(self.dir)
        if limit is None:
            return None
        used = _read_int(
            os.path.join(self.dir, "memory.usage_in_bytes" if v1 else "memory.current")
        )
        if used is None:
            return None
        stat = _read_keyed(os.path.join(self.dir, "memory.stat"), _STAT_KEYS)
        inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
        events = _read_keyed(
            os.path.join(self.dir, "memory.oom_control" if v1 else "memory.events"), _OOM_KEYS
        )
        return CgroupReading(
            float(max(0, used - inactive)), float(limit), events.get("oom_kill", 0)
        )
