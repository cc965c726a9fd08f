"""LightGBM boosters and their scikit-learn wrappers, in LightGBM's text model format.

A wrapper is stored as its booster plus what the booster lacks: the class and, for a
classifier, its classes, so predict returns labels and predict_proba probabilities as
``LGBMClassifier`` does (binary: class 1 above 0.5; multiclass: the most probable).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.registry._flavors._base import (
    Flavor,
    LoadContext,
    Saved,
    copy_file,
    loaded,
    need,
    only_option,
)

if TYPE_CHECKING:
    from rigml.registry._signature import InputFormat, Signature

MODEL_FILE = "model.txt"


class LightGBMModel:
    """A booster; with ``classes`` it answers as a classifier. It takes a DataFrame (for its
    pandas categories) or an array, never records."""

    wants: InputFormat | None = "dataframe"

    def __init__(self, booster: Any, classes: list[Any] | None, raw: Any = None) -> None:
        self.booster = booster
        self.raw = booster if raw is None else raw
        self.classes = classes
        self.has_proba = classes is not None

    def predict(self, data: Any) -> Any:
        import numpy as np

        scores = self.booster.predict(data)
        if self.classes is None:
            return scores
        index = (scores > 0.5).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return np.asarray(self.classes)[index]

    def predict_proba(self, data: Any) -> Any:
        import numpy as np

        scores = self.booster.predict(data)
        return np.column_stack([1 - scores, scores]) if scores.ndim == 1 else scores

    def signature(self) -> Signature | None:
        return None


def _matches(obj: Any) -> bool:
    lightgbm = loaded("lightgbm")
    return lightgbm is not None and isinstance(obj, lightgbm.Booster | lightgbm.LGBMModel)


def _classes(obj: Any) -> list[Any] | None:
    classes = getattr(obj, "classes_", None) if hasattr(obj, "predict_proba") else None
    return None if classes is None else classes.tolist()


def _save(obj: Any, dest: Path, options: dict[str, Any]) -> Saved:
    only_option(options, "lightgbm", ())
    lightgbm = need("lightgbm", "lightgbm")
    booster = obj if isinstance(obj, lightgbm.Booster) else obj.booster_
    booster.save_model(str(dest / MODEL_FILE))
    extra = {"class": type(obj).__name__, "classes": _classes(obj)}
    return Saved((MODEL_FILE,), extra=extra)


def _live(obj: Any, saved: Saved) -> LightGBMModel:
    lightgbm = need("lightgbm", "lightgbm")
    booster = obj if isinstance(obj, lightgbm.Booster) else obj.booster_
    return LightGBMModel(booster, saved.extra.get("classes"), raw=obj)


def _load(ctx: LoadContext) -> LightGBMModel:
    lightgbm = need("lightgbm", "lightgbm")
    booster = lightgbm.Booster(model_file=str(ctx.file))
    classes = ctx.extra.get("classes")
    return LightGBMModel(booster, list(classes) if classes is not None else None)


def _wrap(path: Path, dest: Path) -> Saved:
    return Saved((copy_file(path, dest),), extra={"class": "Booster", "classes": None})


def _sniff(path: Path) -> bool:
    """LightGBM's text format starts with the line ``tree``."""
    with path.open("rb") as f:
        return f.readline().strip() == b"tree"


FLAVOR = Flavor(
    name="lightgbm",
    library="lightgbm",
    module="lightgbm",
    extra="lightgbm",
    matches=_matches,
    save=_save,
    live=_live,
    load=_load,
    suffixes=(".txt",),
    wrap=_wrap,
    sniff=_sniff,
)
