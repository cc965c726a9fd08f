"""PyTorch: a state dict plus its class (no pickle), and TorchScript."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rigml.errors import InvalidInput, InvalidModelPackage, UnknownFlavor  # noqa: E402
from rigml.registry._package import load_package, package_file, save_model  # noqa: E402


class TinyNet(torch.nn.Module):  # type: ignore[misc]
    def __init__(self, features: int = 3, hidden: int = 5) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.fixture
def net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet(features=4, hidden=6).eval()


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)


def _expected(net: TinyNet, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(X)).numpy()


def test_a_state_dict_round_trips_through_its_class(
    tmp_path: Path, net: TinyNet, X: np.ndarray
) -> None:
    info = save_model(net, tmp_path / "pkg", example=X, init_kwargs={"features": 4, "hidden": 6})
    assert (info.flavor, info.library, info.pickle, info.files) == (
        "torch",
        "torch",
        False,
        ("state_dict.pt",),
    )
    assert info.extra["class"] == f"{__name__}:TinyNet"
    assert info.signature is not None and info.signature.outputs[0].shape == (-1, 2)
    loaded = load_package(tmp_path / "pkg")
    assert isinstance(loaded.raw, TinyNet) and not loaded.raw.training
    np.testing.assert_allclose(loaded.predict(X), _expected(net, X), rtol=1e-6)
    np.testing.assert_allclose(
        loaded.predict(X.astype(np.float64).tolist()), _expected(net, X), rtol=1e-6
    )
    assert not hasattr(loaded, "predict_proba")


def test_weights_that_do_not_fit_the_class_are_a_broken_package(
    tmp_path: Path, net: TinyNet
) -> None:
    save_model(net, tmp_path / "pkg", init_kwargs={"features": 4, "hidden": 6})
    manifest = tmp_path / "pkg" / "rigmodel.json"
    manifest.write_text(manifest.read_text().replace('"hidden": 6', '"hidden": 9'))
    with pytest.raises(InvalidModelPackage, match="do not fit"):
        load_package(tmp_path / "pkg")


def test_a_class_that_cannot_be_imported_is_refused_at_save(tmp_path: Path) -> None:
    class Local(torch.nn.Module):  # type: ignore[misc]
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(InvalidInput, match="cannot be imported") as err:
        save_model(Local(), tmp_path / "pkg")
    assert err.value.hint is not None and "TorchScript" in err.value.hint


def test_init_kwargs_must_be_json(tmp_path: Path, net: TinyNet) -> None:
    with pytest.raises(InvalidInput, match="init_kwargs must be JSON"):
        save_model(net, tmp_path / "pkg", init_kwargs={"features": object()})


def _quiet(call: Any, *args: Any) -> Any:
    """torch deprecates TorchScript; the test's own script/trace calls may say so, while
    save_model and load_package must stay silent (warnings fail the suite)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return call(*args)


def test_torchscript_round_trips(tmp_path: Path, net: TinyNet, X: np.ndarray) -> None:
    scripted = _quiet(torch.jit.script, net)
    info = save_model(scripted, tmp_path / "pkg", example=X)
    assert (info.flavor, info.pickle, info.files) == ("torchscript", False, ("model.pt",))
    loaded = load_package(tmp_path / "pkg")
    np.testing.assert_allclose(loaded.predict(X), _expected(net, X), rtol=1e-6)


def test_a_torchscript_file_is_wrapped_and_a_state_dict_file_is_not(
    tmp_path: Path, net: TinyNet, X: np.ndarray
) -> None:
    traced = _quiet(torch.jit.trace, net, torch.from_numpy(X))
    _quiet(torch.jit.save, traced, str(tmp_path / "traced.pt"))
    info = package_file(tmp_path / "traced.pt", tmp_path / "pkg")
    assert (info.flavor, info.files) == ("torchscript", ("traced.pt",))
    np.testing.assert_allclose(
        load_package(tmp_path / "pkg").predict(X), _expected(net, X), rtol=1e-6
    )
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(UnknownFlavor, match=r"weights\.pt") as err:
        package_file(tmp_path / "weights.pt", tmp_path / "other")
    assert err.value.hint is not None and "init_kwargs" in err.value.hint
