"""The environment lock a run records, and what changed between two of them.

:func:`capture_environment` records the interpreter, every installed distribution with
where it came from (PEP 610 ``direct_url.json``), the ML frameworks and their CUDA builds,
the CUDA driver and the environment variables with secrets redacted. It imports none of the
frameworks: torch's CUDA build is read from ``torch/version.py`` as text, which keeps capture
fast (it runs for every tracked run) and side-effect free. torch's build and the driver are
read through the reading layer (:mod:`rigml.machine.readings`), like every machine fact.

:func:`diff_environments` lists the changes and flags those known to change results or
break loading: another Python minor, another torch/jax/tensorflow, another torch CUDA build,
another numpy major, another NVIDIA driver major or CUDA driver version.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from rigml.machine.readings import parse_torch_version_file, read_gpus, read_torch

__all__ = [
    "SCHEMA_VERSION",
    "SECRET_PATTERN",
    "EnvChange",
    "capture_environment",
    "diff_environments",
    "installed_packages",
    "is_secret_name",
    "parse_torch_version_file",
    "redact_environ",
    "redact_url_credentials",
]

SCHEMA_VERSION = 1
REDACTED = "***"

SECRET_PATTERN = re.compile(
    r"""
    ^(?!(?:OLD)?PWD$)               # PWD and OLDPWD are the shell's folders, not passwords
    (?:
        # unmistakable anywhere in the name: PGPASSWORD, MYSECRET, OPENAIAPIKEY
        .*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET|CREDENTIAL|APIKEY|ACCESSKEY|PRIVATEKEY)
        # ambiguous words only as a whole part, so KEYBOARD, MONKEY, TOKENIZERS_PARALLELISM
        # and MAX_TOKENS stay visible; CERT_FILE/_DIR/_PATH hold a location, not a secret
      | (?:.*[_.-])?
        (?:KEY|TOKEN|PASS|PWD|CREDS|AUTH|AUTHORIZATION|OAUTH|PRIVATE|SESSION|COOKIES?
          |SIGNATURE|DSN|SALT|CERT(?![_.-](?:FILE|DIR|PATH)$))
        (?:[_.-].*)?$
        # or glued on at the end: GITLABTOKEN
      | .*TOKEN$
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)
"""Environment variable *names* whose values are redacted. Use ``SECRET_PATTERN.match(name)``."""

_URL_CREDENTIALS = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^@/\s]*@")

# Variables that describe the terminal, not the run: dropped to keep the lock readable.
_NOISE = frozenset(
    {
        "LS_COLORS",
        "LSCOLORS",
        "TERMCAP",
        "PS1",
        "PS2",
        "PS3",
        "PS4",
        "PROMPT_COMMAND",
        "_",
        "SHLVL",
        "OLDPWD",
        "COLORTERM",
        "WINDOWID",
        "HISTFILE",
        "HISTSIZE",
        "HISTFILESIZE",
        "HISTCONTROL",
        "LESSOPEN",
        "LESSCLOSE",
    }
)
_NOISE_PREFIXES = ("LESS_TERMCAP_", "BASH_FUNC_", "VSCODE_GIT_", "TERM_SESSION")

_FRAMEWORKS = ("numpy", "jax", "tensorflow")
_BREAKING_PACKAGES = frozenset({"torch", "tensorflow", "jax"})


# --------------------------------------------------------------------------- redaction


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says its value is a secret."""
    return SECRET_PATTERN.match(name) is not None


def redact_url_credentials(value: str) -> str:
    """Replace the password in every ``scheme://user:password@host`` inside ``value``."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}{REDACTED}@", value)


