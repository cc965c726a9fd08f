"""The two ways in: ``run.log_model(model, name=...)`` from Python, and a run's artifact
(``rig models register RUN --artifact PATH --name NAME``) from the command line."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import NotFound
from rigml.registry._models import register_package

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.registry._refs import ModelVersion
    from rigml.track.artifacts import Artifact

ARTIFACT_ROOT = "models"  # log_model keeps each package under models/NAME in its run


def log_model(
    lab: Lab,
    run_id: str,
    model: Any,
    *,
    name: str,
    example: Any = None,
    flavor: str | None = None,
    description: str | None = None,
    **options: Any,
) -> ModelVersion:
    """Package ``model``, keep it as artifacts of the run, and register the next version.

    Raises:
        InvalidInput: the name is malformed.
        UnsupportedModel: no flavor knows the object (see ``rigml.registry``).
    """
    from rigml.registry._package import save_model
    from rigml.registry._refs import check_model_name
    from rigml.track.artifacts import log_artifact

    check_model_name(name)
    with tempfile.TemporaryDirectory(prefix="rig-model-") as tmp:
        folder = Path(tmp) / "package"
        save_model(model, folder, flavor=flavor, example=example, **options)
        artifact = f"{ARTIFACT_ROOT}/{name}"
        log_artifact(lab, run_id, folder, name=artifact)
        return register_package(
            lab, name, folder, run_id=run_id, source=artifact, description=description
        )


def register_artifact(
    lab: Lab,
    run_ref: str,
    artifact: str,
    *,
    name: str,
    flavor: str | None = None,
    description: str | None = None,
) -> ModelVersion:
    """Register the run's artifact ``artifact`` (a package folder, or one model file) as the
    next version of ``name``.

    Raises:
        RunNotFound: no run answers to ``run_ref``.
        NotFound: the run has no such artifact (the hint lists what it has).
        InvalidModelPackage: the files are not a model rigml can read.
    """
    from rigml.registry._package import package_file
    from rigml.track.artifacts import list_artifacts
    from rigml.track.queries import resolve_run_id

    run_id = resolve_run_id(lab, run_ref)
    clean = artifact.strip("/")
    arts = list_artifacts(lab, run_id)
    inside = [a for a in arts if a.path.startswith(clean + "/")]
    exact = [a for a in arts if a.path == clean]
    if not inside and not exact:
        shown = ", ".join(a.path for a in arts[:10]) or "none"
        raise NotFound(
            f"run {run_id[:12]} has no artifact {artifact!r}",
            hint=f"its artifacts: {shown}; `rig runs show {run_id[:12]}` lists them all",
        )
    if not exact:
        return _register_folder(lab, run_id, clean, inside, name=name, description=description)
    with tempfile.TemporaryDirectory(prefix="rig-register-") as tmp:
        raw = Path(tmp) / "raw" / Path(clean).name
        raw.parent.mkdir()
        lab.objects.get_file(exact[0].object, raw)
        folder = Path(tmp) / "package"
        package_file(raw, folder, flavor=flavor)
        return register_package(
            lab, name, folder, run_id=run_id, source=clean, description=description
        )


def _register_folder(
    lab: Lab,
    run_id: str,
    clean: str,
    inside: list[Artifact],
    *,
    name: str,
    description: str | None,
) -> ModelVersion:
    """A package the run already holds: its manifest is read, its files are not copied.

    Raises:
        NotFound: the folder has no manifest.
        InvalidModelPackage: the manifest is unreadable, or names files the folder lacks or
            holds with other content.
    """
    from rigml.errors import InvalidModelPackage
    from rigml.registry._models import ModelFile, register_files
    from rigml.registry._package import MANIFEST, PackageInfo

    files = {a.path[len(clean) + 1 :]: ModelFile(a.path[len(clean) + 1 :], a.object, a.size)
             for a in inside}  # fmt: skip
    manifest = files.get(MANIFEST)
    if manifest is None:
        raise NotFound(
            f"artifact folder {clean!r} of run {run_id[:12]} has no {MANIFEST}",
            hint="register one model file (--artifact models/model.onnx), or save "
            "the model with run.log_model(...)",
        )
    try:
        info = PackageInfo.from_json(json.loads(lab.objects.get_bytes(manifest.object)))
    except ValueError as exc:
        raise InvalidModelPackage(f"{clean} (run {run_id[:12]})", f"{MANIFEST}: {exc}") from exc
    for rel in info.files:
        held = files.get(rel)
        if held is None or info.digests.get(rel, held.object) != held.object:
            what = "lacks" if held is None else "holds other content for"
            raise InvalidModelPackage(f"{clean} (run {run_id[:12]})", f"the folder {what} {rel}")
    chosen = [files[rel] for rel in (*info.files, MANIFEST)]
    return register_files(
        lab, name, info, chosen, run_id=run_id, source=clean, description=description
    )
