"""XGBoost and LightGBM in their native formats (never pickle), wrapper classes kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rigml.errors import UnknownFlavor
from rigml.registry._package import load_package, package_file, save_model


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(11)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["f0", "f1", "f2"])
    return X, (X["f0"] + 0.5 * X["f1"] > 0).astype(np.int64).to_numpy()


# -- XGBoost ---------------------------------------------------------------------------------


def test_an_xgboost_classifier_round_trips(
    tmp_path: Path, frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = frame
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    info = save_model(clf, tmp_path / "pkg", example=X)
    assert (info.flavor, info.library, info.pickle, info.files) == (
        "xgboost",
        "xgboost",
        False,
        ("model.ubj",),
    )
    assert info.library_version is not None and info.has_proba
    loaded = load_package(tmp_path / "pkg")
    assert type(loaded.raw).__name__ == "XGBClassifier"
    np.testing.assert_array_equal(loaded.predict(X.to_dict("records")), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))  # type: ignore[attr-defined]


def test_an_xgboost_booster_round_trips_and_its_file_is_wrapped(
    tmp_path: Path, frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = frame
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X.to_numpy(), label=y), num_boost_round=4)
    expected = booster.predict(xgb.DMatrix(X.to_numpy()))
    save_model(booster, tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict(X.to_numpy()), expected)
    assert not hasattr(loaded, "predict_proba")
    booster.save_model(str(tmp_path / "model.json"))
    info = package_file(tmp_path / "model.json", tmp_path / "wrapped")
    assert info.flavor == "xgboost"
    np.testing.assert_allclose(load_package(tmp_path / "wrapped").predict(X.to_numpy()), expected)


def test_a_wrapped_xgboost_classifier_file_gets_its_class_back(
    tmp_path: Path, frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = frame
    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y)
    clf.save_model(str(tmp_path / "clf.ubj"))
    package_file(tmp_path / "clf.ubj", tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))  # type: ignore[attr-defined]


def test_a_json_file_that_is_not_xgboost_is_not_guessed(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"lr": 0.1}')
    with pytest.raises(UnknownFlavor, match=r"config\.json") as err:
        package_file(tmp_path / "config.json", tmp_path / "pkg")
    assert err.value.hint is not None and "--flavor" in err.value.hint


# -- LightGBM --------------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [2, 3])
def test_a_lightgbm_classifier_round_trips(
    tmp_path: Path, frame: tuple[pd.DataFrame, np.ndarray], classes: int
) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = frame
    labels = np.array(["low", "mid", "high"])[(y + (X["f2"] > 1).to_numpy()) % classes]
    clf = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(X, labels)
    info = save_model(clf, tmp_path / "pkg", example=X)
    assert (info.flavor, info.pickle, info.files) == ("lightgbm", False, ("model.txt",))
    assert info.extra["classes"] == clf.classes_.tolist()
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))  # type: ignore[attr-defined]


def test_a_lightgbm_regressor_and_a_text_model_file(
    tmp_path: Path, frame: tuple[pd.DataFrame, np.ndarray]
) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, _ = frame
    reg = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1).fit(X, X["f0"] * 3)
    save_model(reg, tmp_path / "pkg", example=X)
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict(X.to_dict("list")), reg.predict(X))
    assert not hasattr(loaded, "predict_proba")
    reg.booster_.save_model(str(tmp_path / "model.txt"))
    assert package_file(tmp_path / "model.txt", tmp_path / "wrapped").flavor == "lightgbm"
    np.testing.assert_allclose(load_package(tmp_path / "wrapped").predict(X), reg.predict(X))


def test_a_text_file_that_is_not_lightgbm_is_not_guessed(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("just notes\n")
    with pytest.raises(UnknownFlavor, match=r"notes\.txt"):
        package_file(tmp_path / "notes.txt", tmp_path / "pkg")
