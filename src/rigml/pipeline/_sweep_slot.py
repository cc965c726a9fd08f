"""A trial's working folder: the project seen through symlinks, with its own params and outs.

A sweep never edits the user's params files. Each concurrent trial runs in a slot folder
under the lab (``sweeps/NAME/slots/I``) that mirrors the project: every entry is a symlink
to the real one, except the stage's outs, its params files and ``rig.lock``, which are the
slot's own (the folders above them are real folders, their other entries symlinks). So a
trial reads the project's code and the cached outs of upstream stages, writes its outs
beside nobody else's, and reads params files holding its own values. A slot is rebuilt
for each trial and reused by the next, so the stat cache knows its paths after the first.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.pipeline._spec import Stage


def build_slot(root: Path, slot: Path, stage: Stage, *, skip: Path | None = None) -> None:
    """Rebuild ``slot`` as the overlay of project ``root`` for a trial of ``stage``.

    ``skip`` (the lab folder, when it is inside the project) is left out.
    """
    if slot.exists():
        shutil.rmtree(slot)  # unlinks the symlinks; never follows them
    slot.mkdir(parents=True)
    private = {*stage.outs, *stage.params, "rig.lock"}
    above = {str(p) for rel in private for p in PurePosixPath(rel).parents if str(p) != "."}
    for rel in sorted(above):
        (slot / rel).mkdir(parents=True, exist_ok=True)
    _mirror(root, slot, "", private, above, skip.resolve() if skip else None)
    (slot / stage.wdir).mkdir(parents=True, exist_ok=True)


def _mirror(
    root: Path, slot: Path, rel_dir: str, private: set[str], above: set[str], skip: Path | None
) -> None:
    try:
        entries = list(os.scandir(root / rel_dir))
    except FileNotFoundError:
        return
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        if rel in private or (skip is not None and Path(entry.path).resolve() == skip):
            continue
        if rel in above:
            _mirror(root, slot, rel, private, above, skip)
        else:
            os.symlink(entry.path, slot / rel)


def write_params(root: Path, slot: Path, rel: str, values: dict[str, Any]) -> None:
    """The slot's copy of params file ``rel`` with ``values`` (dotted keys) set in it."""
    import copy

    from rigml.pipeline._params import read_params

    data = copy.deepcopy(read_params(root, rel) or {})
    for key, value in values.items():
        _set(data, key, value)
    path = slot / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted ``key`` as :func:`rigml.pipeline._params.lookup` reads it back."""
    if key in data or "." not in key:
        data[key] = value
        return
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def copy_params_files(root: Path, slot: Path, stage: Stage) -> None:
    """Params files of the stage that no swept key touches: the project's own, copied."""
    for rel in stage.params:
        src, dst = root / rel, slot / rel
        if src.is_file() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
