"""Any Python object with ``predict``, pickled: loading it runs code, so it needs trust.

The pickle helpers here serve the scikit-learn flavor's ``serialization="pickle"`` too.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, UntrustedModel
from rigml.registry._flavors._base import (
    Flavor,
    LoadContext,
    Saved,
    class_path,
    copy_file,
    need,
    only_option,
)

if TYPE_CHECKING:
    from rigml.registry._signature import InputFormat, Signature

MODEL_FILE = "model.pkl"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
_SCAN_OPCODES = 200_000


class PythonModel:
    """A model object called as it is: it gets the data in its example's container."""

    wants: InputFormat | None = None

    def __init__(self, model: Any) -> None:
        self.raw = model
        self.has_proba = callable(getattr(model, "predict_proba", None))

    def predict(self, data: Any) -> Any:
        return self.raw.predict(data)

    def predict_proba(self, data: Any) -> Any:
        return self.raw.predict_proba(data)

    def signature(self) -> Signature | None:
        return None


def dump_pickle(obj: Any, path: Path) -> None:
    """Pickle ``obj`` (protocol 5) to ``path``; an object pickle refuses is a caller error."""
    try:
        with path.open("wb") as f:
            pickle.dump(obj, f, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidInput(
            f"cannot pickle the {type(obj).__name__} model: {exc}",
            hint="define its class (and any function it holds) at a module's top level, "
            "not in a function or a notebook cell's lambda",
        ) from None


def load_pickle(ctx: LoadContext) -> Any:
    """Unpickle the package's model file; only ever reached with ``trusted=True``."""
    if not ctx.trusted:  # load_package checks first; this guards any other caller
        raise UntrustedModel(str(ctx.folder), "its model file is a pickle")
    if ctx.extra.get("serialization") == "joblib":
        return need("joblib", "models").load(ctx.file)
    with ctx.file.open("rb") as f:
        return pickle.load(f)


def pickle_modules(path: Path) -> set[str]:
    """Top-level modules a pickle names, read from its opcodes: nothing is unpickled."""
    import pickletools

    found: set[str] = set()
    try:
        with path.open("rb") as f:
            for i, (op, arg, _) in enumerate(pickletools.genops(f)):
                if i > _SCAN_OPCODES:
                    break
                if isinstance(arg, str) and op.name in _NAME_OPS:
                    found.add(arg.split(" ")[0].split(".")[0])
    except (ValueError, EOFError, UnicodeDecodeError):
        pass  # a joblib file holds raw array bytes after its pickle; what came before counts
    return found


# GLOBAL carries "module name"; protocol 4+ pushes the module as a unicode string first
_NAME_OPS = {"GLOBAL", "INST", "SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"}


def serialization_of(path: Path) -> str:
    """``"joblib"`` for a joblib file (by suffix or content), ``"pickle"`` otherwise."""
    if path.suffix == ".joblib" or "joblib" in pickle_modules(path):
        return "joblib"
    return "pickle"


def _matches(obj: Any) -> bool:
    return callable(getattr(obj, "predict", None))


def _save(obj: Any, dest: Path, options: dict[str, Any]) -> Saved:
    only_option(options, "python", ())
    dump_pickle(obj, dest / MODEL_FILE)
    extra = {"serialization": "pickle", "class": class_path(obj)}
    return Saved((MODEL_FILE,), pickle=True, extra=extra)


def _live(obj: Any, saved: Saved) -> PythonModel:
    return PythonModel(obj)


def _load(ctx: LoadContext) -> PythonModel:
    return PythonModel(load_pickle(ctx))


def _wrap(path: Path, dest: Path) -> Saved:
    extra = {"serialization": serialization_of(path)}
    return Saved((copy_file(path, dest),), pickle=True, extra=extra)


FLAVOR = Flavor(
    name="python",
    library=None,
    module=None,
    extra=None,
    matches=_matches,
    save=_save,
    live=_live,
    load=_load,
    suffixes=PICKLE_SUFFIXES,
    wrap=_wrap,
)
