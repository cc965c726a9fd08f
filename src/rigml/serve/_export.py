"""Export a service as a folder that runs it elsewhere: ``rig serve NAME@production --export``.

Every arm's ref is resolved now and frozen: the folder holds each version's package under
``models/NAME/VERSION/`` and a small lab of its own (``.rig/``) where those packages are
registered again and the aliases the service follows point at them. The exported service
is the same ``rig serve`` code path over that lab (:mod:`rigml.serve._standalone`), so it
needs nothing from this machine: ``requirements.txt`` pins rigml (a wheel built from its
source into ``wheels/``, or its release on the index), the flavor libraries at the versions
the packages were saved with, and the rest of the closure at the versions installed here.

The folder is built beside ``dest`` and renamed into place: a failed export leaves nothing.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import ExportTargetExists, ServiceExportFailed
from rigml.serve._standalone import LAB_DIR, SERVICE_FILE, SERVICE_FORMAT

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.registry import ModelVersion
    from rigml.serve._config import ArmSpec, ServeConfig

DEFAULT_PORT = 8000


@dataclass(frozen=True)
class FrozenArm:
    """One arm as exported: the ref it had, the version that ref named at export time, and
    the ref that names the same package in the folder's own lab."""

    name: str
    kind: str
    share: float
    ref: str
    version: int
    fingerprint: str
    flavor: str
    library: str | None
    library_version: str | None
    path: str  # the package's folder, relative to the export
    local_ref: str
    local_version: int


@dataclass(frozen=True)
class ServiceExport:
    """What :func:`export_service` wrote."""

    dest: Path
    arms: tuple[FrozenArm, ...]
    files: tuple[str, ...]  # top-level entries of the folder
    rigml: str  # how requirements.txt gets rigml: a wheel in wheels/ or a release pin
    requirements: int  # pinned lines in requirements.txt
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dest": str(self.dest),
            "arms": [asdict(a) for a in self.arms],
            "files": list(self.files),
            "rigml": self.rigml,
            "requirements": self.requirements,
            "notes": list(self.notes),
        }


def export_service(
    lab: Lab, config: ServeConfig, dest: str | os.PathLike[str], *, force: bool = False
) -> ServiceExport:
    """Write a folder that serves ``config``'s models, frozen at the versions they name now.

    Args:
        lab: The lab the models come from.
        config: The service: its refs, canary and shadow arms, limits and trust.
        dest: The folder to write (new or empty; with ``force`` an existing one is replaced).

    Raises:
        ExportTargetExists: ``dest`` holds files and ``force`` is False.
        ModelNotFound, InvalidModelRef: a ref names no version.
        ServiceExportFailed: rigml's wheel could not be built.
    """
    target = Path(dest).expanduser().absolute()
    _check_target(target, force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    try:
        result = _build(lab, config, staging)
        _put_in_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return replace(result, dest=target)


def _check_target(target: Path, *, force: bool) -> None:
    if not target.exists() or force:
        return
    if target.is_dir() and not any(target.iterdir()):
        return
    raise ExportTargetExists(str(target))


def _build(lab: Lab, config: ServeConfig, root: Path) -> ServiceExport:
    """Every file of the export, written into ``root``."""
    arms = freeze(lab, config)
    _write_packages(lab, arms, root)
    _build_lab(lab, arms, root)
    rigml = _rigml_requirement(arms, root / "wheels")
    reqs, count = requirements_text(arms, rigml, root / "wheels")
    local = local_config(config, arms)
    files = {
        SERVICE_FILE: json.dumps(service_json(lab, config, local, arms), indent=2) + "\n",
        "requirements.txt": reqs,
        "Dockerfile": dockerfile_text(config, arms),
        "start.sh": START_SH,
        "README.md": readme_text(config, arms, rigml.how),
        ".dockerignore": ".venv\n**/__pycache__\n.rig/cache\n",
    }
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "start.sh").chmod(0o755)
    entries = tuple(sorted(p.name for p in root.iterdir()))
    return ServiceExport(root, tuple(arms), entries, rigml.how, count, tuple(rigml.notes))


def _put_in_place(staging: Path, target: Path) -> None:
    """Rename the built folder to ``target``; an existing one is moved aside first and
    restored if the rename fails."""
    if not target.exists():
        os.replace(staging, target)
        return
    aside = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, aside)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(aside, target)
        raise
    if aside.is_dir():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink()


# --------------------------------------------------------------------------- freezing


def freeze(lab: Lab, config: ServeConfig) -> list[FrozenArm]:
    """Each arm of ``config`` and the version its ref names now; the folder's lab keeps the
    version numbers (an arm that names a version already seen shares it).

    Raises:
        ModelNotFound, InvalidModelRef: a ref names no version.
    """
    from rigml.registry import get_version

    out = []
    for specs in config.arms().values():
        for spec in specs:
            version = get_version(lab, spec.ref)
            out.append(_frozen(spec, version, version.version))
    return out


