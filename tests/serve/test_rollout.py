"""Rollouts over HTTP on real uvicorn servers: status, canary steps behind tokens,
automatic rollback of a failing canary, named A/B arms, swaps of a followed canary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tests.serve.conftest import log_version

from rigml.registry import promote
from rigml.serve import ServeConfig, create_app

TOKEN = "a-token-long-enough-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Broken:
    """A python-flavor model (needs ``trusted`` to load) that fails every prediction but
    its five-row example's, which registering it checks; requests here send two rows."""

    def predict(self, data: Any) -> Any:
        if len(data) != 5:
            raise RuntimeError("this candidate is broken")
        return np.zeros(5, dtype=np.int64)


def staged(lab: Any, model: Any, example: Any) -> Any:
    version = log_version(lab, model, example)
    promote(lab, "churn", version.version, to="staging", force=True, reason="test")
    return version


def predict(url: str, key: str, rows: Any, headers: dict[str, str] | None = None) -> Any:
    r = httpx.post(
        f"{url}/v1/models/churn/predict",
        json={"instances": rows.tolist()},
        headers={"X-Request-Key": key, **(headers or {})},
        timeout=20,
    )
    return r


def test_status_shows_every_arm_and_canary_steps_need_a_token(
    lab: Any, churn: Any, server: Any, dataset: Any, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset
    staged(lab, LogisticRegression().fit(X, 1 - y), X[:5])
    tokens = tmp_path / "tokens"
    tokens.write_text(TOKEN + "\n")
    config = ServeConfig(
        ("churn@production",), canary=("churn@staging:10",), token_file=str(tokens)
    )
    running = server(create_app(lab, config), headers=AUTH)
    for i in range(40):
        assert predict(running.url, f"k{i}", X[:1], AUTH).status_code == 200
    assert httpx.get(f"{running.url}/v1/status").status_code == 401
    doc = httpx.get(f"{running.url}/v1/status", headers=AUTH).json()
    arms = {a["arm"]: a for a in doc["models"][0]["arms"]}
    assert (arms["primary"]["share"], arms["canary"]["share"]) == (90, 10)
    assert (arms["primary"]["version"], arms["canary"]["version"]) == (1, 2)
    assert arms["canary"]["follows"] == "staging" and arms["canary"]["role"] == "canary"
    assert arms["primary"]["requests"] + arms["canary"]["requests"] == 40
    assert arms["primary"]["p99_ms"] >= arms["primary"]["p50_ms"] > 0
    assert arms["primary"]["error_rate"] == 0 and arms["primary"]["rolled_back"] is None

    admin = f"{running.url}/v1/admin/canary"
    assert httpx.post(admin, json={"model": "churn", "step": 25}).status_code == 401
    r = httpx.post(admin, json={"model": "churn", "step": 25}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert [a["share"] for a in r.json()["arms"]] == [65, 35]
    r = httpx.post(admin, json={"step": 100}, headers=AUTH)  # the one model with a canary
    assert [a["share"] for a in r.json()["arms"]] == [0, 100]
    arms_seen = {predict(running.url, f"k{i}", X[:1], AUTH).json()["arm"] for i in range(20)}
    assert arms_seen == {"canary"}
    r = httpx.post(admin, json={"model": "churn", "share": 0}, headers=AUTH)
    assert [a["share"] for a in r.json()["arms"]] == [100, 0]
    for body, status in [
        ({"model": "churn"}, 422),
        ({"model": "churn", "share": 120}, 422),
        ({"model": "churn", "share": 5, "step": 5}, 422),
        ({"model": "nope", "share": 5}, 404),
        ({"model": "churn", "arm": "canary-2", "share": 5}, 404),
    ]:
        assert httpx.post(admin, json=body, headers=AUTH).status_code == status, body


def test_a_failing_canary_is_rolled_back(lab: Any, churn: Any, server: Any, dataset: Any) -> None:
    X, _ = dataset
    staged(lab, Broken(), X[:5])
    config = ServeConfig(
        ("churn@production",),
        canary=("churn@staging:50",),
        trusted=True,
        canary_min_requests=20,
    )
    running = server(create_app(lab, config))
    statuses = []
    for i in range(300):
        r = predict(running.url, f"user-{i}", X[:2])
        statuses.append(r.status_code)
        doc = httpx.get(f"{running.url}/v1/status").json()
        canary = doc["models"][0]["arms"][1]
        if canary["rolled_back"] is not None:
            break
    assert canary["rolled_back"] is not None, "the broken canary was never rolled back"
    assert "error rate" in canary["rolled_back"]["reason"]
    assert canary["share"] == 0 and canary["errors"] >= 20
    assert 500 in statuses
    after = [predict(running.url, f"user-{i}", X[:2]) for i in range(30)]
    assert {r.status_code for r in after} == {200}
    assert {r.json()["arm"] for r in after} == {"primary"}
    metrics = httpx.get(f"{running.url}/metrics").text
    assert 'rig_serve_canary_rollbacks_total{arm="canary",model="churn"} 1.0' in metrics


def test_ab_arms_are_named_sticky_and_weighted(
    lab: Any, churn: Any, server: Any, dataset: Any
) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset
    log_version(lab, LogisticRegression().fit(X, 1 - y), X[:5])
    config = ServeConfig((), ab=("churn@1:control=50", "churn@2:treatment=50"))
    running = server(create_app(lab, config))
    first: dict[str, tuple[str, int]] = {}
    for i in range(60):
        doc = predict(running.url, f"visitor-{i}", X[:1]).json()
        first[f"visitor-{i}"] = (doc["arm"], doc["version"])
    assert set(first.values()) == {("control", 1), ("treatment", 2)}
    for key, seen in list(first.items())[:20]:
        doc = predict(running.url, key, X[:1]).json()
        assert (doc["arm"], doc["version"]) == seen
    arms = httpx.get(f"{running.url}/v1/status").json()["models"][0]["arms"]
    assert [(a["arm"], a["role"], a["share"]) for a in arms] == [
        ("control", "ab", 50),
        ("treatment", "ab", 50),
    ]
    assert sum(a["requests"] for a in arms) == 80


def test_a_canary_following_staging_swaps_when_staging_moves(
    lab: Any, churn: Any, server: Any, dataset: Any
) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset
    staged(lab, LogisticRegression().fit(X, 1 - y), X[:5])
    config = ServeConfig(("churn@production",), canary=("churn@staging:100",), watch_interval=0.05)
    running = server(create_app(lab, config))
    assert predict(running.url, "k", X[:1]).json()["version"] == 2
    v3 = staged(lab, LogisticRegression(C=0.5).fit(X, y), X[:5])
    deadline = time.monotonic() + 20
    version = 2
    while version != v3.version and time.monotonic() < deadline:
        doc = predict(running.url, "k", X[:1]).json()
        assert doc["arm"] == "canary"
        version = doc["version"]
        time.sleep(0.02)
    assert version == v3.version
    arms = httpx.get(f"{running.url}/v1/status").json()["models"][0]["arms"]
    assert [a["version"] for a in arms] == [1, v3.version]
    assert np.isfinite(arms[1]["rate"])
