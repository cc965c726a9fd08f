"""Registry fixtures: small scikit-learn models logged from real runs, keys kept per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


@pytest.fixture(autouse=True)
def _audit_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RIG_AUDIT_KEY", str(tmp_path / "keys" / "audit.key"))


@pytest.fixture(scope="session")
def dataset() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture(scope="session")
def classifier(dataset: tuple[np.ndarray, np.ndarray]) -> Any:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset
    return LogisticRegression().fit(X, y)


VersionMaker = Callable[..., Any]


@pytest.fixture
def make_version(lab: Any, classifier: Any, dataset: Any) -> VersionMaker:
    """``make_version(auc=0.9, name="churn")``: a run with that metric logging a model."""
    return version_maker(lab, classifier, dataset)


def version_maker(lab: Any, classifier: Any, dataset: Any) -> VersionMaker:
    X, _ = dataset

    def make(auc: float = 0.9, *, name: str = "churn", **metrics: float) -> Any:
        with start_run(lab, experiment="registry", **QUIET) as run:
            run.log({"auc": auc, **metrics})
            return run.log_model(classifier, name=name, example=X[:5])

    return make