def _frozen(spec: ArmSpec, version: ModelVersion, local_version: int) -> FrozenArm:
    alias = spec.alias
    return FrozenArm(
        name=spec.name,
        kind=spec.kind,
        share=spec.share,
        ref=spec.ref,
        version=version.version,
        fingerprint=version.fingerprint,
        flavor=version.flavor,
        library=version.info.get("library"),
        library_version=version.info.get("library_version"),
        path=f"models/{spec.name}/{version.version}",
        local_ref=f"{spec.name}@{alias}" if alias else f"{spec.name}@{local_version}",
        local_version=local_version,
    )


def _write_packages(lab: Lab, arms: list[FrozenArm], root: Path) -> None:
    from rigml.registry import download_model

    for arm in _unique(arms):
        download_model(lab, f"{arm.name}@{arm.version}", root / arm.path)


def _unique(arms: list[FrozenArm]) -> list[FrozenArm]:
    """One arm per exported version, in local-version order."""
    seen: dict[tuple[str, int], FrozenArm] = {}
    for arm in arms:
        seen.setdefault((arm.name, arm.version), arm)
    return list(seen.values())


def _build_lab(origin: Lab, arms: list[FrozenArm], root: Path) -> None:
    """The folder's own lab: each package registered again (same files, same fingerprint),
    and every alias an arm follows pointing at its frozen version."""
    from rigml.lab import init_lab
    from rigml.registry import promote, register_package

    lab, _ = init_lab(root / LAB_DIR)
    try:
        for arm in sorted(_unique(arms), key=lambda a: (a.name, a.version)):
            registered = register_package(
                lab,
                arm.name,
                root / arm.path,
                source=f"{arm.name}@{arm.version}",
                description=f"{arm.name}@{arm.version} of {origin.path}, frozen by an export",
                version=arm.version,
            )
            if registered.version != arm.local_version or registered.fingerprint != arm.fingerprint:
                raise RuntimeError(f"{arm.name}@{arm.version} was registered as {registered}")
        for arm in arms:
            alias = arm.local_ref.partition("@")[2]
            if not alias.isdigit():
                reason = f"{arm.ref} was version {arm.version} when the service was exported"
                promote(lab, arm.name, arm.local_version, to=alias, reason=reason)
    finally:
        lab.close()


def local_config(config: ServeConfig, arms: list[FrozenArm]) -> ServeConfig:
    """``config`` over the folder's lab: fixed refs renumbered, no host file paths."""
    by_kind: dict[str, list[FrozenArm]] = {}
    for arm in arms:
        by_kind.setdefault(arm.kind, []).append(arm)
    return replace(
        config,
        refs=tuple(a.local_ref for a in by_kind.get("primary", [])),
        canary=tuple(f"{a.local_ref}:{a.share:g}" for a in by_kind.get("canary", [])),
        shadow=tuple(a.local_ref for a in by_kind.get("shadow", [])),
        host="0.0.0.0",  # inside a container; start.sh takes HOST
        port=DEFAULT_PORT,
        token_file=None,  # tokens stay out of the folder; TOKEN_FILE names them at start
    )


def service_json(
    lab: Lab, config: ServeConfig, local: ServeConfig, arms: list[FrozenArm]
) -> dict[str, Any]:
    """What ``service.json`` says: the frozen arms and the config the folder serves."""
    from rigml._version import __version__

    settings = asdict(local)
    for key in ("refs", "canary", "shadow"):
        settings[key] = list(settings[key])
    return {
        "format": SERVICE_FORMAT,
        "exported_at": time.time(),
        "exported_from": str(lab.path),
        "rigml": __version__,
        "python": platform.python_version(),
        "refs": list(config.refs),
        "canary": list(config.canary),
        "shadow": list(config.shadow),
        "tokens": config.token_file is not None,
        "arms": [asdict(a) for a in arms],
        "config": settings,
    }


# --------------------------------------------------------------------------- requirements


