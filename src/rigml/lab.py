"""Open a lab: its configuration, metadata store and object store. The single entry point.

A lab is a folder holding ``rig.toml``; ``rig init`` makes ``.rig/`` in the current folder.
Commands find the nearest lab upward from the working directory, as git finds ``.git``, or
take it from ``RIG_LAB``. Store and object store open lazily, so commands that only read the
configuration stay fast.
"""

from __future__ import annotations

import errno
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rigml.config import CONFIG_NAME, TEMPLATE, LabConfig, load_config
from rigml.errors import LabNotFound, LabNotWritable

if TYPE_CHECKING:
    from rigml.objects import ObjectStore
    from rigml.store import Store

LAB_DIR = ".rig"


class Lab:
    """One metadata store, one object store and their configuration."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).resolve()
        self.config: LabConfig = load_config(self.path)

    def __repr__(self) -> str:
        return f"Lab({str(self.path)!r})"

    @cached_property
    def store_url(self) -> str:
        return self.config.store_url or f"sqlite:///{self.path / 'store.db'}"

    @cached_property
    def store(self) -> Store:
        from rigml.store import Store

        return Store(self.store_url, lock_path=self.path / "store.lock")

    @cached_property
    def objects(self) -> ObjectStore:
        from rigml.objects import ObjectStore

        return ObjectStore(
            self.config.objects_url or self.path / "objects", **self.config.storage_options()
        )

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.dispose()
            del self.__dict__["store"]


def _as_lab_dir(path: Path) -> Path | None:
    """``path`` itself when it is a lab, or its ``.rig`` child when that is one."""
    if (path / CONFIG_NAME).is_file():
        return path
    if (path / LAB_DIR / CONFIG_NAME).is_file():
        return path / LAB_DIR
    return None


def find_lab(start: str | os.PathLike[str] | None = None) -> Path:
    """The lab folder for ``start`` (default: ``RIG_LAB``, else the working directory upward).

    Raises:
        LabNotFound: no lab there or in any parent folder.
    """
    if start is None and os.environ.get("RIG_LAB"):
        env = Path(os.environ["RIG_LAB"]).expanduser()
        found = _as_lab_dir(env)
        if found is None:
            raise LabNotFound(f"{env} (from RIG_LAB)")
        return found
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        found = _as_lab_dir(folder)
        if found is not None:
            return found
    raise LabNotFound(str(here))


def open_lab(path: str | os.PathLike[str] | None = None) -> Lab:
    """Open the lab at or above ``path``; see :func:`find_lab`."""
    return Lab(find_lab(path))


def init_lab(path: str | os.PathLike[str] | None = None) -> tuple[Lab, bool]:
    """Create a lab (``.rig/`` in the working directory unless ``path`` names the folder).

    Idempotent: an existing lab is opened, never overwritten. Returns the lab and whether
    it was created. The store is created and migrated before returning.

    Raises:
        LabNotWritable: the folder cannot be created or written.
    """
    target = Path(path) if path is not None else Path.cwd() / LAB_DIR
    if path is None and os.environ.get("RIG_LAB"):
        target = Path(os.environ["RIG_LAB"])
    target = target.expanduser()
    created = not (target / CONFIG_NAME).is_file()
    if created:
        try:
            target.mkdir(parents=True, exist_ok=True)
            tmp = target / f".{CONFIG_NAME}.tmp"
            tmp.write_text(TEMPLATE, encoding="utf-8")
            os.replace(tmp, target / CONFIG_NAME)
            (target / ".gitignore").write_text("# the lab's data does not belong in git\n*\n")
        except OSError as exc:
            from rigml._output import unwritable_reason
            from rigml.store.writable import not_writable

            error = not_writable(str(target), exc)
            if error is None or exc.errno == errno.ENOSPC:  # keep the lab's own wording
                folder = next((p for p in target.parents if p.exists()), None)
                reason = unwritable_reason(exc, folder)  # /proc/x: "/proc does not accept..."
                error = LabNotWritable(str(target), reason)
            raise error from exc
    lab = Lab(target)
    lab.store  # noqa: B018  create and migrate now, so errors surface at init
    return lab, created
