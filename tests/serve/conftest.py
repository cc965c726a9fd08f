"""Serving fixtures: small scikit-learn models in a tmp lab, and real uvicorn servers on
127.0.0.1 (a free port, in a thread of this process), waited for with bounded loops."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


def log_version(lab: Any, model: Any, example: Any, *, name: str = "churn") -> Any:
    with start_run(lab, experiment="serve", **QUIET) as run:
        run.log({"auc": 0.9})
        return run.log_model(model, name=name, example=example)


@pytest.fixture
def churn(lab: Any, classifier: Any, dataset: Any) -> Any:
    """churn v1 (an array signature, 4 features) at production."""
    from rigml.registry import promote

    version = log_version(lab, classifier, dataset[0][:5])
    promote(lab, "churn", version.version, to="production", force=True, reason="test")
    return version


@pytest.fixture
def table_model(lab: Any, dataset: Any) -> Any:
    """``homes`` v1: named, typed columns (age int, size float, city str) at production."""
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from rigml.registry import promote

    frame = pd.DataFrame(
        {
            "age": np.arange(40, dtype=np.int64) % 9,
            "size": np.linspace(20, 200, 40),
            "city": ["a", "b", "c", "d"] * 10,
        }
    )
    target = frame["size"] * 2 + frame["age"]
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder="passthrough"
        ),
        LinearRegression(),
    ).fit(frame, target)
    with start_run(lab, experiment="serve", **QUIET) as run:
        version = run.log_model(pipe, name="homes", example=frame.head())
    promote(lab, "homes", version.version, to="production", force=True, reason="test")
    return version


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    def __init__(self, app: Any, port: int) -> None:
        self.app, self.port = app, port
        self.url = f"http://127.0.0.1:{port}"


def wait_ready(url: str, timeout: float = 30.0, headers: dict[str, str] | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} was not ready within {timeout} s")


@pytest.fixture
def server() -> Iterator[Callable[..., Running]]:
    """``server(app)``: the app on uvicorn, on a free 127.0.0.1 port, until the test ends."""
    import uvicorn

    started: list[tuple[Any, threading.Thread]] = []

    def start(app: Any, *, ready: bool = True, headers: dict[str, str] | None = None) -> Running:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        srv = uvicorn.Server(config)
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        started.append((srv, thread))
        deadline = time.monotonic() + 15
        while not srv.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("uvicorn did not start")
            time.sleep(0.02)
        running = Running(app, port)
        if ready:
            wait_ready(running.url, headers=headers)
        return running

    yield start
    for srv, thread in started:
        srv.should_exit = True
        thread.join(timeout=15)
