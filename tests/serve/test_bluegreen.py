"""Blue-green: a promotion and a rollback under continuous traffic fail no request, and
every answer comes from one fully loaded version."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from tests.serve.conftest import log_version

from rigml.registry import load_model, promote, rollback
from rigml.serve import ServeConfig, create_app


def test_promote_and_rollback_under_load(lab: Any, churn: Any, server: Any, dataset: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset
    v2 = log_version(lab, LogisticRegression().fit(X, 1 - y), X[:5])  # opposite answers
    rows = X[:8]
    expected = {v: load_model(lab, f"churn@{v}").predict(rows).tolist() for v in (1, 2)}
    assert expected[1] != expected[2]
    config = ServeConfig(("churn@production",), watch_interval=0.05)
    running = server(create_app(lab, config))
    url = f"{running.url}/v1/models/churn/predict"
    seen: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=20) as http:
            while not stop.is_set():
                try:
                    r = http.post(url, json={"instances": rows.tolist()})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code != 200:
                    failures.append(r.text)
                    continue
                doc = r.json()
                if doc["predictions"] != expected[doc["version"]]:
                    failures.append(f"version {doc['version']} answered {doc['predictions']}")
                seen.append(doc["version"])

    def wait_for(version: int) -> None:
        deadline = time.monotonic() + 20
        while not (seen and seen[-1] == version):
            assert time.monotonic() < deadline, f"never served version {version}"
            time.sleep(0.02)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for(1)
        promote(lab, "churn", v2.version, to="production", force=True, reason="test")
        wait_for(2)
        rollback(lab, "churn", "production", reason="test")
        wait_for(1)
    finally:
        stop.set()
        for t in threads:
            t.join(20)
    assert failures == []
    assert set(seen) == {1, 2}
    first_two = seen.index(2)
    assert 1 in seen[first_two:]  # rolled back
    models = httpx.get(f"{running.url}/v1/models").json()["models"]
    assert models[0]["version"] == 1
    assert "rig_serve_swaps_total" in httpx.get(f"{running.url}/metrics").text
