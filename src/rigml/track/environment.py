"""Environment locks from files, from tracked runs, or from this process, and their diff.

``rig env diff RUN now`` answers "why does this run not reproduce here?": it loads the lock
the run recorded (its ``env_object``), captures one now, and lists what changed, flagging
the changes that commonly break reproducibility (see
:func:`rigml.machine.env.diff_environments`).

A *spec* names an environment lock in one of three ways:

- ``now``: captured from this process with :func:`rigml.machine.env.capture_environment`;
- a path to a JSON file written by ``rig env capture -o FILE`` (an existing file always
  wins, even when its name looks like a run id);
- a run id or a unique prefix of one (at least 4 hex characters), looked up in a lab.

This lives in ``track`` because it reads runs; ``machine`` must not import ``track``.

Errors, beneath the tree in :mod:`rigml.errors`::

    NotFound
    ├── EnvironmentFileNotFound     the file named does not exist
    └── NoEnvironmentRecorded       the run has no environment lock
    InvalidInput
    └── InvalidEnvironmentFile      not JSON, or not an environment lock

``rig env capture -o FILE`` writes through :mod:`rigml._output`, so a place it cannot write
is an :class:`~rigml.errors.OutputNotWritable` like every other output file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.machine.env import EnvChange
    from rigml.track.queries import RunInfo

__all__ = [
    "NOW",
    "EnvironmentDiff",
    "EnvironmentFileNotFound",
    "InvalidEnvironmentFile",
    "NoEnvironmentRecorded",
    "compare_environments",
    "load_environment",
    "needs_lab",
    "run_environment",
    "save_environment",
]

NOW = "now"
"""The spec that means "capture the environment of this process"."""

_RUN_REF = re.compile(r"[0-9a-f]{4,32}")
_SPEC_HINT = "give a file written by `rig env capture -o FILE`, a run id, or `now`"


class EnvironmentFileNotFound(NotFound):
    """No file where an environment lock was expected."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no environment file at {path}", hint=_SPEC_HINT)
        self.path = path