def project_root() -> Path | None:
    """The source tree rigml is imported from (editable or ``PYTHONPATH=src``), if any."""
    import rigml

    root = Path(rigml.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "rigml"' in text else None


def _rigml_extras(arms: list[FrozenArm]) -> list[str]:
    from rigml.registry._flavors import FLAVORS

    extras = {"serve"}
    for arm in arms:
        flavor = FLAVORS.get(arm.flavor)
        if flavor is not None and flavor.extra:
            extras.add(flavor.extra)
    return sorted(extras)


@dataclass(frozen=True)
class _Rigml:
    """How the export gets rigml: its requirement line, where it comes from, what it needs."""

    line: str
    how: str
    requires: list[str]
    notes: list[str]


def _rigml_requirement(arms: list[FrozenArm], wheels: Path) -> _Rigml:
    """rigml's requirement: a wheel built from its source tree when there is one, else the
    installed release."""
    from importlib.metadata import PackageNotFoundError, requires

    from rigml._version import __version__

    extras = ",".join(_rigml_extras(arms))
    root = project_root()
    if root is None:
        try:
            needs = requires("rigml") or []
        except PackageNotFoundError:
            needs = []
        note = (
            f"rigml is not installed from source here; requirements.txt pins rigml=={__version__}"
        )
        line = f"rigml[{extras}]=={__version__}"
        return _Rigml(line, f"rigml=={__version__} from the index", needs, [note])
    wheel = build_wheel(root, wheels)
    version = wheel.name.split("-")[1]
    how = f"wheels/{wheel.name} (built from {root})"
    return _Rigml(f"rigml[{extras}]=={version}", how, _wheel_requires(wheel), [])


def _wheel_requires(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(name).decode("utf-8")
    head = text.split("\n\n", 1)[0]
    return [
        line[len("Requires-Dist:") :].strip()
        for line in head.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def build_wheel(root: Path, wheels: Path) -> Path:
    """rigml's wheel, built from ``root`` into ``wheels`` with ``pip wheel --no-deps``.

    Raises:
        ServiceExportFailed: pip failed.
    """
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    built = sorted(wheels.glob("rigml-*.whl"))
    if proc.returncode != 0 or not built:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ServiceExportFailed(
            "building rigml's wheel",
            f"`pip wheel {root}` failed: {' / '.join(tail) or 'no wheel was written'}",
            hint="check that pip and the build backend (hatchling) can run here",
        )
    return built[-1]


def requirements_text(arms: list[FrozenArm], rigml: _Rigml, wheels: Path) -> tuple[str, int]:
    """The pinned requirements file and its number of pins.

    The closure of rigml (with its extras) and the flavor libraries is read from the
    distributions installed here; each is pinned as :mod:`rigml.machine.env_export` pins a
    run's environment (no host paths), the flavor libraries at their manifests' versions.
    A package installed here from a local wheel that still exists is copied into ``wheels``
    and pinned (``--find-links wheels`` finds it).
    """
    from rigml.machine.env_export import pinned_requirements, torch_build

    saved = {_norm(a.library): a.library_version for a in arms if a.library and a.library_version}
    extras = set(_rigml_extras(arms))
    roots = [(req, extras) for req in rigml.requires] + [(name, set[str]()) for name in saved]
    packages = [p for p in _closure(roots) if p["name"] != "rigml"]
    for p in packages:
        if p["name"] in saved:
            p["version"], p["source"] = saved[p["name"]] or p["version"], "index"
        elif _bring_wheel(p["source"], wheels):
            p["source"] = "index"
    env = {"python": {"version": platform.python_version()}, "packages": packages}
    lines = [
        "# Pinned requirements of an exported rigml service, written by `rig serve --export`",
        f"# for Python {platform.python_version()}; install beside this file with",
        "#   pip install -r requirements.txt --find-links wheels",
    ]
    torch = torch_build(env)
    if torch and torch.index_url:
        lines += [f"--extra-index-url {torch.index_url}"]
    lines += ["", rigml.line]
    count = 1
    for req in pinned_requirements(env, local_paths=False):
        if req.line is None:
            lines.append(f"# {req.name}=={req.version} {req.note}")
        else:
            lines.append(req.line)
            count += 1
    return "\n".join(lines) + "\n", count


def _bring_wheel(source: str, wheels: Path) -> bool:
    """Copy the local wheel a package was installed from into ``wheels``, when it exists."""
    how, _, path = source.partition(":")
    wheel = Path(path)
    if how != "file" or wheel.suffix != ".whl" or not wheel.is_file():
        return False
    wheels.mkdir(parents=True, exist_ok=True)
    shutil.copy2(wheel, wheels / wheel.name)
    return True


def _norm(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(roots: list[tuple[str, set[str]]]) -> list[dict[str, str]]:
    """The installed distributions that the requirements ``roots`` need, transitively, as
    :func:`rigml.machine.env.installed_packages` lists them (name, version, source).

    Each root is a PEP 508 requirement and the extras its markers are evaluated with (a
    ``Requires-Dist`` of rigml's under ``extra == "serve"``). Markers are evaluated for this
    interpreter; the image runs the same Python minor.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        from packaging.requirements import Requirement
    except ImportError:
        raise ServiceExportFailed(
            "pinning the requirements",
            "reading the packages' requirements needs `packaging`, which is not installed",
            hint="pip install packaging",
        ) from None

    from rigml.machine.env import installed_packages

    installed = {p["name"]: p for p in installed_packages()}
    done: dict[str, set[str]] = {}
    queue: list[tuple[Requirement, set[str]]] = [(Requirement(t), e) for t, e in roots]
    while queue:
        req, context = queue.pop()
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": e}) for e in (*sorted(context), "")
        ):
            continue
        key, extras = _norm(req.name), set(req.extras)
        if key in done and extras <= done[key]:
            continue
        done[key] = done.get(key, set()) | extras
        try:
            needs = distribution(req.name).requires or []
        except PackageNotFoundError:
            continue
        queue += [(Requirement(t), done[key]) for t in needs]
    return [dict(installed[k]) for k in sorted(done) if k in installed]


# --------------------------------------------------------------------------- texts

START_SH = """\
#!/bin/sh
# Start the exported service (written by `rig serve --export`). Settings from the environment:
#   HOST (default 0.0.0.0), PORT (default 8000), WORKERS (default: as exported),
#   TOKEN_FILE (bearer tokens, one a line; required when the service was exported with one),
#   PYTHON (default python3: the interpreter the requirements are installed in).
set -eu
cd "$(dirname "$0")"
exec "${PYTHON:-python3}" -m rigml.serve._standalone .
"""


def _title(config: ServeConfig) -> str:
    return ", ".join(config.refs)


def dockerfile_text(config: ServeConfig, arms: list[FrozenArm]) -> str:
    """A ``python:X.Y-slim`` image that installs the pins and runs ``start.sh``."""
    py = ".".join(platform.python_version_tuple()[:2])
    versions = ", ".join(f"{a.name} v{a.version}" for a in _unique(arms))
    return "\n".join(
        [
            "# syntax=docker/dockerfile:1",
            f"# The rigml service {_title(config)} ({versions}), written by `rig serve --export`",
            "# build: docker build -t rig-service .",
            f"# run:   docker run --rm -p {DEFAULT_PORT}:{DEFAULT_PORT} rig-service",
            f"FROM python:{py}-slim",
            "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
            "WORKDIR /service",
            "COPY requirements.txt ./",
            "COPY wheels/ wheels/",
            "RUN pip install --no-cache-dir -r requirements.txt --find-links wheels",
            "COPY . .",
            "# the service writes its prediction log into its own lab, .rig/",
            "RUN useradd --system --no-create-home rig && chown -R rig /service/.rig",
            "USER rig",
            f"ENV HOST=0.0.0.0 PORT={DEFAULT_PORT}",
            f"EXPOSE {DEFAULT_PORT}",
            'CMD ["sh", "start.sh"]',
            "",
        ]
    )


def readme_text(config: ServeConfig, arms: list[FrozenArm], rigml: str) -> str:
    """The folder's README: what it holds, how to run it, what was frozen."""
    rows = [
        f"| {a.kind} | `{a.ref}` | {a.version} | {a.share:g}% | `{a.path}` "
        f"| `{a.fingerprint[:12]}` |"
        for a in arms
    ]
    return "\n".join(
        [
            f"# {_title(config)}: an exported rigml service",
            "",
            "Written by `rig serve --export`. It runs the same service (`POST",
            "/v1/models/NAME/predict`, `/healthz`, `/readyz`, `/metrics`, `/docs`) without the",
            "lab it came from: the models are frozen at the versions below.",
            "",
            "| arm | ref | version | share | package | fingerprint |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "## Run it",
            "",
            "```sh",
            "python3 -m venv .venv && . .venv/bin/activate",
            "pip install -r requirements.txt --find-links wheels",
            "HOST=127.0.0.1 PORT=8000 ./start.sh",
            "```",
            "",
            "or in a container: `docker build -t rig-service . && docker run -p 8000:8000 "
            "rig-service`.",
            "",
            "`start.sh` reads HOST (default 0.0.0.0), PORT (8000), WORKERS and TOKEN_FILE.",
            "SIGTERM stops it gracefully (in-flight requests finish, the log is flushed).",
            "",
            "## What is here",
            "",
            "- `models/NAME/VERSION/`: each version's package (`rigmodel.json` and its files)",
            "- `.rig/`: a small lab holding those packages, with the aliases set as they were;",
            "  the service follows it, and writes its prediction log there",
            "  (`rig --lab .rig predictions list`)",
            "- `service.json`: the refs, the versions they named, fingerprints and limits",
            f"- `requirements.txt`: pinned; rigml is {rigml}",
            "- `Dockerfile`, `start.sh`",
            "",
        ]
    )
