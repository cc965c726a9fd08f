"""The operating system and the host: name, distribution, kernel, Python."""

from __future__ import annotations

import os
import platform
import socket
import sys
from dataclasses import dataclass

from rigml.machine.readings import os_pretty_name


@dataclass(frozen=True)
class SystemInfo:
    """The operating system and the host."""

    hostname: str
    os: str
    distro: str | None
    kernel: str | None
    arch: str
    python: str
    python_implementation: str
    python_executable: str
    in_virtualenv: bool


def _read_system() -> SystemInfo:
    uname = platform.uname()
    return SystemInfo(
        hostname=socket.gethostname(),
        os=uname.system or sys.platform,
        distro=os_pretty_name() if uname.system == "Linux" else _non_linux_distro(),
        kernel=uname.release or None,
        arch=uname.machine,
        python=platform.python_version(),
        python_implementation=platform.python_implementation(),
        python_executable=sys.executable,
        in_virtualenv=sys.prefix != sys.base_prefix or "CONDA_PREFIX" in os.environ,
    )


def _non_linux_distro() -> str | None:
    if sys.platform == "darwin":
        release = platform.mac_ver()[0]
        return f"macOS {release}" if release else "macOS"
    if sys.platform == "win32":
        return f"Windows {platform.release()} ({platform.version()})"
    return None
