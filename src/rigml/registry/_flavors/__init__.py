"""The model flavors, in the order an object's flavor is detected.

Each module defines one :class:`Flavor` (the torch module two). Wrapper classes that
subclass scikit-learn's estimators (XGBoost's, LightGBM's) come before scikit-learn so they
keep their native formats; the pickled ``python`` flavor catches whatever has ``predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rigml.errors import UnknownFlavor
from rigml.registry._flavors import _lightgbm, _onnx, _python, _sklearn, _torch, _xgboost
from rigml.registry._flavors._base import Flavor, LoadContext, Native, Saved

__all__ = ["FLAVORS", "Flavor", "LoadContext", "Native", "Saved", "detect", "for_file", "get"]

FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (
        _onnx.FLAVOR,
        _torch.TORCHSCRIPT,
        _torch.TORCH,
        _xgboost.FLAVOR,
        _lightgbm.FLAVOR,
        _sklearn.FLAVOR,
        _python.FLAVOR,
    )
}

_FILE_HINTS = {
    ".pt": "a torch.save'd state dict needs its class: save_model(module, dest, "
    "init_kwargs={...}) from Python, or save the model as TorchScript (torch.jit.save)",
    ".json": "only XGBoost JSON models (with a 'learner' key) are read from .json files",
    ".txt": "only LightGBM text models (starting with the line 'tree') are read from .txt files",
}


def get(name: str) -> Flavor:
    """The flavor called ``name``.

    Raises:
        UnknownFlavor: no flavor has that name.
    """
    try:
        return FLAVORS[name]
    except KeyError:
        raise UnknownFlavor(f"flavor name {name!r}", list(FLAVORS)) from None


def detect(model: Any) -> Flavor:
    """The first flavor whose objects ``model`` is one of.

    Raises:
        UnknownFlavor: none fits (the object has no ``predict`` either).
    """
    for flavor in FLAVORS.values():
        if flavor.matches(model):
            return flavor
    raise UnknownFlavor(
        f"a {type(model).__module__}.{type(model).__qualname__} object",
        list(FLAVORS),
        hint="pass flavor=... for a model of a known library, or give the object a "
        "predict method (it is then pickled: flavor 'python')",
    )


def for_file(path: Path) -> Flavor:
    """The flavor of a raw model file, by its suffix and, where that is ambiguous, content.

    Raises:
        UnknownFlavor: the suffix (or the content behind it) belongs to no flavor.
    """
    suffix = path.suffix.lower()
    candidates = [f for f in FLAVORS.values() if suffix in f.suffixes]
    for flavor in candidates:
        if flavor.sniff is None or flavor.sniff(path):
            return flavor
    suffixes = sorted({s for f in FLAVORS.values() for s in f.suffixes})
    hint = _FILE_HINTS.get(".pt" if suffix == ".pth" else suffix)
    raise UnknownFlavor(
        f"the model file {path.name}",
        list(FLAVORS),
        hint=(hint + "; or " if hint else "")
        + "name the flavor with --flavor (flavor=...); files read by suffix: "
        + ", ".join(suffixes),
    )
