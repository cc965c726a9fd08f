"""Installed ML frameworks: torch and its CUDA/ROCm build, and key package versions.

Nothing here imports a framework: torch's build is read from ``torch/version.py`` as text
and versions from installed distributions' metadata, which keeps a reading well under a
second and free of side effects (no CUDA initialisation).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import Any

ML_PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"),
    "jax": ("jax",),
    "transformers": ("transformers",),
    "accelerate": ("accelerate",),
    "peft": ("peft",),
    "bitsandbytes": ("bitsandbytes",),
    "vllm": ("vllm",),
    "xformers": ("xformers",),
    "flash-attn": ("flash-attn",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "scikit-learn": ("scikit-learn",),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "polars": ("polars",),
    "pyarrow": ("pyarrow",),
    "ray": ("ray",),
    "mlflow": ("mlflow",),
    "wandb": ("wandb",),
}
"""Key ML packages: the name reported, and the distributions that provide it (first wins)."""


@dataclass(frozen=True)
class TorchBuild:
    """torch as found on disk, without importing it.

    ``importable`` says whether ``import torch`` would find a package; ``dist_version`` is
    its distribution's version, ``file_version``, ``cuda`` and ``hip`` come from its
    ``version.py`` (``location`` is the folder it was read from).
    """

    importable: bool
    dist_version: str | None = None
    file_version: str | None = None
    cuda: str | None = None
    hip: str | None = None
    location: str | None = None

    @property
    def installed(self) -> bool:
        """Whether torch is there at all: importable, or at least its distribution is."""
        return self.importable or self.dist_version is not None

    @property
    def version(self) -> str | None:
        """The version torch reports, else its distribution's."""
        return self.file_version or self.dist_version


@dataclass(frozen=True)
class FrameworksReading:
    """torch's build and the versions of :data:`ML_PACKAGES` (``None``: not installed)."""

    torch: TorchBuild
    packages: dict[str, str | None]


def parse_torch_version_file(text: str) -> dict[str, Any]:
    """Read ``__version__``, ``cuda``, ``hip`` and ``git_version`` from torch's version.py.

    Parsing the text (never executing it) is how we learn torch's CUDA build without the
    seconds and the GPU initialisation that ``import torch`` costs.
    """
    wanted = {"__version__": "version", "cuda": "cuda", "hip": "hip", "git_version": "git"}
    out: dict[str, Any] = dict.fromkeys(wanted.values())
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return out
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in wanted:
            try:
                out[wanted[target.id]] = ast.literal_eval(value)
            except ValueError:
                continue
    return out


def _dist_version(*dists: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for dist in dists:
        try:
            return version(dist)
        except (PackageNotFoundError, ValueError):
            continue
    return None


def read_torch() -> TorchBuild:
    """torch's version and CUDA/ROCm build, read from ``torch/version.py`` without importing."""
    from importlib.util import find_spec

    try:
        spec = find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    dist = _dist_version("torch")
    if spec is None or not spec.submodule_search_locations:
        return TorchBuild(False, dist)
    for folder in spec.submodule_search_locations:
        try:
            with open(os.path.join(folder, "version.py"), encoding="utf-8") as f:
                info = parse_torch_version_file(f.read())
        except (OSError, UnicodeDecodeError):
            continue
        return TorchBuild(True, dist, info["version"], info["cuda"], info["hip"], str(folder))
    return TorchBuild(True, dist)


def read_packages() -> dict[str, str | None]:
    """The installed version of each of :data:`ML_PACKAGES`, ``None`` where it is missing."""
    return {name: _dist_version(*dists) for name, dists in ML_PACKAGES.items()}


def read_frameworks() -> FrameworksReading:
    """torch's build and the key ML packages' versions; nothing is imported."""
    return FrameworksReading(torch=read_torch(), packages=read_packages())
