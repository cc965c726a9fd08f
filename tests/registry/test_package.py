"""Package folders: the manifest, broken folders, version checks, package_file's guesses."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from rigml.errors import (
    FlavorUnavailable,
    InvalidInput,
    InvalidModelPackage,
    MissingExtra,
    ModelEnvironmentWarning,
    SignatureMismatch,
    UnknownFlavor,
)
from rigml.registry._package import (
    MANIFEST,
    PackageInfo,
    load_package,
    package_file,
    read_info,
    save_model,
)

X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
Y = np.array([0, 0, 1, 1])


class Constant:
    def predict(self, data: Any) -> np.ndarray:
        return np.zeros(len(data))


@pytest.fixture
def package(tmp_path: Path) -> Path:
    save_model(LogisticRegression().fit(X, Y), tmp_path / "pkg", example=X)
    return tmp_path / "pkg"


def _edit(folder: Path, **changes: Any) -> None:
    manifest = folder / MANIFEST
    data = json.loads(manifest.read_text())
    data.update(changes)
    manifest.write_text(json.dumps(data))


def test_the_manifest_round_trips_through_json(package: Path) -> None:
    info = read_info(package)
    assert PackageInfo.from_json(json.loads(json.dumps(info.to_json()))) == info
    data = json.loads((package / MANIFEST).read_text())
    assert data["format"] == 1 and data["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(data["digests"]) == {"model.skops"}


def test_a_folder_without_a_manifest_is_not_a_package(tmp_path: Path) -> None:
    (tmp_path / "model.skops").write_bytes(b"x")
    with pytest.raises(InvalidModelPackage, match=f"no {MANIFEST}") as err:
        read_info(tmp_path)
    assert err.value.hint


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "cannot read"),
        ("[1, 2]", "not a JSON object"),
        ('{"format": 1}', "unreadable manifest"),
    ],
)
def test_a_bad_manifest_is_named(package: Path, text: str, problem: str) -> None:
    (package / MANIFEST).write_text(text)
    with pytest.raises(InvalidModelPackage, match=problem):
        load_package(package)


@pytest.mark.parametrize(
    "changes",
    [
        {"files": ["../outside.bin"]},
        {"files": []},
        {"pickle": "no"},
        {"format": 99},
        {"signature": {"format": "tensorish", "columns": []}},
    ],
)
def test_manifest_fields_are_checked(package: Path, changes: dict[str, Any]) -> None:
    _edit(package, **changes)
    with pytest.raises(InvalidModelPackage, match="unreadable manifest"):
        read_info(package)


def test_a_missing_model_file_is_named(package: Path) -> None:
    (package / "model.skops").unlink()
    with pytest.raises(InvalidModelPackage, match=r"missing: model\.skops"):
        read_info(package)


def test_a_corrupted_model_file_is_caught_by_its_digest(package: Path) -> None:
    path = package / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidModelPackage, match="does not match its digest") as err:
        load_package(package)
    assert err.value.hint is not None and "restore" in err.value.hint


def test_a_file_its_library_cannot_read_is_a_broken_package(package: Path) -> None:
    (package / "model.skops").write_bytes(b"PK\x03\x04 not really a zip")
    _edit(package, digests={})
    with pytest.raises(InvalidModelPackage, match=r"model\.skops cannot be loaded as a sklearn"):
        load_package(package)


def test_an_unknown_flavor_in_the_manifest_is_refused(package: Path) -> None:
    _edit(package, flavor="caffe")
    with pytest.raises(InvalidModelPackage, match="unknown flavor 'caffe'"):
        load_package(package)


def test_a_different_library_version_warns_with_both(package: Path) -> None:
    import sklearn

    saved = sklearn.__version__.split(".")
    saved[1] = str(int(saved[1]) + 1)
    _edit(package, library_version=".".join(saved))
    with pytest.warns(ModelEnvironmentWarning, match=f"scikit-learn {'.'.join(saved)}") as rec:
        loaded = load_package(package)
    assert sklearn.__version__ in str(rec[0].message)
    assert "major" not in str(rec[0].message)
    np.testing.assert_array_equal(loaded.predict(X), [0, 0, 1, 1])


def test_a_different_major_version_says_it_may_not_load(package: Path) -> None:
    _edit(package, library_version="0.20.3")
    with pytest.warns(ModelEnvironmentWarning, match="major version: it may not load"):
        load_package(package)


def test_a_pickle_from_another_python_warns(tmp_path: Path) -> None:
    save_model(Constant(), tmp_path / "pkg")
    _edit(tmp_path / "pkg", python="3.7.1")
    with pytest.warns(ModelEnvironmentWarning, match="Python 3.7.1"):
        load_package(tmp_path / "pkg", trusted=True)


def test_a_missing_library_names_the_extra(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(FlavorUnavailable, match="needs scikit-learn") as err:
        load_package(package)
    assert isinstance(err.value, MissingExtra) and err.value.extra == "models"
    assert err.value.hint is not None and "rigml[models]" in err.value.hint


def test_a_missing_skops_at_save_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = LogisticRegression().fit(X, Y)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(MissingExtra, match="'models'") as err:
        save_model(model, tmp_path / "pkg")
    assert err.value.hint == "pip install 'rigml[models]'"


def test_a_package_goes_into_a_new_or_empty_folder_only(package: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not an empty folder"):
        save_model(Constant(), package)
    (tmp_path / "empty").mkdir()
    assert save_model(Constant(), tmp_path / "empty").flavor == "python"


def test_an_example_the_model_cannot_take_is_refused(tmp_path: Path) -> None:
    model = LogisticRegression().fit(X, Y)
    with pytest.raises(SignatureMismatch, match="cannot predict its own example") as err:
        save_model(model, tmp_path / "pkg", example=np.zeros((3, 5)))
    assert err.value.hint is not None and "example=" in err.value.hint
    assert not (tmp_path / "pkg").exists()


def test_a_wrapped_lightgbm_file_takes_json_records(tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(2)
    features = rng.normal(size=(50, 2))
    reg = lgb.LGBMRegressor(n_estimators=3, num_leaves=4, verbose=-1).fit(features, features[:, 0])
    reg.booster_.save_model(str(tmp_path / "model.txt"))
    package_file(tmp_path / "model.txt", tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    records = [{"Column_0": a, "Column_1": b} for a, b in features.tolist()]
    np.testing.assert_allclose(loaded.predict(records), reg.predict(features))


def test_a_named_flavor_must_fit_the_object(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"Constant object is not a sklearn model"):
        save_model(Constant(), tmp_path / "pkg", flavor="sklearn")
    with pytest.raises(UnknownFlavor, match="'caffe'"):
        save_model(Constant(), tmp_path / "pkg", flavor="caffe")


def test_package_file_wraps_a_skops_file(tmp_path: Path) -> None:
    import skops.io

    clf = LogisticRegression().fit(X, Y)
    skops.io.dump(clf, tmp_path / "clf.skops")
    info = package_file(tmp_path / "clf.skops", tmp_path / "pkg")
    assert (info.flavor, info.pickle, info.files, info.signature) == (
        "sklearn",
        False,
        ("clf.skops",),
        None,
    )
    assert info.library_version is None
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))  # type: ignore[attr-defined]


def test_package_file_refuses_an_unknown_suffix_with_the_hint(tmp_path: Path) -> None:
    (tmp_path / "model.h5").write_bytes(b"\x89HDF")
    with pytest.raises(UnknownFlavor, match=r"model\.h5") as err:
        package_file(tmp_path / "model.h5", tmp_path / "pkg")
    assert err.value.hint is not None and "--flavor" in err.value.hint
    assert ".onnx" in err.value.hint and ".skops" in err.value.hint


def test_package_file_with_a_named_flavor_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\x89HDF")
    info = package_file(tmp_path / "model.bin", tmp_path / "pkg", flavor="python")
    assert (info.flavor, info.pickle) == ("python", True)
    with pytest.raises(InvalidInput, match="no model file"):
        package_file(tmp_path / "absent.onnx", tmp_path / "other")
