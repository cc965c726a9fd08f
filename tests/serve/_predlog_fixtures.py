"""Fixtures of the prediction-log and batch tests (imported by their modules, so that
another serve test module's conftest.py cannot collide with these)."""

from __future__ import annotations

import time
from collections.abc import Iterator
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
FEATURES = ["age", "income", "visits", "score"]


@pytest.fixture(autouse=True)
def _predlog_audit_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RIG_AUDIT_KEY", str(tmp_path / "keys" / "audit.key"))


@pytest.fixture(scope="session")
def frame_data() -> tuple[Any, np.ndarray]:
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=FEATURES)
    y = (X["age"] + 0.5 * X["income"] > 0).astype(int).to_numpy()
    return X, y


@pytest.fixture
def churn(lab: Any, frame_data: tuple[Any, np.ndarray]) -> Any:
    """A LogisticRegression on four named columns, registered as churn@1."""
    from sklearn.linear_model import LogisticRegression

    X, y = frame_data
    model = LogisticRegression().fit(X, y)
    with start_run(lab, experiment="serve", **QUIET) as run:
        return run.log_model(model, name="churn", example=X[:5])


def record(
    i: int, *, model: str = "churn", version: int = 1, arm: str = "primary", rows: int = 1
) -> dict[str, Any]:
    """A request's record as the service hands it to the hook."""
    import pandas as pd

    inputs = pd.DataFrame(
        {f: np.arange(rows, dtype=np.float64) + i for f in FEATURES}, columns=FEATURES
    )
    return {
        "request_id": f"req-{i}",
        "time": 1_700_000_000.0 + i,
        "model": model,
        "version": version,
        "arm": arm,
        "inputs": inputs,
        "outputs": [i % 2] * rows,
        "latency_ms": 1.5,
    }


@pytest.fixture
def predlog(lab: Any) -> Iterator[Any]:
    from rigml.serve._predlog import PredictionLog

    log = PredictionLog(lab, service="test", flush_seconds=0.05)
    yield log
    log.close()


def wait_for(check: Any, timeout: float = 20.0) -> None:
    """Poll ``check`` until it holds (no timing assertion: only a generous bound)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)