class InvalidEnvironmentFile(InvalidInput):
    """A file is not JSON, or not an environment lock from ``rig env capture``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(
            f"cannot read environment lock {path}: {problem}",
            hint="write one with `rig env capture -o FILE`",
        )
        self.path = path


class NoEnvironmentRecorded(NotFound):
    """A run exists but recorded no environment lock."""

    def __init__(self, run_id: str, *, status: str | None = None, why: str | None = None) -> None:
        if why:
            reason = f": its capture failed ({why})"
        elif status == "running":
            reason = ": it is still running and its capture has not finished"
        else:
            reason = " (it was tracked with capture_environment=False)"
        super().__init__(
            f"run {run_id[:8]} has no recorded environment{reason}",
            hint="compare a run that recorded one, or a file from `rig env capture`",
        )
        self.run_id = run_id


# --------------------------------------------------------------------------- loading


def _check_lock(data: Any, where: str) -> dict[str, Any]:
    """``data`` when it looks like a lock from :func:`capture_environment`, else an error."""
    from rigml.machine.env import SCHEMA_VERSION

    if not isinstance(data, dict):
        raise InvalidEnvironmentFile(where, f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if not isinstance(version, int) or not isinstance(data.get("packages"), list):
        raise InvalidEnvironmentFile(
            where, "it is not an environment lock (no schema_version and packages)"
        )
    if version > SCHEMA_VERSION:
        raise InvalidEnvironmentFile(
            where,
            f"it has schema version {version}, newer than this rigml reads ({SCHEMA_VERSION}); "
            "upgrade rigml",
        )
    return data


def _run_lock(lab: Lab, ref: str) -> tuple[RunInfo, dict[str, Any]]:
    from rigml.track.queries import get_run

    info = get_run(lab, ref)
    if not info.env_object:
        raise NoEnvironmentRecorded(
            info.id, status=info.status, why=info.tags.get("rig.capture_error")
        )
    raw = lab.objects.get_bytes(info.env_object)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidEnvironmentFile(f"run {info.id[:8]}", f"not JSON ({exc})") from None
    return info, _check_lock(data, f"run {info.id[:8]}")


def run_environment(lab: Lab, ref: str) -> dict[str, Any]:
    """The environment lock a run recorded.

    Args:
        lab: The lab holding the run.
        ref: A run id or a unique prefix of one.

    Raises:
        RunNotFound: No run matches ``ref``, or the prefix is ambiguous.
        NoEnvironmentRecorded: The run recorded no environment.
    """
    return _run_lock(lab, ref)[1]


def needs_lab(spec: str) -> bool:
    """Whether loading ``spec`` needs a lab: a run reference (id prefix or name), not ``now``
    or a file. Anything that names a path (a separator, a ``.json`` suffix) is a file."""
    if spec == NOW or Path(spec).exists():
        return False
    text = spec.strip()
    if _RUN_REF.fullmatch(text.lower()):
        return True
    return bool(text) and os.sep not in text and not text.lower().endswith(".json")


def _load_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvironmentFileNotFound(str(path)) from None
    except IsADirectoryError:
        raise InvalidEnvironmentFile(str(path), "it is a folder, not a file") from None
    except UnicodeDecodeError:
        raise InvalidEnvironmentFile(str(path), "it is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidEnvironmentFile(str(path), exc.strerror or str(exc)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEnvironmentFile(str(path), f"not valid JSON ({exc})") from None
    return _check_lock(data, str(path))


def load_environment(lab: Lab | None, spec: str) -> tuple[str, dict[str, Any]]:
    """An environment lock and a label for it, from a file, a run, or ``now``.

    Args:
        lab: The lab to look run ids up in; may be ``None`` when ``spec`` is a file or
            ``now`` (see :func:`needs_lab`).
        spec: ``now``, a path to a lock file, or a run (unique id prefix or name).

    Returns:
        A short label saying where the lock came from, and the lock.

    Raises:
        EnvironmentFileNotFound: ``spec`` is neither ``now``, an existing file nor a run id.
        InvalidEnvironmentFile: The file is not JSON or not an environment lock.
        RunNotFound: ``spec`` looks like a run id but no run (or several) match it.
        NoEnvironmentRecorded: The run recorded no environment.
    """
    if spec == NOW:
        from rigml.machine.env import capture_environment

        return "now", capture_environment(include_env_vars=True)
    if needs_lab(spec):
        if lab is None:
            raise InvalidInput(
                f"{spec!r} is not a file; to read it as a run id a lab is needed",
                hint="open a lab (rig --lab PATH ...) or give a file or `now`",
            )
        info, data = _run_lock(lab, spec)
        return f"run {info.id[:8]} ({info.name})", data
    return spec, _load_file(Path(spec))


def save_environment(env: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a lock as indented JSON, atomically (through :func:`rigml._output.write_output`).

    Raises:
        OutputNotWritable: The folder does not exist (it is not created) or cannot be
            written.
    """
    from rigml._output import write_output

    return write_output(path, json.dumps(env, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class EnvironmentDiff:
    """What differs from lock ``a`` to lock ``b``; ``breaking`` lists the risky changes."""

    a: str
    b: str
    changes: list[EnvChange] = field(default_factory=list)

    @property
    def breaking(self) -> list[EnvChange]:
        return [c for c in self.changes if c.breaking]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "differences": len(self.changes),
            "breaking": len(self.breaking),
            "changes": [asdict(c) for c in self.changes],
        }


def compare_environments(lab: Lab | None, a: str, b: str) -> EnvironmentDiff:
    """Load two specs (see :func:`load_environment`) and list what changed from ``a`` to ``b``.

    Raises:
        Whatever :func:`load_environment` raises for either spec.
    """
    from rigml.machine.env import diff_environments

    label_a, env_a = load_environment(lab, a)
    label_b, env_b = load_environment(lab, b)
    return EnvironmentDiff(label_a, label_b, diff_environments(env_a, env_b))