def redact_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``environ`` safe to store: secret values become ``***``, names stay.

    Values under other names keep everything but passwords embedded in URLs, so
    ``DATABASE_URL=postgresql://me:***@db/prod`` still says which database was used.
    """
    return {
        name: REDACTED if is_secret_name(name) else redact_url_credentials(value)
        for name, value in environ.items()
    }


def _is_noise(name: str) -> bool:
    return name in _NOISE or name.startswith(_NOISE_PREFIXES)


# --------------------------------------------------------------------------- packages


def _normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _headers(text: str) -> tuple[str | None, str | None]:
    """Name and Version from a METADATA header, without the cost of the email parser."""
    name = version = None
    for line in text.splitlines():
        if not line:
            break  # the body (long description) starts after the first blank line
        if name is None and line.startswith("Name:"):
            name = line[5:].strip()
        elif version is None and line.startswith("Version:"):
            version = line[8:].strip()
        if name is not None and version is not None:
            break
    return name, version


def _source(direct_url: str | None) -> str:
    """Where a distribution came from, from its PEP 610 ``direct_url.json``."""
    if not direct_url:
        return "index"
    try:
        info = json.loads(direct_url)
    except json.JSONDecodeError:
        return "index"
    url = str(info.get("url", ""))
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict):
        return f"vcs:{url}@{vcs.get('commit_id', '')}"
    parts = urlsplit(url)
    local = parts.scheme == "file"
    where = unquote(parts.path) if local else url
    dir_info = info.get("dir_info")
    if isinstance(dir_info, dict) and dir_info.get("editable"):
        return f"editable:{where}"
    return f"file:{where}" if local else f"url:{url}"


def installed_packages() -> list[dict[str, str]]:
    """Every importable distribution: normalised name, version and source, sorted by name.

    ``source`` is ``"index"`` (a package index, usually PyPI), ``"editable:<path>"``,
    ``"file:<path>"`` (a local wheel, sdist or folder), ``"url:<url>"`` (a remote archive)
    or ``"vcs:<url>@<commit>"``. When a name is installed twice on ``sys.path``, the one
    Python would import (the first) wins.
    """
    from importlib.metadata import distributions

    found: dict[str, dict[str, str]] = {}
    for dist in distributions():
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
        name, version = _headers(text) if text else (None, None)
        if not name:
            continue
        key = _normalise(name)
        if key in found:
            continue
        found[key] = {
            "name": key,
            "version": version or "",
            "source": _source(dist.read_text("direct_url.json")),
        }
    return [found[k] for k in sorted(found)]


# --------------------------------------------------------------------------- frameworks


def _torch(packages: Mapping[str, str]) -> dict[str, Any] | None:
    torch = read_torch()
    if not torch.importable:
        if "torch" not in packages:
            return None
        return {"version": packages["torch"], "cuda": None, "hip": None}
    return {
        "version": torch.file_version or packages.get("torch"),
        "cuda": torch.cuda,
        "hip": torch.hip,
    }


def _cuda() -> dict[str, Any]:
    # The driver's versions only: a lock says what the GPUs are, not what they are doing.
    gpus = read_gpus(live=False)
    first = gpus.gpus[0] if gpus.gpus else None
    return {
        "driver_version": first.driver_version if first else None,
        "cuda_driver_version": first.cuda_driver_version if first else None,
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "note": gpus.reason,
    }


# --------------------------------------------------------------------------- capture


def capture_environment(*, include_env_vars: bool = True) -> dict[str, Any]:
    """Record the software a run depends on, as a JSON-serialisable dict.

    Args:
        include_env_vars: Record environment variables (secrets redacted, terminal noise
            such as ``LS_COLORS`` dropped).

    Returns:
        ``schema_version``, ``python``, ``platform``, ``packages``, ``frameworks``,
        ``cuda`` and, when asked, ``env_vars``.
    """
    packages = installed_packages()
    versions = {p["name"]: p["version"] for p in packages}
    frameworks: dict[str, Any] = {"torch": _torch(versions)}
    frameworks.update({name: versions.get(name) for name in _FRAMEWORKS})
    env: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "prefix": sys.prefix,
            "in_virtualenv": sys.prefix != sys.base_prefix or "CONDA_PREFIX" in os.environ,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
        },
        "packages": packages,
        "frameworks": frameworks,
        "cuda": _cuda(),
    }
    if include_env_vars:
        kept = {k: v for k, v in os.environ.items() if not _is_noise(k)}
        env["env_vars"] = dict(sorted(redact_environ(kept).items()))
    return env


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class EnvChange:
    """One difference between two environment locks.

    ``a`` or ``b`` is ``None`` when the item exists on one side only. ``breaking`` marks
    changes known to alter results or stop code from loading; ``why`` says how.
    """

    section: str
    name: str
    a: Any
    b: Any
    breaking: bool = False
    why: str | None = None


def _major(version: Any, parts: int = 1) -> tuple[str, ...] | None:
    if not version:
        return None
    return tuple(re.split(r"[.+]", str(version))[:parts])


def _diff_maps(
    section: str, a: Mapping[str, Any], b: Mapping[str, Any], keys: Iterable[str] | None = None
) -> list[EnvChange]:
    names = sorted(set(a) | set(b)) if keys is None else list(keys)
    return [EnvChange(section, n, a.get(n), b.get(n)) for n in names if a.get(n) != b.get(n)]


def _python_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[EnvChange]:
    out = []
    for change in _diff_maps("python", a, b):
        if change.name == "version" and _major(change.a, 2) != _major(change.b, 2):
            why = "another Python minor version: compiled extensions and pickles may not load"
            change = replace(change, breaking=True, why=why)
        elif change.name == "implementation":
            change = replace(change, breaking=True, why="another Python implementation")
        out.append(change)
    return out


def _package_change(name: str, va: str | None, vb: str | None) -> EnvChange:
    breaking, why = False, None
    if name in _BREAKING_PACKAGES and va != vb:
        breaking, why = True, f"another {name} version: kernels and numerics can differ"
    elif name == "numpy" and _major(va) != _major(vb):
        breaking, why = True, "another numpy major version: its C ABI and behaviour changed"
    return EnvChange("packages", name, va, vb, breaking, why)


def _package_changes(a: list[Mapping[str, str]], b: list[Mapping[str, str]]) -> list[EnvChange]:
    pa = {p["name"]: p for p in a}
    pb = {p["name"]: p for p in b}
    out = []
    for name in sorted(set(pa) | set(pb)):
        va = pa[name]["version"] if name in pa else None
        vb = pb[name]["version"] if name in pb else None
        if va != vb:
            out.append(_package_change(name, va, vb))
        elif pa[name].get("source") != pb[name].get("source"):
            out.append(
                EnvChange(
                    "packages", f"{name} (source)", pa[name].get("source"), pb[name].get("source")
                )
            )
    return out


def _framework_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[EnvChange]:
    # Versions already show up among the packages; only torch's build is new information.
    ta, tb = a.get("torch") or {}, b.get("torch") or {}
    out = []
    if ta.get("cuda") != tb.get("cuda") and (ta or tb):
        why = "torch built for another CUDA: other kernels, and it may not run on this driver"
        out.append(EnvChange("frameworks", "torch.cuda", ta.get("cuda"), tb.get("cuda"), True, why))
    if ta.get("hip") != tb.get("hip"):
        why = "torch built for another ROCm/HIP"
        out.append(EnvChange("frameworks", "torch.hip", ta.get("hip"), tb.get("hip"), True, why))
    return out


def _cuda_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[EnvChange]:
    out = []
    da, db = a.get("driver_version"), b.get("driver_version")
    if da != db:
        breaking = _major(da) != _major(db)
        why = "another NVIDIA driver branch" if breaking else None
        out.append(EnvChange("cuda", "driver_version", da, db, breaking, why))
    ca, cb = a.get("cuda_driver_version"), b.get("cuda_driver_version")
    if ca != cb:
        why = "the driver supports another CUDA version"
        out.append(EnvChange("cuda", "cuda_driver_version", ca, cb, True, why))
    out += _diff_maps("cuda", a, b, ["visible_devices"])
    return out


def diff_environments(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[EnvChange]:
    """What changed from environment ``a`` to ``b`` (both from :func:`capture_environment`).

    Returns:
        Changes grouped by section (python, platform, frameworks, cuda, packages,
        env_vars) and sorted by name within each; ``breaking`` ones are flagged with a
        reason. Sections missing on either side compare as empty.
    """

    def sec(env: Mapping[str, Any], name: str) -> Any:
        return env.get(name) or {}

    return [
        *_python_changes(sec(a, "python"), sec(b, "python")),
        *_diff_maps("platform", sec(a, "platform"), sec(b, "platform")),
        *_framework_changes(sec(a, "frameworks"), sec(b, "frameworks")),
        *_cuda_changes(sec(a, "cuda"), sec(b, "cuda")),
        *_package_changes(a.get("packages") or [], b.get("packages") or []),
        *_diff_maps("env_vars", sec(a, "env_vars"), sec(b, "env_vars")),
    ]
