"""scikit-learn through skops: round trips, DataFrame feature names, the type allowlist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from rigml.errors import InvalidInput, SignatureMismatch, UntrustedModel
from rigml.registry._flavors._sklearn import allowed
from rigml.registry._package import load_package, read_info, save_model


class Threshold(ClassifierMixin, BaseEstimator):
    """An estimator from outside the allowlist: skops records it as an untrusted type."""

    def __init__(self, cut: float = 0.5) -> None:
        self.cut = cut

    def fit(self, X: np.ndarray, y: np.ndarray) -> Threshold:
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X)[:, 0] > self.cut).astype(np.int64)


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=80),
            "x2": rng.normal(size=80),
            "shop": rng.choice(["north", "south", "east"], size=80),
        }
    )
    y = ((frame["x1"] + (frame["shop"] == "south")) > 0.3).astype(np.int64).to_numpy()
    return frame, y


def _pipeline(frame: pd.DataFrame, y: np.ndarray) -> object:
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["x1", "x2"]), ("cat", OneHotEncoder(), ["shop"])]
    )
    return make_pipeline(prep, LogisticRegression()).fit(frame, y)


def test_a_dataframe_pipeline_round_trips_with_probabilities(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, y = table
    model = _pipeline(frame, y)
    info = save_model(model, tmp_path / "pkg", example=frame)
    assert (info.flavor, info.library, info.pickle, info.has_proba) == (
        "sklearn",
        "scikit-learn",
        False,
        True,
    )
    assert info.files == ("model.skops",)
    assert info.signature is not None and info.signature.names == ["x1", "x2", "shop"]
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))  # type: ignore[attr-defined]
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))  # type: ignore[attr-defined]
    assert read_info(tmp_path / "pkg") == info


def test_json_records_reach_a_dataframe_model_with_its_feature_names(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, y = table
    model = _pipeline(frame, y)
    save_model(model, tmp_path / "pkg", example=frame.head(10))
    loaded = load_package(tmp_path / "pkg")
    records = [{"shop": r.shop, "x2": float(r.x2), "x1": float(r.x1)} for r in frame.itertuples()]
    np.testing.assert_array_equal(loaded.predict(records), model.predict(frame))  # type: ignore[attr-defined]
    columns = {c: frame[c].tolist() for c in ["shop", "x1", "x2"]}
    np.testing.assert_array_equal(loaded.predict(columns), model.predict(frame))  # type: ignore[attr-defined]
    with pytest.raises(SignatureMismatch, match="shop"):
        loaded.predict([{"x1": 1.0, "x2": 2.0}])


def test_a_model_fit_on_a_frame_but_saved_without_example_still_gets_names(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, _ = table
    model = LinearRegression().fit(frame[["x1", "x2"]], frame["x1"] * 2)
    info = save_model(model, tmp_path / "pkg")
    assert info.signature is None and not info.has_proba
    loaded = load_package(tmp_path / "pkg")
    expected = model.predict(frame[["x1", "x2"]])
    np.testing.assert_allclose(loaded.predict(frame[["x2", "x1"]]), expected)
    np.testing.assert_allclose(loaded.predict(frame[["x1", "x2"]].to_numpy()), expected)
    assert not hasattr(loaded, "predict_proba")


def test_an_array_model_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 2, 60)
    model = RandomForestClassifier(n_estimators=4, random_state=0).fit(X, y)
    info = save_model(model, tmp_path / "pkg", example=X[:5])
    assert info.signature is not None and info.signature.tensor is not None
    assert info.signature.tensor.shape == (-1, 3)
    assert info.extra["trusted_types"] == ["sklearn.tree._tree.Tree"]
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_array_equal(loaded.predict(X.tolist()), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))  # type: ignore[attr-defined]


def test_a_type_outside_the_allowlist_is_refused_then_trusted(tmp_path: Path) -> None:
    X = np.array([[0.2], [0.9], [0.6]])
    model = Threshold(cut=0.5).fit(X, np.array([0, 1, 1]))
    info = save_model(model, tmp_path / "pkg", example=X)
    assert info.pickle is False
    assert info.extra["untrusted_types"] == [f"{__name__}.Threshold"]
    with pytest.raises(UntrustedModel, match=f"{__name__}.Threshold") as err:
        load_package(tmp_path / "pkg")
    assert err.value.types == [f"{__name__}.Threshold"]
    assert err.value.hint is not None and "trusted=True" in err.value.hint
    assert "--trusted" in err.value.hint
    loaded = load_package(tmp_path / "pkg", trusted=True)
    np.testing.assert_array_equal(loaded.predict(X), [0, 1, 1])


def test_the_allowlist_keeps_to_well_known_modules_and_off_files() -> None:
    assert allowed("sklearn.tree._tree.Tree")
    assert allowed("numpy.float64") and allowed("scipy.sparse._csr.csr_matrix")
    assert allowed("collections.OrderedDict")
    assert not allowed("os.system") and not allowed("builtins.eval")
    assert not allowed("numpy.load") and not allowed("numpy.testing.assert_equal")
    assert not allowed("sklearnx.Thing") and not allowed("mymodule.Estimator")


def test_pickle_serialization_needs_trust(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, y = table
    model = LogisticRegression().fit(frame[["x1", "x2"]], y)
    info = save_model(model, tmp_path / "pkg", serialization="pickle")
    assert info.pickle and info.files == ("model.pkl",) and info.flavor == "sklearn"
    with pytest.raises(UntrustedModel, match="pickle"):
        load_package(tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg", trusted=True)
    np.testing.assert_allclose(
        loaded.predict_proba(frame[["x1", "x2"]]),
        model.predict_proba(frame[["x1", "x2"]]),  # type: ignore[attr-defined]
    )


def test_an_unknown_serialization_or_option_is_refused(tmp_path: Path) -> None:
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with pytest.raises(InvalidInput, match="skops or pickle"):
        save_model(model, tmp_path / "a", serialization="joblib")
    with pytest.raises(InvalidInput, match="no option init_kwargs"):
        save_model(model, tmp_path / "b", init_kwargs={})
