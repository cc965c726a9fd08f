"""XGBoost boosters and their scikit-learn wrappers, in XGBoost's own UBJSON format.

The wrapper class is kept (``XGBClassifier`` gets its classes and ``predict_proba`` back);
a raw model file names it in its ``scikit_learn`` attribute, else it loads as a Booster.
"""

from __future__ import annotations

import json
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

MODEL_FILE = "model.ubj"
_CLASSES = {"XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}
_KINDS = {"classifier": "XGBClassifier", "regressor": "XGBRegressor", "ranker": "XGBRanker"}


class XGBoostModel:
    """A wrapper estimator as it is; a bare Booster is fed a DMatrix."""

    def __init__(self, model: Any) -> None:
        self.raw = model
        self.booster = isinstance(model, need("xgboost", "xgboost").Booster)
        names = model.feature_names if self.booster else model.get_booster().feature_names
        self.names: list[str] | None = list(names) if names else None
        self.wants: InputFormat | None = "dataframe" if self.names else "ndarray"
        self.has_proba = not self.booster and hasattr(model, "predict_proba")

    def predict(self, data: Any) -> Any:
        if self.booster:
            return self.raw.predict(self._matrix(data))
        return self.raw.predict(data)

    def predict_proba(self, data: Any) -> Any:
        return self.raw.predict_proba(data)

    def signature(self) -> Signature | None:
        return None

    def _matrix(self, data: Any) -> Any:
        xgboost = need("xgboost", "xgboost")
        if hasattr(data, "columns"):
            return xgboost.DMatrix(data)
        return xgboost.DMatrix(data, feature_names=self.names)


def _matches(obj: Any) -> bool:
    xgboost = loaded("xgboost")
    return xgboost is not None and isinstance(obj, xgboost.Booster | xgboost.XGBModel)


def _save(obj: Any, dest: Path, options: dict[str, Any]) -> Saved:
    only_option(options, "xgboost", ())
    xgboost = need("xgboost", "xgboost")
    name = "Booster" if isinstance(obj, xgboost.Booster) else type(obj).__name__
    if name not in _CLASSES | {"Booster"}:
        name = "auto"  # a user's subclass: rebuilt as the kind it declares
    obj.save_model(str(dest / MODEL_FILE))
    return Saved((MODEL_FILE,), extra={"class": name})


def _live(obj: Any, saved: Saved) -> XGBoostModel:
    return XGBoostModel(obj)


def _load(ctx: LoadContext) -> XGBoostModel:
    xgboost = need("xgboost", "xgboost")
    name = str(ctx.extra.get("class", "auto"))
    booster = xgboost.Booster(model_file=str(ctx.file))
    if name == "auto":
        name = _declared_class(booster)
    if name not in _CLASSES:
        return XGBoostModel(booster)
    model = getattr(xgboost, name)()
    model.load_model(str(ctx.file))
    return XGBoostModel(model)


def _declared_class(booster: Any) -> str:
    """The wrapper a model file was saved from, by its ``scikit_learn`` attribute."""
    try:
        kind = json.loads(booster.attr("scikit_learn") or "{}").get("_estimator_type")
    except (ValueError, AttributeError):
        return "Booster"
    return _KINDS.get(str(kind), "Booster")


def _wrap(path: Path, dest: Path) -> Saved:
    return Saved((copy_file(path, dest),), extra={"class": "auto"})


def _sniff(path: Path) -> bool:
    """UBJSON by suffix; a ``.json`` file only when it is an XGBoost learner."""
    if path.suffix != ".json":
        return True
    with path.open("rb") as f:
        start = f.read(4096)
    return b'"learner"' in start


FLAVOR = Flavor(
    name="xgboost",
    library="xgboost",
    module="xgboost",
    extra="xgboost",
    matches=_matches,
    save=_save,
    live=_live,
    load=_load,
    suffixes=(".ubj", ".json"),
    wrap=_wrap,
    sniff=_sniff,
    aliases=("xgboost-cpu",),
)
