"""The ML software stack: torch and its build, the CUDA toolkit, containers, key packages."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rigml.machine.inventory._readers import _read
from rigml.machine.readings import ML_PACKAGES, read_packages, read_torch

__all__ = ["CONTAINER_RUNTIMES", "ML_PACKAGES", "ContainerRuntime", "Software"]

CONTAINER_RUNTIMES = ("docker", "podman", "apptainer", "singularity", "nvidia-ctk")
"""Container tools looked for on ``PATH``; ``nvidia-ctk`` is the NVIDIA Container Toolkit."""

_VERSION_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class ContainerRuntime:
    """A container tool found on ``PATH``."""

    name: str
    path: str
    version: str | None


@dataclass(frozen=True)
class Software:
    """The ML software stack: torch and its build, CUDA toolkit, containers, key packages."""

    torch: dict[str, Any] | None
    cuda_toolkit: dict[str, Any] | None
    container_runtimes: list[ContainerRuntime]
    ml_packages: dict[str, str | None]


def _version_in(text: str) -> str | None:
    match = re.search(r"\d+(?:\.\d+)+(?:[-+~][0-9A-Za-z.]+)?", text)
    return match.group(0) if match else None


def _torch() -> dict[str, Any] | None:
    """torch's version and CUDA/ROCm build (``None`` when it is not importable)."""
    torch = read_torch()
    if not torch.importable:
        return None
    return {"version": torch.version, "cuda": torch.cuda, "hip": torch.hip}


def _nvcc_version(text: str) -> str | None:
    """``V13.0.88`` (or ``release 13.0``) from ``nvcc --version``."""
    match = re.search(r"release (\d+\.\d+), V(\d+(?:\.\d+)+)", text)
    if match:
        return match.group(2)
    match = re.search(r"release (\d+\.\d+)", text)
    return match.group(1) if match else None


def _toolkit_file_version(root: Path) -> str | None:
    raw = _read(root / "version.json")
    if raw:
        try:
            version = json.loads(raw).get("cuda", {}).get("version")
        except (json.JSONDecodeError, AttributeError):
            version = None
        if version:
            return str(version)
    text = _read(root / "version.txt")
    return _version_in(text) if text else None


def _cuda_toolkit(nvcc: str | None, nvcc_output: str | None) -> dict[str, Any] | None:
    """The CUDA toolkit: where it lives, its version, and the ``nvcc`` on ``PATH``.

    The version comes from the toolkit's ``version.json`` (or ``version.txt``), else from
    ``nvcc --version``; ``None`` when there is no toolkit at all.
    """
    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    if nvcc:
        homes.append(str(Path(nvcc).resolve().parent.parent))
    homes.append("/usr/local/cuda")
    root: Path | None = None
    for home in filter(None, homes):
        candidate = Path(home)
        # nvvm/ is part of every toolkit and of nothing else; bin/nvcc alone can be a wrapper.
        if (candidate / "version.json").exists() or (candidate / "nvvm").is_dir():
            root = candidate
            break
    if root is None and nvcc is None:
        return None
    version = _toolkit_file_version(root) if root is not None else None
    if version is None and nvcc_output:
        version = _nvcc_version(nvcc_output)
    return {"version": version, "path": str(root) if root else None, "nvcc": nvcc}


def _ml_packages() -> dict[str, str | None]:
    return read_packages()


def _version_output(path: str) -> str | None:
    """What ``path --version`` prints (stdout, else stderr); ``None`` if it fails or hangs."""
    try:
        done = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return None
    return done.stdout or done.stderr or None


def _runtime_version(path: str) -> str | None:
    output = _version_output(path)
    return _version_in(output) if output else None
