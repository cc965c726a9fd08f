"""Dataset versions a stage reads, checked out once per version in the lab's cache.

``data:NAME@SEL`` is resolved when the stage runs; the version's files are checked out to
``<lab>/cache/pipeline/data/<fingerprint>/`` (a folder version is that folder; a
single-file version is the file inside it, under its own name) and the stage gets the path
in ``RIG_DATA_<NAME>``. Checkouts are reflinks where the filesystem can, else copies, and
are shared by every stage and run that reads the same content: treat them as read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigml.data._refs import VersionInfo
    from rigml.lab import Lab


def checkout_version(lab: Lab, info: VersionInfo) -> Path:
    """The local path holding version ``info``'s files (checked out on first use)."""
    from rigml.data._checkout import checkout
    from rigml.pipeline._lockfile import file_lock

    base = lab.path / "cache" / "pipeline" / "data" / info.fingerprint[:32]
    with file_lock(lab, f"data:{info.fingerprint}"):
        if info.kind == "file":
            found = (
                [p for p in base.iterdir() if not p.name.startswith(".")] if base.is_dir() else []
            )
            if found:
                return found[0]
            base.mkdir(parents=True, exist_ok=True)
            return Path(checkout(lab, info.ref, base).dest)
        if base.is_dir():
            return base
        return Path(checkout(lab, info.ref, base).dest)
