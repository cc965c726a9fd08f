"""Bring a version's package out of the object store and load it.

The files of a version are materialised once per lab into ``<lab>/cache/models/<fingerprint>``
(each object verified by its hash on the way), completed by an atomic rename; later loads
check the cached files' sizes against the registry and go straight to the flavor's loader.
A cache folder that was tampered with or half deleted is rebuilt.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rigml.errors import CheckoutTargetExists, InvalidModelPackage
from rigml.registry._models import ModelFile, version_files
from rigml.registry._refs import ModelVersion, get_version

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.registry._package import LoadedModel


def cache_root(lab: Lab) -> Path:
    return lab.path / "cache" / "models"


def materialise(lab: Lab, version: ModelVersion, files: list[ModelFile] | None = None) -> Path:
    """The folder holding ``version``'s package, built from the object store when needed.

    Raises:
        ObjectNotFound, ObjectCorrupted: a file of the package is missing or damaged.
    """
    files = version_files(lab, version) if files is None else files
    folder = cache_root(lab) / version.fingerprint
    if _intact(folder, files):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        _write_files(lab, files, staging)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(staging, folder)
        except OSError:  # another process put an identical folder in place first
            if not _intact(folder, files):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _intact(folder: Path, files: list[ModelFile]) -> bool:
    try:
        return all((folder / f.path).stat().st_size == f.size for f in files)
    except OSError:
        return False


def _write_files(lab: Lab, files: list[ModelFile], dest: Path) -> None:
    from rigml.data._refs import check_manifest_path

    for f in files:
        target = dest / check_manifest_path(f.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        lab.objects.get_file(f.object, target)


def load_model(lab: Lab, ref: str, *, trusted: bool = False) -> LoadedModel:
    """Load the model ``ref`` names (``NAME``, ``NAME@3``, ``NAME@production``).

    Raises:
        ModelNotFound, InvalidModelRef: no such model, version or alias.
        UntrustedModel: the package needs pickle and ``trusted`` is False.
        InvalidModelPackage, ObjectCorrupted: its files are missing or damaged.
    """
    from rigml.registry._package import load_package

    version, files = _resolve(lab, ref)
    folder = materialise(lab, version, files)
    try:
        return load_package(folder, trusted=trusted)
    except InvalidModelPackage:
        shutil.rmtree(folder, ignore_errors=True)  # a damaged cache: rebuild it once
        return load_package(materialise(lab, version), trusted=trusted)


def _resolve(lab: Lab, ref: str) -> tuple[ModelVersion, list[ModelFile]]:
    """The version and its files, on one connection: a load's whole database work."""
    from rigml.registry._models import files_in
    from rigml.registry._refs import parse_ref, resolve_in

    name, sel = parse_ref(ref)
    with lab.store.read() as conn:
        version = resolve_in(conn, name, sel)
        return version, files_in(conn, version.id)


def download_model(
    lab: Lab, ref: str, dest: str | os.PathLike[str], *, force: bool = False
) -> Path:
    """Copy the package of ``ref`` into folder ``dest`` (new or empty; ``force``: replaced).

    Raises:
        CheckoutTargetExists: ``dest`` holds files and ``force`` is False.
        ModelNotFound, InvalidModelRef: no such model, version or alias.
    """
    version = get_version(lab, ref)
    target = Path(dest)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        if not force:
            raise CheckoutTargetExists(str(target))
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rig-download-", dir=target.parent))
    try:
        _write_files(lab, version_files(lab, version), staging)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
