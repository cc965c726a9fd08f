"""Model packages: a folder of model files plus ``rigmodel.json``, and back to a model.

Pure functions over folders; the registry stores a package's files in the object store and
lays them out again before :func:`load_package`. The manifest records the flavor, the
library and Python versions, the signature and each file's blake3 digest, so a changed file
is caught before its library parses it, and a pickle is refused before a byte of it is read
unless the caller trusts the package.
"""

from __future__ import annotations

import json
import os
import platform
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import (
    FlavorUnavailable,
    InvalidInput,
    InvalidModelPackage,
    MissingExtra,
    ModelEnvironmentWarning,
    RigError,
    SignatureMismatch,
    UntrustedModel,
)
from rigml.registry._signature import Signature, conform, head, infer_outputs, infer_signature

if TYPE_CHECKING:
    from rigml.registry._flavors import Flavor, LoadContext, Native, Saved
    from rigml.registry._signature import InputFormat

MANIFEST = "rigmodel.json"
FORMAT = 1
_EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class PackageInfo:
    """What ``rigmodel.json`` says about a package. ``digests`` maps each file to its blake3."""

    flavor: str
    library: str | None
    library_version: str | None
    python: str
    pickle: bool
    signature: Signature | None
    has_proba: bool
    files: tuple[str, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)
    digests: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "flavor": self.flavor,
            "library": self.library,
            "library_version": self.library_version,
            "python": self.python,
            "pickle": self.pickle,
            "signature": self.signature.to_json() if self.signature else None,
            "has_proba": self.has_proba,
            "files": list(self.files),
            "digests": dict(self.digests),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackageInfo:
        """Read :meth:`to_json`'s form.

        Raises:
            InvalidModelPackage: a field is missing or of the wrong type.
        """
        try:
            return cls._parse(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidModelPackage(MANIFEST, f"unreadable manifest ({exc!r})") from None

    @classmethod
    def _parse(cls, data: Mapping[str, Any]) -> PackageInfo:
        if int(data["format"]) > FORMAT:
            raise ValueError(f"format {data['format']} is newer than this rigml reads")
        files = tuple(str(f) for f in data["files"])
        if not files or any(_unsafe(f) for f in files):
            raise ValueError(f"bad file list {files!r}")
        sig = data.get("signature")
        return cls(
            flavor=str(data["flavor"]),
            library=_opt_str(data.get("library")),
            library_version=_opt_str(data.get("library_version")),
            python=str(data["python"]),
            pickle=_bool(data["pickle"]),
            signature=Signature.from_json(sig) if sig is not None else None,
            has_proba=_bool(data.get("has_proba", False)),
            files=files,
            extra=dict(data.get("extra") or {}),
            digests={str(k): str(v) for k, v in dict(data.get("digests") or {}).items()},
        )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _unsafe(rel: str) -> bool:
    """A manifest path that would leave the folder, or names the manifest itself."""
    parts = rel.split("/")
    return rel.startswith("/") or ".." in parts or "\\" in rel or rel == MANIFEST or "" in parts


# -- loaded models -------------------------------------------------------------------------


class LoadedModel:
    """A loaded package: ``predict`` takes a DataFrame, an array, a dict of lists or JSON
    records and hands the model what it was trained on (by the signature)."""

    def __init__(self, info: PackageInfo, native: Native) -> None:
        self.info = info
        self.flavor = info.flavor
        self.signature = info.signature
        self.raw = native.raw
        self._native = native
        sig = info.signature
        self._to: InputFormat | None = (
            "ndarray" if sig is not None and sig.tensor is not None else native.wants
        )

    def predict(self, data: Any) -> Any:
        """The model's predictions for ``data``.

        Raises:
            SignatureMismatch: the data does not fit the signature.
        """
        return self._native.predict(conform(self.signature, data, to=self._to))

    def __repr__(self) -> str:
        return f"<LoadedModel {self.flavor} {type(self.raw).__name__}>"


class LoadedClassifier(LoadedModel):
    """A loaded model that also gives class probabilities."""

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities, one row per example and one column per class."""
        return self._native.predict_proba(conform(self.signature, data, to=self._to))


def _loaded(info: PackageInfo, native: Native) -> LoadedModel:
    return (LoadedClassifier if native.has_proba else LoadedModel)(info, native)


# -- saving ----------------------------------------------------------------------------------


def save_model(
    model: Any,
    dest: Path,
    *,
    flavor: str | None = None,
    example: Any = None,
    serialization: str | None = None,
    **flavor_options: Any,
) -> PackageInfo:
    """Write ``model`` into ``dest`` (a new or empty folder) as a package.

    Args:
        model: an estimator, an ONNX ModelProto (or bytes), an ``nn.Module``, a TorchScript
            module, an XGBoost or LightGBM model, or any object with ``predict``.
        flavor: which flavor; detected from the object's type when None.
        example: a few rows of input; the signature is inferred from it and from what the
            model predicts for its first rows.
        serialization: ``"pickle"`` stores a scikit-learn model with pickle, not skops.
        flavor_options: ``init_kwargs`` (torch), ``proba_output`` (onnx).

    Raises:
        UnknownFlavor: no flavor fits the object.
        InvalidInput: the folder is not empty, or the model cannot be stored that way.
        MissingExtra: the flavor's library is not installed.
        SignatureMismatch: the model refuses its own example.
    """
    from rigml.registry import _flavors

    chosen = _flavors.get(flavor) if flavor else _flavors.detect(model)
    if flavor and not chosen.matches(model):
        raise InvalidInput(
            f"a {type(model).__name__} object is not a {chosen.name} model",
            hint=f"leave flavor out to detect it (it looks like {_flavors.detect(model).name})",
        )
    options = dict(flavor_options)
    if serialization is not None:
        options["serialization"] = serialization
    with _new_package(dest) as folder:
        saved = chosen.save(model, folder, options)
        native = _live(chosen, model, saved)
        signature = _signature(native, example)
        has_proba = native is not None and native.has_proba
        return _finish(folder, chosen, saved, signature, has_proba, chosen.installed_version())


def _live(flavor: Flavor, model: Any, saved: Saved) -> Native | None:
    """The in-memory model behind the flavor's interface; None when its runtime is absent
    (an ONNX model saved where onnxruntime is not installed)."""
    try:
        return flavor.live(model, saved)
    except MissingExtra:
        return None


def _signature(native: Native | None, example: Any) -> Signature | None:
    if example is None:
        return native.signature() if native is not None else None
    signature = infer_signature(example)
    if native is None:
        return signature
    to: InputFormat | None = "ndarray" if signature.tensor is not None else native.wants
    rows = conform(signature, head(example, _EXAMPLE_ROWS), to=to)
    try:
        output = native.predict(rows)
    except Exception as exc:
        raise SignatureMismatch(
            f"the model cannot predict its own example: {type(exc).__name__}: {str(exc)[:300]}",
            hint="pass a few rows of the model's training input as example=",
        ) from None
    return Signature(signature.format, signature.columns, signature.tensor, infer_outputs(output))


@contextmanager
def _new_package(dest: Path) -> Iterator[Path]:
    """``dest``, new or empty; emptied again (or removed) if writing the package fails."""
    import shutil

    folder = Path(dest)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput(
            f"{folder} is not an empty folder",
            hint="save a model package into a new folder (or an empty one)",
        )
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        raise


def _finish(
    folder: Path,
    flavor: Flavor,
    saved: Saved,
    signature: Signature | None,
    has_proba: bool,
    version: str | None,
) -> PackageInfo:
    """Hash the files and write the manifest last, atomically: a package with a manifest is
    complete."""
    from rigml.objects import hash_file

    info = PackageInfo(
        flavor=flavor.name,
        library=flavor.library,
        library_version=version,
        python=platform.python_version(),
        pickle=saved.pickle,
        signature=signature,
        has_proba=has_proba,
        files=saved.files,
        extra=saved.extra,
        digests={rel: hash_file(folder / rel) for rel in saved.files},
    )
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(info.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    return info


def package_file(path: Path, dest: Path, *, flavor: str | None = None) -> PackageInfo:
    """Wrap one raw model file into a package in ``dest``.

    Its signature, the library version that wrote it and whether it has ``predict_proba``
    are unknown until it loads: the manifest says None, None and False, and the loaded
    model has ``predict_proba`` when the model does.

    The flavor comes from the suffix (``.skops``, ``.onnx``, ``.pt``, ``.ubj``/``.json``,
    ``.txt``, ``.pkl``/``.pickle``/``.joblib``) and, where a suffix is ambiguous, the content.

    Raises:
        UnknownFlavor: the file's flavor cannot be told; name it with ``flavor``.
        InvalidInput: no such file, or ``dest`` is not empty.
    """
    from rigml.registry import _flavors

    source = Path(path)
    if not source.is_file():
        raise InvalidInput(f"no model file {source}", hint="give the path of one model file")
    chosen = _flavors.get(flavor) if flavor else _flavors.for_file(source)
    if chosen.wrap is None:
        raise InvalidInput(
            f"the {chosen.name} flavor cannot wrap a raw file",
            hint="save the model object with rigml.registry.save_model instead",
        )
    with _new_package(dest) as folder:
        saved = chosen.wrap(source, folder)
        return _finish(folder, chosen, saved, None, False, None)


# -- reading and loading -------------------------------------------------------------------


def read_info(folder: Path) -> PackageInfo:
    """The manifest of the package in ``folder``; its files must be there.

    Raises:
        InvalidModelPackage: no manifest, an unreadable one, or a listed file missing.
    """
    root = Path(folder)
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidModelPackage(str(root), f"no {MANIFEST} in the folder") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidModelPackage(str(root), f"cannot read {MANIFEST}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidModelPackage(str(root), f"{MANIFEST} is not a JSON object")
    try:
        info = PackageInfo.from_json(data)
    except InvalidModelPackage as exc:
        raise InvalidModelPackage(str(root), exc.problem) from None
    missing = [rel for rel in info.files if not (root / rel).is_file()]
    if missing:
        raise InvalidModelPackage(str(root), f"model file(s) missing: {', '.join(missing)}")
    return info


def load_package(folder: Path, *, trusted: bool = False) -> LoadedModel:
    """Load the package in ``folder``.

    Args:
        trusted: allow what runs code at load: pickle, skops types beyond the allowlist.

    Raises:
        InvalidModelPackage: the folder holds no intact package.
        UntrustedModel: loading needs ``trusted=True``.
        FlavorUnavailable: the flavor's library is not installed.

    Warns:
        ModelEnvironmentWarning: the library (or, for a pickle, Python) version differs.
    """
    from rigml.registry import _flavors

    root = Path(folder)
    info = read_info(root)
    _verify(root, info)
    if info.flavor not in _flavors.FLAVORS:
        raise InvalidModelPackage(str(root), f"unknown flavor {info.flavor!r}")
    flavor = _flavors.get(info.flavor)
    if info.pickle and not trusted:
        raise UntrustedModel(str(root), "its model file is a pickle, which runs code as it loads")
    check_environment(flavor, info)
    ctx = _flavors.LoadContext(root, info.files, info.extra, trusted, info.digests)
    return _loaded(info, _load_native(flavor, ctx))


def _verify(root: Path, info: PackageInfo) -> None:
    from rigml.objects import hash_file

    for rel in info.files:
        digest = info.digests.get(rel)
        if digest is not None and hash_file(root / rel) != digest:
            raise InvalidModelPackage(
                str(root),
                f"{rel} does not match its digest in {MANIFEST}: the file changed or is corrupted",
                hint="restore the package from the registry (or save the model again)",
            )


def _load_native(flavor: Flavor, ctx: LoadContext) -> Native:
    """The flavor's loader, with its library's errors translated: a file its library cannot
    read is a broken package, not a traceback."""
    try:
        return flavor.load(ctx)
    except RigError:
        raise
    except Exception as exc:
        raise InvalidModelPackage(
            str(ctx.folder),
            f"{', '.join(ctx.files)} cannot be loaded as a {flavor.name} model: "
            f"{type(exc).__name__}: {str(exc)[:300]}",
        ) from exc


def check_environment(flavor: Flavor, info: PackageInfo) -> None:
    """Refuse a missing library; warn on a different library (or, for a pickle, Python).

    Raises:
        FlavorUnavailable: the flavor's library is not installed.
    """
    if flavor.library is not None and not flavor.available():
        raise FlavorUnavailable(
            flavor.name, flavor.library, extra=flavor.extra, saved_with=info.library_version
        )
    here = flavor.installed_version()
    if flavor.library and info.library_version and here:
        _compare(flavor.library, info.library_version, here)
    if info.pickle:
        _compare_python(info.python, platform.python_version())


def _release(version: str) -> list[str]:
    return version.split("+")[0].split(".")


def _compare(library: str, saved: str, here: str) -> None:
    if _release(saved) == _release(here):
        return
    major = _release(saved)[0] != _release(here)[0]
    note = "; a different major version: it may not load or predict the same" if major else ""
    warnings.warn(
        f"this model was saved with {library} {saved}, and {library} {here} is installed{note}",
        ModelEnvironmentWarning,
        stacklevel=4,
    )


def _compare_python(saved: str, here: str) -> None:
    if _release(saved)[:2] != _release(here)[:2]:
        warnings.warn(
            f"this pickled model was saved with Python {saved}, and this is Python {here}: "
            "a pickle may not load across Python versions",
            ModelEnvironmentWarning,
            stacklevel=4,
        )
