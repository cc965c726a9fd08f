"""Rebuild the environment a run recorded: requirements, a uv project, a Dockerfile, a devcontainer.

Every function here takes an environment lock (from :func:`rigml.machine.env.capture_environment`,
as a run stores it) and returns text, so each format is testable without a run or a file::

    text = requirements_txt(lock)               # name==version, VCS commits, torch's index
    files = export_files(lock, "devcontainer")  # {"devcontainer.json": ..., "Dockerfile": ...}

What each package becomes follows where it came from (PEP 610, recorded by
:func:`~rigml.machine.env.installed_packages`): an index package is pinned ``name==version``;
a VCS install ``name @ git+URL@COMMIT``; a remote archive ``name @ URL``; a local folder,
wheel or editable install cannot be pinned, so it is a comment saying so, unless its path
exists here (then ``-e PATH`` or ``name @ file://PATH``, for the requirements format only:
a container does not see the host's paths). pip, setuptools and wheel are installer noise,
left out of every format alike (:data:`NOISE`).

torch's build is read from its local version (``2.4.0+cu124``, ``+cpu``, ``+rocm6.1``): such
builds live on download.pytorch.org, not PyPI, so the formats add that index. The
Dockerfile's base image follows torch's CUDA build (:data:`CUDA_IMAGES`) and states the
NVIDIA driver it needs, from the table ``rig doctor`` uses (``data/cuda_driver_compat.toml``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

__all__ = [
    "CUDA_IMAGES",
    "CUDA_IMAGES_CHECKED",
    "FORMATS",
    "NOISE",
    "PYTORCH_INDEX",
    "REQUIREMENTS_FILE",
    "ExportFormat",
    "Requirement",
    "TorchBuild",
    "cuda_image",
    "devcontainer_json",
    "dockerfile",
    "export_files",
    "pinned_requirements",
    "python_minor",
    "requirements_txt",
    "torch_build",
    "uv_pyproject",
    "write_export",
]

ExportFormat = Literal["requirements", "uv", "dockerfile", "devcontainer"]
FORMATS: tuple[ExportFormat, ...] = ("requirements", "uv", "dockerfile", "devcontainer")

NOISE = frozenset({"pip", "setuptools", "wheel", "distribute", "pkg-resources"})
"""Installer packages every virtualenv brings along; no format pins them."""

PYTORCH_INDEX = "https://download.pytorch.org/whl"
REQUIREMENTS_FILE = "rig-requirements.txt"
"""The requirements file the Dockerfile copies (a name unlikely to clash with a project's own)."""

CUDA_IMAGES_CHECKED = "2026-12"
CUDA_IMAGES: dict[str, str] = {
    "11.8": "11.8.0-cudnn8-runtime-ubuntu22.04",
    "12.1": "12.1.1-cudnn8-runtime-ubuntu22.04",
    "12.4": "12.4.1-cudnn-runtime-ubuntu22.04",
    "12.6": "12.6.3-cudnn-runtime-ubuntu22.04",
    "12.8": "12.8.1-cudnn-runtime-ubuntu22.04",
    "12.9": "12.9.1-cudnn-runtime-ubuntu22.04",
    "13.0": "13.0.0-cudnn-runtime-ubuntu24.04",
}
"""``nvidia/cuda`` tags for the CUDA versions torch wheels are built for: the newest update of
each minor with cuDNN, runtime flavour. Source: doc/supported-tags.md in
gitlab.com/nvidia/container-images/cuda, as of :data:`CUDA_IMAGES_CHECKED`. NVIDIA deletes
tags some months after their support ends; a minor not listed gets ``X.Y.0-runtime``."""

_UV_IMAGE = "ghcr.io/astral-sh/uv:0.5.11"
_TORCH_TAG = re.compile(r"cpu|cu\d{3,}|rocm\d+(?:\.\d+)*")


# --------------------------------------------------------------------------- what to pin


@dataclass(frozen=True)
class Requirement:
    """One recorded package and how a format can ask for it.

    ``line`` is the PEP 508 requirement (or ``-e PATH``); ``None`` when it cannot be
    installed from anywhere reachable, and ``note`` says why.
    """

    name: str
    version: str
    kind: Literal["index", "vcs", "url", "local"]
    line: str | None
    note: str | None = None


@dataclass(frozen=True)
class TorchBuild:
    """torch as the run had it: its version, local build tag, CUDA or ROCm version."""

    version: str
    tag: str | None
    cuda: str | None
    hip: str | None
    from_index: bool

    @property
    def index_url(self) -> str | None:
        """download.pytorch.org's index for this build, when PyPI does not carry it."""
        if self.tag and self.from_index and _TORCH_TAG.fullmatch(self.tag):
            return f"{PYTORCH_INDEX}/{self.tag}"
        return None


def _packages(env: Mapping[str, Any]) -> list[dict[str, str]]:
    return [p for p in env.get("packages") or [] if p.get("name") not in NOISE]


def python_minor(env: Mapping[str, Any]) -> str:
    """``"3.11"`` for a lock recorded under Python 3.11.9 (``"3"`` when unknown)."""
    version = str((env.get("python") or {}).get("version") or "3")
    return ".".join(version.split(".")[:2])


def _cuda_from_tag(tag: str | None) -> str | None:
    m = re.fullmatch(r"cu(\d+)(\d)", tag or "")
    return f"{m.group(1)}.{m.group(2)}" if m else None


def torch_build(env: Mapping[str, Any]) -> TorchBuild | None:
    """torch's build in ``env``, or ``None`` when the run had no torch."""
    recorded = (env.get("frameworks") or {}).get("torch") or {}
    package: Mapping[str, str] = next(
        (p for p in env.get("packages") or [] if p.get("name") == "torch"), {}
    )
    version = str(recorded.get("version") or package.get("version") or "")
    if not version:
        return None
    tag = version.partition("+")[2] or None
    return TorchBuild(
        version=version,
        tag=tag,
        cuda=recorded.get("cuda") or _cuda_from_tag(tag),
        hip=recorded.get("hip"),
        from_index=package.get("source", "index") == "index",
    )


def _vcs_line(name: str, where: str) -> str:
    url, _, commit = where.rpartition("@") if "@" in where else (where, "", "")
    if not re.match(r"[a-z]+\+", url):
        url = f"git+{url}"
    return f"{name} @ {url}@{commit}" if commit else f"{name} @ {url}"


def _local(name: str, version: str, source: str, *, local_paths: bool) -> Requirement:
    how, _, path = source.partition(":")
    editable = how == "editable"
    if local_paths and path and os.path.exists(path):
        line = f"-e {path}" if editable else f"{name} @ file://{quote(path)}"
        return Requirement(name, version, "local", line)
    what = "an editable install" if editable else "a local build"
    note = f"not pinned, {what} from {path} is on no index; install it from its source"
    return Requirement(name, version, "local", None, note)


def pinned_requirements(env: Mapping[str, Any], *, local_paths: bool = True) -> list[Requirement]:
    """Every recorded package (less :data:`NOISE`) and how to ask for it, sorted by name.

    Args:
        env: An environment lock.
        local_paths: Refer to local and editable installs by path when the path exists here;
            off for images, which cannot see the host's files.
    """
    out = []
    for p in _packages(env):
        name, version, source = p["name"], p.get("version", ""), p.get("source", "index")
        if source == "index":
            out.append(Requirement(name, version, "index", f"{name}=={version}"))
        elif source.startswith("vcs:"):
            out.append(Requirement(name, version, "vcs", _vcs_line(name, source[4:])))
        elif source.startswith("url:"):
            out.append(Requirement(name, version, "url", f"{name} @ {source[4:]}"))
        else:
            out.append(_local(name, version, source, local_paths=local_paths))
    return out


# --------------------------------------------------------------------------- formats


def _header(env: Mapping[str, Any], origin: str | None, what: str) -> list[str]:
    python = (env.get("python") or {}).get("version", "?")
    torch = torch_build(env)
    build = ""
    if torch:
        stack = f"CUDA {torch.cuda}" if torch.cuda else f"ROCm {torch.hip}" if torch.hip else "CPU"
        build = f", torch {torch.version} ({stack})"
    lines = [f"# {what}, written by `rig env export`"]
    if origin:
        lines.append(f"# from {origin}")
    lines.append(f"# recorded under Python {python}{build}")
    return lines


def requirements_txt(
    env: Mapping[str, Any], *, origin: str | None = None, local_paths: bool = True
) -> str:
    """A pip requirements file that reinstalls the recorded packages at their versions.

    Install it with ``pip install -r FILE`` in a fresh virtualenv of the same Python minor.
    """
    lines = _header(env, origin, "Pinned requirements")
    torch = torch_build(env)
    if torch and torch.index_url:
        lines += ["", f"# torch {torch.version} is served by PyTorch's own index"]
        lines.append(f"--extra-index-url {torch.index_url}")
    lines.append("")
    for req in pinned_requirements(env, local_paths=local_paths):
        if req.line is None:
            lines.append(f"# {req.name}=={req.version} {req.note}")
        else:
            lines.append(req.line)
    return "\n".join(lines) + "\n"


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _uv_sources(env: Mapping[str, Any], reqs: list[Requirement]) -> list[str]:
    """``[[tool.uv.index]]`` for a torch build off PyPI; sources for it and editable installs."""
    torch = torch_build(env)
    lines: list[str] = []
    routed: list[str] = []
    if torch and torch.index_url:
        index = f"pytorch-{torch.tag}"
        lines += ["", "[[tool.uv.index]]", f"name = {_toml(index)}"]
        lines += [f"url = {_toml(torch.index_url)}", "explicit = true"]
        routed = [
            f"{r.name} = {{ index = {_toml(index)} }}"
            for r in reqs
            if r.version.endswith(f"+{torch.tag}")
        ]
    editable = [r for r in reqs if r.kind == "local" and r.line and r.line.startswith("-e ")]
    if routed or editable:
        lines += ["", "[tool.uv.sources]", *routed]
        lines += [
            f"{r.name} = {{ path = {_toml((r.line or '')[3:])}, editable = true }}"
            for r in editable
        ]
    return lines


def uv_pyproject(
    env: Mapping[str, Any], *, origin: str | None = None, name: str = "rig-run"
) -> str:
    """A minimal ``pyproject.toml`` that ``uv sync`` turns into the recorded environment.

    The project is not a package (``tool.uv.package = false``); its dependencies are the pinned
    packages, ``requires-python`` is the run's Python minor, and a torch build from
    download.pytorch.org gets that index, used for torch and its siblings only.
    """
    reqs = pinned_requirements(env)
    lines = _header(env, origin, "A uv project pinned to a recorded environment")
    lines += ["# run `uv sync` beside this file", "", "[project]", f"name = {_toml(name)}"]
    lines += ['version = "0"', f'requires-python = "=={python_minor(env)}.*"', "dependencies = ["]
    for r in reqs:
        if r.line is None:
            lines.append(f"    # {r.name}=={r.version} {r.note}")
        else:
            lines.append(f"    {_toml(r.name if r.line.startswith('-e ') else r.line)},")
    lines += ["]", "", "[tool.uv]", "package = false", *_uv_sources(env, reqs)]
    return "\n".join(lines) + "\n"


def cuda_image(cuda: str) -> str:
    """The ``nvidia/cuda`` image for a CUDA build (``"12.4"``), from :data:`CUDA_IMAGES`."""
    minor = ".".join(cuda.split(".")[:2])
    return f"nvidia/cuda:{CUDA_IMAGES.get(minor, f'{minor}.0-runtime-ubuntu22.04')}"


def _driver_floor(cuda: str) -> list[str]:
    from rigml.machine.doctor.cuda import compat_table, driver_requirement

    need = driver_requirement(cuda)
    about = compat_table().get("about", {})
    if need is None or need.minimum is None:
        return [f"# CUDA {cuda}: no known NVIDIA driver minimum; see {about.get('url', '')}"]
    lines = [
        f"# Needs an NVIDIA driver >= {need.minimum} on the host (torch built for CUDA {cuda})"
    ]
    if need.toolkit_driver and need.toolkit_driver != need.minimum:
        lines.append(f"#   ({need.toolkit_driver} or newer for all of CUDA {need.cuda}'s features)")
    lines.append(f"#   source: {about.get('url', '')}, table as of {about.get('written', '?')}")
    return lines


def dockerfile(env: Mapping[str, Any], *, origin: str | None = None) -> str:
    """A Dockerfile that installs the recorded packages on a base matching torch's CUDA build.

    CUDA builds start from ``nvidia/cuda`` (and state their driver floor); others from
    ``python:X.Y-slim``. It copies :data:`REQUIREMENTS_FILE` (the requirements format, with
    no host paths) and installs it into ``/opt/venv``.
    """
    torch = torch_build(env)
    cuda = torch.cuda if torch else None
    py = python_minor(env)
    git = any(r.kind == "vcs" for r in pinned_requirements(env, local_paths=False))
    apt = "ca-certificates git" if git else "ca-certificates"
    lines = ["# syntax=docker/dockerfile:1", *_header(env, origin, "An image of a recorded run")]
    lines += [f"# build: docker build -t rig-run .   (beside {REQUIREMENTS_FILE}, which"]
    lines += ["#        `rig env export RUN --format dockerfile -o Dockerfile` writes too)"]
    if cuda:
        lines += [*_driver_floor(cuda), "#   run: docker run --gpus all -it rig-run", ""]
        lines += [f"FROM {cuda_image(cuda)}", "ENV DEBIAN_FRONTEND=noninteractive"]
        lines += [
            f"RUN apt-get update && apt-get install -y --no-install-recommends {apt} \\",
            "    && rm -rf /var/lib/apt/lists/*",
            f"COPY --from={_UV_IMAGE} /uv /usr/local/bin/uv",
            "# unsafe-best-match: pip's rule, so PyTorch's index only wins where it has the pin",
            "ENV UV_PYTHON_INSTALL_DIR=/opt/python UV_INDEX_STRATEGY=unsafe-best-match",
            f"RUN uv venv --python {py} /opt/venv",
            "ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH",
            f"COPY {REQUIREMENTS_FILE} /tmp/{REQUIREMENTS_FILE}",
            f"RUN uv pip install --no-cache -r /tmp/{REQUIREMENTS_FILE}",
        ]
    else:
        devices = ""
        if torch and torch.hip:  # the ROCm libraries come with the wheel; the GPUs are mapped in
            devices = "--device=/dev/kfd --device=/dev/dri "
        lines += [f"#   run: docker run {devices}-it rig-run", "", f"FROM python:{py}-slim"]
        if git:
            lines.append(
                "RUN apt-get update && apt-get install -y --no-install-recommends git"
                " && rm -rf /var/lib/apt/lists/*"
            )
        lines += [
            "RUN python -m venv /opt/venv",
            "ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH",
            f"COPY {REQUIREMENTS_FILE} /tmp/{REQUIREMENTS_FILE}",
            f"RUN pip install --no-cache-dir -r /tmp/{REQUIREMENTS_FILE}",
        ]
    lines += ["WORKDIR /workspace", 'CMD ["bash"]']
    return "\n".join(lines) + "\n"


def devcontainer_json(env: Mapping[str, Any], *, origin: str | None = None) -> str:
    """``devcontainer.json`` that builds :func:`dockerfile` beside it, with the GPUs when CUDA."""
    torch = torch_build(env)
    config: dict[str, Any] = {
        "name": origin or "rig run",
        "build": {"dockerfile": "Dockerfile", "context": "."},
    }
    if torch and torch.cuda:
        config["runArgs"] = ["--gpus", "all"]
        config["hostRequirements"] = {"gpu": True}
    config["customizations"] = {
        "vscode": {
            "extensions": ["ms-python.python"],
            "settings": {"python.defaultInterpreterPath": "/opt/venv/bin/python"},
        }
    }
    return json.dumps(config, indent=2) + "\n"


def export_files(
    env: Mapping[str, Any], fmt: ExportFormat, *, origin: str | None = None
) -> dict[str, str]:
    """The files a format consists of, by file name; the first is the format's own file.

    ``requirements`` and ``uv`` are one file; ``dockerfile`` brings the requirements it
    copies; ``devcontainer`` brings its Dockerfile and requirements.
    """
    if fmt == "requirements":
        return {"requirements.txt": requirements_txt(env, origin=origin)}
    if fmt == "uv":
        return {"pyproject.toml": uv_pyproject(env, origin=origin)}
    image_reqs = requirements_txt(env, origin=origin, local_paths=False)
    files = {"Dockerfile": dockerfile(env, origin=origin), REQUIREMENTS_FILE: image_reqs}
    if fmt == "dockerfile":
        return files
    if fmt == "devcontainer":
        return {"devcontainer.json": devcontainer_json(env, origin=origin), **files}
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def write_export(
    env: Mapping[str, Any],
    fmt: ExportFormat,
    dest: str | os.PathLike[str],
    *,
    origin: str | None = None,
) -> list[Path]:
    """Write a format's files and return their paths.

    ``requirements`` and ``uv`` write ``dest``; ``dockerfile`` writes ``dest`` and
    :data:`REQUIREMENTS_FILE` beside it; ``devcontainer`` takes ``dest`` as a folder (made
    when its parent exists, e.g. ``.devcontainer``) and writes all three files there, or,
    when ``dest`` ends in ``.json``, writes it and the other two beside it.

    Raises:
        OutputNotWritable: a file cannot be written there.
    """
    from rigml._output import write_output

    files = export_files(env, fmt, origin=origin)
    target = Path(dest).expanduser()
    if fmt == "devcontainer" and target.suffix != ".json":
        parents = target.parent.is_dir() and not target.exists()
        return [write_output(target / n, t, parents=parents) for n, t in files.items()]
    first, *rest = files.items()
    written = [write_output(target, first[1])]
    return written + [write_output(target.parent / n, t) for n, t in rest]
