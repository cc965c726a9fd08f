"""Registry fixtures: small scikit-learn models logged from real runs, keys kept per test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


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
