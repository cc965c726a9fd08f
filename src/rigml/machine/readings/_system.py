"""The operating system and the host: name, release, distribution, architecture."""

from __future__ import annotations

import platform
import socket
from dataclasses import dataclass
from pathlib import Path

_OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))


@dataclass(frozen=True)
class OsReading:
    """The operating system as ``platform.uname()`` and ``/etc/os-release`` describe it."""

    hostname: str
    system: str
    release: str
    version: str
    arch: str
    distro: str | None


def os_pretty_name() -> str | None:
    """``PRETTY_NAME`` from os-release ("Ubuntu 24.04.1 LTS"); ``None`` where there is none."""
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


def read_os() -> OsReading:
    """This host and its operating system; cheap (no subprocess)."""
    uname = platform.uname()
    return OsReading(
        hostname=socket.gethostname(),
        system=uname.system,
        release=uname.release,
        version=uname.version,
        arch=uname.machine,
        distro=os_pretty_name(),
    )
