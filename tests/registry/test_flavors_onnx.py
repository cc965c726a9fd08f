"""ONNX through onnxruntime: skl2onnx models, the graph's own signature, bad bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402

from rigml.errors import InvalidInput, SignatureMismatch  # noqa: E402
from rigml.registry._package import load_package, package_file, save_model  # noqa: E402


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
    return X, y


def test_a_classifier_round_trips_with_probabilities(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    clf = LogisticRegression().fit(X, y)
    proto = skl2onnx.to_onnx(clf, X[:1])
    info = save_model(proto, tmp_path / "pkg", example=X[:8])
    assert (info.flavor, info.library, info.pickle, info.has_proba) == (
        "onnx",
        "onnxruntime",
        False,
        True,
    )
    assert info.signature is not None and info.signature.tensor is not None
    assert info.signature.tensor.dtype == "float32"
    assert info.signature.outputs[0].dtype == "int64"
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    proba = loaded.predict_proba(X)  # type: ignore[attr-defined]
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-5)


def test_json_rows_of_doubles_are_cast_to_the_graph_float32(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    clf = LogisticRegression().fit(X, y)
    save_model(skl2onnx.to_onnx(clf, X[:1]), tmp_path / "pkg")
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_array_equal(loaded.predict(X.astype(np.float64).tolist()), clf.predict(X))
    with pytest.raises(SignatureMismatch, match="4 features"):
        loaded.predict([[1.0, 2.0]])


def test_without_an_example_the_signature_comes_from_the_graph(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = data
    reg = LinearRegression().fit(X, X[:, 1])
    info = save_model(skl2onnx.to_onnx(reg, X[:1]).SerializeToString(), tmp_path / "pkg")
    sig = info.signature
    assert sig is not None and sig.tensor is not None
    assert (sig.tensor.dtype, sig.tensor.shape, sig.tensor.name) == ("float32", (-1, 4), "X")
    assert not info.has_proba
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict(X).ravel(), reg.predict(X), rtol=1e-4, atol=1e-5)
    assert not hasattr(loaded, "predict_proba")


def test_bytes_that_are_not_onnx_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not an ONNX model"):
        save_model(b"\x08\x07garbage-bytes\xff", tmp_path / "pkg")


def test_a_raw_onnx_file_is_wrapped(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    clf = LogisticRegression().fit(X, y)
    raw = tmp_path / "model.onnx"
    raw.write_bytes(skl2onnx.to_onnx(clf, X[:1]).SerializeToString())
    info = package_file(raw, tmp_path / "pkg")
    assert (info.flavor, info.files, info.signature) == ("onnx", ("model.onnx",), None)
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)  # type: ignore[attr-defined]
