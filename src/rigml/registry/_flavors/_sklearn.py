"""scikit-learn estimators and pipelines, stored with skops (or, when asked, pickle).

skops records every type a file would build; :func:`untrusted` splits those beyond skops'
own defaults into the allowlist below (scikit-learn, numpy, scipy, minus anything that
reads files or runs processes) and the rest, which only ``trusted=True`` lets through.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, SignatureMismatch, UntrustedModel
from rigml.registry._flavors._base import (
    Flavor,
    LoadContext,
    Saved,
    class_path,
    copy_file,
    dist_version,
    is_zip,
    loaded,
    need,
    only_option,
)
from rigml.registry._flavors._python import (
    PICKLE_SUFFIXES,
    dump_pickle,
    load_pickle,
    pickle_modules,
    serialization_of,
)

if TYPE_CHECKING:
    from rigml.registry._signature import InputFormat, Signature

SKOPS_FILE = "model.skops"
PICKLE_FILE = "model.pkl"
ALLOWED_MODULES = ("sklearn", "numpy", "scipy", "lightgbm", "xgboost")
_DENIED_PARTS = {"testing", "distutils", "f2py", "ctypeslib", "_pytesttester", "externals"}
_DENIED_NAMES = {
    *("load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt"),
    *("fromfile", "tofile", "memmap", "open", "system", "exec", "eval"),
}
_EXACT = {"builtins.slice", "collections.OrderedDict", "collections.defaultdict"}


class Estimator:
    """An estimator; one fit on a DataFrame gets a DataFrame with its feature names."""

    def __init__(self, estimator: Any) -> None:
        self.raw = estimator
        names = getattr(estimator, "feature_names_in_", None)
        self.names: list[str] | None = None if names is None else [str(n) for n in names]
        self.wants: InputFormat | None = "dataframe" if self.names else "ndarray"
        self.has_proba = _has(estimator, "predict_proba")

    def predict(self, data: Any) -> Any:
        return self.raw.predict(self._named(data))

    def predict_proba(self, data: Any) -> Any:
        return self.raw.predict_proba(self._named(data))

    def signature(self) -> Signature | None:
        return None

    def _named(self, data: Any) -> Any:
        """Give a DataFrame-fitted estimator its feature names, whatever came in."""
        if self.names is None:
            return data
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            return pd.DataFrame(data, columns=self.names)
        if list(data.columns) == self.names:
            return data
        missing = [n for n in self.names if n not in data.columns]
        if missing:
            raise SignatureMismatch(
                f"the input lacks feature(s) {', '.join(missing[:10])}",
                hint=f"the model was fit on columns {', '.join(self.names[:20])}",
            )
        return data[self.names]


def _has(obj: Any, attr: str) -> bool:
    try:  # sklearn's available_if raises AttributeError from hasattr's lookup
        return callable(getattr(obj, attr, None))
    except AttributeError:
        return False


def allowed(type_name: str) -> bool:
    """Whether a skops type name is from a well-known library and touches no files."""
    if type_name in _EXACT:
        return True
    parts = type_name.split(".")
    if parts[0] not in ALLOWED_MODULES:
        return False
    return not (_DENIED_PARTS & set(parts) or parts[-1] in _DENIED_NAMES)


def untrusted(path: Path, digest: str | None = None) -> tuple[list[str], list[str]]:
    """``(allowed, refused)``: the types beyond skops' defaults that the file would build.

    With ``digest`` (the file's verified blake3) the answer is kept for the process: the
    same bytes build the same types, and auditing the file is half of a skops load.
    """
    if digest is not None and digest in _AUDITED:
        return _AUDITED[digest]
    skops_io = need("skops.io", "models")
    types = [str(t) for t in skops_io.get_untrusted_types(file=path)]
    found = [t for t in types if allowed(t)], [t for t in types if not allowed(t)]
    if digest is not None:
        _AUDITED[digest] = found
    return found


_AUDITED: dict[str, tuple[list[str], list[str]]] = {}  # file digest -> untrusted()


def _matches(obj: Any) -> bool:
    base = loaded("sklearn.base")
    return base is not None and isinstance(obj, base.BaseEstimator)


def _save(obj: Any, dest: Path, options: dict[str, Any]) -> Saved:
    only_option(options, "sklearn", ("serialization",))
    serialization = options.get("serialization") or "skops"
    if serialization == "pickle":
        dump_pickle(obj, dest / PICKLE_FILE)
        extra: dict[str, Any] = {"serialization": "pickle", "class": class_path(obj)}
        return Saved((PICKLE_FILE,), pickle=True, extra=extra)
    if serialization != "skops":
        raise InvalidInput(
            f"scikit-learn models are stored with skops or pickle, not {serialization!r}",
            hint="leave serialization out (skops), or pass serialization='pickle'",
        )
    skops_io = need("skops.io", "models")
    skops_io.dump(obj, dest / SKOPS_FILE)
    ok, refused = untrusted(dest / SKOPS_FILE)
    extra = {
        "serialization": "skops",
        "class": class_path(obj),
        "skops_version": dist_version("skops"),
        "trusted_types": ok,
        "untrusted_types": refused,
    }
    return Saved((SKOPS_FILE,), extra=extra)


def _live(obj: Any, saved: Saved) -> Estimator:
    return Estimator(obj)


def _load(ctx: LoadContext) -> Estimator:
    if ctx.extra.get("serialization") in ("pickle", "joblib"):
        return Estimator(load_pickle(ctx))
    ok, refused = untrusted(ctx.file, ctx.digests.get(ctx.files[0]))
    if refused and not ctx.trusted:
        raise UntrustedModel(
            str(ctx.folder),
            f"it would build types outside the allowlist: {', '.join(refused)}",
            types=refused,
        )
    skops_io = need("skops.io", "models")
    return Estimator(skops_io.load(ctx.file, trusted=ok + refused))


def _wrap(path: Path, dest: Path) -> Saved:
    name = copy_file(path, dest)
    if path.suffix == ".skops" or is_zip(path):
        return Saved((name,), extra={"serialization": "skops"})
    return Saved((name,), pickle=True, extra={"serialization": serialization_of(path)})


def _sniff(path: Path) -> bool:
    """A ``.skops`` file, or a pickle that names scikit-learn classes."""
    return path.suffix == ".skops" or "sklearn" in pickle_modules(path)


FLAVOR = Flavor(
    name="sklearn",
    library="scikit-learn",
    module="sklearn",
    extra="models",
    matches=_matches,
    save=_save,
    live=_live,
    load=_load,
    suffixes=(".skops", *PICKLE_SUFFIXES),
    wrap=_wrap,
    sniff=_sniff,
)
