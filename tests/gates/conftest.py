"""Runs to judge: a candidate and a production reference with metrics, slices, artifacts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}

CANDIDATE = {
    "auc": 0.90,
    "loss": 0.25,
    "latency_ms.p95": 42.0,
    "size_mb": 120.0,
    "slice/segment/new/auc": 0.87,
    "slice/segment/old/auc": 0.91,
    "slice/region/eu/auc": 0.80,
}
PRODUCTION = {"auc": 0.905, "loss": 0.30, "latency_ms.p95": 45.0}


def run_maker(lab: Any, tmp_path: Path) -> Callable[..., str]:
    """``make("name", {"auc": 0.9}, artifact_bytes=0)``: an ended run in ``lab``; its id."""

    def make(name: str, metrics: Mapping[str, float], *, artifact_bytes: int = 0) -> str:
        with start_run(lab, name=name, **QUIET) as run:
            run.log({"auc": 0.5})  # an earlier step: gates read the latest value
            run.log(dict(metrics))
            if artifact_bytes:
                model = tmp_path / f"{name}.bin"
                model.write_bytes(b"\0" * artifact_bytes)
                run.log_artifact(model, "model.bin")
        return run.id

    return make


@pytest.fixture
def make_run(lab: Any, tmp_path: Path) -> Callable[..., str]:
    return run_maker(lab, tmp_path)


@pytest.fixture
def candidate(make_run: Callable[..., str]) -> str:
    return make_run("candidate", CANDIDATE, artifact_bytes=3 * 1024 * 1024)


@pytest.fixture
def production(make_run: Callable[..., str]) -> str:
    return make_run("production-model", PRODUCTION)
