"""BentoML 1.4 services for the serving benchmark (imported by ``bentoml serve`` only).

Two services over one joblib-saved LogisticRegression (path in ``SERVE_MODEL_PATH``):
``Batched`` with ``@bentoml.api(batchable=True)``, BentoML's adaptive batching (its default
batch size and latency bounds), and ``Plain`` without. One worker each, as rigml and MLflow
are run. JSON body: ``{"rows": [[f0, f1, f2, f3]]}``.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np


def _load() -> object:
    import joblib

    return joblib.load(os.environ["SERVE_MODEL_PATH"])


@bentoml.service(workers=1)
class Batched:
    def __init__(self) -> None:
        self.model = _load()

    @bentoml.api(batchable=True)
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict(rows)  # type: ignore[attr-defined,no-any-return]


@bentoml.service(workers=1)
class Plain:
    def __init__(self) -> None:
        self.model = _load()

    @bentoml.api
    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.model.predict(rows)  # type: ignore[attr-defined,no-any-return]
