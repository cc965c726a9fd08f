"""Outs in the object store: stored after a stage succeeds, restored when they go missing.

A file out is one object. A folder out is its files' objects plus a manifest object (the
bytes its digest names). Restoring builds the file or folder beside its place and renames
it in, so an interrupted restore leaves nothing half-written under the out's name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.pipeline._digests import Hasher

# an artifact entry of a run: (artifact path, object digest, size)
ArtifactEntry = tuple[str, str, int]
MANIFESTS = "rig.manifests"  # artifact folder holding folder outs' manifests (kept from gc)


def store_out(lab: Lab, hasher: Hasher, out: str) -> tuple[dict[str, Any], list[ArtifactEntry]]:
    """Store out ``out`` (written by the stage just now); its lock record and artifacts.

    Returns ``({}, [])`` when the stage did not write it.
    """
    now = hasher.digest(out, fresh=True)
    path = hasher.root / out
    if now.kind == "missing":
        return {}, []
    if now.kind == "file":
        digest, size = _put(lab, path, now.hash)
        return {"path": out, "kind": "file", "hash": digest, "size": size}, [(out, digest, size)]
    from rigml.pipeline._digests import folder_entries

    assert now.manifest is not None
    entries: list[ArtifactEntry] = []
    for rel, hashed, _size in folder_entries(now.manifest):
        digest, size = _put(lab, path / rel, hashed)
        entries.append((f"{out}/{rel}", digest, size))
    manifest = lab.objects.put_bytes(now.manifest)
    entries.append((f"{MANIFESTS}/{out}.json", manifest, len(now.manifest)))
    record = {
        "path": out,
        "kind": "folder",
        "hash": manifest,
        "size": now.size,
        "files": now.files,
    }
    return record, entries


def _put(lab: Lab, path: Path, hashed: str | None) -> tuple[str, int]:
    """Store ``path``; it must still hold what was hashed a moment ago.

    Raises:
        Conflict: something rewrote the file meanwhile (a process the stage left behind).
    """
    from rigml.errors import Conflict

    digest, size = lab.objects.put_file(path)
    if digest != hashed:
        raise Conflict(
            f"{path} changed while the outs of its stage were stored",
            hint="stop whatever still writes it (a process the stage left running), then "
            "`rig run` again",
        )
    return digest, size


def restore_out(lab: Lab, root: Path, record: dict[str, Any]) -> None:
    """Put recorded out ``record`` back in place from the object store.

    Raises:
        ObjectNotFound, ObjectCorrupted: an object is gone or damaged (nothing is left).
        OutputNotWritable: the place cannot be written.
    """
    target = root / str(record["path"])
    target.parent.mkdir(parents=True, exist_ok=True)
    if record.get("kind") != "folder":
        lab.objects.get_file(str(record["hash"]), target)
        return
    from rigml.data._refs import check_manifest_path
    from rigml.pipeline._digests import folder_entries

    entries = folder_entries(lab.objects.get_bytes(str(record["hash"])))
    for rel, _digest, _size in entries:
        check_manifest_path(rel)  # a damaged store cannot write outside the folder
    tmp = target.parent / f".{target.name}.rig-restore-{os.urandom(4).hex()}"
    try:
        tmp.mkdir()
        for rel, digest, _size in entries:
            lab.objects.get_file(digest, tmp / rel)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
