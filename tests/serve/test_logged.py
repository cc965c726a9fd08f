"""The service as `rig serve` runs it: every prediction in the lab's log, feedback joined."""

from __future__ import annotations

from typing import Any

import httpx

from rigml.serve import ServeConfig, read_predictions
from rigml.serve._run import logged_app


def test_predictions_are_logged_and_feedback_is_joined(
    lab: Any, churn: Any, server: Any, dataset: Any
) -> None:
    X, _ = dataset
    app = logged_app(lab, ServeConfig(("churn@production",)))
    running = server(app)
    url = f"{running.url}/v1/models/churn"
    ids = []
    for row in X[:5].tolist():
        reply = httpx.post(f"{url}/predict", json={"instances": [row]}, timeout=10)
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["request_id"])
    ok = httpx.post(f"{url}/feedback", json={"request_id": ids[0], "value": 1}, timeout=10)
    assert ok.status_code == 202 and ok.json()["accepted"] is True
    bad = httpx.post(f"{url}/feedback", json={"value": 1}, timeout=10)
    assert bad.status_code == 422
    assert httpx.post(f"{running.url}/v1/models/nope/feedback", json={}).status_code == 404
    app.state.service.hook.close()  # what a graceful stop runs: the queue drained,
    for close in app.state.on_shutdown:  # then the log flushed and closed
        close()
    table = read_predictions(lab, model="churn", with_feedback=True)
    assert sorted(table.column("request_id").to_pylist()) == sorted(ids)
    joined = dict(zip(table.column("request_id").to_pylist(), table.column("feedback").to_pylist(),
                      strict=True))  # fmt: skip
    assert joined[ids[0]] is not None and all(joined[i] is None for i in ids[1:])
    assert set(table.column("version").to_pylist()) == {churn.version}
