"""Any object with predict, pickled: refused without trust; pickle files by suffix."""

from __future__ import annotations

import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from rigml.errors import InvalidInput, UnknownFlavor, UntrustedModel
from rigml.registry._package import load_package, package_file, save_model


class Doubler:
    """A model that is no library's: it takes a dict of lists, as its example did."""

    def predict(self, data: dict[str, list[float]]) -> np.ndarray:
        return np.asarray(data["x"], dtype=np.float64) * 2

    def predict_proba(self, data: dict[str, list[float]]) -> np.ndarray:
        p = np.clip(np.asarray(data["x"], dtype=np.float64), 0, 1)
        return np.column_stack([1 - p, p])


def test_a_python_object_round_trips_when_trusted(tmp_path: Path) -> None:
    info = save_model(Doubler(), tmp_path / "pkg", example={"x": [0.1, 0.7]})
    assert (info.flavor, info.library, info.pickle, info.has_proba) == ("python", None, True, True)
    assert info.signature is not None and info.signature.format == "dict"
    assert info.extra["class"] == f"{__name__}:Doubler"
    loaded = load_package(tmp_path / "pkg", trusted=True)
    np.testing.assert_allclose(loaded.predict([{"x": 0.25}, {"x": 1}]), [0.5, 2.0])
    np.testing.assert_allclose(loaded.predict_proba({"x": [0.25]}), [[0.75, 0.25]])  # type: ignore[attr-defined]


def test_a_pickle_is_refused_before_a_byte_is_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_model(Doubler(), tmp_path / "pkg")

    def tripwire(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickled without trust")

    monkeypatch.setattr(pickle, "load", tripwire)
    monkeypatch.setattr(pickle, "loads", tripwire)
    with pytest.raises(UntrustedModel, match="pickle") as err:
        load_package(tmp_path / "pkg")
    assert err.value.hint is not None and "trusted=True" in err.value.hint


def test_an_object_without_predict_has_no_flavor(tmp_path: Path) -> None:
    with pytest.raises(UnknownFlavor, match="object") as err:
        save_model(object(), tmp_path / "pkg")
    assert err.value.hint is not None and "predict" in err.value.hint


def test_an_unpicklable_model_is_a_clear_error(tmp_path: Path) -> None:
    model = Doubler()
    model.hook = lambda x: x  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="cannot pickle"):
        save_model(model, tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists()  # nothing half-written is left behind


@pytest.mark.parametrize("name", ["model.pkl", "model.pickle"])
def test_a_pickle_file_of_a_sklearn_model_is_a_sklearn_package(tmp_path: Path, name: str) -> None:
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    (tmp_path / name).write_bytes(pickle.dumps(clf))
    info = package_file(tmp_path / name, tmp_path / "pkg")
    assert (info.flavor, info.pickle, info.files) == ("sklearn", True, (name,))
    with pytest.raises(UntrustedModel):
        load_package(tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg", trusted=True)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))  # type: ignore[attr-defined]


def test_a_joblib_file_and_a_plain_object_pickle(tmp_path: Path) -> None:
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    joblib.dump(clf, tmp_path / "clf.joblib")
    info = package_file(tmp_path / "clf.joblib", tmp_path / "a")
    assert (info.flavor, info.extra["serialization"]) == ("sklearn", "joblib")
    np.testing.assert_array_equal(
        load_package(tmp_path / "a", trusted=True).predict(X), clf.predict(X)
    )
    (tmp_path / "doubler.pkl").write_bytes(pickle.dumps(Doubler()))
    info = package_file(tmp_path / "doubler.pkl", tmp_path / "b")
    assert (info.flavor, info.pickle) == ("python", True)
    assert load_package(tmp_path / "b", trusted=True).predict({"x": [2.0]}).tolist() == [4.0]
